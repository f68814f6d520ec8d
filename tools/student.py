"""The student edition: a copy of the book's sources with every exercise solution removed.

    python -m tools.student . _build/student/src     # what `make book-student` runs

A solution is a run of whole notebook cells, laid out as CONTRIBUTING.md prescribes:

- a Markdown cell that *begins* with the ``{solution-start}`` directive (the solution's prose may
  follow the directive in the same cell),
- any cells after it (the solution's code and more prose),
- a Markdown cell that holds the ``{solution-end}`` directive and nothing else.

The copy keeps every other cell of the toc's chapters and drops those runs whole, so the
solutions are gone from the pages and from the notebooks the download button hands out; the
chapters' text pairs (``notebooks/text/``, for diffs) are left out of the copy. A layout this
tool does not know (a directive in the middle of a cell, text beside ``{solution-end}``, the
one-block ``{solution}`` form, a solution in a Markdown page) is an error that names the file
and the cell, never a solution left in place. The copy's ``_config.yml`` also sets
sphinx-exercise's ``hide_solutions`` and a banner that says which edition it is.
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import sys
from pathlib import Path

import nbformat
import yaml

from tools import pairs, toc

#: A line that opens a directive: three or more backticks or colons, then ``{name}``.
DIRECTIVE = re.compile(r"^(`{3,}|:{3,})\{(solution|solution-start|solution-end)\}", re.MULTILINE)
#: A cell that closes a solution: the ``{solution-end}`` directive alone.
END_CELL = re.compile(r"(`{3,}|:{3,})\{solution-end\}[ \t]*\n\1[ \t]*")

#: The file that marks a folder as a student copy, which a later run may replace.
MARKER = ".normlab-student"
#: What the book build does not need in the copy.
SKIP = ("_build", "__pycache__", "*.egg-info")


class LayoutError(ValueError):
    """A solution is not laid out as whole cells (see the module docstring)."""


def solution_spans(nb: dict, where: str = "notebook") -> list[tuple[int, int]]:
    """The ``(first, last)`` cell indices of every solution in ``nb``, inclusive.

    Raises LayoutError, naming ``where`` and the cell, for any other layout.
    """
    spans, start = [], None
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = cell["source"].strip()
        names = [m[2] for m in DIRECTIVE.finditer(text)]
        at = f"{where}, cell {index}"
        if "solution" in names:
            raise LayoutError(
                f"{at}: uses the one-block {{solution}} directive; write the solution as cells "
                f"between {{solution-start}} and {{solution-end}} (see CONTRIBUTING.md)"
            )
        if not names:
            continue
        opening = DIRECTIVE.match(text)  # a directive on the cell's first line
        if names == ["solution-start"] and opening is not None:
            if start is not None:
                raise LayoutError(
                    f"{at}: a {{solution-start}} inside the solution opened at cell {start}"
                )
            start = index
        elif names == ["solution-end"] and END_CELL.fullmatch(text):
            if start is None:
                raise LayoutError(
                    f"{at}: a {{solution-end}} without a {{solution-start}} before it"
                )
            spans.append((start, index))
            start = None
        else:
            raise LayoutError(
                f"{at}: a solution directive must open its own cell ({{solution-start}} first in "
                f"the cell, the solution's prose after it) or be the whole cell "
                f"({{solution-end}}); found {names} in {text[:80]!r}"
            )
    if start is not None:
        raise LayoutError(
            f"{where}, cell {start}: a {{solution-start}} without a {{solution-end}} after it"
        )
    return spans


def strip_solutions(nb: dict, where: str = "notebook") -> tuple[dict, int]:
    """A copy of ``nb`` without its solution cells, and how many solutions were removed."""
    spans = solution_spans(nb, where)
    drop = {i for first, last in spans for i in range(first, last + 1)}
    student = copy.deepcopy(nb)
    student["cells"] = [c for i, c in enumerate(student["cells"]) if i not in drop]
    return student, len(spans)


def make_student_source(root: str | Path, out: str | Path) -> dict[str, int]:
    """Copy the book at ``root`` to ``out`` with every solution removed.

    Args:
        root: the repository root (holds ``_config.yml`` and ``_toc.yml``).
        out: a new folder outside ``root``'s own files, or an earlier student copy (replaced).

    Returns:
        ``{relative notebook path: solutions removed}`` for every notebook copied.
    """
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
        skipped = {n for n in names if n.startswith(".") or any(Path(n).match(p) for p in SKIP)}
        return skipped | {n for n in names if (here / n) == out}

    shutil.copytree(root, out, ignore=ignore, symlinks=True)
    (out / MARKER).write_text("A student copy written by tools/student.py; it may be replaced.\n")

    chapters = toc.files(out / "_toc.yml")
    for page in (p for p in chapters if p.suffix == ".md"):
        if DIRECTIVE.search(page.read_text(encoding="utf8")):
            raise LayoutError(
                f"{page.relative_to(out)}: a solution in a Markdown page; solutions live in "
                f"notebooks, as cells between {{solution-start}} and {{solution-end}}"
            )
    removed = {}
    for path in (p for p in chapters if p.suffix == ".ipynb"):
        name = path.relative_to(out).as_posix()
        student, removed[name] = strip_solutions(nbformat.read(path, as_version=4), name)
        nbformat.write(nbformat.from_dict(student), path)
        # The chapter's text pair (for diffs) would keep the solutions: it is not needed here.
        pairs.text_path(path).unlink(missing_ok=True)

    config_path = out / "_config.yml"
    config = yaml.safe_load(config_path.read_text(encoding="utf8"))
    config.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = True
    html = config.setdefault("html", {})
    html["announcement"] = "Student edition: the exercises are here, their solutions are not."
    config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), "utf8")
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="the book's folder (with _config.yml)")
    parser.add_argument("out", help="where to write the student copy (replaced)")
    args = parser.parse_args(argv)
    try:
        removed = make_student_source(args.root, args.out)
    except (LayoutError, FileExistsError, FileNotFoundError, ValueError) as err:
        print(f"tools/student.py: error: {err}", file=sys.stderr)
        return 2
    for path, count in removed.items():
        print(f"{path}: {count} solution(s) removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
