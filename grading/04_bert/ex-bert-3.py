"""Exercise 4.3, "Masking the padding out of (T, D) statistics": autograded."""

import torch
from otter.test_files import test_case

#: The tests' own random numbers: the notebook's random stream is left alone.
RNG = torch.Generator().manual_seed(0)

OK_FORMAT = False
name = "ex-bert-3"
answer = """\
# Your answer here. The grader calls your normalization on inputs of its own,
# and reads how far the other tokens move when the last token changes:
def masked_norm(h, mask, eps=1e-12):
    \"\"\"Normalize h [N, T, D] over (T, D), counting only tokens where mask [N, T]
    is 1.\"\"\"


per_sentence_shift = ...  # largest move of the other tokens, masked_norm
per_token_shift = ...  # the same under per-token statistics
"""
manual_points = 0


@test_case(points=0, hidden=False)
def a_function_and_two_numbers(masked_norm, per_sentence_shift, per_token_shift):
    assert callable(masked_norm), f"masked_norm must be a function, got {masked_norm!r}"
    out = masked_norm(torch.randn(2, 3, 4, generator=RNG), torch.ones(2, 3))
    assert tuple(out.shape) == (2, 3, 4), f"[2, 3, 4] in, got {list(out.shape)} out"
    for key, value in (
        ("per_sentence_shift", per_sentence_shift),
        ("per_token_shift", per_token_shift),
    ):
        assert isinstance(float(value), float), f"{key} must be a number, got {value!r}"


@test_case(points=2, hidden=True)
def statistics_of_the_real_tokens(masked_norm):
    h = 3 * torch.randn(2, 5, 4, generator=RNG) + 1  # [N, T, D]
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    got = masked_norm(h, mask)
    for n, length in enumerate((3, 5)):
        real = h[n, :length]  # [length, D]
        expected = (real - real.mean()) / torch.sqrt(real.var(correction=0) + 1e-12)
        torch.testing.assert_close(got[n, :length], expected)


@test_case(points=1, hidden=True)
def masking_keeps_the_dependence(per_sentence_shift, per_token_shift):
    assert float(per_token_shift) == 0, f"per_token_shift = {float(per_token_shift):.2g}"
    assert float(per_sentence_shift) > 0.01, f"per_sentence_shift = {float(per_sentence_shift):.2g}"
