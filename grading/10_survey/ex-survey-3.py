"""Exercise 10.3, "BERT's eps in half precision": autograded, and the answers by hand."""

from otter.test_files import test_case

OK_FORMAT = False
name = "ex-survey-3"
answer = """\
# Your answer here. The grader reads your surveys; answer the questions in words
# (graded by hand).
report = ...  # the survey of the float16 model, on a float16 input [2, 5, 16]
upcast = ...  # the survey of the fixed model, also in float16
"""
manual_points = 1
rubric = """\
In float16 1e-12 rounds to 0: the survey flags "eps below resolution", and a token of zeros
gives 0 * rsqrt(0) = NaN. In bfloat16 1e-12 is a normal number: no flag. Computing the
statistics in float32 (as LLaMA does) clears the flag and gives zeros."""


@test_case(points=0, hidden=False)
def two_surveys(report, upcast):
    for key, value in (("report", report), ("upcast", upcast)):
        assert hasattr(value, "rows"), f"{key} must be normlab.survey's result, got {value!r}"


@test_case(points=1, hidden=True)
def eps_below_resolution(report):
    assert [f.rule for f in report.flags] == ["eps below resolution"], report.flags
    assert report.rows[0].compute_dtype == "input", report.rows[0].compute_dtype


@test_case(points=1, hidden=True)
def statistics_in_float32(upcast):
    assert not upcast.flags, upcast.flags
    assert upcast.rows[0].compute_dtype == "float32", upcast.rows[0].compute_dtype
