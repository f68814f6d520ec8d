"""Exercise 3.4, "Masked per-step BatchNorm": the function autograded, the why by hand."""

import torch
from otter.test_files import test_case

#: The tests' own random numbers: the notebook's random stream is left alone.
RNG = torch.Generator().manual_seed(0)

OK_FORMAT = False
name = "ex-rnn-4"
answer = """\
# Your answer here. The grader calls your function on padded batches of its own;
# answer part 3 in words (graded by hand).
def masked_step_norm(X, real, eps=1e-5):
    \"\"\"X: [N, T, D], real: [N, T] (True at real tokens) -> [N, T, D], with
    statistics per (step, unit) over the real rows only.\"\"\"
"""
manual_points = 1
rubric = """\
Parts 1 and 2 shown with checks. 3: where sequence 0 is the only real one at a step, the mean
over the real rows is its own value, so it comes out as exactly zero, whatever its input."""


@test_case(points=0, hidden=False)
def a_function_that_keeps_the_shape(masked_step_norm):
    assert callable(masked_step_norm), f"must be a function, got {masked_step_norm!r}"
    real = torch.ones(3, 4, dtype=torch.bool)
    out = masked_step_norm(torch.randn(3, 4, 2, generator=RNG), real)
    assert tuple(out.shape) == (3, 4, 2), f"[3, 4, 2] in, got {list(out.shape)} out"


@test_case(points=2, hidden=True)
def statistics_over_the_real_rows(masked_step_norm):
    lengths = torch.tensor([5, 3, 2, 1])
    real = torch.arange(5) < lengths[:, None]  # [N, T]
    X = (1 + torch.randn(4, 5, 3, generator=RNG)) * real[..., None]  # [N, T, D]
    expected = torch.zeros_like(X)
    for t in range(5):
        rows = X[real[:, t], t]  # [real rows, D]
        mean, var = rows.mean(0), rows.var(0, correction=0)
        expected[real[:, t], t] = (rows - mean) / torch.sqrt(var + 1e-5)
    got = masked_step_norm(X, real)
    torch.testing.assert_close(got[real], expected[real])
