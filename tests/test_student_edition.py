"""The student edition as built by ``make book-student``: every exercise, no solution.

Checked on the HTML (no browser needed) after both books are built; ``make book-student`` runs
this file with ``-m built``. It reads the full book from ``BOOK_HTML`` (default
``_build/html``) and the student edition from ``STUDENT_HTML`` (default
``_build/student/html``). A solution is found by its fingerprints: pieces of its text that the
rest of its chapter does not contain. Each solution must leave one in the full book (or the
check would pass vacuously), and none in the student edition's pages or downloads.
"""

import html.parser
import os
import re
from pathlib import Path

import nbformat
import pytest

from tools import toc
from tools.student import solution_spans, strip_solutions

pytestmark = pytest.mark.built

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
STUDENT_HTML = Path(os.environ.get("STUDENT_HTML", ROOT / "_build" / "student" / "html"))
NOTEBOOKS = [path.relative_to(ROOT).with_suffix("").as_posix() for path in toc.notebooks()]


class _Text(html.parser.HTMLParser):
    """The text of an HTML page, without scripts and styles."""

    def __init__(self):
        super().__init__()
        self.parts, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self.skip -= tag in ("script", "style")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def page_text(path):
    parser = _Text()
    parser.feed(path.read_text(encoding="utf8"))
    return re.sub(r"\s+", " ", "".join(parser.parts))


def _plain(text):
    return re.sub(r"\s+", " ", text.replace("`", "").replace("*", "")).strip()


def fingerprints(solution, elsewhere):
    """Pieces of a solution that its rendered HTML contains verbatim and the rest of the chapter
    does not: whole lines of at least 20 characters (code), and runs of at least five words of
    prose between punctuation and math. ``elsewhere`` is the chapter without its solutions."""
    pieces = []
    for line in solution.splitlines():
        line = line.strip()
        if line.startswith(("```", ":::", ":")):
            continue
        if len(line) >= 20:
            pieces.append(re.sub(r"\s+", " ", line))
        prose = re.sub(r"\$[^$]*\$", "|", line)
        for fragment in re.split(r"[|,.;:!?()\[\]{}]", _plain(prose)):
            if len(fragment.split()) >= 5:
                pieces.append(fragment.strip())
    rest = _plain(elsewhere)
    return [p for p in dict.fromkeys(pieces) if _plain(p) not in rest]


def solutions_by_chapter():
    """``{docname: [fingerprints of each solution]}`` for every chapter."""
    out = {}
    for docname in NOTEBOOKS:
        nb = nbformat.read(ROOT / f"{docname}.ipynb", as_version=4)
        student, _ = strip_solutions(nb, docname)
        elsewhere = "\n".join(c["source"] for c in student["cells"])
        solutions = [
            "\n".join(c["source"] for c in nb.cells[first : last + 1])
            for first, last in solution_spans(nb, docname)
        ]
        out[docname] = [fingerprints(s, elsewhere) for s in solutions]
    return out


def exercise_count(nb):
    pattern = re.compile(r"^(`{3,}|:{3,})\{exercise(-start)?\}", re.MULTILINE)
    return sum(len(pattern.findall(c.source)) for c in nb.cells if c.cell_type == "markdown")


def test_student_edition_has_the_exercises_and_no_solutions():
    if not (STUDENT_HTML / "index.html").is_file():
        pytest.fail(f"no student edition in {STUDENT_HTML}: run `make book-student` first")
    checked = 0
    for docname, solutions in solutions_by_chapter().items():
        path = STUDENT_HTML / f"{docname}.html"
        html_source = path.read_text(encoding="utf8")
        assert re.search(r'class="solution[ "]', html_source) is None, (
            f"{docname}: a solution box in the student edition"
        )
        nb = nbformat.read(ROOT / f"{docname}.ipynb", as_version=4)
        shown = len(re.findall(r'class="exercise[ "]', html_source))
        assert shown == exercise_count(nb), f"{docname}: {shown} exercises shown"
        text = page_text(path)
        for pieces in solutions:
            for piece in pieces:
                assert piece not in text, (
                    f"{docname}: solution text in the student edition: {piece}"
                )
                checked += 1
        download = nbformat.read(STUDENT_HTML / "_sources" / f"{docname}.ipynb", as_version=4)
        assert solution_spans(download, docname) == [], f"{docname}: the download has solutions"
        assert exercise_count(download) == exercise_count(nb), f"{docname}: exercises missing"
    assert checked, "no solution in any chapter: nothing was checked"


def test_solution_fingerprints_are_found_in_the_full_book():
    if not (HTML / "index.html").is_file():
        pytest.fail(f"no built book in {HTML}: run `make book` first (or set BOOK_HTML)")
    for docname, solutions in solutions_by_chapter().items():
        text = page_text(HTML / f"{docname}.html")
        for index, pieces in enumerate(solutions, start=1):
            found = [p for p in pieces if p in text]
            assert found, f"{docname}: solution {index} leaves no fingerprint in the book: {pieces}"
