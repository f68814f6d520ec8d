"""Grade submitted notebooks offline, in this environment: `make grade NOTEBOOKS=folder`.

    python -m tools.grade submissions/                  # every .ipynb under the folder
    python -m tools.grade submissions/ --out _build/grades --jobs 2 --time-limit 300

Each notebook is graded by otter-grader's containerless runner (``otter run``'s, no Docker)
against its chapter's autograder, ``_build/assignments/<chapter>/autograder/autograder.zip``
(``make assignments``), in a worker process of its own (forked from one that has imported otter
once); ``make grade`` runs this with the network cut off (``tools/offline.py``). The chapter
comes from the notebook's metadata (``otter.assignment_name``, which ``make assignments``
writes), else from its file name. The student is the file's name (``alice.ipynb``), or its
folder's when the file is named as a chapter (``alice/01_nlp.ipynb``).

The notebook runs top to bottom in a new kernel; a cell that raises does not stop it, so every
exercise is graded. Its cells get ``--time-limit`` seconds in all and ``--cell-limit`` each: a
cell past its limit is interrupted and counts as an error; once the notebook's time is spent,
the remaining cells are skipped and the checks still run. A notebook whose kernel cannot even
be interrupted is stopped, and scores 0. A deleted check cell does not matter: otter runs every
test that no cell ran at the end.

For each chapter, ``<out>/<chapter>.csv`` gets one row per submission: the student, the file,
each autograded exercise's points, the total, the points possible, and a note (cells that
raised or ran out of time, or why nothing could be graded). ``<out>/<chapter>/<student>.txt``
lists every test case that failed, with its message (hidden ones included: it is the
grader's, not the student's), and ``.log`` what the run printed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
#: Seconds the checks get after the student's cells (otter's last cell).
CHECKS_LIMIT = 120
#: Seconds the parent waits beyond --time-limit (kernel start, otter, the checks) before it
#: stops a worker whose kernel did not answer an interrupt.
GRACE = CHECKS_LIMIT + 60


@dataclass
class Submission:
    """A notebook to grade, and whose it is."""

    path: Path
    student: str
    chapter: str | None  # None: not an assignment this book knows
    limits: tuple[float, float] | None = None  # (time, cell) limits of its own, if not None


@dataclass
class Result:
    """A graded submission: ``{exercise: (points, possible)}``, and what went wrong."""

    submission: Submission
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # "ex-nlp-1 case: message"
    note: str = ""
    log: str = ""
    seconds: float = 0.0  # how long its worker ran

    @property
    def total(self) -> float:
        return sum(points for points, _ in self.scores.values())


def autograder_path(assignments: Path, chapter: str) -> Path:
    return assignments / chapter / "autograder" / "autograder.zip"


def exercise_names(autograder: Path) -> list[str]:
    """The autograded exercises of an autograder zip, in the order of their labels' numbers."""
    with zipfile.ZipFile(autograder) as zf:
        names = [Path(n).stem for n in zf.namelist() if re.fullmatch(r"tests/[^/]+\.py", n)]

    def order(name: str) -> tuple:
        return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))

    return sorted(names, key=order)


def find_submissions(paths: list[Path], chapters: set[str]) -> list[Submission]:
    """Every ``.ipynb`` under ``paths`` (folders searched recursively, checkpoints skipped).

    Raises:
        FileNotFoundError: a path that does not exist, or no notebook anywhere under them.
    """
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"NOTEBOOKS: {path} does not exist")
        if path.is_dir():
            files += sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        else:
            files.append(path)
    if not files:
        shown = " ".join(str(p) for p in paths)
        raise FileNotFoundError(
            f"NOTEBOOKS: no .ipynb file under {shown}; give the folder of submitted notebooks"
        )
    found = []
    for path in files:
        try:
            named = nbformat.read(path, as_version=4).metadata.get("otter", {})
            chapter = named.get("assignment_name")
        except Exception:  # not a notebook: graded as one that runs nothing
            chapter = None
        if chapter not in chapters:  # the longest chapter name in the file's name
            named = sorted((c for c in chapters if c in path.stem), key=len, reverse=True)
            chapter = named[0] if named else None
        student = path.parent.name if path.stem in chapters else path.stem
        found.append(Submission(path, student, chapter))
    return found


