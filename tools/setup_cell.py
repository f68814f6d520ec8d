"""The hidden first cell of every chapter: installs what the chapter needs in Colab or Binder.

    python -m tools.setup_cell check        # is every toc chapter's first cell the standard one?
    python -m tools.setup_cell write notebooks/05_x.ipynb [module=requirement ...]

The cell installs ``normlab`` from the repository named in ``_config.yml``, at the release the
book was built from: the git tag ``v`` + ``pyproject.toml``'s version (``RELEASE = "v0.1.0"``),
never whatever a branch holds that day. Any extra ``module=requirement`` a chapter needs
(pinned as in requirements.txt, never ``torch``) comes from the package index. It installs only
what is missing, and does nothing where everything is installed. When pip fails (a private
fork, a tag not pushed, no network) the cell raises ``SetupFailed``, which Jupyter and Colab
show as one line (its ``_render_traceback_``) naming what could not be installed, pip's own
reason and what to check, instead of pip's traceback.

``write`` puts the standard cell first in a notebook (replacing an earlier set-up cell, keeping
its id and execution count), keeping that cell's extra needs unless new ones are given;
``check`` compares every chapter's first cell with the standard one. After a fork changes
``repository.url`` in ``_config.yml``, or a release changes the version, ``write`` on each
chapter updates them (``make fork`` does). A release: set the version in pyproject.toml, run
``write`` on every chapter, commit, then tag that commit ``v<version>`` and push the tag.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
import yaml

from tools import toc

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = """\
# Colab / Binder set-up: install what this chapter needs when it is missing.
# Locally and in CI everything is installed already, so this cell does nothing.
import importlib.util
import os
import subprocess
import sys

REPO = "{repo}"
RELEASE = "{release}"  # normlab as this book was built: a tag of REPO
NEEDS = {{
    "normlab": os.environ.get(
        "NORMLAB_SOURCE",
        f"normlab @ git+{{REPO}}@{{RELEASE}}",
    ),
{extra}}}
missing = [
    pkg for mod, pkg in NEEDS.items() if importlib.util.find_spec(mod) is None
]


class SetupFailed(RuntimeError):
    def _render_traceback_(self):  # Jupyter shows this one line, no traceback
        return [f"SetupFailed: {{self}}"]


if missing:
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-color", *missing],
        capture_output=True,
        text=True,
    )
    said = [line.strip() for line in pip.stderr.splitlines() if line.strip()]
    why = [line for line in said if line.startswith(("fatal:", "ERROR:"))]
    if pip.returncode:
        raise SetupFailed(
            f"pip could not install {{', '.join(missing)}}: "
            f"{{(why or said or ['no reason given'])[0]}} (is {{REPO}} "
            f"public, with the tag {{RELEASE}}, and is there a network?)"
        )"""
#: One extra need in the cell: ``    "module": "package==version",``.
EXTRA_NEED = re.compile(r'^    "(?P<module>[\w.]+)": "(?P<requirement>[^"]+)",$', re.MULTILINE)
TAG = "remove-cell"


def release(root: Path = ROOT) -> str:
    """The git tag of the book's release: ``v`` + ``[project] version`` of ``pyproject.toml``."""
    text = (root / "pyproject.toml").read_text(encoding="utf8")
    found = re.search(r'^\[project\]$[^\[]*?^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    if not found:
        raise ValueError(
            f'{root / "pyproject.toml"}: no `version = "..."` in [project], from which the '
            f'set-up cells\' release tag is made (v + version); add one, e.g. version = "0.1.0"'
        )
    return f"v{found[1]}"


def repository(root: Path = ROOT) -> tuple[str, str]:
    """``(url, branch)`` from ``_config.yml``'s ``repository`` section."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf8"))
    return config["repository"]["url"], config["repository"]["branch"]


def extra_needs(source: str) -> dict[str, str]:
    """``{module: requirement}`` of a set-up cell's extra needs (everything but normlab)."""
    return {m["module"]: m["requirement"] for m in EXTRA_NEED.finditer(source)}


def standard(extra: dict[str, str], root: Path = ROOT) -> str:
    """The set-up cell's source with the repository of ``_config.yml``, the release of
    ``pyproject.toml`` and ``extra`` needs."""
    if "torch" in extra:
        raise ValueError("extra must not reinstall torch: a hosted runtime's torch is kept")
    url, _ = repository(root)
    lines = "".join(f'    "{module}": "{req}",\n' for module, req in extra.items())
    return TEMPLATE.format(repo=url, release=release(root), extra=lines)


def is_setup_cell(cell: dict) -> bool:
    return cell["cell_type"] == "code" and cell["source"].startswith(TEMPLATE.splitlines()[0])


def problems(path: Path, root: Path = ROOT) -> list[str]:
    """What is wrong with the notebook's first cell (an empty list when it is the standard one)."""
    cells = nbformat.read(path, as_version=4).cells
    if not cells or not is_setup_cell(cells[0]):
        fix = f"python -m tools.setup_cell write {path}"
        return [f"{path}: the first cell is not the set-up cell; run {fix}"]
    cell, found = cells[0], []
    if TAG not in cell.metadata.get("tags", []):
        found.append(f"{path}: the set-up cell must be tagged {TAG}")
    try:
        expected = standard(extra_needs(cell.source), root)
    except ValueError as err:
        return [f"{path}: {err}"]
    if cell.source != expected:
        found.append(
            f"{path}: the set-up cell differs from the standard one (repository from _config.yml, "
            f"release from pyproject.toml); run python -m tools.setup_cell write {path}"
        )
    return found


def write(path: Path, extra: dict[str, str] | None = None, root: Path = ROOT) -> None:
    """Put the standard set-up cell first in the notebook at ``path``. An earlier set-up cell is
    replaced in place: its id and execution count stay (a smaller diff, and counts that still
    read as one fresh run), and its extra needs too unless ``extra`` is given."""
    nb = nbformat.read(path, as_version=4)
    cell = nbformat.v4.new_code_cell(standard(extra or {}, root))
    if nb.cells and is_setup_cell(nb.cells[0]):
        old = nb.cells.pop(0)
        if extra is None:
            cell.source = standard(extra_needs(old.source), root)
        cell.id = old.get("id", cell.id)
        cell.execution_count = old.get("execution_count")
        cell.outputs = old.get("outputs", [])
    cell.metadata["tags"] = [TAG]
    nb.cells.insert(0, cell)
    nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="check every toc chapter's first cell")
    put = sub.add_parser("write", help="write the standard cell first in a notebook")
    put.add_argument("notebook", type=Path)
    put.add_argument("needs", nargs="*", help="extra needs as module=requirement")
    args = parser.parse_args(argv)
    if args.command == "write":
        extra = dict(need.split("=", 1) for need in args.needs) if args.needs else None
        write(args.notebook, extra)
        return 0
    found = [p for path in toc.notebooks() for p in problems(path)]
    print("\n".join(found) or "every chapter starts with the standard set-up cell")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
