"""Exercise 4.4, "Post-LN against pre-LN at the output": the encoders autograded, the
answers by hand."""

import torch
from otter.test_files import test_case

#: The tests' own random numbers: the notebook's random stream is left alone.
RNG = torch.Generator().manual_seed(0)

OK_FORMAT = False
name = "ex-bert-4"
answer = """\
# Your answer here. The grader runs your two encoders on inputs of its own;
# answer the questions in words (graded by hand).
pre_ln = ...  # the two-layer pre-LN nn.TransformerEncoder, in eval mode
pre_ln_final = ...  # the same with norm=nn.LayerNorm(32), in eval mode
"""
manual_points = 1
rubric = """\
BERT's last LayerNorm's input, x + sublayer(x), is not normalized. A pre-LN encoder's output
tokens are not normalized either (the stream itself never is); with norm=LayerNorm(32) every
output token has variance 1 (up to gamma and beta), which is why pre-LN models end with a
final norm."""


def token_variances(encoder):
    stream = torch.randn(2, 6, 32, generator=RNG)  # [N, T, D]
    with torch.no_grad():
        return encoder(stream).double().var(dim=-1, correction=0)  # [N, T]


@test_case(points=0, hidden=False)
def two_encoders(pre_ln, pre_ln_final):
    for key, value in (("pre_ln", pre_ln), ("pre_ln_final", pre_ln_final)):
        assert isinstance(value, torch.nn.TransformerEncoder), (
            f"{key} must be an nn.TransformerEncoder, got {value!r}"
        )


@test_case(points=1, hidden=True)
def pre_ln_output_is_not_normalized(pre_ln):
    assert len(pre_ln.layers) == 2 and pre_ln.layers[0].norm_first, "two pre-LN layers"
    assert (token_variances(pre_ln) - 1).abs().max() > 0.1


@test_case(points=1, hidden=True)
def a_final_norm_normalizes(pre_ln_final):
    assert isinstance(pre_ln_final.norm, torch.nn.LayerNorm), "norm=nn.LayerNorm(32)"
    variances = token_variances(pre_ln_final)
    torch.testing.assert_close(variances, torch.ones_like(variances), rtol=1e-3, atol=1e-3)
