"""Exercise 7.1, "The RMSNorm Jacobian": the Jacobian autograded, the derivation by hand."""

import torch
from otter.test_files import test_case

OK_FORMAT = False
name = "ex-grad-1"
answer = """\
# Your answer here. The grader reads the Jacobian at the chapter's token; give
# the derivation, rank, null space and invariance in words (graded by hand).
J_rms = ...  # [D, D]: jacrev of rms_norm(v, (D,), eps=0.0) at token
"""
manual_points = 1
rubric = """\
J = (I - x_hat x_hat^T / D) / r with r = rms(x): 1/r times the projection onto the D - 1
directions orthogonal to x. Rank D - 1, null space spanned by x; RMSNorm keeps the invariance to
scaling a token and loses the one to shifting it."""


@test_case(points=0, hidden=False)
def a_d_by_d_matrix(J_rms, token):
    d = token.shape[0]
    assert isinstance(J_rms, torch.Tensor), f"J_rms must be a tensor, got {J_rms!r}"
    assert tuple(J_rms.shape) == (d, d), f"J_rms must be [{d}, {d}], got {list(J_rms.shape)}"


@test_case(points=1, hidden=True)
def the_projection_over_r(J_rms, token):
    d = token.shape[0]
    r = token.pow(2).mean().sqrt()
    x_hat = token / r
    expected = (torch.eye(d, dtype=token.dtype) - torch.outer(x_hat, x_hat) / d) / r
    torch.testing.assert_close(J_rms.to(token.dtype), expected)
