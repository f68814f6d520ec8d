"""Exercise 9.3, "The backward pass under tensor parallelism": autograded, and what is
exchanged by hand."""

import torch
from otter.test_files import test_case

OK_FORMAT = False
name = "ex-dist-3"
answer = """\
# Your answer here. The grader reads what spmd.run returned and compares it
# with autograd on the whole tensor; say what is exchanged, in words (graded by
# hand).
def layer_norm_backward_tp(rank, world_size, x, dy):
    \"\"\"Each process: its part [N, T, D / P] of dL/dx, and the bytes of the
    backward's exchange.\"\"\"


dy = ...  # [N, T, D]: the upstream gradient
parts = ...  # spmd.run(layer_norm_backward_tp, x, dy)
"""
manual_points = 1
rubric = """\
The two means of g and g * x_hat over the D features: sums that add up across processes, two
numbers per token in one all_reduce (8 bytes), besides the forward's statistics. gamma's and
beta's gradients need no exchange."""


@test_case(points=0, hidden=False)
def one_part_per_process(parts):
    assert isinstance(parts, list | tuple) and len(parts) == 2, (
        f"parts must be spmd.run's list, one (dx part, bytes) per process, got {parts!r}"
    )


@test_case(points=1, hidden=True)
def equals_autograd(parts, x, dy, ln):
    with torch.enable_grad():
        xg = x.clone().requires_grad_()
        ln(xg).backward(dy)
    torch.testing.assert_close(torch.cat([p[0] for p in parts], dim=-1), xg.grad)


@test_case(points=1, hidden=True)
def two_numbers_per_token(parts, x):
    n, t, _ = x.shape
    assert parts[0][1] == n * t * 2 * 4, f"{parts[0][1]} bytes"
