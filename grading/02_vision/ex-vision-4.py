"""Exercise 2.4, "A larger image": (a) autograded, (b) by hand."""

from otter.test_files import test_case

OK_FORMAT = False
name = "ex-vision-4"
answer = """\
# Your answer here. The grader counts the parameters of your three layers (or
# reads your counts, if you give numbers); answer (b) in words (graded by hand).
per_image_ln = ...  # nn.LayerNorm([96, 56, 56])
group_norm = ...  # nn.GroupNorm(1, 96)
per_pixel_ln = ...  # the LayerNorm of a channels-first LayerNorm of 96 channels
"""
manual_points = 1
rubric = """\
(b) GroupNorm and the channels-first LayerNorm hold only C and accept [1, 96, 64, 64];
LayerNorm([96, 56, 56]) refuses it: PyTorch's shape check, and a gamma with no entries for
the other pixels."""


def count(value):
    """A layer's number of parameters, or a number given as it is."""
    if hasattr(value, "parameters"):
        return sum(p.numel() for p in value.parameters())
    return value


@test_case(points=0, hidden=False)
def three_layers_or_counts(per_image_ln, group_norm, per_pixel_ln):
    given = {"per_image_ln": per_image_ln, "group_norm": group_norm, "per_pixel_ln": per_pixel_ln}
    for key, value in given.items():
        assert isinstance(count(value), int), f"{key} must be a layer or a number, got {value!r}"


@test_case(points=1, hidden=True)
def per_element_parameters(per_image_ln):
    got = count(per_image_ln)
    assert got == 2 * 96 * 56 * 56, f"got {got}"


@test_case(points=1, hidden=True)
def per_channel_parameters(group_norm, per_pixel_ln):
    got = [count(group_norm), count(per_pixel_ln)]
    assert got == [2 * 96, 2 * 96], f"got {got}"
