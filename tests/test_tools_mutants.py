"""tools/mutants.py: mutmut's results read, the kill rate counted, a partial run refused."""

import pytest

from tools import mutants
from tools.requirements import pins

RESULTS = """\
    normlab.probe.x_probe__mutmut_1: killed
    normlab.probe.x_probe__mutmut_2: survived
    normlab.checks.x_check_dims__mutmut_1: timeout
    normlab.checks.x_check_dims__mutmut_2: no tests
"""


def test_results_are_read_one_mutant_a_line():
    assert mutants.parse_results(RESULTS) == {
        "normlab.probe.x_probe__mutmut_1": "killed",
        "normlab.probe.x_probe__mutmut_2": "survived",
        "normlab.checks.x_check_dims__mutmut_1": "timeout",
        "normlab.checks.x_check_dims__mutmut_2": "no tests",
    }


def test_a_timeout_is_caught_and_a_mutant_without_tests_is_not():
    assert mutants.kill_rate(mutants.parse_results(RESULTS)) == (2, 4, 0.5)


@pytest.mark.parametrize("status", ["not checked", "suspicious", "skipped"])
def test_a_run_cut_short_gives_no_rate(status):
    results = {"normlab.probe.x_probe__mutmut_1": "killed", "m2": status}
    with pytest.raises(ValueError, match=f"status '{status}': the run did not finish"):
        mutants.kill_rate(results)


def test_no_mutants_gives_no_rate():
    with pytest.raises(ValueError, match=r"no mutants: check \[tool.mutmut\]"):
        mutants.kill_rate({})


def test_the_report_lists_each_survivor_with_its_diff():
    results = mutants.parse_results(RESULTS)
    diffs = {"normlab.probe.x_probe__mutmut_2": "-    a < b\n+    a <= b\n"}
    text = mutants.report(results, diffs, seconds=600)
    assert text.splitlines()[:3] == [
        "mutmut over normlab.checks, normlab.probe: 4 mutants in 10.0 min",
        "killed 1, timeout 1, survived 1, no tests 1",
        "kill rate (killed or timeout, of all): 2/4 = 50.0%",
    ]
    assert "== survived: normlab.probe.x_probe__mutmut_2\n-    a < b\n+    a <= b\n" in text
    assert "== no tests: normlab.checks.x_check_dims__mutmut_2\n(no diff)" in text
    assert "mutmut_1" not in text.split("\n\n", 1)[1]  # the caught ones are not listed


def test_the_settings_name_test_files_that_exist_and_a_pinned_mutmut():
    config = mutants.settings()
    for test in config["pytest_add_cli_args_test_selection"]:
        assert (mutants.ROOT / test).is_file(), test
    extra = pins(mutants.ROOT / "tools" / "requirements-mutants.txt")
    assert extra["mutmut"] == "3.8.1"
    book = pins()
    assert all(book.get(name, version) == version for name, version in extra.items())
