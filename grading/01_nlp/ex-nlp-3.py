"""Exercise 1.3, "When does eps take over?": autograded."""

from otter.test_files import test_case

OK_FORMAT = False
name = "ex-nlp-3"
answer = """\
# Your answer here. The grader reads one number:
s = ...  # the standard deviation s for which the output's is exactly 0.5
"""
manual_points = 0


@test_case(points=0, hidden=False)
def a_number(s):
    assert isinstance(float(s), float), f"s must be a number, got {s!r}"


@test_case(points=2, hidden=True)
def half_the_output(s):
    expected = (1e-5 / 3) ** 0.5
    assert abs(float(s) - expected) <= 1e-3 * expected, f"s = {float(s):.6g}"
