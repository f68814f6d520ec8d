"""The pinned versions of requirements.txt (and binder/requirements.txt), read in one place.

requirements.txt includes the reader's files of requirements/ (``-r requirements/reader.txt``,
as pip reads it: relative to the file that includes it), and ``pins`` follows those includes,
so that ``pins()`` holds every pin of the book.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+)", re.MULTILINE)
INCLUDE = re.compile(r"^(?:-r|--requirement)[ =]\s*(\S+)", re.MULTILINE)
#: What a reader installs (``make lab``): the chapters' needs, without the build and test tools.
READER = ("reader", "frameworks", "kernels")


def files(path: str | Path = ROOT / "requirements.txt") -> list[Path]:
    """``path`` and every file it includes with ``-r``, depth first, each once."""
    found: list[Path] = []

    def visit(file: Path) -> None:
        if file in found:
            return
        if not file.is_file():
            where = f" (included by {found[-1]})" if found else ""
            raise FileNotFoundError(f"no requirements file {file}{where}")
        found.append(file)
        for name in INCLUDE.findall(file.read_text(encoding="utf8")):
            visit((file.parent / name).resolve())

    visit(Path(path).resolve())
    return found


def pins(path: str | Path = ROOT / "requirements.txt") -> dict[str, str]:
    """``{name: version}`` (names lower-cased) for every ``name==version`` line of ``path`` and
    of the files it includes."""
    return {
        name.lower(): version
        for file in files(path)
        for name, version in PIN.findall(file.read_text(encoding="utf8"))
    }
