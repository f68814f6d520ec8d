"""The student edition as built by ``make book-student``: every exercise, no solution.

Checked on the HTML (no browser needed) after both books are built; ``make book-student`` runs
this file with ``-m built``. It reads the full book from ``BOOK_HTML`` (default
``_build/html``), the student edition from ``STUDENT_HTML`` (default ``_build/student/html``)
and its sources from ``STUDENT_SRC`` (default ``_build/student/src``). A solution is found by
its fingerprints: pieces of its text that the rest of its chapter does not contain. Each
solution must leave one in the full book (or the check would pass vacuously), and none in the
student edition's pages or downloads. Each exercise is plain Markdown there, with an answer
cell after it, and the sources pass the repository's own checks (text pairs, set-up cells,
toc, execution counts), so the student branch that holds them is a repository of its own.
"""

import html.parser
import os
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from tools import fork, pairs, setup_cell, toc
from tools.student import ANSWER, edition_settings, solution_spans, strip_solutions

pytestmark = pytest.mark.built

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
STUDENT_HTML = Path(os.environ.get("STUDENT_HTML", ROOT / "_build" / "student" / "html"))
STUDENT_SRC = Path(os.environ.get("STUDENT_SRC", ROOT / "_build" / "student" / "src"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))
#: An exercise as a student notebook writes it, as the HTML shows it.
SHOWN_EXERCISE = re.compile(r"<strong>Exercise \d+\.\d+: ")
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


def student_exercises(nb):
    """The exercise cells of a student notebook, each with the cell after it."""
    cells = nb.cells
    return [
        (cell, cells[i + 1] if i + 1 < len(cells) else None)
        for i, cell in enumerate(cells)
        if "exercise" in cell.metadata.get("tags", [])
    ]


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
        shown = len(SHOWN_EXERCISE.findall(html_source))
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
        found = student_exercises(download)
        assert len(found) == exercise_count(nb), f"{docname}: exercises missing"
    assert checked, "no solution in any chapter: nothing was checked"


def test_student_notebooks_show_each_exercise_as_markdown_with_an_answer_cell():
    """In Jupyter or Colab, without MyST: a bold numbered title, the text with its maths and
    citations written out, no directive or option line; then an empty answer cell."""
    for docname in NOTEBOOKS:
        nb = nbformat.read(STUDENT_SRC / f"{docname}.ipynb", as_version=4)
        markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        assert "{exercise" not in markdown and "{solution" not in markdown, docname
        found = student_exercises(nb)
        assert found, f"{docname}: no exercise"
        for n, (exercise, answer) in enumerate(found, start=1):
            about = exercise.metadata["exercise"]
            assert about["number"].endswith(f".{n}"), (docname, about)
            title = f"**Exercise {about['number']}: {about['title']}**\n\n"
            assert exercise.source.startswith(title), f"{docname}: {exercise.source[:80]!r}"
            assert not re.search(r"^:\w+:|\{cite:", exercise.source, re.M), exercise.source
            assert answer is not None and answer.cell_type == "code", f"{docname}: {about}"
            assert answer.source == ANSWER and answer.outputs == [], f"{docname}: {about}"
            assert answer.metadata["tags"] == ["answer"], f"{docname}: {about}"
            assert answer.metadata["exercise"]["label"] == about["label"]
        text = page_text(STUDENT_HTML / f"{docname}.html")
        assert "{cite" not in text and ":label:" not in text, f"{docname}: raw MyST shown"


def test_student_sources_are_a_repository_of_their_own():
    """The student branch's files: the toc without the instructors' page, every notebook in
    sync with its text pair and its set-up cell with the config, outputs that read as one
    fresh run, and launch buttons that open the student branch, where no solution is."""
    if not (STUDENT_SRC / "_config.yml").is_file():
        pytest.fail(f"no student sources in {STUDENT_SRC}: run `make book-student` first")
    settings = edition_settings(CONFIG)
    config = yaml.safe_load((STUDENT_SRC / "_config.yml").read_text(encoding="utf8"))
    assert config["repository"]["branch"] == settings["branch"]
    assert fork.problems(STUDENT_SRC) == []
    pages = toc.files(STUDENT_SRC / "_toc.yml")
    pages = [p.relative_to(STUDENT_SRC).with_suffix("").as_posix() for p in pages]
    for name in settings["leave_out"]:
        assert name not in pages, f"{name} is in the student edition's toc"
        assert not list(STUDENT_SRC.glob(f"{name}.*")), f"{name} is in the student sources"
        assert not (STUDENT_HTML / f"{name}.html").exists(), f"{name} is in the student edition"
    chapters = toc.notebooks(STUDENT_SRC / "_toc.yml")
    assert sorted(chapters) == sorted((STUDENT_SRC / "notebooks").glob("*.ipynb"))
    url = config["repository"]["url"].removeprefix("https://github.com/")
    for notebook in chapters:
        assert pairs.problems(notebook) == []
        assert setup_cell.problems(notebook, STUDENT_SRC) == []
        code = [c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
        counts = [c.execution_count for c in code]
        assert counts == list(range(1, len(code) + 1)), f"{notebook.name}: counts {counts}"
        docname = notebook.relative_to(STUDENT_SRC).with_suffix("").as_posix()
        html_source = (STUDENT_HTML / f"{docname}.html").read_text(encoding="utf8")
        for link in (f"/gh/{url}/{settings['branch']}?", f"/{url}/blob/{settings['branch']}/"):
            assert link in html_source, f"{docname}: no launch button to {link}"


def test_solution_fingerprints_are_found_in_the_full_book():
    if not (HTML / "index.html").is_file():
        pytest.fail(f"no built book in {HTML}: run `make book` first (or set BOOK_HTML)")
    for docname, solutions in solutions_by_chapter().items():
        text = page_text(HTML / f"{docname}.html")
        for index, pieces in enumerate(solutions, start=1):
            found = [p for p in pieces if p in text]
            assert found, f"{docname}: solution {index} leaves no fingerprint in the book: {pieces}"


@pytest.mark.built
def test_the_student_sources_leave_out_the_hidden_grading_tests():
    if not (STUDENT_SRC / "_config.yml").is_file():
        pytest.fail(f"no student sources in {STUDENT_SRC}: run `make book-student` first")
    assert (ROOT / "grading").is_dir()  # the instructors' repository has them ...
    assert not (STUDENT_SRC / "grading").exists()  # ... the students' copy does not
