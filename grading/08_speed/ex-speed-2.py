"""Exercise 8.2, "The formula in bfloat16": the bytes autograded, the why by hand."""

from otter.test_files import test_case

OK_FORMAT = False
name = "ex-speed-2"
answer = """\
# Your answer here. The grader reads the bytes traffic counts; say why an author
# still upcasts in words (graded by hand).
moved16 = ...  # bytes read and written by layer_norm_formula on x16 (bfloat16)
moved32 = ...  # the same for the float32 run on x
"""
manual_points = 1
rubric = """\
Every intermediate tensor of the formula (the mean, x - mean, its square, the variance) is
stored in bfloat16, 8 bits of precision, and rounded before the next operation reads it
(chapter 6). Upcasting fixes that but costs more bytes than the float32 run."""


def total(operations):
    return sum(o.read + o.written for o in operations)


@test_case(points=0, hidden=False)
def two_byte_counts(moved16, moved32):
    for key, value in (("moved16", moved16), ("moved32", moved32)):
        assert isinstance(value, int), f"{key} must be a whole number of bytes, got {value!r}"


@test_case(points=1, hidden=True)
def the_float32_bytes(moved32, traffic, layer_norm_formula, x, weight, bias):
    expected = total(traffic(layer_norm_formula, x, weight, bias))
    assert moved32 == expected, f"moved32 = {moved32}"


@test_case(points=1, hidden=True)
def half_as_many_in_bfloat16(moved16, moved32):
    assert 2 * moved16 == moved32, f"moved16 = {moved16}, moved32 = {moved32}"
