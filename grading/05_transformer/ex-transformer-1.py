"""Exercise 5.1, "Find the norms of another architecture": autograded, and the last
question by hand."""

from otter.test_files import test_case

OK_FORMAT = False
name = "ex-transformer-1"
answer = """\
# Your answer here. The grader reads, for do_layer_norm_before True and False:
opt_norms = {}  # {True: [names of the LayerNorms, in call order], False: [...]}
opt_positions = {}  # {True: read_layer's verdicts for the layers, False: [...]}
"""
manual_points = 1
rubric = """\
No: the norm called final_layer_norm inside each layer is the norm of its MLP block (fc1,
fc2). With do_layer_norm_before=True the model's final norm is decoder.final_layer_norm,
after the last layer; with False there is none."""


@test_case(points=0, hidden=False)
def both_settings(opt_norms, opt_positions):
    for key, value in (("opt_norms", opt_norms), ("opt_positions", opt_positions)):
        assert isinstance(value, dict) and set(value) == {True, False}, (
            f"{key} must be a dict with the keys True and False, got {value!r}"
        )


@test_case(points=1, hidden=True)
def the_norms_in_call_order(opt_norms):
    assert opt_norms[True][-1] == "decoder.final_layer_norm", opt_norms[True]
    assert len(opt_norms[True]) == 5 and len(opt_norms[False]) == 4, opt_norms


@test_case(points=1, hidden=True)
def where_they_sit(opt_positions):
    assert list(opt_positions[True]) == ["pre-LN", "pre-LN"], opt_positions[True]
    assert list(opt_positions[False]) == ["post-LN", "post-LN"], opt_positions[False]
