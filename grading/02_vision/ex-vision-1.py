"""Exercise 2.1, "GroupNorm for every G": the function autograded, the question by hand."""

import torch
from otter.test_files import test_case

#: The tests' own random numbers: the notebook's random stream is left alone.
RNG = torch.Generator().manual_seed(0)

OK_FORMAT = False
name = "ex-vision-1"
answer = """\
# Your answer here. The grader calls your function on tensors of its own; say in
# words for which G it equals each normalize call (graded by hand).
def group_norm_by_hand(x, G):
    \"\"\"nn.GroupNorm(G, C) without affine parameters: x [N, C, H, W].\"\"\"
"""
manual_points = 1
rubric = "G = 1 is normalize(x, dims=(1, 2, 3)) (LayerNorm over C, H, W); G = C is dims=(2, 3)."


@test_case(points=0, hidden=False)
def a_function_that_keeps_the_shape(group_norm_by_hand):
    assert callable(group_norm_by_hand), f"must be a function, got {group_norm_by_hand!r}"
    out = group_norm_by_hand(torch.randn(2, 4, 3, 3, generator=RNG), 2)
    assert tuple(out.shape) == (2, 4, 3, 3), f"[2, 4, 3, 3] in, got {list(out.shape)} out"


@test_case(points=2, hidden=True)
def equals_group_norm_for_every_g(group_norm_by_hand):
    x = 2 * torch.randn(2, 6, 3, 4, generator=RNG) - 1
    for groups in (1, 2, 3, 6):
        expected = torch.nn.GroupNorm(groups, 6, affine=False)(x)
        torch.testing.assert_close(group_norm_by_hand(x, groups), expected)
