"""Run a command with the network cut off: a new network namespace where only loopback is up.

    python tools/offline.py --check        # isolate this process, then check that it is isolated
    python tools/offline.py -- CMD [ARG..] # run CMD (and everything it starts) without a network

Loopback stays up because a Jupyter kernel talks to nbval over 127.0.0.1. As root the process
only needs a new network namespace; as another user it also makes a user namespace that maps
its own user id to itself (where the kernel allows unprivileged user namespaces). Nothing else
is needed: no `unshare` or `ip` program, only Linux and the Python standard library.

Exit status: 3 when the namespace cannot be made (the reason is the last line on stderr), 1 when
--check finds that the process can still reach the network, else that of CMD (0 for --check).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import sys

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
#: struct ifreq on Linux: a 16-byte name, then a 24-byte union whose first field is the flags.
IFREQ = "16sH22x"
#: A host that must be unreachable once isolated (a package registry the machines may reach).
PROBE_HOST = ("pypi.org", 443)
UNAVAILABLE = 3


class IsolationUnavailable(RuntimeError):
    """The network namespace cannot be made here; the message says why."""


def _unshare(flags: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(ctypes.c_int(flags)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(text)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack(IFREQ, b"lo", 0)
        _, flags = struct.unpack(IFREQ, fcntl.ioctl(sock, SIOCGIFFLAGS, request))
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP))


def isolate() -> str:
    """Move this process into a new network namespace with loopback up; return how.

    Raises IsolationUnavailable (with the reason) when the system does not allow it.
    """
    if not sys.platform.startswith("linux"):
        raise IsolationUnavailable(f"network namespaces need Linux, this is {sys.platform}")
    uid, gid = os.geteuid(), os.getegid()
    try:
        _unshare(CLONE_NEWNET)
        how = "network namespace"
    except (OSError, AttributeError) as as_is:
        if uid == 0:
            raise IsolationUnavailable(
                f"unshare(CLONE_NEWNET) refused as root ({as_is}); in a container, give it "
                "CAP_SYS_ADMIN and CAP_NET_ADMIN (docker run --cap-add or --privileged)"
            ) from as_is
        try:
            _unshare(CLONE_NEWUSER | CLONE_NEWNET)
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{uid} {uid} 1")
            _write("/proc/self/gid_map", f"{gid} {gid} 1")
        except OSError as err:
            raise IsolationUnavailable(
                f"not root, and unprivileged user namespaces are refused ({err}); run as "
                "root, or allow them (sysctl kernel.unprivileged_userns_clone=1, or "
                "kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu)"
            ) from err
        how = "user and network namespace"
    try:
        _loopback_up()
    except OSError as err:
        raise IsolationUnavailable(
            f"loopback cannot be brought up in the namespace ({err})"
        ) from err
    return how


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
    if argv[:1] not in (["--check"], ["--"]) or argv == ["--"]:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        how = isolate()
    except IsolationUnavailable as err:
        print(f"tools/offline.py: {err}", file=sys.stderr)
        return UNAVAILABLE
    if argv[0] == "--check":
        found = problems()
        for problem in found:
            print(f"tools/offline.py: isolation incomplete: {problem}", file=sys.stderr)
        if not found:
            print(f"isolated ({how}): only loopback works, {PROBE_HOST[0]} is unreachable")
        return 1 if found else 0
    command = argv[1:]
    try:
        os.execvp(command[0], command)
    except OSError as err:
        print(f"tools/offline.py: cannot run {command[0]}: {err}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
