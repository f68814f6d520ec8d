"""Exercise 4.2, "When are instance-norm parameters LayerNorm parameters?": by hand."""

OK_FORMAT = False
name = "ex-bert-2"
manual_points = 2
rubric = """\
Only when both gains are one constant c and both biases one constant b (a gamma that varies
along T is not one that varies along D), checked. Without affine parameters InstanceNorm1d(T)
normalizes T + 2 tokens (it only warns); LayerNorm([T, D], elementwise_affine=False) refuses
them by its shape check. So a length limit comes from a shape check or from per-position
parameters, never from the statistics."""
