"""Exercise 9.2, "The fast variance, synchronized": autograded, and the why by hand."""

from otter.test_files import test_case

OK_FORMAT = False
name = "ex-dist-2"
answer = """\
# Your answer here. The grader reads the two errors against float64 BatchNorm on
# the whole shifted batch; say why they differ in words (graded by hand).
fast_error = ...  # largest |error| of batch_norm_synced (NaN: infinite)
chan_error = ...  # largest |error| of norm_exchanged over (0, 1)
"""
manual_points = 1
rubric = """\
Shifted by 1e4, the mean of squares is about 1e8, where float32 keeps steps of 8: the
difference mean(x^2) - mean(x)^2 is lost in rounding (and can come out negative: NaN). Each
process's mean and M2 come from deviations, and Chan's merge adds only the small delta
between the two means."""


@test_case(points=0, hidden=False)
def two_errors(fast_error, chan_error):
    for key, value in (("fast_error", fast_error), ("chan_error", chan_error)):
        assert isinstance(float(value), float), f"{key} must be a number, got {value!r}"


@test_case(points=1, hidden=True)
def sum_of_squares_breaks(fast_error):
    assert float(fast_error) > 0.1, f"fast_error = {float(fast_error):.2g}"


@test_case(points=1, hidden=True)
def chan_merge_holds(chan_error):
    assert float(chan_error) < 1e-2, f"chan_error = {float(chan_error):.2g}"
