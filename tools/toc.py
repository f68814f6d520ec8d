"""The book's table of contents, read in one place for every tool that needs the chapter list.

    python tools/toc.py notebooks      # the notebooks, in reading order, one path a line
    python tools/toc.py files          # every page (notebooks and Markdown), in reading order

The toc is parsed by sphinx-external-toc, the parser Jupyter Book itself builds with, so it is
read exactly as the book reads it. What this adds is a check the build makes only later: every
entry must be one existing file, so a name that is neither a notebook nor a page (or a glob,
which would list whatever is on disk) is an error, exit status 2, never a page dropped in
silence. Paths are printed relative to the current directory when they lie under it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import yaml
from sphinx_external_toc.api import Document, SiteMap
from sphinx_external_toc.parsing import MalformedError, parse_toc_yaml

#: The repository root, and the toc there (this file lives in tools/).
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TOC = ROOT / "_toc.yml"
#: The source suffixes Jupyter Book 1 resolves a toc name to.
SUFFIXES = (".ipynb", ".md", ".rst")


class TocError(ValueError):
    """The toc cannot be parsed, or names something that is not exactly one file."""


def _resolve(toc: Path, name: str) -> Path:
    base = toc.parent / name
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


def _reading_order(site_map: SiteMap, document: Document) -> Iterator[str]:
    """A document's name, then its subtrees' documents depth first: the order of the pages."""
    yield document.docname
    for tree in document.subtrees:
        if tree.globs():
            raise TocError(f"glob entries ({', '.join(tree.globs())}) are not supported")
        for name in tree.files():
            yield from _reading_order(site_map, site_map[name])


def files(toc: Path | str = DEFAULT_TOC) -> list[Path]:
    """Every page the toc lists (its root first), in reading order, as paths beside the toc.

    Raises TocError when the toc is malformed or an entry is not exactly one existing file.
    """
    toc = Path(toc)
    try:
        site_map = parse_toc_yaml(toc)
        names = list(_reading_order(site_map, site_map.root))
    except (MalformedError, yaml.YAMLError, TocError) as err:
        raise TocError(f"{toc}: {err}") from err
    return [_resolve(toc, name) for name in names]


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
    except (OSError, TocError) as err:
        print(f"tools/toc.py: error: {err}", file=sys.stderr)
        return 2
    if not paths:
        print(f"tools/toc.py: error: {args.toc} lists no {args.what}", file=sys.stderr)
        return 2
    print("\n".join(_shown(path) for path in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
