"""Exercise 5.2, "The rate in depth": the fits autograded, the comparison by hand."""

from otter.test_files import test_case

OK_FORMAT = False
name = "ex-transformer-2"
answer = """\
# Your answer here. The grader reads your fitted slopes; compare them with the
# theorem in words (graded by hand).
fits = {}  # {"post-LN": (slope over all five depths, slope from 12 layers on),
#            "pre-LN": (...)}
"""
manual_points = 1
rubric = """\
Post-LN's slope is about 0, as the theorem has it. Pre-LN's is negative but shallower than
-1/2, and steeper from 12 layers on: closer to the theorem's rate as the stack deepens, without
reaching it; three seeds, a toy loss and width 32 cannot settle more."""


@test_case(points=0, hidden=False)
def two_slopes_per_kind(fits):
    assert isinstance(fits, dict) and set(fits) == {"post-LN", "pre-LN"}, (
        f'fits must be a dict with the keys "post-LN" and "pre-LN", got {fits!r}'
    )
    for kind, value in fits.items():
        assert len(value) == 2, f"fits[{kind!r}] must be two slopes, got {value!r}"


@test_case(points=1, hidden=True)
def post_ln_does_not_depend_on_depth(fits):
    slopes = [float(v) for v in fits["post-LN"]]
    assert all(abs(v) < 0.1 for v in slopes), f"post-LN slopes {slopes}"


@test_case(points=1, hidden=True)
def pre_ln_shrinks_slower_than_the_bound(fits):
    slopes = [float(v) for v in fits["pre-LN"]]
    assert all(-0.6 < v < -0.2 for v in slopes), f"pre-LN slopes {slopes}"
    assert slopes[1] < slopes[0], f"from 12 layers on, steeper: {slopes}"