# --- the worker: one notebook, in a process of its own ------------------------------------------


def _time_limited(time_limit: float, cell_limit: float) -> type:
    """nbconvert's executor (what otter runs notebooks with), with the grader's time limits."""
    from nbconvert.preprocessors import ExecutePreprocessor
    from traitlets import Bool, Dict, Enum

    stopped = {
        "ename": "TimeLimit",
        "evalue": f"the cell ran past its time limit ({cell_limit:g} s) and was interrupted",
        "traceback": [],
    }

    class TimeLimited(ExecutePreprocessor):
        interrupt_on_timeout = Bool(True)
        error_on_timeout = Dict(default_value=stopped, allow_none=True)
        # the results are saved by otter's last cell: nothing to wait for (2 s per notebook)
        shutdown_kernel = Enum(["graceful", "immediate"], default_value="immediate")

        def preprocess(self, nb, resources=None, km=None):
            self._deadline = time.monotonic() + time_limit
            return super().preprocess(nb, resources, km)

        def _get_timeout(self, cell):
            if cell is not None and cell is self.nb.cells[-1]:
                return CHECKS_LIMIT  # otter's cell: the checks of every exercise
            return max(1, int(min(cell_limit, self._deadline - time.monotonic()) + 0.5))

        def preprocess_cell(self, cell, resources, index):
            last = index == len(self.nb.cells) - 1
            if cell.cell_type == "code" and not last and time.monotonic() >= self._deadline:
                cell.outputs = [
                    nbformat.v4.new_output(
                        "error",
                        ename="TimeLimit",
                        evalue=f"not run: the notebook's {time_limit:g} s were spent",
                        traceback=[],
                    )
                ]
                return cell, resources
            return super().preprocess_cell(cell, resources, index)

    return TimeLimited


def _cell_errors(executed: dict) -> list[str]:
    """``"cell 12: ValueError"`` for each cell of the student's notebook that ended in an error,
    except those tagged ``raises-exception`` (the chapter's errors, shown on purpose)."""
    errors = []
    # otter adds two cells before the notebook's (sys.path, its set-up) and one after (checks)
    for index, cell in enumerate(executed.get("cells", [])[2:-1]):
        if "raises-exception" in cell.get("metadata", {}).get("tags", []):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                errors.append(f"cell {index}: {output.get('ename', 'error')}")
    return errors


def grade_one(submission: Path, autograder: Path, time_limit: float, cell_limit: float) -> dict:
    """Grade one notebook with ``otter run``'s runner, in this process. Returns a JSON-able
    ``{"tests": {name: {"score", "possible", "failed": [...]}}, "errors": [...], "fatal"}``."""
    import nbconvert.preprocessors
    from otter.run import main as otter_run

    # otter executes with nbconvert's ExecutePreprocessor, which it imports when it runs: the
    # same executor, with the time limits (the one change otter has no setting for).
    nbconvert.preprocessors.ExecutePreprocessor = _time_limited(time_limit, cell_limit)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "submission.ipynb"
        try:
            nb = nbformat.read(submission, as_version=4)
        except Exception as err:
            return {"tests": {}, "errors": [], "fatal": f"not a notebook: {err}"}
        # the book's kernel, whatever kernel the student's Jupyter named
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
        nbformat.write(nb, copy)
        results = otter_run(str(copy), autograder=str(autograder), output_dir=None, no_logo=True)
    tests = {}
    for name, test in results.results.items():
        failed = [
            f"{r.test_case.name}: {r.message.strip()}"
            for r in test.test_case_results
            if not r.passed
        ]
        tests[name] = {"score": test.score, "possible": test.possible, "failed": failed}
    fatal = results.catastrophic_error
    executed = results.notebook or {}
    return {
        "tests": tests,
        "errors": _cell_errors(executed),
        "fatal": None if fatal is None else f"{type(fatal).__name__}: {fatal}",
    }


