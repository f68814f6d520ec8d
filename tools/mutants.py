"""Mutation testing of normlab (`make mutants`): how many small bugs do the tests catch?

    python -m tools.mutants [--max-children N]

mutmut (pinned in tools/requirements-mutants.txt; its settings are ``[tool.mutmut]`` in
pyproject.toml: the modules it mutates and each module's own test files) makes one small change
at a time to ``src/normlab``, an operator swapped, a number or a string changed, a call's
argument dropped, and runs the tests that reach the changed function. A mutant is caught when a
test fails ("killed") or hangs past mutmut's time limit ("timeout"); it survives when every test
passes, and "no tests" when no selected test reaches it.

mutmut works on a copy of the tree in ``mutants/`` under its working folder; the copy is made in
``_build/mutants/work`` so that the repository stays clean. The report, with the kill rate and a
diff of every survivor, is written to ``_build/mutants/report.txt``. Not part of `make test`:
about 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "_build" / "mutants"
#: mutmut's words for a mutant's fate, and whether a test caught it.
CAUGHT = {"killed": True, "timeout": True, "survived": False, "no tests": False}
#: ``mutmut results --all true`` prints "    <name>: <status>" per mutant.
RESULT = re.compile(r"^\s*(\S+): (.+?)\s*$")


def settings(pyproject: Path = ROOT / "pyproject.toml") -> dict:
    """The ``[tool.mutmut]`` table of pyproject.toml (Python >= 3.11, as mutmut reads it)."""
    import tomllib

    with open(pyproject, "rb") as file:
        return tomllib.load(file)["tool"]["mutmut"]


def parse_results(text: str) -> dict[str, str]:
    """``{mutant name: status}`` from the output of ``mutmut results --all true``."""
    found = {}
    for line in text.splitlines():
        if match := RESULT.match(line):
            found[match[1]] = match[2]
    return found


def kill_rate(results: dict[str, str]) -> tuple[int, int, float]:
    """(caught, counted, caught / counted) over the mutants with a known fate.

    Raises ValueError naming a status mutmut has not decided ("not checked": the run was cut
    short) or one this tool does not know, so that a rate is never computed from a partial run.
    """
    unknown = sorted({status for status in results.values() if status not in CAUGHT})
    if unknown:
        raise ValueError(
            f"mutmut left mutants with status {', '.join(map(repr, unknown))}: the run did not "
            f"finish (expected only {', '.join(map(repr, CAUGHT))}); run `make mutants` again"
        )
    if not results:
        raise ValueError("mutmut reported no mutants: check [tool.mutmut] in pyproject.toml")
    caught = sum(CAUGHT[status] for status in results.values())
    return caught, len(results), caught / len(results)


def report(results: dict[str, str], diffs: dict[str, str], seconds: float) -> str:
    """The text of report.txt: the counts, the kill rate, and each survivor's diff."""
    caught, counted, rate = kill_rate(results)
    counts = Counter(results.values())
    modules = Counter(name.split(".x")[0] for name in results)
    lines = [
        f"mutmut over {', '.join(sorted(modules))}: {counted} mutants in {seconds / 60:.1f} min",
        ", ".join(f"{status} {counts[status]}" for status in CAUGHT),
        f"kill rate (killed or timeout, of all): {caught}/{counted} = {rate:.1%}",
        "",
    ]
    for name, status in sorted(results.items()):
        if not CAUGHT[status]:
            lines += [f"== {status}: {name}", diffs.get(name, "(no diff)").rstrip(), ""]
    return "\n".join(lines) + "\n"


def copy_tree(work: Path) -> None:
    """The files mutmut needs, in a fresh working folder: the package, the tests it runs, the
    configuration."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copytree(ROOT / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (work / "tests").mkdir()
    for test in [*settings()["pytest_add_cli_args_test_selection"], "tests/conftest.py"]:
        shutil.copy2(ROOT / test, work / test)
    shutil.copy2(ROOT / "pyproject.toml", work / "pyproject.toml")


def mutmut(work: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mutmut", *args], cwd=work, env=env, capture_output=True, text=True
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    work = OUT / "work"
    copy_tree(work)
    # The tests as CI runs them: hypothesis's examples fixed. One thread: mutmut forks a worker
    # per mutant from a process that has run torch, and a fork of a process whose OpenMP pool
    # is running hangs at its first parallel operation (every mutant would "time out").
    env = {**os.environ, "CI": "true", "OMP_NUM_THREADS": "1", "PYTHONPATH": ""}
    start = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)],
        cwd=work,
        env=env,
    )
    seconds = time.monotonic() - start
    if run.returncode != 0:
        print(f"tools/mutants.py: mutmut run failed (exit status {run.returncode})")
        return 1
    results = parse_results(mutmut(work, "results", "--all", "true", env=env).stdout)
    diffs = {
        name: mutmut(work, "show", name, env=env).stdout
        for name, status in results.items()
        if status in CAUGHT and not CAUGHT[status]
    }
    try:
        text = report(results, diffs, seconds)
    except ValueError as err:
        print(f"tools/mutants.py: {err}")
        return 1
    (OUT / "report.txt").write_text(text)
    print("\n".join(text.splitlines()[:3]))
    print(f"Survivors and their diffs: {(OUT / 'report.txt').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
