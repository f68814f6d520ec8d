"""tools/student.py removes each exercise solution, as whole cells, from a copy of the book."""

import nbformat
import pytest
import yaml

from tools.student import MARKER, LayoutError, main, make_student_source, strip_solutions

EXERCISE = "```{exercise} A question\n:label: ex-t-1\n\nHow many means?\n```"
START = "```{solution-start} ex-t-1\n:class: dropdown\n```\n\nThe answer's prose."
END = "```{solution-end}\n```"


def notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def md(text):
    return nbformat.v4.new_markdown_cell(text)


def code(text):
    return nbformat.v4.new_code_cell(text)


def sources(nb):
    return [c["source"] for c in nb["cells"]]


def test_a_solution_goes_with_its_cells_and_nothing_else():
    nb = notebook(
        md("# Title"), md(EXERCISE), md(START), code("answer = 40"), md(END), md("After.")
    )
    student, removed = strip_solutions(nb)
    assert sources(student) == ["# Title", EXERCISE, "After."]
    assert removed == 1
    assert len(nb.cells) == 6  # the input is not modified


def test_two_solutions_and_an_exercise_without_one():
    nb = notebook(md(EXERCISE), md(START), md(END), md(EXERCISE), code("y = 2"), md(START), md(END))
    student, removed = strip_solutions(nb)
    assert sources(student) == [EXERCISE, EXERCISE, "y = 2"]
    assert removed == 2


@pytest.mark.parametrize(
    ("cells", "match"),
    [
        ([md(START), code("x = 1")], "cell 0: a {solution-start} without a {solution-end}"),
        ([md("ok"), md(END)], "cell 1: a {solution-end} without a {solution-start}"),
        ([md(START), md(START), md(END)], "cell 1: a {solution-start} inside the solution"),
        ([md("Before.\n\n" + START), md(END)], "cell 0: a solution directive must open its own"),
        ([md(START), md(END + "\n\nAfter.")], "cell 1: a solution directive must open its own"),
        ([md(f"{START}\n\n{END}")], "cell 0: a solution directive must open its own"),
        ([md("````{solution} ex-t-1\nHidden.\n````")], "cell 0: uses the one-block {solution}"),
    ],
    ids=["unclosed", "end-first", "nested", "text-before", "text-after", "one-cell", "one-block"],
)
def test_any_other_layout_is_an_error_that_names_the_cell(cells, match):
    with pytest.raises(LayoutError, match=match.replace("{", r"\{").replace("}", r"\}")):
        strip_solutions(notebook(*cells), "ch.ipynb")


def make_book(root):
    (root / "notebooks").mkdir(parents=True)
    (root / "book").mkdir()
    (root / "_config.yml").write_text("title: T\nsphinx:\n  config:\n    a: 1\n")
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: notebooks/01\n"
    )
    (root / "book" / "intro.md").write_text("# Intro\n")
    nb = notebook(md("# Chapter"), md(EXERCISE), md(START), code("x = 1"), md(END))
    nbformat.write(nb, root / "notebooks" / "01.ipynb")
    (root / "notebooks" / "text").mkdir()
    (root / "notebooks" / "text" / "01.md").write_text(f"{START}\n\n{END}\n")  # its text pair
    (root / ".venv").mkdir()
    (root / "_build").mkdir()


def test_the_copy_has_the_book_without_solutions(tmp_path, capsys):
    root, out = tmp_path / "book", tmp_path / "student"
    make_book(root)
    assert make_student_source(root, out) == {"notebooks/01.ipynb": 1}
    nb = nbformat.read(out / "notebooks" / "01.ipynb", as_version=4)
    assert sources(nb) == ["# Chapter", EXERCISE]
    assert (out / "book" / "intro.md").read_text() == "# Intro\n"
    assert not (out / ".venv").exists() and not (out / "_build").exists()
    assert not (out / "notebooks" / "text" / "01.md").exists()  # the pair keeps the solution
    config = yaml.safe_load((out / "_config.yml").read_text())
    assert config["sphinx"]["config"] == {"a": 1, "hide_solutions": True}
    assert "Student edition" in config["html"]["announcement"]
    # The original is untouched, and a second run replaces the first copy.
    assert len(nbformat.read(root / "notebooks" / "01.ipynb", as_version=4).cells) == 5
    assert main([str(root), str(out)]) == 0
    assert "notebooks/01.ipynb: 1 solution(s) removed" in capsys.readouterr().out
    assert (out / MARKER).is_file()


def test_a_solution_in_a_page_is_refused(tmp_path, capsys):
    root = tmp_path / "book"
    make_book(root)
    (root / "book" / "intro.md").write_text(f"# Intro\n\n{START}\n\n{END}\n")
    assert main([str(root), str(tmp_path / "student")]) == 2
    assert "book/intro.md: a solution in a Markdown page" in capsys.readouterr().err


def test_other_folders_are_never_replaced(tmp_path):
    root = tmp_path / "book"
    make_book(root)
    other = tmp_path / "other"
    other.mkdir()
    (other / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not replaced"):
        make_student_source(root, other)
    assert (other / "precious.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="outside the book"):
        make_student_source(root, root)
    with pytest.raises(FileNotFoundError, match="_config.yml"):
        make_student_source(tmp_path, tmp_path / "x")
