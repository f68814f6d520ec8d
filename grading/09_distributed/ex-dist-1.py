"""Exercise 9.1, "GroupNorm under tensor parallelism over channels": the exchanged output
autograded, which G by hand."""

import torch
from otter.test_files import test_case

OK_FORMAT = False
name = "ex-dist-1"
answer = """\
# Your answer here. The grader reads the output put together from the two
# processes with norm_exchanged (G = 1); say for which G each process can
# normalize alone, in words (graded by hand).
images = ...  # [N, C, H, W] = [2, 8, 3, 3]
exchanged = ...  # [N, C, H, W]: both processes' norm_exchanged outputs, joined
"""
manual_points = 1
rubric = """\
G = 2, 4, 8 (a multiple of P = 2): every group lies in one process's channels, and each runs
GroupNorm with G / P groups alone. G = 1 spans both halves: the processes exchange its count,
mean and M2 per image."""


@test_case(points=0, hidden=False)
def images_and_their_output(images, exchanged):
    for key, value in (("images", images), ("exchanged", exchanged)):
        assert isinstance(value, torch.Tensor), f"{key} must be a tensor, got {value!r}"
    assert exchanged.shape == images.shape, f"exchanged must be {list(images.shape)}"


@test_case(points=2, hidden=True)
def one_group_exchanged(images, exchanged):
    assert tuple(images.shape) == (2, 8, 3, 3), list(images.shape)
    expected = torch.nn.GroupNorm(1, 8, affine=False)(images)
    torch.testing.assert_close(exchanged, expected)
