"""normlab.unroll draws a recording of a recurrent network's calls as an unrolled chain: one box
per step, and each set of parameters drawn once, linked to every step that used it."""

import itertools

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from normlab.hooks import record
from normlab.unroll import draw_unrolled, parameter_sets

N, T, D = 2, 4, 3


class SharedNormRNN(nn.Module):
    """h_t = tanh(LayerNorm(h_{t-1} + x_t)) with one LayerNorm for all steps."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [N, T, D]
        h = torch.zeros(x.shape[0], D)  # [N, D]
        for t in range(x.shape[1]):
            h = torch.tanh(self.norm(h + x[:, t]))  # [N, D]
        return h


class PerStepNormRNN(SharedNormRNN):
    """The same with a LayerNorm of its own at every step."""

    def __init__(self) -> None:
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(D) for _ in range(T))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.zeros(x.shape[0], D)  # [N, D]
        for t in range(x.shape[1]):
            h = torch.tanh(self.norms[t](h + x[:, t]))  # [N, D]
        return h


def recorded(model: nn.Module):
    with record(model, nn.LayerNorm) as calls:
        model(torch.randn(N, T, D))
    return calls


def gids(ax, gid):
    artists = [*ax.patches, *ax.texts, *ax.lines]
    return [a for a in artists if a.get_gid() == gid]


def texts(ax):
    return [t.get_text() for t in ax.texts]


def test_parameter_sets_group_the_steps_by_storage():
    assert parameter_sets(recorded(SharedNormRNN())) == [[0, 1, 2, 3]]
    assert parameter_sets(recorded(PerStepNormRNN())) == [[0], [1], [2], [3]]


def test_equal_values_in_other_storage_are_another_set():
    model = PerStepNormRNN()  # every LayerNorm starts at weight 1, bias 0: equal, not shared
    assert all(torch.equal(m.weight, model.norms[0].weight) for m in model.norms)
    assert len(parameter_sets(recorded(model))) == T


def test_a_module_without_parameters_belongs_to_no_set():
    model = nn.Sequential(nn.LayerNorm(D, elementwise_affine=False))
    with record(model, nn.LayerNorm) as calls:
        model(torch.randn(N, D))
    assert parameter_sets(calls) == []


def test_draws_one_box_per_step_and_shared_parameters_once():
    ax = draw_unrolled(recorded(SharedNormRNN()), params_label="g, b")
    assert len([p for p in ax.patches if p.get_gid() == "step"]) == T
    assert [t for t in texts(ax) if "step" in t] == [f"LayerNorm\n(step {t})" for t in range(1, 5)]
    assert len([p for p in ax.patches if p.get_gid() == "params"]) == 1
    assert "g, b\nweight [3], bias [3]" in texts(ax)
    assert len(gids(ax, "link")) == T  # the one parameter box is linked to every step
    plt.close("all")


def test_separate_parameters_are_drawn_once_per_step():
    ax = draw_unrolled(recorded(PerStepNormRNN()))
    assert len([p for p in ax.patches if p.get_gid() == "params"]) == T
    assert texts(ax).count("weight [3], bias [3]") == T
    assert len(gids(ax, "link")) == T
    plt.close("all")


def test_states_and_inputs_are_labelled():
    ax = draw_unrolled(recorded(SharedNormRNN()), input_name="a", state_name="s")
    labels = texts(ax)
    assert [f"$a_{{{t}}}$" for t in range(1, T + 1)] == [t for t in labels if t.startswith("$a")]
    assert [f"$s_{{{t}}}$" for t in range(T + 1)] == [t for t in labels if t.startswith("$s")]
    assert len(gids(ax, "state")) == T + 1 and len(gids(ax, "input")) == T
    plt.close("all")


def test_draws_on_a_given_axes():
    fig, ax = plt.subplots()
    assert draw_unrolled(recorded(SharedNormRNN()), ax, title="unrolled") is ax
    assert ax.get_title() == "unrolled"
    plt.close(fig)


def test_bad_arguments():
    calls = recorded(SharedNormRNN())
    with pytest.raises(ValueError, match="calls must hold at least one Call"):
        draw_unrolled([])
    with pytest.raises(TypeError, match=r"calls\[1\] must be a normlab.hooks.Call"):
        draw_unrolled([calls[0], "step"])
    with pytest.raises(TypeError, match="calls must be a Recording"):
        parameter_sets(calls[0])
    fig = plt.figure()
    with pytest.raises(ValueError, match="ax must be a 2-D axes"):
        draw_unrolled(calls, fig.add_subplot(projection="3d"))
    plt.close("all")


def test_its_own_figure_fits_the_column_at_8_pt():
    model = SharedNormRNN()
    with record(model, nn.LayerNorm) as calls:
        model(torch.randn(N, 6, D))  # six steps, as in chapter 3
    ax = draw_unrolled(calls, params_label="g, b")
    assert ax.figure.get_figwidth() <= 6.7  # shown 1:1 in the 672 px column at 100 dpi
    assert min(t.get_fontsize() for t in ax.texts) >= 8
    plt.close("all")


def test_a_box_per_step_is_staggered_so_that_none_overlap():
    ax = draw_unrolled(recorded(PerStepNormRNN()), params_label="g, b")
    ax.figure.canvas.draw()
    boxes = sorted(
        (p.get_window_extent() for p in ax.patches if p.get_gid() == "params"),
        key=lambda b: b.x0,
    )
    assert len(boxes) == T
    assert not any(a.overlaps(b) for a, b in itertools.pairwise(boxes))
    plt.close("all")
