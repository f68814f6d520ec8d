"""tools/assignments.py: every exercise has a grading file that otter-grader reads, the student
notebook names what the grader reads and checks it, the key is the book's solutions, and the
slice keeps what the exercises need. (Grading itself: tests/test_tools_grade.py.)"""

import zipfile

import nbformat
import pytest

from tools import assignments, toc
from tools.assignments import (
    GradingError,
    Spec,
    assignment_notebook,
    cell_names,
    chapter_specs,
    chapters_with_exercises,
    load_spec,
    public_source,
    sliced,
    write_assignment,
)

ROOT = toc.ROOT
# The student edition's copy of the repository leaves the grading files (its hidden tests hold
# the answers) out, and with them what these tests check.
pytestmark = pytest.mark.skipif(
    not (ROOT / "grading").is_dir(), reason="no grading/ (the student edition leaves it out)"
)
EXERCISE = "```{exercise} A question\n:label: ex-t-1\n\nHow many means?\n```"
START = "```{solution-start} ex-t-1\n:class: dropdown\n```"
END = "```{solution-end}\n```"
GRADED = '''\
"""A test exercise."""

from otter.test_files import test_case

OK_FORMAT = False
name = "ex-t-1"
answer = """\\
# Your answer here.
means = ...  # how many
"""
manual_points = 1
rubric = "Says why."


@test_case(points=0, hidden=False)
def a_number(means):
    assert isinstance(means, int)


@test_case(points=2, hidden=True)
def forty(means):
    assert means == 40
'''


