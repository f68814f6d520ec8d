"""Exercise 2.2, "The numbers a tracked InstanceNorm uses": the running statistics
autograded, the explanation by hand."""

import torch
from otter.test_files import test_case

OK_FORMAT = False
name = "ex-vision-2"
answer = """\
# Your answer here. The grader reads the layer after one training-mode pass over
# the chapter's x; explain your prediction in words (graded by hand).
tr = ...  # InstanceNorm2d(C, track_running_stats=True), after one pass over x
"""
manual_points = 1
rubric = """\
Each image's channel has its own mean and unbiased variance over (H, W); the layer averages
them over the N images and applies BatchNorm's momentum update from 0 and 1
(0.1 * mean, 0.9 + 0.1 * var); in evaluation mode it normalizes with them."""


@test_case(points=0, hidden=False)
def a_tracked_instance_norm(tr):
    assert isinstance(tr, torch.nn.InstanceNorm2d), f"tr must be an InstanceNorm2d, got {tr!r}"
    assert tr.track_running_stats, "tr must track running statistics"


@test_case(points=1, hidden=True)
def running_mean(tr, x):
    expected = 0.1 * x.mean(dim=(2, 3)).mean(0)
    torch.testing.assert_close(tr.running_mean, expected)


@test_case(points=1, hidden=True)
def running_var(tr, x):
    expected = 0.9 + 0.1 * x.var(dim=(2, 3)).mean(0)
    torch.testing.assert_close(tr.running_var, expected)
