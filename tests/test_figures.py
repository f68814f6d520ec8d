"""The figure helpers draw what probe() found, in the book's one layout: N along the front edge,
the features (D or C) in depth, the positions (T, or H and W flattened) up the vertical."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from torch import nn

from normlab import draw_groups, draw_panels, probe
from normlab.figures import COLUMN_IN, coloured, describe_figure, layout

IMAGE = (3, 6, 2, 2)  # [N, C, H, W]
TEXT = (2, 3, 4)  # [N, T, D]


def test_images_put_n_in_front_c_in_depth_and_space_up_the_side():
    r = probe(nn.GroupNorm(2, 6), IMAGE)
    ids, labels = layout(r)
    assert ids.shape == (3, 6, 4)  # [N, C, H*W]
    assert labels == ("N = 3", "C = 6", "H·W = 4 (H, W flattened)")
    assert ids[1, 5, 3] == r.groups[1, 5, 1, 1]  # row-major over H, W


def test_text_puts_n_in_front_d_in_depth_and_t_up_the_side():
    ids, labels = layout(probe(nn.LayerNorm(4), TEXT))
    assert ids.shape == (2, 4, 3) and labels == ("N = 2", "D = 4", "T = 3")
    ids, labels = layout(probe(nn.LayerNorm(4), (3, 4)))
    assert ids.shape == (3, 4, 1) and labels == ("N = 3", "D = 4", "")


def test_coloured_cells_are_the_group_in_the_layout():
    per_token = coloured(probe(nn.LayerNorm(4), TEXT))  # [N, D, T]
    assert per_token.sum() == 4 and per_token[0, :, 0].all()  # one token: a row into depth
    shape = IMAGE
    bn = coloured(probe(nn.BatchNorm2d(6), shape))
    inorm = coloured(probe(nn.InstanceNorm2d(6), shape))
    ln = coloured(probe(nn.LayerNorm([6, 2, 2]), shape))
    assert bn[:, 0, :].all() and bn.sum() == 3 * 4  # a wall along the front edge
    assert inorm[0, 0, :].all() and inorm.sum() == 4  # one column
    assert ln[0].all() and ln.sum() == 6 * 4 and not ln[1:].any()  # one image, not the tensor
    with pytest.raises(ValueError, match="group must be an int from 0 to 5"):
        coloured(probe(nn.BatchNorm2d(6), shape), group=6)


def test_draw_groups_colours_one_group_opaque():
    r = probe(nn.LayerNorm(4), TEXT)
    ax = draw_groups(r, group=2)
    assert ax.name == "3d"
    assert ax.get_title().replace("\n", " ") == str(r)
    # One Poly3DCollection per voxel; the group's are opaque, the rest nearly transparent.
    alphas = [c.get_facecolor()[0][3] for c in ax.collections]
    assert sorted(set(alphas)) == [pytest.approx(0.18), 1.0]
    assert sum(a == 1.0 for a in alphas) == 4  # the 4 features of token (0, 2)
    assert [t.get_text() for t in ax.texts] == ["N = 2", "D = 4", "T = 3"]


def pixels(result):
    fig = plt.figure(figsize=(3, 3), dpi=60)
    draw_groups(result, fig.add_subplot(projection="3d"), title="")
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)


def test_batch_norm_and_instance_norm_differ_at_a_glance():
    bn = pixels(probe(nn.BatchNorm2d(6), IMAGE))
    inorm = pixels(probe(nn.InstanceNorm2d(6), IMAGE))
    differ = (np.abs(bn - inorm).sum(axis=-1) > 60).mean()
    assert differ > 0.05, f"only {differ:.1%} of the pixels differ"


def test_describe_figure_says_what_is_drawn():
    text = describe_figure(probe(nn.InstanceNorm2d(6), IMAGE))
    assert text.startswith("A block of 72 cubes, one per element: N = 3 along the front edge")
    assert "Coloured: the 4 cubes" in text and "mean and variance over (H, W)" in text


def test_draw_panels_one_axes_per_result():
    rs = [probe(m, (2, 4, 2, 2)) for m in (nn.BatchNorm2d(4), nn.InstanceNorm2d(4))]
    fig = draw_panels(rs, titles=["BN", "IN"])
    assert [ax.get_title() for ax in fig.axes] == ["BN", "IN"]


def test_bad_arguments():
    r = probe(nn.LayerNorm(4), TEXT)
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


def test_draw_panels_lays_many_panels_out_in_rows_that_fit_the_column():
    r = probe(nn.LayerNorm(4), TEXT)
    for n, (rows, cols) in {
        1: (1, 1),
        2: (1, 2),
        3: (1, 3),
        4: (2, 2),
        5: (2, 3),
        7: (3, 3),
    }.items():
        fig = draw_panels([r] * n)
        grid = {ax.get_subplotspec().get_geometry()[:2] for ax in fig.axes}
        assert grid == {(rows, cols)}, n
        assert fig.get_figwidth() <= COLUMN_IN  # shown 1:1 in the book's column
        plt.close(fig)
    fig = draw_panels([r] * 4, ncols=4, size=1.5)
    assert fig.axes[0].get_subplotspec().get_geometry()[:2] == (1, 4)
    assert fig.get_figwidth() == 4 * 1.5
    plt.close(fig)


def test_panel_text_is_legible_in_the_column():
    fig = draw_panels([probe(nn.GroupNorm(2, 6), IMAGE)] * 5)  # Fig 2.1's layout
    smallest = min(t.get_fontsize() for ax in fig.axes for t in [*ax.texts, ax.title])
    assert smallest >= 8
    titles = [ax.get_title() for ax in fig.axes]  # wrapped to the panel's width
    assert all(len(line) <= 30 for t in titles for line in t.splitlines())
    plt.close(fig)


def test_the_vertical_label_reads_upwards_in_two_lines():
    ax = draw_groups(probe(nn.GroupNorm(2, 6), IMAGE))
    vertical = ax.texts[2]
    assert vertical.get_text() == "H·W = 4\n(H, W flattened)"
    assert vertical.get_rotation() == 90
    plt.close("all")


def test_draw_panels_bad_layout():
    r = probe(nn.LayerNorm(4), TEXT)
    with pytest.raises(ValueError, match="ncols must be a positive int"):
        draw_panels([r], ncols=0)
    with pytest.raises(ValueError, match="size must be a positive number"):
        draw_panels([r], size=0)