def _grade_to_file(
    submission: str, autograder: str, out: str, time_limit: float, cell_limit: float
) -> None:
    found = grade_one(Path(submission), Path(autograder), time_limit, cell_limit)
    Path(out).write_text(json.dumps(found, indent=1), encoding="utf8")


# --- the parent: every notebook, side by side ---------------------------------------------------


def _context():
    """Workers fork from a server process that has imported otter once (about 2 s saved per
    notebook), never from this one, whose threads a fork would copy mid-step."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["otter.run", "nbconvert.preprocessors"])
    return context


def _entry(log: str, target, args: tuple) -> None:
    """A worker's first step: what it prints goes to ``log``."""
    handle = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(handle, 1)
    os.dup2(handle, 2)
    target(*args)


def _stop(pid: int) -> None:
    """Stop a worker and everything it started (its kernel runs in a session of its own)."""
    import psutil

    try:
        worker = psutil.Process(pid)
        family = [*worker.children(recursive=True), worker]
    except psutil.NoSuchProcess:
        return
    for proc in family:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue


def run_worker(target, args: tuple, limit: float) -> tuple[int | None, str]:
    """Run ``target(*args)`` in a worker process; stop it (and its children) after ``limit``
    seconds. Returns its exit code (None if it was stopped) and what it printed."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log"
        log.touch()
        worker = _context().Process(target=_entry, args=(str(log), target, args))
        worker.start()
        worker.join(timeout=limit)
        status = worker.exitcode
        if status is None:
            _stop(worker.pid)
            worker.join()
        return status, log.read_text(encoding="utf8", errors="replace")


def grade(
    submissions: list[Submission],
    assignments: Path,
    *,
    jobs: int = 2,
    time_limit: float = 300,
    cell_limit: float = 60,
) -> list[Result]:
    """Grade every submission, ``jobs`` at a time, each in a worker process of its own."""

    def one(sub: Submission) -> Result:
        result = Result(sub)
        if sub.chapter is None:
            result.note = (
                "not an assignment of this book (no otter.assignment_name, no chapter name)"
            )
            return result
        autograder = autograder_path(assignments, sub.chapter)
        if not autograder.is_file():
            result.note = f"no autograder for {sub.chapter}: run make assignments"
            return result
        names = exercise_names(autograder)
        limit, per_cell = sub.limits or (time_limit, cell_limit)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "result.json"
            args = (str(sub.path.resolve()), str(autograder.resolve()), str(out), limit, per_cell)
            start = time.perf_counter()
            status, result.log = run_worker(_grade_to_file, args, limit + GRACE)
            result.seconds = time.perf_counter() - start
            found = json.loads(out.read_text("utf8")) if out.is_file() else None
        tests = (found or {}).get("tests", {})
        for name in names:
            test = tests.get(name)
            possible = test["possible"] if test else _possible(autograder, name)
            result.scores[name] = (test["score"], possible) if test else (0.0, possible)
            result.failures += [f"{name} {f}" for f in (test["failed"] if test else [])]
        notes = []
        if status is None:
            notes.append(f"stopped after {limit + GRACE:g} s (the kernel did not answer)")
        elif found is None:
            tail = result.log.strip().splitlines()[-1:] or ["no output"]
            notes.append(f"the grader failed: {tail[0]}")
        if found and found.get("fatal"):
            notes.append(f"not graded: {found['fatal']}")
        if found and found.get("errors"):
            # a cell we interrupted ends in KeyboardInterrupt (or our TimeLimit, if it ignored it)
            timed = [e for e in found["errors"] if e.endswith(("TimeLimit", "KeyboardInterrupt"))]
            raised = [e for e in found["errors"] if e not in timed]
            if raised:
                notes.append(f"{len(raised)} cell(s) raised ({', '.join(raised[:3])})")
            if timed:
                notes.append(f"{len(timed)} cell(s) ran out of time")
        result.note = "; ".join(notes)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, submissions))


def _possible(autograder: Path, name: str) -> float:
    """An exercise's points from its test file in the zip (for a notebook never graded)."""
    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file

    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(autograder) as zf:
        path = Path(zf.extract(f"tests/{name}.py", tmp))
        return float(create_test_file(str(path), NBMetadataConfig()).possible)


