"""Exercise 1.2, "The colleague's LayerNorm": (b) autograded, (a) and (c) by hand."""

import torch
from otter.test_files import test_case

#: The tests' own random numbers: the notebook's random stream is left alone.
RNG = torch.Generator().manual_seed(0)

OK_FORMAT = False
name = "ex-nlp-2"
answer = """\
# Your answer here. The grader runs your layer on tokens of its own; answer (a)
# and (c) in words (comments or a Markdown cell), they are graded by hand.
class AnnotatedLayerNorm(nn.Module):
    \"\"\"The Annotated Transformer's LayerNorm: AnnotatedLayerNorm(D, eps=1e-6),
    applied to [..., D].\"\"\"
"""
manual_points = 1
rubric = """\
(a) The axes are the same (the last one); the standard deviation is unbiased (divides by
D - 1) and eps is added to it outside the square root. (c) eps matters only for nearly
constant tokens (std comparable to sqrt(eps)): there theirs is several times ours (3.3 at
D = 512, std 1e-3, ours with eps 1e-5)."""


@test_case(points=0, hidden=False)
def a_module_that_keeps_the_shape(AnnotatedLayerNorm):
    assert isinstance(AnnotatedLayerNorm, type) and issubclass(
        AnnotatedLayerNorm, torch.nn.Module
    ), f"AnnotatedLayerNorm must be an nn.Module class, got {AnnotatedLayerNorm!r}"
    out = AnnotatedLayerNorm(4, eps=1e-6)(torch.randn(3, 4, generator=RNG))
    assert out.shape == (3, 4), f"[3, 4] in must give [3, 4] out, got {list(out.shape)}"


@test_case(points=1, hidden=True)
def unbiased_std_factor(AnnotatedLayerNorm):
    for d in (4, 768):
        t = torch.randn(5, d, dtype=torch.float64, generator=RNG)
        ours = torch.nn.functional.layer_norm(t, (d,), eps=0.0)
        theirs = AnnotatedLayerNorm(d, eps=0.0).to(torch.float64)(t)
        torch.testing.assert_close(theirs, ours * ((d - 1) / d) ** 0.5)


@test_case(points=1, hidden=True)
def eps_outside_the_root(AnnotatedLayerNorm):
    d, sigma = 512, 1e-3
    t = torch.randn(d, dtype=torch.float64, generator=RNG)
    t = sigma * (t - t.mean()) / t.std(correction=0)  # a nearly constant token
    theirs = AnnotatedLayerNorm(d).to(torch.float64)(t)  # their default eps 1e-6
    expected = (t - t.mean()) / (t.std() + 1e-6)
    torch.testing.assert_close(theirs, expected)
