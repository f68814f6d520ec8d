"""Exercise 7.3, "BatchNorm with a batch of two": autograded, and what it means by hand."""

import torch
from otter.test_files import test_case

OK_FORMAT = False
name = "ex-grad-3"
answer = """\
# Your answer here. The grader reads the Jacobian and the probe's verdict; say
# what they mean for training in words (graded by hand).
J_bn = ...  # [2, D, 2, D]: jacrev of the training BatchNorm1d(D) at [2, D]
found = ...  # normlab.probe's verdict on that layer, for the shape (2, D)
"""
manual_points = 1
rubric = """\
Every output is +1 or -1 up to eps; the Jacobian is eps / (2 s^3) [[1, -1], [-1, 1]] within a
feature, zero across features: nonzero only through eps. The probe still finds one group per
feature. Almost no gradient reaches the layers below (gamma's and beta's still flow)."""


@test_case(points=0, hidden=False)
def a_jacobian_and_a_verdict(J_bn, found):
    assert isinstance(J_bn, torch.Tensor) and J_bn.dim() == 4, (
        f"J_bn must be a [2, D, 2, D] tensor, got {J_bn!r}"
    )
    assert hasattr(found, "n_groups"), f"found must be normlab.probe's verdict, got {found!r}"


@test_case(points=1, hidden=True)
def only_eps_is_left(J_bn):
    two, d = J_bn.shape[:2]
    assert tuple(J_bn.shape) == (2, d, 2, d), list(J_bn.shape)
    across = J_bn * (1 - torch.eye(d, dtype=J_bn.dtype))[None, :, None, :]
    assert across.abs().max() == 0, "features do not reach each other"
    assert 0 < J_bn.abs().max() < 1e-3, f"largest derivative {float(J_bn.abs().max()):.1e}"


@test_case(points=1, hidden=True)
def one_group_per_feature(found):
    assert found.n_groups == found.shape[1], f"{found.n_groups} groups for shape {found.shape}"
