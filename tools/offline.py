"""Run a command with the network cut off: a new network namespace where only loopback is up.

    python tools/offline.py --check        # check that a command run here would be isolated
    python tools/offline.py -- CMD [ARG..] # run CMD (and everything it starts) without a network

The namespace is made by util-linux's `unshare` (`--net`; as a user other than root also
`--map-root-user`: a user namespace, where that user is root, which Linux allows without
privileges where unprivileged user namespaces are enabled). Loopback is brought up inside it,
because a Jupyter kernel talks to nbval over 127.0.0.1: by iproute2's `ip link set lo up`, or,
where there is no `ip` (Debian's container images, CI's among them, have util-linux but not
iproute2), by the same request made from Python (`--loopback-up`, one ioctl).

Exit status: 3 when the namespace cannot be made (the reason is the last line on stderr), 1 when
--check finds that a command inside can still reach the network, else that of CMD (0 for
--check).
"""

from __future__ import annotations

import fcntl
import os
import shlex
import shutil
import socket
import struct
import subprocess
import sys

#: A host that must be unreachable once isolated (a package registry the machines may reach).
PROBE_HOST = ("pypi.org", 443)
UNAVAILABLE = 3
#: The ioctls that `ip link set lo up` makes, and struct ifreq: a 16-byte interface name, then a
#: 24-byte union whose first field is the flags.
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP, IFREQ = 0x8913, 0x8914, 0x1, "16sH22x"
#: A command that does nothing and is always there: the try before the real command.
NOTHING = (sys.executable, "-c", "")


class IsolationUnavailable(RuntimeError):
    """The network namespace cannot be made here; the message says why."""


def prefix() -> tuple[list[str], str]:
    """The words that run a command in a new network namespace with loopback up, and a name
    for the kind of namespace. Raises IsolationUnavailable (with the reason) where the system
    refuses one: a try with a command that does nothing shows it before a real one runs."""
    if not sys.platform.startswith("linux"):
        raise IsolationUnavailable(f"network namespaces need Linux, this is {sys.platform}")
    if shutil.which("unshare") is None:
        raise IsolationUnavailable("no unshare program on the PATH; install util-linux")
    root = os.geteuid() == 0
    unshare = ["unshare", "--net"] if root else ["unshare", "--net", "--map-root-user"]
    how = "network namespace" if root else "user and network namespace"
    made = subprocess.run([*unshare, *NOTHING], capture_output=True, text=True)
    if made.returncode != 0:
        said = made.stderr.strip() or f"exit status {made.returncode}"
        if root:
            raise IsolationUnavailable(
                f"unshare --net refused as root ({said}); in a container, give it "
                "CAP_SYS_ADMIN and CAP_NET_ADMIN (docker run --cap-add or --privileged)"
            )
        raise IsolationUnavailable(
            f"not root, and unprivileged user namespaces are refused ({said}); run as root, "
            "or allow them (sysctl kernel.unprivileged_userns_clone=1, or "
            "kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu)"
        )
    if shutil.which("ip"):
        loopback_up = "ip link set lo up"
    else:
        loopback_up = shlex.join([sys.executable, os.path.abspath(__file__), "--loopback-up"])
    # sh brings loopback up, then becomes the command ("$@").
    words = [*unshare, "sh", "-c", f'{loopback_up} && exec "$@"', "tools/offline.py"]
    up = subprocess.run([*words, *NOTHING], capture_output=True, text=True)
    if up.returncode != 0:
        said = up.stderr.strip() or f"exit status {up.returncode}"
        raise IsolationUnavailable(f"loopback cannot be brought up in the namespace ({said})")
    return words, how


def loopback_up() -> None:
    """Bring loopback up (where there is no `ip` program): read its flags, add IFF_UP."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack(IFREQ, b"lo", 0)
        _, flags = struct.unpack(IFREQ, fcntl.ioctl(sock, SIOCGIFFLAGS, request))
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP))


def problems() -> list[str]:
    """What is wrong with this process's isolation: empty when only loopback works."""
    found = []
    others = [name for _, name in socket.if_nameindex() if name != "lo"]
    if others:
        found.append(f"network interfaces besides loopback: {', '.join(others)}")
    try:
        socket.create_connection(PROBE_HOST, timeout=3).close()
        found.append(f"{PROBE_HOST[0]}:{PROBE_HOST[1]} is reachable")
    except OSError:
        pass
    try:
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen()
            socket.create_connection(server.getsockname(), timeout=3).close()
    except OSError as err:
        found.append(f"loopback does not work ({err}); a Jupyter kernel needs it")
    return found


def main(argv: list[str]) -> int:
    if argv == ["--loopback-up"]:  # run inside the namespace where there is no `ip`
        loopback_up()
        return 0
    if argv == ["--problems"]:  # run by --check, inside the namespace
        found = problems()
        for problem in found:
            print(problem)
        return 1 if found else 0
    if argv[:1] not in (["--check"], ["--"]) or argv == ["--"]:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        words, how = prefix()
    except IsolationUnavailable as err:
        print(f"tools/offline.py: {err}", file=sys.stderr)
        return UNAVAILABLE
    if argv[0] == "--check":
        inside = [sys.executable, os.path.abspath(__file__), "--problems"]
        done = subprocess.run([*words, *inside], capture_output=True, text=True)
        found = done.stdout.splitlines() + done.stderr.splitlines()
        for problem in found:
            print(f"tools/offline.py: isolation incomplete: {problem}", file=sys.stderr)
        if done.returncode == 0 and not found:
            print(f"isolated ({how}): only loopback works, {PROBE_HOST[0]} is unreachable")
            return 0
        return 1
    command = [*words, *argv[1:]]
    os.execvp(command[0], command)  # sh reports a command it cannot run (exit status 127)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
