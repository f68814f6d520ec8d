"""The student edition: a copy of the book's sources with every exercise solution removed.

``make book-student`` runs ``python -m normlab.student . _build/student/src`` and builds the copy.
The solutions are removed from the *sources*, so they are gone from the pages and from the
notebooks that the download button hands out. sphinx-exercise's ``hide_solutions`` alone is not
enough: it leaves the cells between ``solution-start`` and ``solution-end`` in place, and with
gated solutions it stops the build (sphinx-exercise 1.2.1). The copy's ``_config.yml`` still sets
it, so that a solution written in some form this module does not know is hidden all the same.

A solution is a gated one, in notebooks: from the ``{solution-start}`` directive in a Markdown
cell, through every cell after it, to the end of the ``{solution-end}`` directive; or one fenced
``{solution}`` directive in a Markdown cell or page. Text before and after them in the same cell
is kept; a cell left empty is dropped.
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import sys
from pathlib import Path

#: The opening line of a fenced directive: three or more backticks or colons, then ``{name}``.
_FENCE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[a-z-]+)\}.*$", re.MULTILINE)

#: The file that marks a folder as a student copy, which a later run may replace.
MARKER = ".normlab-student"

#: Folders and files of the repository that the book build does not need in the copy.
_SKIP = ("_build", "__pycache__", "*.egg-info")


def _closing(text: str, fence: str, start: int) -> int:
    """Offset just after the line that closes ``fence``, searching from ``start``."""
    closer = re.compile(rf"^{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE)
    match = closer.search(text, start)
    if match is None:
        raise ValueError(f"a directive opened with {fence} is never closed")
    return min(match.end() + 1, len(text))


def _next(text: str, pos: int, names: tuple[str, ...]) -> re.Match[str] | None:
    """The first directive called one of ``names`` that opens at or after ``pos``."""
    return next((m for m in _FENCE.finditer(text, pos) if m["name"] in names), None)


def _scan(text: str, current: list[str] | None) -> tuple[str, list[str], list[str] | None]:
    """Split Markdown ``text`` into what stays and the solutions it holds.

    ``current`` is the solution still open from earlier cells (None when none is open).
    Returns ``(kept text, solutions completed here, solution still open)``.
    """
    kept, done, pos = [], [], 0
    while True:
        if current is None:
            match = _next(text, pos, ("solution", "solution-start", "solution-end"))
            if match is None:
                kept.append(text[pos:])
                return "".join(kept), done, None
            if match["name"] == "solution-end":
                raise ValueError("a {solution-end} directive without a {solution-start} before it")
            kept.append(text[pos : match.start()])
            if match["name"] == "solution":
                pos = _closing(text, match["fence"], match.end())
                done.append(text[match.start() : pos])
            else:
                current, pos = [], match.start()
        else:
            match = _next(text, pos, ("solution-end",))
            if match is None:
                current.append(text[pos:])
                return "".join(kept), done, current
            end = _closing(text, match["fence"], match.end())
            current.append(text[pos:end])
            done.append("".join(current))
            current, pos = None, end


def _source(cell: dict) -> str:
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else source


def split_solutions(nb: dict) -> tuple[dict, list[str]]:
    """Separate a notebook's exercise solutions from the rest.

    Args:
        nb: a notebook as read by ``nbformat.read`` (a dict with ``"cells"``); not modified.

    Returns:
        ``(student, solutions)``: a copy of ``nb`` without its solutions (cells left empty are
        dropped), and the text of each solution it removed, prose and code, in order.

    Raises:
        ValueError: a ``{solution-start}`` without ``{solution-end}`` or the other way round, or
            an unclosed directive; the message names the cell.
    """
    student = copy.deepcopy(nb)
    cells, solutions, current, opened = [], [], None, None
    for index, cell in enumerate(student["cells"]):
        text = _source(cell)
        if cell["cell_type"] != "markdown":
            if current is not None:
                current.append(text + "\n")
            else:
                cells.append(cell)
            continue
        was_open = current is not None
        try:
            kept, done, current = _scan(text + "\n", current)
        except ValueError as err:
            raise ValueError(f"cell {index}: {err}") from err
        if current is not None and not was_open:
            opened = index
        solutions += done
        if kept.strip():
            cell["source"] = kept.strip("\n")
            cells.append(cell)
    if current is not None:
        raise ValueError(f"cell {opened}: a {{solution-start}} without a {{solution-end}} after it")
    student["cells"] = cells
    return student, solutions


def strip_solution_blocks(text: str) -> str:
    """Markdown ``text`` (a page) without its solutions; see ``split_solutions``."""
    kept, _, current = _scan(text, None)
    if current is not None:
        raise ValueError("a {solution-start} without a {solution-end} after it")
    return kept


def make_student_source(root: str | Path, out: str | Path) -> dict[str, int]:
    """Copy the book at ``root`` to ``out`` with every solution removed.

    Args:
        root: the repository root (holds ``_config.yml`` and ``_toc.yml``).
        out: a folder to create outside ``root``'s own files; an earlier student copy there is
            replaced, any other non-empty folder is refused.

    Returns:
        ``{relative notebook path: solutions removed}`` for every notebook copied.
    """
    import nbformat
    import yaml

    root, out = Path(root).resolve(), Path(out).resolve()
    if not (root / "_config.yml").is_file():
        raise FileNotFoundError(f"root must be the book's folder (with _config.yml), got {root}")
    if root == out or root.is_relative_to(out):
        raise ValueError(f"out must be a new folder outside the book, got {out}")
    if out.exists():
        if any(out.iterdir()) and not (out / MARKER).is_file():
            raise FileExistsError(
                f"out must be a new folder or an earlier student copy (with {MARKER}), got {out}, "
                f"which holds other files; it is not replaced"
            )
        shutil.rmtree(out)

    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder).resolve()
        skipped = {n for n in names if n.startswith(".") or any(Path(n).match(p) for p in _SKIP)}
        return skipped | {n for n in names if (here / n) == out}

    shutil.copytree(root, out, ignore=ignore, symlinks=True)
    (out / MARKER).write_text("A student copy written by normlab.student; it may be replaced.\n")

    removed = {}
    for path in sorted(out.rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        student, solutions = split_solutions(nb)
        nbformat.write(nbformat.from_dict(student), path)
        removed[path.relative_to(out).as_posix()] = len(solutions)
    for path in sorted(out.rglob("*.md")):
        text = path.read_text(encoding="utf8")
        if _next(text, 0, ("solution", "solution-start")) is not None:
            path.write_text(strip_solution_blocks(text), encoding="utf8")

    config_path = out / "_config.yml"
    config = yaml.safe_load(config_path.read_text(encoding="utf8"))
    config.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = True
    html = config.setdefault("html", {})
    html["announcement"] = "Student edition: the exercises are here, their solutions are not."
    config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), "utf8")
    return removed


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m normlab.student ROOT OUT``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="the book's folder (with _config.yml)")
    parser.add_argument("out", help="where to write the student copy (replaced)")
    args = parser.parse_args(argv)
    for path, count in make_student_source(args.root, args.out).items():
        print(f"{path}: {count} solution(s) removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
