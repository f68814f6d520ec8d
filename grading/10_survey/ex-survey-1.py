"""Exercise 10.1, "Audit a speech model": autograded, and the reading by hand."""

from otter.test_files import test_case

OK_FORMAT = False
name = "ex-survey-1"
answer = """\
# Your answer here. The grader reads your survey and the padding test; answer
# the questions in words (graded by hand).
w2v = ...  # normlab.survey of the small Wav2Vec2Model on two 400-sample clips
moved = ...  # largest change of a real frame's first-norm output, when padded
"""
manual_points = 1
rubric = """\
The first norm, GroupNorm(8, 8), normalizes each example's channel over time: InstanceNorm1d's
sets (GroupNorm(C, C) in chapter 2). feature_projection.layer_norm normalizes each frame,
encoder.layer_norm the stream at the embedding, the layers are post-LN. Yes: the padding
enters the statistics over time."""


@test_case(points=0, hidden=False)
def a_survey_and_a_number(w2v, moved):
    assert hasattr(w2v, "rows"), f"w2v must be normlab.survey's result, got {w2v!r}"
    assert isinstance(float(moved), float), f"moved must be a number, got {moved!r}"


@test_case(points=1, hidden=True)
def the_first_norm_is_per_channel(w2v):
    first = w2v.rows[0]
    assert first.kind == "GroupNorm", first.kind
    assert first.result.reduced_dims == (2,), first.result.reduced_dims


@test_case(points=1, hidden=True)
def where_the_layer_norms_sit(w2v):
    places = [r.place for r in w2v.rows[2:]]
    assert places == ["embedding"] + ["post-LN"] * 4, places


@test_case(points=1, hidden=True)
def padding_enters(moved):
    assert float(moved) > 0.1, f"moved = {float(moved):.2g}"
