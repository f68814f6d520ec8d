"""`make grade` end to end: otter-grader's runner, offline, in this environment, no Docker.

One grading run, two notebooks at a time (about 30 s on two cores), grades:

- every chapter's key (the book's solutions as answers), cut to the cells its exercises need
  and run in two kernels, half the chapters each (tools/assignments.py: ``sliced``,
  ``combined``): full marks;
- the first chapter with three autograded exercises, four ways: the untouched student notebook
  (zero on every hidden test), the key with one answer left as its stub (that exercise's points
  lost, no others), the key with one answer that raises, one that loops and one check cell
  deleted (graded all the same), and a file that is not a notebook.
"""

import csv
import subprocess
import sys
import time

import nbformat
import psutil
import pytest

from tools import assignments, toc
from tools.grade import find_submissions, grade, main, run_worker, write_reports

ROOT = toc.ROOT
# The student edition's copy of the repository leaves the grading files (its hidden tests hold
# the answers) out, and with them what these tests check.
pytestmark = pytest.mark.skipif(
    not (ROOT / "grading").is_dir(), reason="no grading/ (the student edition leaves it out)"
)
#: The time limits of the broken notebook: its loop costs CELL_LIMIT seconds.
CELL_LIMIT = 3


def tagged(cell, tag):
    return tag in cell.get("metadata", {}).get("tags", [])


def label_of(cell):
    return cell.get("metadata", {}).get("exercise", {}).get("label")


def replace_answer(nb, label, source):
    """``nb`` with the answer cells of ``label`` replaced by one cell of ``source``."""
    cells, done = [], False
    for cell in nb.cells:
        if tagged(cell, "answer") and label_of(cell) == label:
            if not done:
                cells.append(nbformat.v4.new_code_cell(source))
                done = True
            continue
        cells.append(cell)
    nb.cells = cells
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """``({student: Result}, {chapter: specs}, scenario chapter)`` of one grading run."""
    tmp = tmp_path_factory.mktemp("grade")
    book = assignments.Book.read(ROOT)
    chapters = assignments.chapters_with_exercises(ROOT)
    asg, subs = tmp / "assignments", tmp / "submissions"
    specs = {c.stem: assignments.write_assignment(c, asg, book) for c in chapters}

    def key(chapter):
        path = asg / chapter.stem / "solution" / chapter.name
        return nbformat.read(path, as_version=4)

    # every chapter's key, sliced, in two kernels
    for half, group in (("keys-a", chapters[0::2]), ("keys-b", chapters[1::2])):
        (asg / half / "autograder").mkdir(parents=True)
        group_specs = [s for c in group for s in specs[c.stem].values()]
        assignments.autograder_zip(group_specs, asg / half / "autograder" / "autograder.zip")
        nb = assignments.combined([assignments.sliced(key(c)) for c in group], half)
        (subs / half).mkdir(parents=True)
        nbformat.write(nb, subs / half / f"{half}.ipynb")

    # the scenarios, on the first chapter with three autograded exercises
    chapter = next(c for c in chapters if sum(s.autograded for s in specs[c.stem].values()) >= 3)
    auto = [label for label, s in specs[chapter.stem].items() if s.autograded]
    student = asg / chapter.stem / "student" / chapter.name
    for name in ("untouched", "wrong", "broken", "garbage"):
        (subs / name).mkdir()
    (subs / "untouched" / chapter.name).write_bytes(student.read_bytes())
    wrong = replace_answer(
        assignments.sliced(key(chapter)), auto[0], specs[chapter.stem][auto[0]].answer
    )
    nbformat.write(wrong, subs / "wrong" / chapter.name)
    broken = assignments.sliced(key(chapter))
    broken = replace_answer(broken, auto[0], 'raise ValueError("a bug")')
    broken = replace_answer(broken, auto[1], "while True:\n    pass")
    broken.cells = [c for c in broken.cells if not (tagged(c, "check") and label_of(c) == auto[2])]
    nbformat.write(broken, subs / "broken" / chapter.name)
    (subs / "garbage" / chapter.name).write_text("this is not a notebook")

    found = find_submissions([subs], {*specs, "keys-a", "keys-b"})
    for sub in found:
        if sub.student == "broken":
            sub.limits = (120, CELL_LIMIT)
    order = ["keys-b", "keys-a", "broken", "untouched", "wrong", "garbage"]  # longest first
    found.sort(key=lambda s: order.index(s.student))
    start = time.perf_counter()
    results = grade(found, asg, jobs=2, time_limit=300, cell_limit=120)
    print(f"graded {len(found)} notebooks in {time.perf_counter() - start:.1f} s:")
    print(", ".join(f"{r.submission.student} {r.seconds:.1f} s" for r in results))
    written = write_reports(results, tmp / "grades", asg)
    return {r.submission.student: r for r in results}, specs, chapter, written


