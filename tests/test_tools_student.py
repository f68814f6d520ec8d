"""tools/student.py removes each exercise solution, as whole cells, from a copy of the book;
each exercise becomes Markdown with an answer cell; the copy can be committed to a branch."""

import subprocess

import nbformat
import pytest
import yaml

from tools import pairs, toc
from tools.student import (
    ANSWER,
    MARKER,
    LayoutError,
    bibliography,
    chapter_numbers,
    cite,
    commit_to_branch,
    edition_settings,
    exercises,
    main,
    make_student_source,
    strip_solutions,
    student_notebook,
)

ROOT = toc.ROOT
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


CONFIG = """title: T
sphinx:
  config:
    a: 1
repository:
  url: https://github.com/me/book
  branch: main
student_edition:
  branch: learners
  leave_out:
    - book/teaching
"""
TOC = """format: jb-book
root: book/intro
parts:
  - caption: Chapters
    numbered: true
    chapters:
      - file: notebooks/01
  - caption: For instructors
    chapters:
      - file: book/teaching
"""


def make_book(root):
    (root / "notebooks").mkdir(parents=True)
    (root / "book").mkdir()
    (root / "_config.yml").write_text(CONFIG)
    (root / "_toc.yml").write_text(TOC)
    (root / "book" / "intro.md").write_text("# Intro\n\nSee {ref}`ex-t-1`.\n")
    (root / "book" / "teaching.md").write_text("# For instructors\n")
    nb = notebook(md("# Chapter"), md(EXERCISE), md(START), code("x = 1"), md(END))
    nbformat.write(nb, root / "notebooks" / "01.ipynb")
    (root / "notebooks" / "text").mkdir()
    (root / "notebooks" / "text" / "01.md").write_text(f"{START}\n\n{END}\n")  # its text pair
    (root / "notebooks" / "text" / "02.md").write_text(f"{START}\n\n{END}\n")  # an orphan
    (root / ".gitignore").write_text("_build/\n")
    (root / ".venv").mkdir()
    (root / "_build").mkdir()


def test_the_copy_has_the_book_without_solutions(tmp_path, capsys):
    root, out = tmp_path / "book", tmp_path / "student"
    make_book(root)
    assert make_student_source(root, out) == {"notebooks/01.ipynb": 1}
    nb = nbformat.read(out / "notebooks" / "01.ipynb", as_version=4)
    assert sources(nb) == ["# Chapter", "**Exercise 1.1: A question**\n\nHow many means?", ANSWER]
    assert [c.get("execution_count") for c in nb.cells] == [None, None, 1]
    assert (out / "book" / "intro.md").read_text() == "# Intro\n\nSee Exercise 1.1.\n"
    assert not (out / ".venv").exists() and not (out / "_build").exists()
    assert (out / ".gitignore").is_file()  # a repository of its own
    # The text pair is written anew, without the solution; an orphan pair is gone.
    assert pairs.problems(out / "notebooks" / "01.ipynb") == []
    assert "solution" not in (out / "notebooks" / "text" / "01.md").read_text()
    assert not (out / "notebooks" / "text" / "02.md").exists()
    # The instructors' page is neither in the toc nor in the folder.
    assert "teaching" not in (out / "_toc.yml").read_text()
    assert not (out / "book" / "teaching.md").exists()
    config = yaml.safe_load((out / "_config.yml").read_text())
    assert config["sphinx"]["config"] == {"a": 1, "hide_solutions": True}
    assert "Student edition" in config["html"]["announcement"]
    assert config["repository"]["branch"] == "learners"  # the launch buttons open it
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


# --- exercises as Markdown ---------------------------------------------------------------------

FULL = """```{exercise} Count $N$ means
:label: ex-t-2
:class: hard

Read {ref}`sec-t-a` and {cite:p}`ba2016layer,nokey`; {cite:t}`ba2016layer` say $x^2$.
Exercise {ref}`ex-t-1` and {ref}`that one <ex-t-1>` come first; {ref}`sec-elsewhere` not.
```"""
BIB = {"ba2016layer": ("Ba et al.", "2016")}


