"""JupyterLab on the chapters, with the book's kernel and without calls home: ``make lab``.

    python -m tools.lab                  # JupyterLab on the repository, open at notebooks/
    python -m tools.lab --port 8890 --no-browser

JupyterLab (pinned in requirements.txt) runs from the book's ``.venv``, so its kernel is the
venv's Python with ``normlab`` and every pinned package: ``JUPYTER_PATH`` puts the venv's
kernelspec before any of the user's own. It serves the repository root and opens at
``notebooks/``: jupytext (in ``.venv``) reads ``jupytext.toml`` only inside the folder JupyterLab
serves, so from there saving a chapter also writes its text pair ``notebooks/text/*.md``
(``jupyter lab notebooks/`` would save the notebook alone). JupyterLab does not fetch its news
feed, check for new versions or offer to install extensions from PyPI: the book's environment is
pinned, and a reader can turn these on in JupyterLab's settings. Its kernels talk to it over
sockets encrypted with CurveZMQ (:data:`ENCRYPTED`), so none warns that it runs "over TCP
without encryption"; jupyterlab-myst (pinned) renders the chapters' MyST Markdown.
``tests/test_jupyterlab.py`` starts JupyterLab with this same command line and runs chapter 1
in it through the interface.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

#: Nothing JupyterLab would fetch from the internet on its own: its news feed, its update check
#: and the PyPI extension manager.
OFFLINE = (
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    "--LabApp.extension_manager=readonly",
)
#: The kernel manager hands each kernel CurveZMQ keys, so that what JupyterLab and the kernel
#: send each other is encrypted ("auto": for kernels whose kernelspec declares it, as
#: ipykernel's does; another kernel still starts, unencrypted).
ENCRYPTED = "--KernelManager.transport_encryption=auto"


def command(
    root: str | Path = ".",
    *,
    start: str = "notebooks",
    ip: str = "localhost",
    port: int | None = None,
    token: str | None = None,
    open_browser: bool = True,
    extra: Sequence[str] = (),
) -> list[str]:
    """The command line that starts JupyterLab on the book's folder ``root`` with this Python.

    Args:
        root: the folder JupyterLab serves: the repository root, which holds ``jupytext.toml``.
        start: the folder, relative to ``root``, that JupyterLab opens at.
        ip: the address to listen on; only this machine by default.
        port: the port; None lets JupyterLab take 8888 or the next free one.
        token: the token a browser must present; None lets JupyterLab draw one and print it
            in the URL.
        open_browser: open the URL in the reader's browser.
        extra: more JupyterLab options, appended.
    """
    argv = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={root}",
        f"--FileContentsManager.preferred_dir={start}",
        f"--ServerApp.ip={ip}",
        *OFFLINE,
        ENCRYPTED,
    ]
    if port is not None:
        argv += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    if token is not None:
        argv.append(f"--IdentityProvider.token={token}")
    if not open_browser:
        argv.append("--ServerApp.open_browser=False")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--ServerApp.allow_root=True")  # a container's root: JupyterLab refuses it
    return [*argv, *extra]


def environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default ``os.environ``) with this Python's Jupyter data first in JUPYTER_PATH,
    so that the kernel named ``python3`` is the venv's, never a kernelspec of the user's own."""
    env = dict(os.environ if base is None else base)
    data = str(Path(sys.prefix) / "share" / "jupyter")
    paths = [p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p and p != data]
    env["JUPYTER_PATH"] = os.pathsep.join([data, *paths])
    env.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=".", help="the book's folder (default: .)")
    parser.add_argument("--start", default="notebooks", help="folder to open (default: notebooks)")
    parser.add_argument("--port", type=int, default=None, help="port (default: 8888 or next)")
    parser.add_argument("--no-browser", action="store_true", help="only print the URL")
    args = parser.parse_args(argv)
    if not (Path(args.root) / args.start).is_dir():
        parser.error(f"{Path(args.root) / args.start} is not a folder")
    print(
        f"JupyterLab on {args.start}/ with the kernel of {sys.prefix}: open the URL it prints "
        f"below (http://localhost:PORT/lab?token=...). Ctrl+C stops it (it asks to confirm).",
        flush=True,
    )
    run = command(args.root, start=args.start, port=args.port, open_browser=not args.no_browser)
    # JupyterLab replaces this process, so that Ctrl+C reaches it alone and it shuts its
    # kernels down itself.
    os.execve(run[0], run, environment())
    return 0  # not reached: execve returns only by raising


if __name__ == "__main__":
    sys.exit(main())