def test_every_chapter_key_gets_full_marks(graded):
    results, specs, _, _ = graded
    scores = {**results["keys-a"].scores, **results["keys-b"].scores}
    expected = {
        label: (spec.points, spec.points)
        for chapter in specs.values()
        for label, spec in chapter.items()
        if spec.autograded
    }
    assert scores == expected, (results["keys-a"].failures, results["keys-b"].failures)
    # the public cases too, which carry no points
    assert results["keys-a"].failures == results["keys-b"].failures == []


def test_the_untouched_student_notebook_fails_every_hidden_test(graded):
    results, specs, chapter, _ = graded
    result = results["untouched"]
    assert result.total == 0 and "not graded" not in result.note
    hidden = {
        f"{label} {case.name}"
        for label, spec in specs[chapter.stem].items()
        for case in spec.cases
        if case.hidden
    }
    failed = {line.split(":")[0] for line in result.failures}
    assert hidden <= failed


def test_one_wrong_answer_loses_that_exercise_only(graded):
    results, specs, chapter, _ = graded
    auto = [label for label, s in specs[chapter.stem].items() if s.autograded]
    scores = results["wrong"].scores
    assert scores[auto[0]] == (0, specs[chapter.stem][auto[0]].points)
    assert all(
        points == possible for label, (points, possible) in scores.items() if label != auto[0]
    )


def test_a_notebook_that_raises_loops_and_lost_a_cell_is_graded(graded):
    results, specs, chapter, _ = graded
    auto = [label for label, s in specs[chapter.stem].items() if s.autograded]
    result = results["broken"]
    points = {label: p for label, (p, _) in result.scores.items()}
    assert points[auto[0]] == 0  # raised
    assert points[auto[1]] == 0  # looped, interrupted after CELL_LIMIT s
    assert points[auto[2]] == specs[chapter.stem][auto[2]].points  # its check cell deleted
    assert "1 cell(s) raised" in result.note and "1 cell(s) ran out of time" in result.note


def test_a_file_that_is_not_a_notebook_scores_zero_with_a_reason(graded):
    results, _, _, _ = graded
    result = results["garbage"]
    assert result.total == 0 and result.note.startswith("not graded: not a notebook")


def test_the_csv_has_one_row_per_student(graded):
    _, specs, chapter, written = graded
    with written[chapter.stem].open() as f:
        rows = list(csv.DictReader(f))
    assert [r["student"] for r in rows] == ["broken", "garbage", "untouched", "wrong"]
    labels = [label for label, s in specs[chapter.stem].items() if s.autograded]
    assert list(rows[0])[2:-3] == labels
    possible = sum(s.points for s in specs[chapter.stem].values())
    assert {float(r["possible"]) for r in rows} == {possible}


def test_a_worker_that_does_not_stop_is_stopped_with_its_children():
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    start = time.perf_counter()
    status, log = run_worker(subprocess.call, ([sys.executable, "-c", script],), limit=1)
    assert status is None and time.perf_counter() - start < 10
    child = int(log.split()[0])
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == "zombie"


def test_submissions_are_named_by_student_and_chapter(tmp_path):
    for path in ("alice/01_nlp.ipynb", "bob.ipynb", "carol_01_nlp.ipynb"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nbformat.v4.new_notebook(), tmp_path / path)
    found = find_submissions([tmp_path], {"01_nlp"})
    named = {(s.student, s.chapter) for s in found}
    assert named == {("alice", "01_nlp"), ("bob", None), ("carol_01_nlp", "01_nlp")}
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .ipynb file under"):
        find_submissions([tmp_path / "empty"], {"01_nlp"})


def test_make_grade_without_a_folder_says_what_to_give(capsys):
    assert main([]) == 2
    assert capsys.readouterr().err == (
        "tools/grade.py: error: NOTEBOOKS must name the folder of submitted notebooks, "
        "got nothing; try make grade NOTEBOOKS=submissions/\n"
    )
