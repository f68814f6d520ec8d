"""Exercise 6.2, "Which eps rescues float16?": autograded."""

from otter.test_files import test_case

OK_FORMAT = False
name = "ex-numerics-2"
answer = """\
# Your answer here. The grader reads, for each eps, whether by_hand's output on
# a float16 token of 256 equal features is finite:
finite = {1e-12: ..., 1e-6: ..., 1e-5: ..., 1e-3: ...}
"""
manual_points = 0


@test_case(points=0, hidden=False)
def one_verdict_per_eps(finite):
    assert isinstance(finite, dict) and set(finite) == {1e-12, 1e-6, 1e-5, 1e-3}, (
        f"finite must be a dict with the keys 1e-12, 1e-6, 1e-5 and 1e-3, got {finite!r}"
    )
    for eps, value in finite.items():
        assert isinstance(value, bool), f"finite[{eps}] must be True or False, got {value!r}"


@test_case(points=2, hidden=True)
def only_1e_12_rounds_to_zero(finite):
    assert finite == {1e-12: False, 1e-6: True, 1e-5: True, 1e-3: True}, finite
