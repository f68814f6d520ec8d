"""The figure helpers draw what probe() found, in the book's one layout: N along the front edge,
the features (D or C) in depth, the positions (T, or H and W flattened) up the vertical."""

import itertools

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from normlab import draw_groups, draw_panels, probe
from normlab.figures import (
    COLUMN_IN,
    coloured,
    describe_figure,
    draw_split,
    draw_unrolled,
    layout,
    split_owners,
)
from normlab.hooks import Recording, record

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


# ---- a Transformer layer's residual path (chapters 4 and 5) ----

BERT_LAYER = [  # BERT's layer 0 (post-LN), as chapter 4 names its calls
    (
        "post-LN",
        "attention.output.LayerNorm\nLayerNorm",
        [
            "attention.self\nBertSelfAttention",
            "attention.output.dense\nLinear",
            "attention.output.dropout\nDropout",
        ],
    ),
    (
        "post-LN",
        "output.LayerNorm\nLayerNorm",
        ["intermediate\nBertIntermediate", "output.dense\nLinear", "output.dropout\nDropout"],
    ),
]
GPT2_LAYER = [  # GPT-2's layer 1 (pre-LN), as chapter 5 names its calls
    ("pre-LN", "ln_1\nLayerNorm", ["attn\nGPT2Attention"]),
    ("pre-LN", "ln_2\nLayerNorm", ["mlp\nGPT2MLP"]),
]


def column_texts(ax, x: float) -> list[str]:
    """The texts drawn at horizontal position x, top to bottom."""
    texts = [t for t in ax.texts if t.get_text() and abs(t.get_position()[0] - x) < 1e-9]
    return [t.get_text() for t in sorted(texts, key=lambda t: -t.get_position()[1])]


def norm_texts(ax) -> list[str]:
    """The texts of the coloured (norm) boxes, in drawing order."""
    import matplotlib.colors as mcolors

    from normlab.figures import RESIDUAL_NORM

    colour = mcolors.to_rgba(RESIDUAL_NORM, 0.9)
    centres = [
        p.get_bbox().get_points().mean(axis=0)
        for p in ax.patches
        if np.allclose(p.get_facecolor(), colour)
    ]
    return [t.get_text() for c in centres for t in ax.texts if np.allclose(t.get_position(), c)]


def test_residual_block_post_ln_puts_the_norm_after_the_add():
    from normlab.figures import RESIDUAL_GAP, draw_residual_block

    ax = draw_residual_block(BERT_LAYER)
    assert column_texts(ax, 0.0) == [
        "x₀: residual stream",
        "attention.self\nBertSelfAttention",
        "attention.output.dense\nLinear",
        "attention.output.dropout\nDropout",
        "+",
        "attention.output.LayerNorm\nLayerNorm",
        "x₁: residual stream",
    ]
    assert column_texts(ax, RESIDUAL_GAP)[4:7] == [
        "+",
        "output.LayerNorm\nLayerNorm",
        "x₂: residual stream",
    ]
    assert norm_texts(ax) == [BERT_LAYER[0][1], BERT_LAYER[1][1]]
    assert "post-LN" in ax.get_title()
    plt.close(ax.figure)


def test_residual_block_pre_ln_puts_the_norm_first_and_the_final_norm_last():
    from normlab.figures import RESIDUAL_GAP, draw_residual_block

    ax = draw_residual_block(GPT2_LAYER, final="ln_f\nfinal LayerNorm", title="GPT-2")
    assert column_texts(ax, RESIDUAL_GAP) == [
        "x₁: residual stream",
        "ln_2\nLayerNorm",
        "mlp\nGPT2MLP",
        "+",
        "x₂: residual stream",
        "ln_f\nfinal LayerNorm",
        "model output",
    ]
    assert norm_texts(ax) == ["ln_1\nLayerNorm", "ln_2\nLayerNorm", "ln_f\nfinal LayerNorm"]
    assert ax.get_title() == "GPT-2"
    default = draw_residual_block(GPT2_LAYER, final="ln_f\nfinal LayerNorm").get_title()
    assert "pre-LN" in default and "final norm" in default
    plt.close("all")


