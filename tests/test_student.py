"""normlab.student removes exercise solutions from a copy of the book, and nothing else."""

import nbformat
import pytest
import yaml

from normlab.student import MARKER, main, make_student_source, split_solutions

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


def test_gated_solution_goes_with_its_code_cells():
    nb = notebook(
        md("# Title"), md(EXERCISE), md(START), code("answer = 40"), md(END), md("After.")
    )
    student, solutions = split_solutions(nb)
    assert sources(student) == ["# Title", EXERCISE, "After."]
    assert len(solutions) == 1
    assert "The answer's prose." in solutions[0] and "answer = 40" in solutions[0]
    assert len(nb.cells) == 6  # the input is not modified


def test_text_around_the_directives_stays():
    nb = notebook(md("Before.\n\n" + START), code("x = 1"), md(END + "\n\nAfter."))
    student, solutions = split_solutions(nb)
    assert sources(student) == ["Before.", "After."]
    assert len(solutions) == 1


def test_solution_within_one_cell_and_plain_solution_blocks():
    one_cell = md(f"Keep 1.\n\n{START}\n\n{END}\n\nKeep 2.")
    plain = md("Keep 3.\n\n````{solution} ex-t-1\nHidden.\n```python\nx = 1\n```\n````\n\nKeep 4.")
    student, solutions = split_solutions(notebook(one_cell, plain))
    text = "\n".join(sources(student))
    for kept in ("Keep 1.", "Keep 2.", "Keep 3.", "Keep 4."):
        assert kept in text
    assert "answer's prose" not in text and "Hidden." not in text and "x = 1" not in text
    assert len(solutions) == 2


def test_exercises_without_solutions_are_untouched():
    nb = notebook(md(EXERCISE), code("y = 2"))
    student, solutions = split_solutions(nb)
    assert sources(student) == sources(nb) and solutions == []


@pytest.mark.parametrize(
    ("cells", "match"),
    [
        ([md(START), code("x = 1")], "cell 0: a {solution-start} without a {solution-end}"),
        ([md("ok"), md(END)], "cell 1: a {solution-end} directive without a {solution-start}"),
        ([md("```{solution} ex-t-1\nnever closed")], "cell 0: a directive opened with ```"),
    ],
)
def test_unbalanced_directives_name_the_cell(cells, match):
    with pytest.raises(ValueError, match=match.replace("{", r"\{").replace("}", r"\}")):
        split_solutions(notebook(*cells))


def make_book(root):
    (root / "notebooks").mkdir(parents=True)
    (root / "book").mkdir()
    (root / "_config.yml").write_text("title: T\nsphinx:\n  config:\n    a: 1\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n")
    (root / "book" / "intro.md").write_text("# Intro\n")
    nb = notebook(md("# Chapter"), md(EXERCISE), md(START), code("x = 1"), md(END))
    nbformat.write(nb, root / "notebooks" / "01.ipynb")
    (root / ".venv").mkdir()
    (root / "_build").mkdir()


def test_make_student_source_copies_the_book_without_solutions(tmp_path, capsys):
    root, out = tmp_path / "book", tmp_path / "student"
    make_book(root)
    assert make_student_source(root, out) == {"notebooks/01.ipynb": 1}
    nb = nbformat.read(out / "notebooks" / "01.ipynb", as_version=4)
    assert sources(nb) == ["# Chapter", EXERCISE]
    assert (out / "book" / "intro.md").read_text() == "# Intro\n"
    assert not (out / ".venv").exists() and not (out / "_build").exists()
    config = yaml.safe_load((out / "_config.yml").read_text())
    assert config["sphinx"]["config"] == {"a": 1, "hide_solutions": True}
    assert "Student edition" in config["html"]["announcement"]
    # The original is untouched, and a second run replaces the first copy.
    assert len(nbformat.read(root / "notebooks" / "01.ipynb", as_version=4).cells) == 5
    assert main([str(root), str(out)]) == 0
    assert "notebooks/01.ipynb: 1 solution(s) removed" in capsys.readouterr().out
    assert (out / MARKER).is_file()


def test_make_student_source_refuses_to_replace_other_folders(tmp_path):
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
