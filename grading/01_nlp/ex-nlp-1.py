"""Exercise 1.1, "Count the statistics": autograded (CONTRIBUTING.md, "Grading")."""

from otter.test_files import test_case

OK_FORMAT = False
name = "ex-nlp-1"
answer = """\
# Your answer here. The grader reads two numbers (or normlab.probe's verdicts):
per_token = ...  # how many means nn.LayerNorm(16) computes on [4, 10, 16]
per_sentence = ...  # how many nn.LayerNorm([10, 16]) computes on it
"""
manual_points = 0


def count(value):
    """A number, or a probe's verdict (its number of groups)."""
    return getattr(value, "n_groups", value)


@test_case(points=0, hidden=False)
def answers_are_counts(per_token, per_sentence):
    for label, value in (("per_token", per_token), ("per_sentence", per_sentence)):
        assert isinstance(count(value), int), (
            f"{label} must be a whole number (or normlab.probe's verdict), got {value!r}"
        )


@test_case(points=1, hidden=True)
def one_mean_per_token(per_token):
    assert count(per_token) == 40, f"per_token: got {count(per_token)!r}"


@test_case(points=1, hidden=True)
def one_mean_per_sentence(per_sentence):
    assert count(per_sentence) == 4, f"per_sentence: got {count(per_sentence)!r}"
