"""Exercise 3.1, "Rescaling the weights": autograded."""

import torch
from otter.test_files import test_case

OK_FORMAT = False
name = "ex-rnn-1"
answer = """\
# Your answer here. The grader calls your loop with the chapter's weights, and
# reads how far the hidden states move when both matrices are scaled by 10:
def run_rnn(W_xh, W_hh, norm=True):
    \"\"\"The chapter's loop on x; returns the hidden states [N, T, D]; with
    norm=False, h_t = tanh(a_t + b).\"\"\"


scaled_moved = ...  # largest |change| of the states with LayerNorm
plain_moved = ...  # the same without normalization
"""
manual_points = 0


@test_case(points=0, hidden=False)
def a_function_and_two_numbers(run_rnn, scaled_moved, plain_moved):
    assert callable(run_rnn), f"run_rnn must be a function, got {run_rnn!r}"
    for key, value in (("scaled_moved", scaled_moved), ("plain_moved", plain_moved)):
        assert isinstance(float(value), float), f"{key} must be a number, got {value!r}"


@test_case(points=1, hidden=True)
def the_chapter_loop(run_rnn, W_xh, W_hh, H):
    torch.testing.assert_close(run_rnn(W_xh, W_hh), H)


@test_case(points=1, hidden=True)
def layer_norm_divides_the_scale_out(run_rnn, W_xh, W_hh, H, scaled_moved):
    moved = (run_rnn(10 * W_xh, 10 * W_hh) - H).abs().max()
    assert moved < 1e-4, f"the states move by {float(moved):.2g}"
    assert float(scaled_moved) < 1e-4, f"scaled_moved = {float(scaled_moved):.2g}"


@test_case(points=1, hidden=True)
def without_it_the_states_change(run_rnn, W_xh, W_hh, plain_moved):
    plain = run_rnn(W_xh, W_hh, norm=False)
    moved = (run_rnn(10 * W_xh, 10 * W_hh, norm=False) - plain).abs().max()
    assert moved > 0.1, f"the states move by {float(moved):.2g}"
    assert float(plain_moved) > 0.1, f"plain_moved = {float(plain_moved):.2g}"
