"""The pinned versions of requirements.txt (and binder/requirements.txt), read in one place."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+)", re.MULTILINE)


def pins(path: str | Path = ROOT / "requirements.txt") -> dict[str, str]:
    """``{name: version}`` (names lower-cased) for every ``name==version`` line of ``path``."""
    return {name.lower(): version for name, version in PIN.findall(Path(path).read_text())}