@pytest.mark.parametrize("blocks", [BERT_LAYER, GPT2_LAYER])
def test_residual_block_is_legible_where_the_book_shows_it(blocks):
    """Drawn for the book's 6.7-inch column, shown 1:1: its smallest text is 8 points or more,
    and every box's label fits inside its box."""
    from normlab.figures import draw_residual_block
    from tools.figure_fonts import smallest_font

    ax = draw_residual_block(blocks, final="ln_f\nfinal LayerNorm")
    fig = ax.figure
    assert fig.get_size_inches()[0] <= 6.7 and smallest_font(fig) >= 8
    renderer = fig.canvas.get_renderer()
    boxes = [p.get_window_extent(renderer) for p in ax.patches if p.get_width() > 1]
    for text in ax.texts:
        if "\n" in text.get_text() or "stream" in text.get_text():
            extent = text.get_window_extent(renderer)
            assert any(
                b.x0 < extent.x0 and extent.x1 < b.x1 and b.y0 < extent.y0 and extent.y1 < b.y1
                for b in boxes
            ), text.get_text()
    plt.close(fig)


def test_residual_block_bad_blocks():
    from normlab.figures import draw_residual_block

    cases = [
        ([], "blocks must be a non-empty list"),
        ("post-LN", "blocks must be a non-empty list"),
        ([("post-LN", "norm")], r"blocks\[0\] must be \(position, norm, sublayer\)"),
        ([("middle-LN", "norm", ["attn"])], r"blocks\[0\]: position must be one of"),
        ([("pre-LN", "norm", [])], r"blocks\[0\]: norm must be a box's text"),
        ([("pre-LN", None, ["attn"])], r"blocks\[0\]: norm must be a box's text"),
    ]
    for blocks, message in cases:
        with pytest.raises(ValueError, match=message):
            draw_residual_block(blocks)


# ---- recurrent chains and split tensors (chapters 3 and 9) ----
# draw_unrolled draws a recording of a recurrent network's calls as an unrolled chain: one box
# per step, and each set of parameters drawn once, linked to every step that used it.
# draw_split colours [N, T, D] by the process that holds each element, as tensor.chunk cuts it.


def unrolled_calls(shared: bool, steps: int = 4, d: int = 3) -> Recording:
    """The LayerNorm calls of ``h = tanh(norm_t(h + x_t))`` over ``steps`` steps, with one
    LayerNorm for every step (``shared``) or one per step."""
    norms = [nn.LayerNorm(d)] * steps if shared else [nn.LayerNorm(d) for _ in range(steps)]
    model = nn.ModuleList(norms)  # a module listed twice is hooked once, called every step
    with record(model, nn.LayerNorm) as calls:
        h = torch.zeros(2, d)  # [N, D]
        for norm in model:
            h = torch.tanh(norm(h + torch.randn(2, d)))  # [N, D]
    return calls


def with_gid(ax, gid):
    return [a for a in [*ax.patches, *ax.texts, *ax.lines] if a.get_gid() == gid]


def test_unrolled_draws_one_box_per_step_and_shared_parameters_once():
    ax = draw_unrolled(unrolled_calls(shared=True), params_label="g, b")
    texts = [t.get_text() for t in ax.texts]
    assert len([p for p in ax.patches if p.get_gid() == "step"]) == 4
    assert [t for t in texts if "step" in t] == [f"LayerNorm\n(step {t})" for t in range(1, 5)]
    assert len([p for p in ax.patches if p.get_gid() == "params"]) == 1
    assert "g, b\nweight [3], bias [3]" in texts
    assert len(with_gid(ax, "link")) == 4  # the one parameter box is linked to every step
    plt.close("all")


def test_unrolled_draws_separate_parameters_once_per_step():
    ax = draw_unrolled(unrolled_calls(shared=False))
    assert len([p for p in ax.patches if p.get_gid() == "params"]) == 4
    assert [t.get_text() for t in ax.texts].count("weight [3], bias [3]") == 4
    assert len(with_gid(ax, "link")) == 4
    plt.close("all")