def chapter(tmp_path, grading=GRADED, label="ex-t-1"):
    """A one-exercise chapter ``99_t.ipynb`` and its grading folder under ``tmp_path``."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import torch"),
        nbformat.v4.new_code_cell("torch.manual_seed(0)"),
        nbformat.v4.new_markdown_cell("# A chapter"),
        nbformat.v4.new_code_cell("size = 40"),
        nbformat.v4.new_code_cell("unused = 1"),
        nbformat.v4.new_markdown_cell(EXERCISE),
        nbformat.v4.new_markdown_cell(START),
        nbformat.v4.new_code_cell("means = size"),
        nbformat.v4.new_markdown_cell(END),
    ]
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "99_t.ipynb"
    nbformat.write(nb, path)
    if grading is not None:
        (tmp_path / "grading" / "99_t").mkdir(parents=True)
        (tmp_path / "grading" / "99_t" / f"{label}.py").write_text(grading)
    return path, nb


def test_every_toc_chapter_with_exercises_has_its_grading_files():
    chapters = chapters_with_exercises(ROOT)
    assert chapters, "the book has exercises"
    for path in chapters:
        specs = chapter_specs(path, ROOT)
        assert specs, path
        for spec in specs.values():
            assert spec.autograded or spec.manual_points, spec.label
            for line in (spec.answer or "").splitlines():  # the notebooks' 80 columns
                assert len(line) <= 80, f"{spec.path}: answer line over 80 columns: {line!r}"


def test_a_grading_file_read(tmp_path):
    chapter(tmp_path)
    spec = load_spec(tmp_path / "grading/99_t/ex-t-1.py")
    assert spec.label == "ex-t-1" and spec.points == 2 and spec.manual_points == 1
    assert [(c.name, c.points, c.hidden) for c in spec.cases] == [
        ("a_number", 0, False),
        ("forty", 2, True),
    ]
    assert spec.answer.startswith("# Your answer here.") and spec.rubric == "Says why."


def test_the_public_file_has_no_hidden_case():
    spec = Spec("ex-t-1", None, GRADED, (), None, 0, "")
    public = public_source(spec)
    assert "def a_number" in public and "forty" not in public and "means == 40" not in public
    assert '@test_case(name="a_number", points=0, hidden=False)' in public  # named as reported
    compile(public, "public", "exec")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (GRADED.replace("OK_FORMAT = False", ""), "must set OK_FORMAT = False"),
        (GRADED.replace('name = "ex-t-1"', 'name = "q1"'), "name must be the file's own name"),
        (GRADED.replace("points=2, hidden=True", "points=2"), "must say its points and whether"),
        (GRADED.replace("points=0, hidden=False", "points=1, hidden=False"), "must carry 0"),
        (GRADED.split("answer =")[0] + "manual_points = 0\n", "no test case and no manual"),
        (GRADED.replace("answer = ", "unused = "), "needs answer = '''...'''"),
    ],
    ids=["format", "name", "points", "public-points", "nothing", "answer"],
)
def test_a_malformed_grading_file_is_named(tmp_path, source, message):
    path = tmp_path / "ex-t-1.py"
    path.write_text(source)
    with pytest.raises(GradingError, match=message) as err:
        load_spec(path)
    assert str(err.value).startswith(f"{path}: ")


def test_an_exercise_without_a_grading_file_and_a_file_without_an_exercise(tmp_path):
    path, _ = chapter(tmp_path, grading=None)
    with pytest.raises(GradingError) as err:
        chapter_specs(path, tmp_path)
    assert str(err.value) == (
        "99_t.ipynb: no grading file for ex-t-1; write grading/99_t/ex-t-1.py "
        "(CONTRIBUTING.md, 'Grading')"
    )
    path, _ = chapter(tmp_path / "other")
    (tmp_path / "other/grading/99_t/ex-t-9.py").write_text(GRADED.replace("ex-t-1", "ex-t-9"))
    with pytest.raises(GradingError, match=r"grading/99_t: ex-t-9.py grade\(s\) no exercise"):
        chapter_specs(path, tmp_path / "other")


def test_the_student_notebook_and_the_key(tmp_path):
    path, nb = chapter(tmp_path)
    specs = chapter_specs(path, tmp_path)
    student = assignment_notebook(nb, specs, chapter=99, name="99_t")
    key = assignment_notebook(nb, specs, chapter=99, name="99_t", solutions=True)
    assert student.metadata["otter"] == {"assignment_name": "99_t"}
    tags = [c.metadata.get("tags", []) for c in student.cells]
    first = tags.index(["grader"])  # a Markdown note, then the code that sets up the grader
    assert tags[first : first + 5] == [["grader"], ["grader"], ["exercise"], ["answer"], ["check"]]
    answer, check = student.cells[first + 3], student.cells[first + 4]
    assert answer.source == specs["ex-t-1"].answer
    assert check.source == 'grader.check("ex-t-1")'
    assert "otter-grader==7.0.0" in student.cells[first + 1].source
    assert "means = size" not in str(student.cells)  # no solution in the student's notebook
    answers = [c.source for c in key.cells if "answer" in c.metadata.get("tags", [])]
    assert answers == ["means = size"]
    counts = [c.execution_count for c in key.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))


def test_the_slice_keeps_what_the_answers_read(tmp_path):
    path, nb = chapter(tmp_path)
    key = assignment_notebook(
        nb, chapter_specs(path, tmp_path), chapter=99, name="99_t", solutions=True
    )
    kept = [c.source for c in sliced(key).cells if c.cell_type == "code"]
    assert "size = 40" in kept and "means = size" in kept
    assert "unused = 1" not in kept  # nothing after it reads it
    assert kept[:2] == ["import torch", "torch.manual_seed(0)"]  # the set-up, always


@pytest.mark.parametrize(
    ("source", "defines", "uses", "touches"),
    [
        ("a = b + 1", {"a"}, {"b"}, set()),
        ("def f(x):\n    return x + g", {"f"}, {"g"}, set()),
        ("layer.weight.normal_()", set(), {"layer"}, {"layer"}),
        ("h[0] = 1\nn += 1", {"n"}, {"h", "n"}, {"h", "n"}),
        ("ys = [y * k for y in range(3)]", {"ys"}, {"k", "range"}, set()),
        ("import numpy as np\nnp.random.seed(0)", {"np"}, {"np"}, set()),
        ("%time z = w", {"z"}, {"w"}, set()),
    ],
    ids=["assign", "function", "in-place", "subscript", "comprehension", "module", "magic"],
)
def test_what_a_cell_binds_reads_and_changes(source, defines, uses, touches):
    names = cell_names(source)
    assert names.defines == defines
    assert uses <= names.uses and not (names.uses & {"x", "y"})
    assert names.touches == touches


def test_a_function_reads_its_globals_when_called():
    names = cell_names("def f(x):\n    return helper(x)")
    assert names.late == {"helper"}
    assert cell_names("torch.set_grad_enabled(False)").switches


def test_write_assignment_writes_the_release_the_autograder_and_the_key(tmp_path):
    book = assignments.Book.read(ROOT)
    first = chapters_with_exercises(ROOT)[0]
    specs = write_assignment(first, tmp_path, book)
    folder = tmp_path / first.stem
    assert (folder / "student" / first.name).is_file()
    assert (folder / "solution" / first.name).is_file()
    public = {p.stem for p in (folder / "student/tests").glob("*.py")}
    assert public == {label for label, s in specs.items() if s.autograded}
    with zipfile.ZipFile(folder / "autograder/autograder.zip") as zf:
        names = set(zf.namelist())
    assert {f"tests/{label}.py" for label in public} <= names
    assert {"otter_config.json", "run_autograder"} <= names
    with zipfile.ZipFile(folder / "student.zip") as zf:
        assert f"tests/{sorted(public)[0]}.py" in zf.namelist()
    assert "| total |" in (folder / "rubric.md").read_text()
