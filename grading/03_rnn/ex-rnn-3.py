"""Exercise 3.3, "Padding under per-step LayerNorm": graded by hand."""

OK_FORMAT = False
name = "ex-rnn-3"
manual_points = 2
rubric = """\
1. Each sequence's real steps are the same alone and in the padded batch (a check with
assert_close): each output row depends on its own token only. 2. A zero vector has mean 0 and
variance 0, so it is normalized to 0 and the layer returns its bias b (shown)."""