def write_reports(results: list[Result], out: Path, assignments: Path) -> dict[str, Path]:
    """``<out>/<chapter>.csv`` and the per-student feedback; returns ``{chapter: csv path}``."""
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    chapters = sorted({r.submission.chapter for r in results if r.submission.chapter})
    for chapter in chapters:
        rows = [r for r in results if r.submission.chapter == chapter]
        autograder = autograder_path(assignments, chapter)
        names = exercise_names(autograder) if autograder.is_file() else []
        path = out / f"{chapter}.csv"
        with path.open("w", newline="", encoding="utf8") as f:
            writer = csv.writer(f)
            writer.writerow(["student", "submission", *names, "total", "possible", "note"])
            for r in sorted(rows, key=lambda r: (r.submission.student, str(r.submission.path))):
                possible = sum(p for _, p in r.scores.values())
                cells = [f"{r.scores.get(n, (0.0, 0.0))[0]:g}" for n in names]
                writer.writerow(
                    [r.submission.student, str(r.submission.path), *cells]
                    + [f"{r.total:g}", f"{possible:g}", r.note]
                )
        folder = out / chapter
        folder.mkdir(exist_ok=True)
        for r in rows:
            lines = [f"{r.submission.path}: {r.total:g} points", r.note] + [
                f"{name}: {points:g} / {possible:g}"
                for name, (points, possible) in r.scores.items()
            ]
            lines += ["", "Failed test cases (hidden ones included):", *r.failures]
            (folder / f"{r.submission.student}.txt").write_text("\n".join(lines) + "\n", "utf8")
            (folder / f"{r.submission.student}.log").write_text(r.log, "utf8")
        written[chapter] = path
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="submitted notebooks, or folders")
    parser.add_argument("--assignments", type=Path, default=ROOT / "_build/assignments")
    parser.add_argument("--out", type=Path, default=ROOT / "_build/grades")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--time-limit", type=float, default=300, help="seconds per notebook")
    parser.add_argument("--cell-limit", type=float, default=60, help="seconds per cell")
    args = parser.parse_args(argv)
    if not args.paths:
        print(
            "tools/grade.py: error: NOTEBOOKS must name the folder of submitted notebooks, "
            "got nothing; try make grade NOTEBOOKS=submissions/",
            file=sys.stderr,
        )
        return 2
    chapters = {p.parent.parent.name for p in args.assignments.glob("*/autograder/autograder.zip")}
    if not chapters:
        print(
            f"tools/grade.py: error: no autograder under {args.assignments}; run make assignments",
            file=sys.stderr,
        )
        return 2
    try:
        submissions = find_submissions(args.paths, chapters)
    except FileNotFoundError as err:
        print(f"tools/grade.py: error: {err}", file=sys.stderr)
        return 2
    results = grade(
        submissions,
        args.assignments,
        jobs=args.jobs,
        time_limit=args.time_limit,
        cell_limit=args.cell_limit,
    )
    for chapter, path in write_reports(results, args.out, args.assignments).items():
        rows = [r for r in results if r.submission.chapter == chapter]
        possible = max((sum(p for _, p in r.scores.values()) for r in rows), default=0)
        print(f"{chapter}: {len(rows)} submission(s) graded, out of {possible:g} -> {path}")
    for r in results:
        if r.submission.chapter is None:
            print(f"not graded: {r.submission.path}: {r.note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
