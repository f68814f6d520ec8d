"""Exercise 7.2, "The backward of LayerNorm over [T, D]": the function autograded, the
questions by hand."""

import torch
from otter.test_files import test_case

#: The tests' own random numbers: the notebook's random stream is left alone.
RNG = torch.Generator().manual_seed(0)

OK_FORMAT = False
name = "ex-grad-2"
answer = """\
# Your answer here. The grader compares your backward with autograd on layers of
# its own; answer the questions in words (graded by hand).
def sentence_norm_backward(dy, x, gamma, eps):
    \"\"\"nn.LayerNorm([T, D])'s backward. dy, x: [N, T, D]; gamma: [T, D].
    Returns (dx, dgamma, dbeta).\"\"\"
"""
manual_points = 1
rubric = "The means are over (T, D), one sentence; dgamma and dbeta are [T, D], summed over N."


@test_case(points=0, hidden=False)
def three_gradients(sentence_norm_backward):
    assert callable(sentence_norm_backward), f"must be a function, got {sentence_norm_backward!r}"
    out = sentence_norm_backward(
        torch.randn(2, 3, 4, generator=RNG),
        torch.randn(2, 3, 4, generator=RNG),
        torch.ones(3, 4),
        1e-5,
    )
    shapes = [list(t.shape) for t in out]
    assert shapes == [[2, 3, 4], [3, 4], [3, 4]], f"(dx, dgamma, dbeta) shapes: got {shapes}"


@test_case(points=2, hidden=True)
def equals_autograd(sentence_norm_backward):
    layer = torch.nn.LayerNorm([3, 4])
    with torch.no_grad():
        layer.weight.normal_(generator=RNG)
        layer.bias.normal_(generator=RNG)
    with torch.enable_grad():
        x = (2 * torch.randn(2, 3, 4, generator=RNG) + 1).requires_grad_()
        dy = torch.randn(2, 3, 4, generator=RNG)
        layer(x).backward(dy)
    got = sentence_norm_backward(dy, x.detach(), layer.weight.detach(), layer.eps)
    for mine, theirs in zip(got, (x.grad, layer.weight.grad, layer.bias.grad), strict=True):
        torch.testing.assert_close(mine, theirs)
