"""Exercise 4.1, "Other rows, other reshapes": autograded."""

import torch
from otter.test_files import test_case

OK_FORMAT = False
name = "ex-bert-1"
answer = """\
# Your answer here. The grader reads the chapter's x reshaped for each row:
rows_per_sentence = ...  # x as rows for the per-sentence LayerNorm([T, D])
rows_per_feature = ...  # x as rows for the "instance norm over T" row
"""
manual_points = 0


@test_case(points=0, hidden=False)
def two_matrices_of_x(rows_per_sentence, rows_per_feature, x):
    for key, value in (
        ("rows_per_sentence", rows_per_sentence),
        ("rows_per_feature", rows_per_feature),
    ):
        assert isinstance(value, torch.Tensor), f"{key} must be a tensor, got {value!r}"
        assert value.dim() == 2, f"{key} must be a matrix (rows), got shape {list(value.shape)}"
        assert value.numel() == x.numel(), f"{key} must hold x's {x.numel()} numbers"


@test_case(points=1, hidden=True)
def one_row_per_sentence(rows_per_sentence, x):
    n, t, d = x.shape
    torch.testing.assert_close(rows_per_sentence, x.reshape(n, t * d))


@test_case(points=1, hidden=True)
def one_row_per_feature(rows_per_feature, x):
    n, t, d = x.shape
    torch.testing.assert_close(rows_per_feature, x.transpose(1, 2).reshape(n * d, t))
