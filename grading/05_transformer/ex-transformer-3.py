"""Exercise 5.3, "RMSNorm by hand, with eps inside the root": the function autograded, the
scale by hand."""

import torch
from otter.test_files import test_case

#: The tests' own random numbers: the notebook's random stream is left alone.
RNG = torch.Generator().manual_seed(0)

OK_FORMAT = False
name = "ex-transformer-3"
answer = """\
# Your answer here. The grader calls your function on inputs of its own; say in
# words at what scale eps's place shows (graded by hand).
def rms_norm(x, weight, eps):
    \"\"\"RMSNorm of x [..., D] over its last axis, eps inside the square root;
    weight [D].\"\"\"
"""
manual_points = 1
rubric = """\
On inputs whose mean square is about eps, a scale of about sqrt(eps) = 1e-3: there eps inside
and outside the root differ by a sizeable fraction; at unit scale they agree."""


@test_case(points=0, hidden=False)
def a_function_that_keeps_the_shape(rms_norm):
    assert callable(rms_norm), f"rms_norm must be a function, got {rms_norm!r}"
    out = rms_norm(torch.randn(2, 3, 4, generator=RNG), torch.ones(4), 1e-6)
    assert tuple(out.shape) == (2, 3, 4), f"[2, 3, 4] in, got {list(out.shape)} out"


@test_case(points=2, hidden=True)
def equals_torch_rms_norm(rms_norm):
    weight = 1 + 0.2 * torch.randn(8, generator=RNG)
    for scale in (1.0, 1e-3):
        x = scale * torch.randn(2, 5, 8, generator=RNG)
        expected = torch.nn.functional.rms_norm(x, (8,), weight, eps=1e-6)
        torch.testing.assert_close(rms_norm(x, weight, 1e-6), expected)