def test_an_exercise_becomes_markdown_with_an_answer_cell_after_it():
    given = code("x = 1")
    given.execution_count, given.outputs = (
        7,
        [nbformat.v4.new_output("execute_result", {"text/plain": "1"}, execution_count=7)],
    )
    nb = notebook(
        md("(sec-t-a)=\n## The part A\n\nText."), given, md(EXERCISE), md(START), md(END), md(FULL)
    )
    student, removed = student_notebook(nb, 3, bib=BIB, where="ch.ipynb")
    assert removed == 1
    assert sources(student)[1:] == [
        "x = 1",
        "**Exercise 3.1: A question**\n\nHow many means?",
        ANSWER,
        "**Exercise 3.2: Count $N$ means**\n\n"
        "Read “The part A” and (Ba et al., 2016; [nokey]); Ba et al. (2016) say $x^2$.\n"
        "Exercise Exercise 3.1 and that one come first; sec-elsewhere not.",
        ANSWER,
    ]
    exercise, answer = student.cells[4], student.cells[5]
    assert exercise.metadata == {
        "tags": ["exercise"],
        "exercise": {"label": "ex-t-2", "number": "3.2", "title": "Count $N$ means"},
    }
    assert answer.metadata == {"tags": ["answer"], "exercise": {"label": "ex-t-2", "number": "3.2"}}
    assert answer.outputs == []
    # One fresh run: the given cell is now [1], the answer cells [2] and [3].
    assert [c.get("execution_count") for c in student.cells if c.cell_type == "code"] == [1, 2, 3]
    assert student.cells[1].outputs[0]["execution_count"] == 1
    assert nb.cells[1].execution_count == 7 and len(nb.cells) == 6  # the input is not modified
    # A valid notebook, and the same one on every run (cell ids too): the branch changes only
    # when the book does.
    nbformat.validate(nbformat.from_dict(student))
    assert student_notebook(nb, 3, bib=BIB)[0] == student
    assert (exercise.id, answer.id) == ("ex-t-2", "ex-t-2-answer")


def test_a_cell_with_text_around_an_exercise_is_split():
    nb = notebook(md(f"## Summary\n\nSee {{ref}}`ex-t-1`.\n\n## Exercises\n\n{EXERCISE}\n\nAfter."))
    student, _ = student_notebook(nb, None)
    assert sources(student) == [
        "## Summary\n\nSee Exercise 1.\n\n## Exercises",
        "**Exercise 1: A question**\n\nHow many means?",
        ANSWER,
        "After.",
    ]
    assert [c.metadata.get("tags") for c in student.cells] == [None, ["exercise"], ["answer"], None]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "```{exercise-start} Gated\n:label: ex-t-9\n```",
            "ch.ipynb, cell 0: a gated {exercise-start}/{exercise-end}; write the exercise as one "
            "{exercise} directive (see CONTRIBUTING.md)",
        ),
        (
            "````{exercise} Open\n:label: ex-t-9\n\nText.\n```",
            "ch.ipynb, cell 0: an {exercise} opened with ```` is never closed",
        ),
        (
            "```{exercise} Nameless\n\nText.\n```",
            "ch.ipynb, cell 0: an {exercise} without a :label: (write :label: ex-<chapter>-<n> "
            "under its first line); found '```{exercise} Nameless\\n\\nText.\\n```'",
        ),
    ],
    ids=["gated", "unclosed", "no-label"],
)
def test_an_exercise_this_tool_cannot_convert_is_an_error(text, message):
    with pytest.raises(LayoutError) as info:
        exercises(notebook(md(text)), 1, "ch.ipynb")
    assert str(info.value) == message


