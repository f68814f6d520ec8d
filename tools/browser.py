"""Find the Chromium (or Chrome) that the browser tests drive, installing Debian's if needed.

    python -m tools.browser        # prints the browser's path (exit 0), or says why there is none

Looked for in this order: the ``CHROMIUM`` environment variable (which must then name an
executable), ``chromium``, ``chromium-browser``, ``google-chrome``, ``google-chrome-stable`` and
``chrome`` on the PATH, and the usual macOS application paths. When none is found and the
machine has ``apt-get`` (Debian, Ubuntu), Debian's ``chromium`` package is installed (with sudo
unless root). Otherwise nothing is installed and the exit status is 3, with the reason on
stderr: ``make browser`` then says that it skipped the browser tests and why (and fails in CI,
where a skipped check must never pass). Playwright's own browsers are never downloaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
MACOS = (
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)
NOT_FOUND = 3
#: Headless, and no calls home: without the background-networking flags Chromium keeps trying
#: to reach Google's hosts. The flags tests/test_browser.py launches with; tools/pdf.py too.
ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class NoBrowser(RuntimeError):
    """No Chromium or Chrome, and no way to install one here."""


def find() -> str | None:
    """The path of a Chromium or Chrome on this machine, or None."""
    given = os.environ.get("CHROMIUM")
    if given:
        if not os.access(given, os.X_OK):
            print(f"tools/browser.py: CHROMIUM={given} is not an executable file", file=sys.stderr)
            sys.exit(2)  # a wrong path given by hand is an error, never a reason to skip
        return given
    for name in NAMES:
        if found := shutil.which(name):
            return found
    return next((path for path in MACOS if os.access(path, os.X_OK)), None)


def install() -> None:
    """Install Debian's chromium with apt-get (sudo unless root)."""
    if shutil.which("apt-get") is None:
        raise NoBrowser(
            "no Chromium or Chrome found (looked for CHROMIUM, "
            + ", ".join(NAMES)
            + " and the macOS applications) and no apt-get to install one: install Chromium "
            "or Chrome, or set CHROMIUM=/path/to/browser"
        )
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print("Installing Debian's chromium (for the browser tests) with apt-get", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env, stdout=sys.stderr)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
        check=True,
        env=env,
        stdout=sys.stderr,
    )


def main() -> int:
    try:
        path = find()
        if path is None:
            install()
            path = find()
        if path is None:
            raise NoBrowser("apt-get installed chromium, but no chromium is on the PATH")
    except NoBrowser as err:
        print(f"tools/browser.py: {err}", file=sys.stderr)
        return NOT_FOUND
    print(Path(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
