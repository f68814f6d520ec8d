"""Exercise 6.1, "The variance of a token of RMSNorm": the output autograded, the why by
hand."""

import torch
from otter.test_files import test_case

OK_FORMAT = False
name = "ex-numerics-1"
answer = """\
# Your answer here. The grader reads nn.RMSNorm(64)'s output on the shifted
# tokens; answer the question in words (graded by hand).
rms = ...  # nn.RMSNorm(64, elementwise_affine=False) on base + 1e4, [R, D]
"""
manual_points = 1
rubric = """\
No: the one-pass problem is the difference of two large, nearly equal numbers; RMSNorm
subtracts nothing, its mean square is a sum of positive terms, accurate at any mean. The
output is within 2 float32 steps of the float64 formula (every feature close to 1)."""


@test_case(points=0, hidden=False)
def one_output_per_token(rms, base):
    assert isinstance(rms, torch.Tensor), f"rms must be a tensor, got {rms!r}"
    assert rms.shape == base.shape, f"rms must have base's shape {list(base.shape)}"


@test_case(points=1, hidden=True)
def within_two_steps_of_float64(rms, base):
    x = (base + 1e4).double()
    eps = torch.finfo(torch.float32).eps
    exact = x / torch.sqrt((x**2).mean(-1, keepdim=True) + eps)
    error = (rms.double() - exact).abs().max()
    assert error <= 2 * 2.0**-23, f"largest error {float(error):.2g}"