def test_citations_read_as_the_book_prints_them(tmp_path):
    bib = tmp_path / "refs.bib"
    bib.write_text(
        "@article{one, author = {Rush, Alexander}, year = {2018}, title = {A}}\n"
        "@article{two, author = {Wu, Yuxin and He, Kaiming}, year = {2018}, title = {B}}\n"
        "@article{three, author = {Ba, J. and Kiros, J. and Hinton, G.}, year = {2016}}\n"
        "@misc{org, author = {{Meta Platforms}}, title = {Code}}\n"
        '@misc{gul, author = {G{\\"u}l{\\c{c}}ehre, Ca{\\u{g}}lar}, year = {2017}}\n'
    )
    entries = bibliography(bib)
    assert entries["org"] == ("Meta Platforms", "n.d.")
    assert entries["gul"] == ("Gülçehre", "2017")
    assert cite("one, two,three", textual=False, bib=entries) == (
        "(Rush, 2018; Wu and He, 2018; Ba et al., 2016)"
    )
    assert cite("three,missing", textual=True, bib=entries) == "Ba et al. (2016), [missing]"


def test_chapters_are_numbered_as_the_book_numbers_them(tmp_path):
    root = tmp_path / "book"
    make_book(root)
    (root / "notebooks" / "00.ipynb").write_text((root / "notebooks" / "01.ipynb").read_text())
    more = "  - caption: More\n    numbered: true\n    chapters:\n      - file: notebooks/00\n"
    (root / "_toc.yml").write_text(TOC.replace("  - caption: For", more + "  - caption: For"))
    numbers = chapter_numbers(root / "_toc.yml")
    assert {p.name: n for p, n in numbers.items()} == {"01.ipynb": 1, "00.ipynb": 2}


def test_the_student_branch_must_be_a_branch_of_its_own():
    with pytest.raises(ValueError) as info:
        edition_settings({"repository": {"branch": "main"}, "student_edition": {"branch": "main"}})
    assert str(info.value) == (
        "_config.yml: student_edition.branch must differ from repository.branch (the book's own "
        "branch), got 'main' for both"
    )
    with pytest.raises(ValueError, match="must be a git branch name, got 'a b'"):
        edition_settings({"student_edition": {"branch": "a b"}})
    assert edition_settings({}) == {"branch": "student", "leave_out": []}


# --- the student branch ------------------------------------------------------------------------


def git(repo, *args):
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_the_copy_is_committed_to_its_branch_and_nothing_else_changes(tmp_path, monkeypatch):
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "t")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "t@example.org")
    root, out = tmp_path / "book", tmp_path / "student"
    make_book(root)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "book")
    make_student_source(root, out)
    (out / "_build").mkdir()
    (out / "_build" / "page.html").write_text("built")  # ignored (.gitignore)
    status = git(root, "status", "--porcelain")

    first = commit_to_branch(root, out, "learners", "student edition")
    files = set(git(root, "ls-tree", "-r", "--name-only", "learners").splitlines())
    assert "notebooks/01.ipynb" in files and "notebooks/text/01.md" in files
    assert MARKER not in files and "_build/page.html" not in files
    assert "book/teaching.md" not in files
    assert git(root, "status", "--porcelain") == status  # working tree and index untouched
    assert git(root, "symbolic-ref", "--short", "HEAD") == "main"
    assert commit_to_branch(root, out, "learners", "again") == first  # nothing changed
    (out / "README.md").write_text("changed")
    second = commit_to_branch(root, out, "learners", "again")
    assert git(root, "rev-parse", f"{second}^") == first

    with pytest.raises(ValueError) as info:
        commit_to_branch(root, out, "main", "no")
    assert str(info.value) == (
        f"branch must not be the branch checked out in {root}, got 'main'; the student edition "
        f"has a branch of its own (student_edition.branch in _config.yml)"
    )
    assert main([str(root), str(out), "--branch"]) == 0
    assert git(root, "rev-parse", "learners") != second  # README.md is the book's again


def test_the_pages_workflow_publishes_the_student_edition():
    """pages.yml builds the student branch, pushes it, and publishes the student edition at
    /student/ beside the book."""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text())
    build = workflow["jobs"]["build"]
    runs = "\n".join(step.get("run", "") for step in build["steps"])
    assert "student-branch" in runs and "git push --force origin" in runs
    assert "cp -r _build/student/html _build/site/student" in runs
    (upload,) = [s for s in build["steps"] if "upload-pages-artifact" in s.get("uses", "")]
    assert upload["with"]["path"] == "_build/site"
    assert build["permissions"] == {"contents": "write"}
