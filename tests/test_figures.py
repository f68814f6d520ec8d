"""The figure helpers colour exactly the elements probe() put in one group."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from torch import nn

from normlab import draw_groups, draw_panels, probe
from normlab.figures import layout


def test_layout_of_4d_flattens_space_onto_the_vertical():
    r = probe(nn.GroupNorm(2, 4), (2, 4, 2, 3))
    ids, labels = layout(r)
    assert ids.shape == (2, 6, 4)  # (N, H*W, C)
    assert labels == ("N", "H, W", "C")
    assert np.array_equal(ids[1, 5, 3], r.groups[1, 3, 1, 2].numpy())


def test_layout_of_3d_and_2d():
    ids, labels = layout(probe(nn.LayerNorm(4), (2, 3, 4)))
    assert ids.shape == (2, 3, 4) and labels == ("N", "T", "D")
    ids, labels = layout(probe(nn.LayerNorm(4), (3, 4)))
    assert ids.shape == (1, 3, 4) and labels == ("", "N", "D")


def test_layout_order_puts_a_chosen_axis_in_depth():
    r = probe(nn.LayerNorm(4), (5, 2, 4))  # [N, T, D], drawn as T sheets of [N, D]
    ids, labels = layout(r, order=(1, 0, 2))
    assert ids.shape == (2, 5, 4) and labels == ("T", "N", "D")
    assert np.array_equal(ids[1, 3], r.groups[3, 1].numpy())
    with pytest.raises(ValueError, match="permutation of"):
        layout(r, order=(0, 0, 2))


def test_draw_groups_colours_one_group():
    r = probe(nn.LayerNorm(4), (2, 3, 4))
    ax = draw_groups(r, group=2)
    assert ax.name == "3d"
    assert ax.get_title().replace("\n", " ") == str(r)
    # One Poly3DCollection per voxel; count the highlighted ones by their alpha.
    alphas = [c.get_facecolor()[0][3] for c in ax.collections]
    assert sum(a > 0.5 for a in alphas) == 4  # the 4 features of token (0, 2)


def test_draw_panels_one_axes_per_result():
    rs = [probe(m, (2, 4, 2, 2)) for m in (nn.BatchNorm2d(4), nn.InstanceNorm2d(4))]
    fig = draw_panels(rs, titles=["BN", "IN"])
    assert [ax.get_title() for ax in fig.axes] == ["BN", "IN"]


def test_draw_panels_passes_order_to_every_panel():
    rs = [probe(nn.LayerNorm(4), (5, 2, 4)), probe(nn.LayerNorm([2, 4]), (5, 2, 4))]
    fig = draw_panels(rs, order=(1, 0, 2))
    # Depth is drawn along the y axis of each 3-D panel: 2 sheets, not 5.
    assert [ax.get_ylabel() for ax in fig.axes] == ["T", "T"]


def test_bad_arguments():
    r = probe(nn.LayerNorm(4), (2, 3, 4))
    with pytest.raises(ValueError, match="group must be an int from 0 to 5"):
        draw_groups(r, group=6)
    with pytest.raises(ValueError, match="3-D axes"):
        draw_groups(r, plt.figure().add_subplot())
    with pytest.raises(TypeError, match="ProbeResult"):
        draw_groups("not a result")
    with pytest.raises(ValueError, match="2-, 3- or 4-d"):
        draw_groups(probe(nn.LayerNorm(2), (2, 2, 2, 2, 2)))
    with pytest.raises(ValueError, match="at least one"):
        draw_panels([])
    with pytest.raises(ValueError, match="one entry per result"):
        draw_panels([r], titles=["a", "b"])
