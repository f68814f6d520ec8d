"""Exercise 10.2, "BatchNorm without running statistics": autograded, and the why by hand."""

from otter.test_files import test_case

OK_FORMAT = False
name = "ex-survey-2"
answer = """\
# Your answer here. The grader reads both surveys; say why they differ, in words
# (graded by hand).
no_stats = ...  # the survey with BatchNorm2d(4, track_running_stats=False)
stats = ...  # the survey with BatchNorm2d(4), running statistics kept
"""
manual_points = 1
rubric = """\
Without running statistics BatchNorm has nothing stored for evaluation mode: it uses the
batch's statistics, sets over (N, H, W), and the survey flags "batch statistics in eval". With
them, evaluation shifts and scales by stored numbers: no shared statistics, no flag."""


@test_case(points=0, hidden=False)
def two_surveys(no_stats, stats):
    for key, value in (("no_stats", no_stats), ("stats", stats)):
        assert hasattr(value, "rows"), f"{key} must be normlab.survey's result, got {value!r}"


@test_case(points=1, hidden=True)
def batch_statistics_in_eval(no_stats):
    assert [f.rule for f in no_stats.flags] == ["batch statistics in eval"], no_stats.flags
    assert no_stats.rows[0].sets == "over (N, H, W)", no_stats.rows[0].sets


@test_case(points=1, hidden=True)
def running_statistics_share_nothing(stats):
    assert not stats.flags, stats.flags
    assert stats.rows[0].statistic == "none", stats.rows[0].statistic
