"""Exercise 8.1, "An RMSNorm kernel": the kernel autograded, the passes by hand."""

import numpy as np
import torch
from otter.test_files import test_case

#: The tests' own random numbers: the notebook's random stream is left alone.
RNG = torch.Generator().manual_seed(0)

OK_FORMAT = False
name = "ex-speed-1"
answer = """\
# Your answer here. The grader calls your kernel on float32 arrays of its own;
# say how many passes it makes in words (graded by hand).
def rms_norm_rows(x, weight, eps, out):
    \"\"\"RMSNorm of each row of float32 x [R, D] into out [R, D] (NumPy arrays),
    eps a np.float32, compiled with numba.njit.\"\"\"
"""
manual_points = 1
rubric = "Two passes: one for the mean square, one to write (no mean, so one pass fewer)."


@test_case(points=0, hidden=False)
def a_kernel(rms_norm_rows):
    assert callable(rms_norm_rows), f"rms_norm_rows must be a function, got {rms_norm_rows!r}"


@test_case(points=2, hidden=True)
def equals_torch_rms_norm(rms_norm_rows):
    x, weight = torch.randn(8, 32, generator=RNG), torch.randn(32, generator=RNG)
    out = torch.empty_like(x)
    rms_norm_rows(x.numpy(), weight.numpy(), np.float32(1e-6), out.numpy())
    expected = torch.nn.functional.rms_norm(x, (32,), weight, eps=1e-6)
    torch.testing.assert_close(out, expected)