def test_unrolled_labels_states_and_inputs():
    ax = draw_unrolled(unrolled_calls(shared=True), input_name="a", state_name="s")
    labels = [t.get_text() for t in ax.texts]
    assert [f"$a_{{{t}}}$" for t in range(1, 5)] == [t for t in labels if t.startswith("$a")]
    assert [f"$s_{{{t}}}$" for t in range(5)] == [t for t in labels if t.startswith("$s")]
    assert len(with_gid(ax, "state")) == 5 and len(with_gid(ax, "input")) == 4
    plt.close("all")


def test_unrolled_draws_on_a_given_axes():
    fig, ax = plt.subplots()
    assert draw_unrolled(unrolled_calls(shared=True), ax, title="unrolled") is ax
    assert ax.get_title() == "unrolled"
    plt.close(fig)


def test_unrolled_bad_arguments():
    calls = unrolled_calls(shared=True)
    with pytest.raises(ValueError, match="calls must hold at least one Call"):
        draw_unrolled([])
    with pytest.raises(TypeError, match=r"calls\[1\] must be a normlab.hooks.Call"):
        draw_unrolled([calls[0], "step"])
    fig = plt.figure()
    with pytest.raises(ValueError, match="ax must be a 2-D axes"):
        draw_unrolled(calls, fig.add_subplot(projection="3d"))
    plt.close("all")


def test_unrolled_figure_fits_the_column_at_8_pt():
    ax = draw_unrolled(unrolled_calls(shared=True, steps=6), params_label="g, b")  # chapter 3
    assert ax.figure.get_figwidth() <= 6.7  # shown 1:1 in the 672 px column at 100 dpi
    assert min(t.get_fontsize() for t in ax.texts) >= 8
    plt.close("all")


def test_unrolled_staggers_a_box_per_step_so_that_none_overlap():
    ax = draw_unrolled(unrolled_calls(shared=False), params_label="g, b")
    ax.figure.canvas.draw()
    boxes = sorted(
        (p.get_window_extent() for p in ax.patches if p.get_gid() == "params"),
        key=lambda b: b.x0,
    )
    assert len(boxes) == 4
    assert not any(a.overlaps(b) for a, b in itertools.pairwise(boxes))
    plt.close("all")


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_split_owners_are_the_chunks_of_the_cut_axis(dim):
    x = torch.arange(4 * 6 * 8).reshape(4, 6, 8)  # [N, T, D]: each element's own id
    owner = split_owners((4, 6, 8), dim, parts=3)  # [N, T, D]
    for rank, piece in enumerate(x.chunk(3, dim=dim)):
        assert torch.equal(x[owner == rank].sort().values, piece.flatten().sort().values)


def test_split_draws_every_element_in_its_rank_colour_with_the_axis_labels():
    ax = draw_split((4, 6, 8), dim=0)
    assert ax.get_title() == "data parallel\ncut along N"
    assert [t.get_text() for t in ax.texts] == ["N = 4", "D = 8", "T = 6"]
    # one collection per cube on the surface; shading darkens a face, its hue stays its rank's
    hues = {round(mcolors.rgb_to_hsv(c.get_facecolor()[0][:3])[0], 3) for c in ax.collections}
    assert hues == {round(mcolors.rgb_to_hsv(mcolors.to_rgb(c))[0], 3) for c in ("C0", "C1")}
    plt.close("all")


def test_split_fig_9_1_text_is_legible_in_the_column():
    fig = plt.figure(figsize=(6.6, 3.1))  # chapter 9's three panels
    for dim in range(3):
        draw_split((4, 6, 8), dim, 2, fig.add_subplot(1, 3, dim + 1, projection="3d"))
    assert min(t.get_fontsize() for ax in fig.axes for t in [*ax.texts, ax.title]) >= 8
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == [
        "data parallel", "sequence parallel", "tensor parallel",
    ]  # fmt: skip
    plt.close(fig)


