"""Exercise 1.4, "LayerNorm over the last two axes, by hand": the function autograded, the
questions by hand."""

import torch
from otter.test_files import test_case

#: The tests' own random numbers: the notebook's random stream is left alone.
RNG = torch.Generator().manual_seed(0)

OK_FORMAT = False
name = "ex-nlp-4"
answer = """\
# Your answer here. The grader calls your function on layers and inputs of its
# own; answer the questions in words (graded by hand).
def layer_norm_td(x, layer):
    \"\"\"nn.LayerNorm([T, D]) by hand: x [N, T, D], layer a LayerNorm([T, D]).\"\"\"
"""
manual_points = 1
rubric = """\
gamma and beta have shape [T, D]. The statistics exist for any length; the affine step fails
for T + 2 tokens ([T, D] parameters do not broadcast against [T + 2, D])."""


@test_case(points=0, hidden=False)
def a_function_that_keeps_the_shape(layer_norm_td):
    assert callable(layer_norm_td), f"layer_norm_td must be a function, got {layer_norm_td!r}"
    out = layer_norm_td(torch.randn(2, 3, 4, generator=RNG), torch.nn.LayerNorm([3, 4]))
    assert tuple(out.shape) == (2, 3, 4), f"[2, 3, 4] in must give [2, 3, 4], got {out.shape}"


@test_case(points=2, hidden=True)
def equals_layer_norm_with_parameters(layer_norm_td):
    layer = torch.nn.LayerNorm([5, 6])
    with torch.no_grad():
        layer.weight.normal_(generator=RNG)
        layer.bias.normal_(generator=RNG)
        x = 2 * torch.randn(3, 5, 6, generator=RNG) + 1
        torch.testing.assert_close(layer_norm_td(x, layer), layer(x))
