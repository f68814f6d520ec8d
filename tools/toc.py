"""The book's table of contents, read in one place for every tool that needs the chapter list.

    python tools/toc.py notebooks      # the notebooks, in reading order, one path a line
    python tools/toc.py files          # every page (notebooks and Markdown), in reading order

The toc is parsed as YAML (so a trailing comment or a quoted name is read as Jupyter Book reads
it), and every entry must resolve to a file: a name that is neither a notebook nor a page, or an
entry this reader does not understand, is an error (exit status 2), never a page dropped in
silence. Paths are printed relative to the current directory when they lie under it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

#: The repository root, and the toc there (this file lives in tools/).
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TOC = ROOT / "_toc.yml"
#: The source suffixes Jupyter Book 1 resolves a toc name to, in the order it tries them.
SUFFIXES = (".ipynb", ".md", ".rst")
#: Keys of a toc entry that hold more entries (jb-book parts/chapters/sections, and the
#: sphinx-external-toc spelling subtrees/entries).
NESTED = ("parts", "chapters", "sections", "subtrees", "entries")


class TocError(ValueError):
    """The toc names something that is not a file, or has an entry this reader cannot follow."""


def _resolve(toc: Path, name: object) -> Path:
    if not isinstance(name, str) or not name.strip():
        raise TocError(f"{toc}: a file entry must be a non-empty name, got {name!r}")
    base = toc.parent / name.strip()
    if base.suffix in SUFFIXES:
        candidates = [base]
    else:
        candidates = [base.with_name(base.name + suffix) for suffix in SUFFIXES]
    found = [path for path in candidates if path.is_file()]
    if not found:
        tried = ", ".join(str(path) for path in candidates)
        raise TocError(f"{toc} lists {name!r}, but no such file exists (tried {tried})")
    if len(found) > 1:
        both = ", ".join(str(path) for path in found)
        raise TocError(f"{toc} lists {name!r}, which is ambiguous: {both} all exist")
    return found[0]


def _walk(toc: Path, node: object, out: list[Path]) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(toc, item, out)
        return
    if not isinstance(node, dict):
        raise TocError(f"{toc}: expected a mapping or a list in the toc, got {node!r}")
    if "glob" in node:
        raise TocError(f"{toc}: glob entries ({node['glob']!r}) are not supported; list the files")
    if "file" in node:
        out.append(_resolve(toc, node["file"]))
    elif "url" not in node and not any(key in node for key in NESTED):
        raise TocError(f"{toc}: an entry with neither file, url nor nested entries: {node!r}")
    for key in NESTED:
        if key in node:
            _walk(toc, node[key], out)


def files(toc: Path | str = DEFAULT_TOC) -> list[Path]:
    """Every page the toc lists (its root first), in reading order, as paths beside the toc.

    Raises TocError when an entry does not resolve to exactly one existing file.
    """
    toc = Path(toc)
    data = yaml.safe_load(toc.read_text(encoding="utf8"))
    if not isinstance(data, dict) or "root" not in data:
        raise TocError(f"{toc}: not a Jupyter Book toc (no 'root' key)")
    out = [_resolve(toc, data["root"])]
    for key in NESTED:
        if key in data:
            _walk(toc, data[key], out)
    return out


def notebooks(toc: Path | str = DEFAULT_TOC) -> list[Path]:
    """The notebooks the toc lists, in reading order (see files)."""
    return [path for path in files(toc) if path.suffix == ".ipynb"]


def _shown(path: Path) -> str:
    absolute = path.resolve()
    try:
        return str(absolute.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(absolute)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["notebooks", "files"], help="what to list")
    parser.add_argument(
        "--toc", default=os.fspath(DEFAULT_TOC), help="the toc (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    try:
        paths = notebooks(args.toc) if args.what == "notebooks" else files(args.toc)
    except (OSError, yaml.YAMLError, TocError) as err:
        print(f"tools/toc.py: error: {err}", file=sys.stderr)
        return 2
    if not paths:
        print(f"tools/toc.py: error: {args.toc} lists no {args.what}", file=sys.stderr)
        return 2
    print("\n".join(_shown(path) for path in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