def test_split_bad_arguments():
    with pytest.raises(ValueError, match=r"shape must be \(N, T, D\)"):
        draw_split((4, 6), 0)
    with pytest.raises(ValueError, match="dim must be 0 \\(N\\), 1 \\(T\\) or 2 \\(D\\)"):
        draw_split((4, 6, 8), 3)
    with pytest.raises(ValueError, match="parts must be a positive int"):
        draw_split((4, 6, 8), 0, parts=0)
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="ax must be a 3-D axes"):
        draw_split((4, 6, 8), 0, ax=ax)
    plt.close("all")


# ---- the stored benchmark, % of copy against D (chapter 8) ----


def _bench_result(noise_at=None):
    """Three methods at two D, two dtypes and two thread counts, all at 50 % of copy; the row
    ``(method, dtype, threads, D)`` given as ``noise_at`` at 120 %, flagged as noise."""
    rows = []
    for method, alloc in [
        ("copy", "preallocated"),
        ("native", "allocating"),
        ("own", "preallocated"),
    ]:
        for dtype in ("float32", "bfloat16"):
            for threads in (1, 2):
                for D in (64, 1024):
                    noisy = (method, dtype, threads, D) == noise_at
                    rows.append(
                        {
                            "method": method,
                            "alloc": alloc,
                            "dtype": dtype,
                            "size": "large",
                            "threads": threads,
                            "D": D,
                            "gbps": 10.0 * threads,
                            "percent_of_copy": 120.0 if noisy else 50.0,
                            "noise": noisy,
                        }
                    )
    return {"rows": rows}


def test_plot_bandwidth_draws_a_panel_per_dtype_and_thread_count_against_the_copy():
    from normlab.figures import plot_bandwidth

    fig = plot_bandwidth(_bench_result())
    assert [ax.get_title() for ax in fig.axes] == [
        "float32, 1 thread: copy 10 GB/s",
        "float32, 2 threads: copy 20 GB/s",
        "bfloat16, 1 thread: copy 10 GB/s",
        "bfloat16, 2 threads: copy 20 GB/s",
    ]
    top_left = fig.axes[0]
    # the 100 % line, then one line per method other than the limit: F.layer_norm and ours
    labels = [line.get_label() for line in top_left.lines]
    assert labels == [
        "copy, preallocated: the limit, 100 %",
        "ours, preallocated",
        "F.layer_norm (always allocates)",
    ]
    assert list(top_left.lines[0].get_ydata()) == [100, 100]
    assert list(top_left.lines[1].get_ydata()) == [50.0, 50.0]
    assert top_left.get_ylim()[0] < 0 < 100 < top_left.get_ylim()[1]
    assert len(fig.legends[0].get_texts()) == 3


def test_plot_bandwidth_draws_one_thread_count_when_asked():
    from normlab.figures import plot_bandwidth

    fig = plot_bandwidth(_bench_result(), threads=2)
    assert [ax.get_title() for ax in fig.axes] == [
        "float32, 2 threads: copy 20 GB/s",
        "bfloat16, 2 threads: copy 20 GB/s",
    ]


def test_plot_bandwidth_leaves_noise_out_and_says_so():
    from normlab.figures import plot_bandwidth

    fig = plot_bandwidth(_bench_result(noise_at=("own", "float32", 1, 64)), threads=1)
    ours = fig.axes[0].lines[1]
    assert ours.get_label() == "ours, preallocated" and list(ours.get_xdata()) == [1024]
    assert [t.get_text() for t in fig.axes[0].texts] == ["1 above 100 % (noise)\nnot drawn"]
    assert len(fig.axes[1].texts) == 0


def test_plot_bandwidth_names_what_the_result_holds():
    from normlab.figures import plot_bandwidth

    with pytest.raises(
        ValueError,
        match=r"size='small', threads=1, device='cpu'; .* \[\('large', 1, 'cpu'\), \('large', 2",
    ):
        plot_bandwidth(_bench_result(), size="small", threads=1)
