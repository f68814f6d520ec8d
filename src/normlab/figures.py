"""Every figure the chapters draw, each from the objects the text computes.

Drawing lives here and only here; the analysis it draws comes from the other modules
(``probe`` results, ``hooks`` recordings, the stored benchmark of ``speed``). The sections:
which elements share statistics (``draw_groups``, ``draw_panels``, chapters 1-4); the stored
benchmark against a copy (``plot_bandwidth``, chapter 8); a recurrent chain and a tensor cut
between processes (``draw_unrolled``, ``draw_split``, chapters 3 and 9); a Transformer layer's
residual path (``draw_residual_block``, chapters 4 and 5).

A tensor is drawn as a block of cubes, one cube per element, as in Figure 2 of the Group
Normalization paper (Wu & He, 2018). The cubes of one group of shared statistics are coloured
(opaque, so nothing shows through them); the rest are pale. The colouring is read from
``ProbeResult.groups``, so a figure cannot disagree with what the code does.

One layout for the whole book, by axis (the book's notation):

- the batch axis ``N`` runs along the front horizontal edge, from right to left, so that the
  group of the first element (``n = 0``) stands nearest the viewer with no pale cube in front;
- the feature axis goes into depth: ``D`` for text ``[N, T, D]``, ``C`` for images
  ``[N, C, H, W]`` (the paper's channels);
- the positions go up the vertical: ``T`` for text, ``H`` and ``W`` flattened into one axis of
  ``H * W`` cubes for images (the label says so).

So BatchNorm's group is a wall along the front edge (every image, one channel), InstanceNorm's
a single column (one image, one channel), LayerNorm's a slab into depth (one image, every
channel). A 2-d ``[A, B]`` is drawn as ``A`` along the front edge and ``B`` in depth, one cube
high. Each axis label carries its size (``C = 6``).
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Sequence

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from .checks import check_names, check_shape
from .hooks import Call, parameter_sets
from .probe import ProbeResult

#: The cubes outside the coloured group: barely there, so the group stands out.
PALE = (0.90, 0.90, 0.92, 0.18)
PALE_EDGE = (0.55, 0.55, 0.6, 0.35)
EDGE = (0.15, 0.15, 0.15, 0.9)
#: Font sizes in points: the axis labels (the smallest text of a figure) and the titles. A
#: figure at most ``COLUMN_IN`` inches wide is shown 1:1 in the book's column, where 8 pt at
#: 100 dpi is 11 px high on screen.
LABEL_PT, TITLE_PT = 8, 9
#: The width of the book's figure column in inches: 672 px at 100 dpi, less the labels that
#: stand out of the panels.
COLUMN_IN = 6.5
#: Panels per row that ``draw_panels`` uses at most when ``ncols`` is not given.
MAX_COLS = 3


def _title_width(ax: Axes) -> int:
    """How many characters of a ``TITLE_PT`` title fit on one line above ``ax``."""
    inches = ax.get_position().width * ax.figure.get_figwidth()
    return max(12, int(inches * 72 / (0.58 * TITLE_PT)))  # 0.58 em: a mean glyph


def layout(result: ProbeResult) -> tuple[np.ndarray, tuple[str, str, str]]:
    """Group ids arranged as ``[horizontal, depth, vertical]`` and the three axis labels.

    Args:
        result: a ``ProbeResult`` of a 2-, 3- or 4-d shape.

    Returns:
        ``(ids, (horizontal_label, depth_label, vertical_label))``: ``ids`` is an int array
        ``[x, y, z]`` with ``z`` counting up from the bottom row; for ``[N, T, D]`` it is
        ``[N, D, T]``, for ``[N, C, H, W]`` it is ``[N, C, H*W]`` (row-major over ``H, W``).
        Each label is ``"name = size"``.
    """
    if not isinstance(result, ProbeResult):
        raise TypeError(
            f"result must be a ProbeResult from normlab.probe, got {type(result).__name__}"
        )
    g = result.groups.numpy()
    names, shape = result.names, result.shape
    if g.ndim == 2:  # [A, B] -> [A, B, 1]
        return g[:, :, None], (f"{names[0]} = {shape[0]}", f"{names[1]} = {shape[1]}", "")
    if g.ndim == 3:  # [N, T, D] -> [N, D, T]
        labels = tuple(f"{names[a]} = {shape[a]}" for a in (0, 2, 1))
        return g.transpose(0, 2, 1), labels
    if g.ndim == 4:  # [N, C, H, W] -> [N, C, H*W]
        n, c, h, w = g.shape
        flat = f"{names[2]}·{names[3]} = {h * w} ({names[2]}, {names[3]} flattened)"
        return g.reshape(n, c, h * w), (f"{names[0]} = {n}", f"{names[1]} = {c}", flat)
    raise ValueError(
        f"result must come from a 2-, 3- or 4-d shape to be drawn, got shape {result.shape}"
    )


def coloured(result: ProbeResult, group: int = 0) -> np.ndarray:
    """Which cubes ``draw_groups`` colours: a bool array ``[x, y, z]`` as in ``layout``."""
    ids, _ = layout(result)  # checks result
    if isinstance(group, bool) or not isinstance(group, int) or not 0 <= group < result.n_groups:
        raise ValueError(f"group must be an int from 0 to {result.n_groups - 1}, got {group!r}")
    return ids == group


def describe_figure(result: ProbeResult, group: int = 0) -> str:
    """A sentence for a figure's alt text: the block, its axes, and what is coloured."""
    ids, (horizontal, depth, vertical) = layout(result)
    axes = f"{horizontal} along the front edge, {depth} into depth"
    if vertical:
        axes += f", {vertical} up the side"
    count = int(coloured(result, group).sum())
    return (
        f"A block of {ids.size} cubes, one per element: {axes}. Coloured: the {count} cubes "
        f"that share statistics with the first element; {result}."
    )


def _label_edges(ax: Axes, size: tuple[int, int, int], labels: tuple[str, str, str]) -> None:
    """Write the three labels beside the block's front, side and vertical edges."""
    x, y, z = size
    style = {"fontsize": LABEL_PT, "color": "0.2", "ha": "center", "va": "center"}
    ax.text(x / 2, -0.35 * max(1, y / 4) - 0.6, -0.2, labels[0], **style)
    ax.text(x + 0.8, y / 2, -0.2, labels[1], zdir="y", **style)
    if labels[2]:  # "H·W = 4 (H, W flattened)" in two lines, to stay beside a short block
        vertical = labels[2].replace(" (", "\n(", 1)
        # Placed at the 2-D projection of a point beside the vertical edge, so that it can
        # read upwards (a 3-D text along z reads downwards); call after view_init.
        px, py, _, w = ax.get_proj() @ np.array([-0.6, -0.6, z / 2, 1.0])  # homogeneous
        px, py = px / w, py / w
        ax.text2D(px, py, vertical, rotation=90, transform=ax.transData, **style)


def draw_groups(
    result: ProbeResult,
    ax: Axes | None = None,
    *,
    group: int = 0,
    title: str | None = None,
    color: str = "C0",
) -> Axes:
    """Draw the probed tensor as cubes and colour the elements of one group of shared statistics.

    Args:
        result: from ``normlab.probe`` on a 2-, 3- or 4-d shape.
        ax: a 3-D axes (``projection="3d"``) to draw on; a new figure is made when omitted.
        group: the group id to colour, ``0 <= group < result.n_groups``; 0 is the group that
            holds the first element.
        title: the axes title; default ``str(result)``, wrapped.
        color: the colour of the group's cubes.

    Returns:
        The axes drawn on.
    """
    _, labels = layout(result)
    # N runs from right to left, so that the group of the first element (n = 0) stands nearest
    # the viewer, with no pale cube in front of it.
    mask = coloured(result, group)[::-1]  # [x, y, z]
    if ax is None:
        fig = plt.figure(figsize=(4.2, 4.2))
        ax = fig.add_subplot(projection="3d")
    elif getattr(ax, "name", "") != "3d":
        raise ValueError('ax must be a 3-D axes, made with add_subplot(projection="3d")')

    faces = np.empty(mask.shape + (4,))  # [x, y, z, rgba]
    faces[...] = PALE
    faces[mask] = mcolors.to_rgba(color, 1.0)  # opaque: no edge shows through
    edges = np.empty(mask.shape + (4,))
    edges[...] = PALE_EDGE
    edges[mask] = EDGE
    ax.voxels(np.ones(mask.shape, dtype=bool), facecolors=faces, edgecolors=edges, linewidth=0.4)
    x, y, z = mask.shape
    ax.set_box_aspect((x, y, z), zoom=1.05)
    ax.view_init(elev=20, azim=-58)
    ax.set_axis_off()
    _label_edges(ax, (x, y, z), labels)
    text = str(result) if title is None else title
    ax.set_title(textwrap.fill(text, _title_width(ax)), fontsize=TITLE_PT)
    return ax


def draw_panels(
    results: Sequence[ProbeResult],
    titles: Sequence[str] | None = None,
    *,
    ncols: int | None = None,
    size: float | None = None,
) -> Figure:
    """Draw several probe results in rows, one 3-D panel each (e.g. BN | LN | IN | GN).

    The default layout fits the book's column (``COLUMN_IN`` inches): at most ``MAX_COLS``
    panels per row, the rows as even as possible (4 panels: 2 by 2; 5: 3 above 2), and each
    panel as wide as the column allows, at most 3.2 inches. So the axis labels, ``LABEL_PT``
    points, stay legible where the figure is shown.

    Args:
        results: ``ProbeResult`` objects, usually of one shape so the panels compare.
        titles: one title per panel; default each result's description.
        ncols: panels per row; default as above.
        size: inches per panel; default ``min(3.2, COLUMN_IN / ncols)``.

    Returns:
        The figure.
    """
    results = list(results)
    if not results:
        raise ValueError("results must hold at least one ProbeResult, got none")
    if titles is not None and len(titles) != len(results):
        raise ValueError(
            f"titles must have one entry per result ({len(results)}), got {len(titles)}"
        )
    if ncols is None:
        rows = -(-len(results) // MAX_COLS)  # fewest rows of at most MAX_COLS panels
        ncols = -(-len(results) // rows)  # then as even as possible
    elif isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    if size is None:
        size = min(3.2, COLUMN_IN / ncols)
    elif not size > 0:
        raise ValueError(f"size must be a positive number of inches, got {size!r}")
    nrows = -(-len(results) // ncols)
    fig = plt.figure(figsize=(size * ncols, (size + 0.5) * nrows))
    # Before drawing: draw_groups wraps each title to its panel's final width.
    fig.subplots_adjust(left=0.0, right=1.0, bottom=0.0, top=0.9, wspace=0.05, hspace=0.15)
    for i, res in enumerate(results):
        ax = fig.add_subplot(nrows, ncols, i + 1, projection="3d")
        draw_groups(res, ax, title=None if titles is None else titles[i])
    return fig


# ---- the stored benchmark, % of copy against D (chapter 8) ----

#: The series ``plot_bandwidth`` draws, in legend order: (method, allocation) -> colour, marker,
#: label. The copy that writes into a preallocated output is the limit, the 100 % line itself.
BANDWIDTH_SERIES = {
    ("own", "preallocated"): ("tab:green", "o", "ours, preallocated"),
    ("compiled", "preallocated"): ("tab:purple", "s", "torch.compile, preallocated"),
    ("copy", "allocating"): ("0.45", "", "x.clone(): a copy that allocates"),
    ("own", "allocating"): ("tab:orange", "^", "ours, allocating"),
    ("native", "allocating"): ("tab:blue", "D", "F.layer_norm (always allocates)"),
    ("composite", "allocating"): ("tab:red", "v", "eager formula (allocates)"),
}
#: Text sizes in points: at 100 dpi, and shown at most 672 px wide, 9 pt is 12 px on screen.
_BANDWIDTH_PT = 9


def _bandwidth_where(threads: int, device: str) -> str:
    if device != "cpu":
        return device
    return f"{threads} thread" if threads == 1 else f"{threads} threads"


def plot_bandwidth(
    result: dict,
    size: str = "large",
    threads: int | list[int] | None = None,
    device: str = "cpu",
) -> Figure:
    """% of copy against D from ``make bench``: one panel per dtype (rows) and thread count
    (columns), the copy the 100 % line.

    ``result`` is the JSON that ``make bench`` writes (``normlab.speed.stored_run()``);
    ``size`` picks its "small" (cache) or "large" (memory) tensors; ``threads`` one thread
    count or a list of them (default: every count the result holds). Each panel draws the
    methods of ``BANDWIDTH_SERIES`` as a percentage of the best copy of the same bytes (the
    row's ``percent_of_copy``), and names that copy's GB/s in its title. Rows flagged
    ``noise`` (faster than the copy) are not drawn; a panel that had some says how many it
    left out.

    Raises:
        ValueError: ``size``, ``threads`` or ``device`` names nothing in ``result``.
    """
    wanted = [threads] if isinstance(threads, int) else threads
    rows = [
        r
        for r in result["rows"]
        if (r["size"], r.get("device", "cpu")) == (size, device)
        and (wanted is None or r["threads"] in wanted)
    ]
    if not rows:
        have = sorted({(r["size"], r["threads"], r.get("device", "cpu")) for r in result["rows"]})
        raise ValueError(
            f"no rows with size={size!r}, threads={threads}, device={device!r}; the result has "
            f"(size, threads, device) {have}"
        )
    dtypes = sorted({r["dtype"] for r in rows}, key=lambda d: d != "float32")
    counts = sorted({r["threads"] for r in rows})
    fig, axes = plt.subplots(
        len(dtypes),
        len(counts),
        figsize=(3.3 * len(counts), 2.5 * len(dtypes) + 1.0),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    for i, dtype in enumerate(dtypes):
        for j, count in enumerate(counts):
            panel = [r for r in rows if (r["dtype"], r["threads"]) == (dtype, count)]
            _bandwidth_panel(axes[i, j], panel, f"{dtype}, {_bandwidth_where(count, device)}")
    for ax in axes[-1, :]:
        ax.set_xlabel("D, the length of a row", fontsize=_BANDWIDTH_PT)
    for ax in axes[:, 0]:
        ax.set_ylabel("% of copy", fontsize=_BANDWIDTH_PT)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=_BANDWIDTH_PT, frameon=False)
    legend_inches = 0.2 * ((len(labels) + 1) // 2) + 0.1  # two entries a line
    fig.tight_layout(rect=(0, legend_inches / fig.get_figheight(), 1, 1))
    return fig


def _bandwidth_panel(ax: Axes, rows: list[dict], title: str) -> None:
    """One dtype and thread count: each series of ``BANDWIDTH_SERIES`` as % of copy against D."""
    ax.axhline(100, color="black", linewidth=1.5, label="copy, preallocated: the limit, 100 %")
    noise = sum(bool(r.get("noise")) for r in rows)
    for key, (colour, marker, label) in BANDWIDTH_SERIES.items():
        line = sorted(
            (r["D"], r["percent_of_copy"])
            for r in rows
            if (r["method"], r["alloc"]) == key and not r.get("noise")
        )
        if line:
            ds, pct = zip(*line, strict=True)
            dotted = ":" if key[0] == "copy" else "-"
            ax.plot(ds, pct, dotted, color=colour, marker=marker, markersize=4, label=label)
    copies = [r["gbps"] for r in rows if (r["method"], r["alloc"]) == ("copy", "preallocated")]
    limit = f": copy {max(copies):.0f} GB/s" if copies else ""
    ax.set_title(f"{title}{limit}", fontsize=_BANDWIDTH_PT + 1)
    if noise:
        ax.text(
            0.98,
            0.9,
            f"{noise} above 100 % (noise)\nnot drawn",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=_BANDWIDTH_PT - 1,
        )
    ax.set_xscale("log", base=2)
    ds = sorted({r["D"] for r in rows})
    ax.set_xticks(ds, [str(d) for d in ds])
    ax.minorticks_off()
    ax.set_ylim(-3, 108)  # a line at 1 % stays clear of the axis
    ax.set_yticks([0, 25, 50, 75, 100])
    ax.tick_params(labelsize=_BANDWIDTH_PT)
    ax.grid(axis="y", color="0.9")


# ---- recurrent chains and split tensors (chapters 3 and 9) ----
#
# ``draw_unrolled`` draws a recording of a recurrent network's calls (``normlab.hooks.record``)
# as the unrolled chain: one box per call, left to right in call order; the hidden state passed
# from each step to the next; the step's input entering from below; and one box per set of
# parameters the calls used (``normlab.hooks.parameter_sets``), linked to every step that used
# it. Steps are numbered from 1, as in a recurrent network's equations (``h_0`` is the initial
# state; step ``t`` reads ``x_t`` and ``h_{t-1}`` and gives ``h_t``).
#
# ``draw_split`` draws an ``[N, T, D]`` tensor cut between processes, one colour per process,
# in the layout of ``draw_groups`` (N along the front edge, D into depth, T up the side).

#: Sizes of the unrolled chain, in data units: a step box and the distance between box centres.
CHAIN_BOX_W, CHAIN_BOX_H, CHAIN_STEP = 1.5, 0.9, 2.4
#: Height of the parameter boxes' centres above the step boxes' centres.
CHAIN_PARAMS_Y = 1.9
#: Font size of the chain's box texts in points (its smallest text), and the inches per data
#: unit of a figure ``draw_unrolled`` makes: 6 steps fit in 6.6 inches, shown 1:1 in the
#: book's 672 px column, so the 8 pt text is 11 px high on screen (8 pt at 100 dpi).
CHAIN_PT, CHAIN_INCHES_PER_UNIT = 8, 0.42
#: Data units per character of ``CHAIN_PT`` text (a mean glyph, 0.56 em).
CHAIN_CHAR_W = 0.56 * CHAIN_PT / 72 / CHAIN_INCHES_PER_UNIT


def _chain_box_width(text: str) -> float:
    """The width in data units of a box wide enough for ``text``."""
    return max(CHAIN_BOX_W, CHAIN_CHAR_W * max(len(line) for line in text.splitlines()) + 0.3)


def _chain_box(ax: Axes, x: float, y: float, text: str, gid: str, color: str) -> None:
    """A rounded box centred at ``(x, y)`` with ``text`` in it, wide enough for the text."""
    width = _chain_box_width(text)
    patch = FancyBboxPatch(
        (x - width / 2, y - CHAIN_BOX_H / 2), width, CHAIN_BOX_H, boxstyle="round,pad=0.05",
        facecolor=color, edgecolor="0.2", linewidth=0.8,
    )  # fmt: skip
    patch.set_gid(gid)
    ax.add_patch(patch)
    ax.text(x, y, text, ha="center", va="center", fontsize=CHAIN_PT, gid=gid)


def _chain_arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], gid: str) -> None:
    """An arrow from ``start`` to ``end``."""
    ax.annotate(
        "", xy=end, xytext=start, gid=gid,
        arrowprops={"arrowstyle": "->", "color": "0.2", "linewidth": 0.9},
    )  # fmt: skip


def draw_unrolled(
    calls: Sequence[Call],
    ax: Axes | None = None,
    *,
    params_label: str | None = None,
    input_name: str = "x",
    state_name: str = "h",
    title: str | None = None,
) -> Axes:
    """Draw the recorded calls as an unrolled recurrent chain with its parameter sets.

    Each call becomes a box ``"<module class> (step t)"`` (t from 1), left to right. Arrows
    carry the state ``h_{t-1}`` into step t and ``h_t`` out of it, and ``x_t`` enters step t
    from below. Above the chain, one box per set of parameters (``normlab.hooks.
    parameter_sets``), with the parameters' names and shapes, is linked by a dashed line to
    each step that used it: parameters shared by all steps are drawn once, T separate layers
    get T boxes.

    Args:
        calls: a ``Recording`` from ``normlab.hooks.record`` (or a list of its ``Call``s), one
            call per time step, in order.
        ax: a 2-D axes to draw on; when omitted, a new figure that the drawing fills, at
            ``CHAIN_INCHES_PER_UNIT`` (6 steps: 6.6 inches wide).
        params_label: a first line for every parameter box, e.g. ``"g, b"``.
        input_name: the letter of the inputs drawn below the steps (``x`` gives ``x_t``).
        state_name: the letter of the state passed along the chain (``h`` gives ``h_t``).
        title: the axes title; default none.

    Returns:
        The axes drawn on. Its step boxes, parameter boxes, state and input arrows and the
        links carry the gids ``"step"``, ``"params"``, ``"state"``, ``"input"`` and ``"link"``.

    Raises:
        TypeError, ValueError: ``calls`` is not a non-empty sequence of ``Call`` objects, or
            ``ax`` is a 3-D axes.
    """
    sets = parameter_sets(calls)  # checks calls; [[call index, ...] per set]
    calls = list(calls)
    n_steps = len(calls)
    xs = [CHAIN_STEP * t for t in range(n_steps)]  # [n_steps]: box centres
    # the length of the state arrows before the first box and after the last
    edge = (CHAIN_STEP - CHAIN_BOX_W) / 2
    margin = CHAIN_BOX_W / 2 + 2 * edge + 0.15  # room for the first and the last state arrow
    xlim = (xs[0] - margin, xs[-1] + margin)

    # One box per parameter set, centred above the steps that use it. Where neighbouring
    # boxes would overlap (a set per step), every second one moves up a row.
    texts = [
        ", ".join(f"{name} {list(p.shape)}" for name, p in calls[s[0]].module.named_parameters())
        for s in sets
    ]  # [len(sets)]: e.g. "weight [5], bias [5]"
    texts = texts if params_label is None else [f"{params_label}\n{t}" for t in texts]
    centres = [sum(xs[i] for i in steps) / len(steps) for steps in sets]
    gaps = [b - a for a, b in itertools.pairwise(centres)]  # [len(sets) - 1]
    crowded = bool(gaps) and max(map(_chain_box_width, texts)) + 0.2 > min(gaps)
    rows = [CHAIN_PARAMS_Y + (CHAIN_BOX_H + 0.3) * (crowded and k % 2) for k in range(len(sets))]
    ylim = (-1.6, max(rows, default=CHAIN_PARAMS_Y) + CHAIN_BOX_H / 2 + 0.3)
    if ax is None:
        size = (xlim[1] - xlim[0], ylim[1] - ylim[0])  # in data units
        fig = plt.figure(figsize=tuple(CHAIN_INCHES_PER_UNIT * s for s in size))
        ax = fig.add_axes((0, 0, 1, 1))  # the drawing fills the figure
    elif getattr(ax, "name", "") == "3d":
        raise ValueError("ax must be a 2-D axes, got a 3-D one")
    for t, (x, call) in enumerate(zip(xs, calls, strict=True), start=1):
        _chain_box(ax, x, 0, f"{type(call.module).__name__}\n(step {t})", "step", "#cfe0f3")
        _chain_arrow(ax, (x, -1.1), (x, -CHAIN_BOX_H / 2 - 0.05), "input")
        ax.text(x, -1.3, f"${input_name}_{{{t}}}$", ha="center", va="center", fontsize=10)
        _chain_arrow(ax, (x - CHAIN_BOX_W / 2 - 2 * edge, 0), (x - CHAIN_BOX_W / 2 - 0.05, 0),
                     "state")  # fmt: skip
        ax.text(x - CHAIN_STEP / 2, 0.2, f"${state_name}_{{{t - 1}}}$", ha="center", fontsize=10)
    last = xs[-1] + CHAIN_BOX_W / 2
    _chain_arrow(ax, (last + 0.05, 0), (last + 2 * edge, 0), "state")
    ax.text(xs[-1] + CHAIN_STEP / 2, 0.2, f"${state_name}_{{{n_steps}}}$", ha="center", fontsize=10)

    for steps, text, centre, row in zip(sets, texts, centres, rows, strict=True):
        _chain_box(ax, centre, row, text, "params", "#f6d7a7")
        for i in steps:
            ax.plot([centre, xs[i]], [row - CHAIN_BOX_H / 2 - 0.05, CHAIN_BOX_H / 2 + 0.05],
                    linestyle="--", color="0.45", linewidth=0.8, gid="link")  # fmt: skip

    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title, fontsize=10)
    return ax


#: Font sizes in points of ``draw_split``'s axis labels and title: panels a third of the
#: column wide (6.6 inches for three) keep them 12 px and more on screen.
SPLIT_LABEL_PT, SPLIT_TITLE_PT = 9, 10


def split_owners(shape: tuple[int, int, int], dim: int, parts: int = 2) -> torch.Tensor:
    """Which process holds each element when ``shape`` is cut as ``tensor.chunk(parts, dim)``.

    Args:
        shape: ``(N, T, D)``, each at least 1.
        dim: the axis cut, 0 (``N``: data parallel), 1 (``T``: sequence parallel) or 2 (``D``:
            tensor parallel).
        parts: how many processes share the tensor, at least 1.

    Returns:
        An int64 tensor ``[N, T, D]``: the rank, ``0 .. parts - 1``, that holds each element
        (``chunk`` makes fewer pieces when the axis is short, and the last ranks get none).
    """
    shape = check_shape(shape, "shape", min_size=1)
    if len(shape) != 3:
        raise ValueError(f"shape must be (N, T, D), three sizes, got {shape}")
    if isinstance(dim, bool) or dim not in (0, 1, 2):
        raise ValueError(f"dim must be 0 (N), 1 (T) or 2 (D), got {dim!r}")
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        raise ValueError(f"parts must be a positive int, got {parts!r}")
    pieces = torch.arange(shape[dim]).chunk(parts)  # the indices along dim, per rank
    owner = torch.cat([torch.full_like(p, r) for r, p in enumerate(pieces)])  # [shape[dim]]
    owner = owner.reshape([-1 if a == dim else 1 for a in range(3)])  # broadcastable
    return owner.expand(shape).clone()  # [N, T, D]


def draw_split(
    shape: tuple[int, int, int],
    dim: int,
    parts: int = 2,
    ax: Axes | None = None,
    *,
    title: str | None = None,
    names: tuple[str, str, str] = ("N", "T", "D"),
) -> Axes:
    """Draw ``[N, T, D]`` as cubes, coloured by the process that holds each element.

    The layout is ``draw_groups``'s: ``N`` runs along the front edge from right to left (so
    that the first sentence stands nearest the viewer), ``D`` into depth, ``T`` up the side.
    Rank r's cubes take the colour ``f"C{r}"`` (rank 0 blue, rank 1 orange).

    Args:
        shape: ``(N, T, D)``.
        dim: the axis cut (see ``split_owners``).
        parts: how many processes share the tensor.
        ax: a 3-D axes (``projection="3d"``) to draw on; a new figure is made when omitted.
        title: the axes title; default two lines, the parallelism that makes this cut and
            the axis, e.g. ``data parallel`` over ``cut along N`` for ``dim=0`` (``sequence``
            for 1, ``tensor`` for 2).
        names: the three axes' names, for the labels (``"N = 4"``) and the default title.

    Returns:
        The axes drawn on.
    """
    owner = split_owners(shape, dim, parts)  # [N, T, D]: checks shape, dim and parts
    names = check_names(names, 3, "names")
    n, t, d = owner.shape
    if ax is None:
        fig = plt.figure(figsize=(3.2, 3.2))
        ax = fig.add_subplot(projection="3d")
    elif getattr(ax, "name", "") != "3d":
        raise ValueError('ax must be a 3-D axes, made with add_subplot(projection="3d")')
    cubes = owner.permute(0, 2, 1).flip(0).numpy()  # [N, D, T]: N right to left, D deep, T up
    colours = np.array([mcolors.to_rgba(f"C{r}") for r in range(parts)])  # [parts, 4]
    ax.voxels(
        np.ones(cubes.shape, dtype=bool), facecolors=colours[cubes],  # [N, D, T, 4]
        edgecolors="0.25", linewidth=0.3,
    )  # fmt: skip
    ax.set_box_aspect(cubes.shape, zoom=1.1)
    ax.view_init(elev=20, azim=-58)
    ax.set_axis_off()
    if title is None:
        kind = ("data", "sequence", "tensor")[dim]
        title = f"{kind} parallel\ncut along {names[dim]}"
    ax.set_title(title, fontsize=SPLIT_TITLE_PT, y=0.97)
    style = {"fontsize": SPLIT_LABEL_PT, "color": "0.15"}
    ax.text(n / 2, -1.0, -0.3, f"{names[0]} = {n}", ha="center", va="top", **style)
    ax.text(n + 0.5, d / 2, -0.5, f"{names[2]} = {d}", ha="left", va="top", **style)
    # in the panel's own coordinates, so that a figure's tight crop keeps it
    ax.text2D(0.08, 0.42, f"{names[1]} = {t}", transform=ax.transAxes, ha="right", **style)
    return ax


# ---- a Transformer layer's residual path (chapters 4 and 5) ----

#: ``draw_residual_block``'s colours: the stream, the sublayer's calls, the norm.
RESIDUAL_STREAM, RESIDUAL_CALL, RESIDUAL_NORM = "0.92", "white", "#9ecae1"
#: Its sizes. The layout is in data units, one unit between two rows, shown at
#: ``RESIDUAL_INCHES_PER_UNIT``, so that the boxes' text, ``RESIDUAL_PT`` points (the smallest
#: text, 11.8 px at 100 dpi shown 1:1), fits boxes ``RESIDUAL_BOX_W`` units wide and
#: ``2 * RESIDUAL_BOX_HALF`` high; ``RESIDUAL_GAP`` is the distance between two columns' centres.
RESIDUAL_PT, RESIDUAL_INCHES_PER_UNIT = 8.5, 0.55
RESIDUAL_BOX_W, RESIDUAL_BOX_HALF, RESIDUAL_GAP = 3.9, 0.31, 4.9
#: The two places of a norm, as ``draw_residual_block`` takes them.
POSITIONS = ("post-LN", "pre-LN")


def _residual_box(ax: Axes, x: float, y: float, text: str, color: str) -> None:
    """A rounded box centred at ``(x, y)``, with ``text`` in it."""
    w, half = RESIDUAL_BOX_W, RESIDUAL_BOX_HALF
    style = "round,pad=0.02,rounding_size=0.1"
    box = FancyBboxPatch((x - w / 2, y - half), w, 2 * half, boxstyle=style, facecolor=color)
    box.set(edgecolor="0.25", linewidth=0.8, alpha=0.9)
    ax.add_patch(box)
    ax.text(x, y, text, ha="center", va="center", fontsize=RESIDUAL_PT, linespacing=1.1)


def _residual_arrow(
    ax: Axes, start: tuple[float, float], end: tuple[float, float], **style
) -> None:
    """An arrow from ``start`` to ``end`` (data coordinates)."""
    props = {"arrowstyle": "-|>", "color": "0.25", "lw": 0.9, "shrinkA": 0, "shrinkB": 0}
    ax.annotate("", xy=end, xytext=start, arrowprops=props | style)


def _check_blocks(blocks: object) -> list[tuple[str, str, tuple[str, ...]]]:
    """``blocks`` as a list of ``(position, norm, sublayer)``, else raise naming the fault."""
    if isinstance(blocks, (str, bytes)) or not isinstance(blocks, Sequence) or not blocks:
        raise ValueError(
            f"blocks must be a non-empty list of (position, norm, sublayer), got {blocks!r}"
        )
    checked = []
    for i, block in enumerate(blocks):
        if not isinstance(block, Sequence) or isinstance(block, str) or len(block) != 3:
            raise ValueError(f"blocks[{i}] must be (position, norm, sublayer), got {block!r}")
        position, norm, sublayer = block
        if position not in POSITIONS:
            raise ValueError(f"blocks[{i}]: position must be one of {POSITIONS}, got {position!r}")
        sublayer = (sublayer,) if isinstance(sublayer, str) else tuple(sublayer)
        if not sublayer or not all(isinstance(text, str) for text in (norm, *sublayer)):
            raise ValueError(
                f"blocks[{i}]: norm must be a box's text and sublayer one or more, got {block!r}"
            )
        checked.append((position, norm, sublayer))
    return checked


def _residual_title(positions: set[str], final: str | None) -> str:
    """The default title: where the norms sit."""
    if positions == {"post-LN"}:
        where = "LayerNorm after the residual sum (post-LN)"
    elif positions == {"pre-LN"}:
        where = "norm before the sublayer, inside the branch (pre-LN)"
    else:
        where = "post-LN and pre-LN blocks"
    return where + (",\nthen the final norm" if final is not None else "")


def draw_residual_block(
    blocks: Sequence[tuple[str, str, Sequence[str]]],
    *,
    final: str | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Draw one Transformer layer's residual path: one column per block, top to bottom.

    Each column is one block: the stream ``x`` at the top, the boxes, a ``+`` where ``x`` is
    added back (the arc on the right is the skip connection), and the stream leaving the
    block. The norm is coloured: after the ``+`` in a post-LN block, ``norm(x + sublayer(x))``,
    before the sublayer in a pre-LN one, ``x + sublayer(norm(x))``. A dashed line carries the
    stream to the next column. The chapters check each link on recorded tensors and pass
    here only what they found.

    Args:
        blocks: one ``(position, norm, sublayer)`` per block, in order: ``position`` is
            ``"post-LN"`` or ``"pre-LN"``, ``norm`` the norm's box text and ``sublayer`` the
            sublayer's box texts in call order (e.g. ``"attention.self\\nBertSelfAttention"``,
            a name over a class).
        final: the box text of the model's final norm (``"ln_f\\nfinal LayerNorm"``), drawn
            coloured under the last column, with the model's output under it.
        ax: the axes to draw on; when omitted, a new figure of ``RESIDUAL_INCHES_PER_UNIT``
            inches per data unit (5.2 inches wide for two blocks).
        title: the axes title; default says where the norms sit.

    Returns:
        The axes drawn on.

    Raises:
        ValueError: ``blocks`` is empty or a block is not ``(position, norm, sublayer)`` with
            a known position and at least one sublayer box.
    """
    steps = _check_blocks(blocks)
    width, gap, half = RESIDUAL_BOX_W, RESIDUAL_GAP, RESIDUAL_BOX_HALF
    rows = 4 + max(len(s) for _, _, s in steps) + (2 if final is not None else 0)
    if ax is None:  # RESIDUAL_INCHES_PER_UNIT inches per data unit, and room for the title
        unit = RESIDUAL_INCHES_PER_UNIT
        size = (unit * (width + (len(steps) - 1) * gap + 0.7), unit * rows + 0.5)
        fig, ax = plt.subplots(figsize=size)
        fig.subplots_adjust(left=0, right=1, bottom=0, top=1 - 0.5 / size[1])
    for j, (position, norm, sublayer) in enumerate(steps):
        cx = j * gap
        ys = [-float(i) for i in range(len(sublayer) + 4)]  # x, boxes, +, next x
        _residual_box(ax, cx, ys[0], f"x{_subscript(j)}: residual stream", RESIDUAL_STREAM)
        if position == "pre-LN":  # x -> norm -> sublayer -> + -> next x
            boxes, add_y = [(norm, RESIDUAL_NORM), *((s, RESIDUAL_CALL) for s in sublayer)], ys[-2]
            for y, (text, color) in zip(ys[1:-2], boxes, strict=True):
                _residual_box(ax, cx, y, text, color)
        else:  # x -> sublayer -> + -> norm -> next x
            add_y = ys[-3]
            for y, text in zip(ys[1:-3], sublayer, strict=True):
                _residual_box(ax, cx, y, text, RESIDUAL_CALL)
            _residual_box(ax, cx, ys[-2], norm, RESIDUAL_NORM)
        ax.add_patch(plt.Circle((cx, add_y), 0.2, facecolor="white", edgecolor="0.25"))
        ax.text(cx, add_y, "+", ha="center", va="center", fontsize=11)
        _residual_box(ax, cx, ys[-1], f"x{_subscript(j + 1)}: residual stream", RESIDUAL_STREAM)
        for upper, lower in itertools.pairwise(ys):
            top = upper - (0.2 if upper == add_y else half)
            _residual_arrow(ax, (cx, top), (cx, lower + (0.2 if lower == add_y else half)))
        side = cx + width / 2 + 0.3  # the skip connection: x goes round the sublayer to the +
        ax.plot([cx + width / 2, side, side], [ys[0], ys[0], add_y], color="0.25", lw=0.9)
        _residual_arrow(ax, (side, add_y), (cx + 0.2, add_y))
        ax.text(side + 0.05, (ys[0] + add_y) / 2, "x", fontsize=RESIDUAL_PT + 1, style="italic")
        if j + 1 < len(steps):  # the stream leaving this block enters the next one
            mid = cx + gap / 2
            ax.plot([cx + width / 2, mid, mid], [ys[-1], ys[-1], ys[0]], color="0.5", ls="--")
            _residual_arrow(ax, (mid, ys[0]), (cx + gap - width / 2, ys[0]), color="0.5")
    if final is not None:  # the final norm, under the last column
        cx, y0 = (len(steps) - 1) * gap, -float(len(steps[-1][2]) + 3)
        _residual_box(ax, cx, y0 - 1, final, RESIDUAL_NORM)
        _residual_box(ax, cx, y0 - 2, "model output", RESIDUAL_STREAM)
        _residual_arrow(ax, (cx, y0 - half), (cx, y0 - 1 + half))
        _residual_arrow(ax, (cx, y0 - 1 - half), (cx, y0 - 2 + half))
    ax.set_xlim(-width / 2 - 0.1, (len(steps) - 1) * gap + width / 2 + 0.6)
    ax.set_ylim(-rows + 0.5, 0.5)
    ax.set_aspect("equal")
    ax.set_axis_off()
    default = _residual_title({p for p, _, _ in steps}, final)
    ax.set_title(default if title is None else title, fontsize=RESIDUAL_PT + 1)
    return ax


def _subscript(i: int) -> str:
    """``i`` as subscript digits, for the stream's name (x₀, x₁, ...)."""
    return str(i).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


# ---- survey (chapter 10) ----

#: The lengths ``draw_survey`` draws an axis with: independent, reduced (whole), an image's H
#: and W (flattened into one vertical axis), and per class of a grouped axis; at most
#: ``SURVEY_CLASSES`` classes of a grouped axis.
SURVEY_INDEPENDENT, SURVEY_REDUCED, SURVEY_SPACE, SURVEY_CLASS, SURVEY_CLASSES = 3, 4, 2, 2, 2
#: The axis orders ``layout`` draws as the book does (features into depth), by the names a
#: survey gives: a channels-last image and a convolution's ``[N, C, T]`` are drawn reordered.
SURVEY_ORDERS = {("N", "H", "W", "C"): (0, 3, 1, 2), ("N", "C", "T"): (0, 2, 1)}


def small_like(result: ProbeResult) -> ProbeResult:
    """A small ``ProbeResult`` with the same kind of sets as ``result``, to draw.

    Each axis keeps its role and name: an independent axis is drawn ``SURVEY_INDEPENDENT``
    long, a reduced one ``SURVEY_REDUCED`` long (an image's H and W ``SURVEY_SPACE``; each at
    most its real length), a grouped one as ``SURVEY_CLASSES`` classes of ``SURVEY_CLASS``
    positions (consecutive or interleaved, as the real classes are), and an axis of length 1
    stays 1. Axes named as in ``SURVEY_ORDERS`` are reordered, so that the features go into
    depth. Shapes: ``result.groups`` ``[*shape]`` -> ``[*small]``.
    """
    import dataclasses

    if not isinstance(result, ProbeResult):
        raise TypeError(
            f"result must be a ProbeResult from normlab.probe, got {type(result).__name__}"
        )
    order = SURVEY_ORDERS.get(tuple(result.names), tuple(range(len(result.shape))))
    sizes, class_of = [], []
    for a in order:
        s, name = result.shape[a], result.names[a]
        if a in result.grouped_dims:
            n = min(SURVEY_CLASSES, len(result.axis_groups[a]))
            g = min(SURVEY_CLASS, result.group_size[a])
            sizes.append(n * g)
            positions = np.arange(n * g)
            class_of.append(positions // g if result.is_consecutive(a) else positions % n)
            continue
        if a in result.reduced_dims:
            size = min(s, SURVEY_SPACE if name in ("H", "W") else SURVEY_REDUCED)
        else:
            size = min(s, SURVEY_SPACE if name in ("H", "W") else SURVEY_INDEPENDENT)
        sizes.append(size)
        shared = a in result.reduced_dims or s == 1
        class_of.append(np.zeros(size, int) if shared else np.arange(size))
    counts = [int(c.max()) + 1 for c in class_of]
    index = np.ravel_multi_index(np.meshgrid(*class_of, indexing="ij"), counts)  # [*small]
    _, first, inverse = np.unique(index.reshape(-1), return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))  # ids in order of first appearance (row-major)
    groups = torch.from_numpy(rank[inverse].reshape(sizes)).long()
    axis_groups = tuple(
        tuple(tuple(int(p) for p in np.flatnonzero(c == k)) for k in range(int(c.max()) + 1))
        for c in class_of
    )
    group_size = tuple(len(classes[0]) for classes in axis_groups)
    undetermined = tuple(i for i, a in enumerate(order) if result.shape[a] == 1)
    return dataclasses.replace(
        result, shape=tuple(sizes), names=tuple(result.names[a] for a in order),
        reduced_dims=tuple(i for i, g in enumerate(group_size) if g == sizes[i] > 1),
        group_size=group_size, groups=groups, axis_groups=axis_groups,
        undetermined_dims=undetermined,
    )  # fmt: skip


def draw_survey(report, *, ncols: int | None = None) -> Figure:
    """Draw the kinds of sets a ``normlab.survey`` found: one panel per distinct kind of call.

    A kind is one statistic over one kind of set with one set of axis names (``"mean and
    variance over (D)"`` on ``[N, T, D]``). Its panel is the Group-Norm-style picture of
    ``draw_groups`` at a small shape with the same kind of sets (``small_like``); each axis
    label gives the real length of its first call and the length drawn (``D = 768, 4 drawn``),
    and the title names the classes and how many calls.

    Args:
        report: a ``normlab.survey.Survey`` with at least one row.
        ncols: panels per row; default as ``draw_panels``.

    Returns:
        The figure.
    """
    from .survey import Survey, kinds

    if not isinstance(report, Survey):
        raise TypeError(f"report must be a normlab.survey.Survey, got {type(report).__name__}")
    if not report.rows:
        raise ValueError(
            f"the survey of {report.model} found no normalization call, so there is nothing to "
            f"draw; its rejected candidates say why"
        )
    results, titles, relabels = [], [], []
    for (statistic, sets, _), rows in kinds(report):
        real = rows[0].result
        small = small_like(real)
        results.append(small)
        classes = sorted({r.kind for r in rows})
        calls = f"{len(rows)} call{'s' * (len(rows) > 1)}"
        if statistic == "none":  # BatchNorm in eval mode: say where training normalizes
            training = {r.sets.partition("; ")[2] for r in rows} - {""}
            what = "stored statistics, nothing shared" + (
                f"; {training.pop()}" if len(training) == 1 else ""
            )
        else:
            what = f"{statistic} {sets}"
        titles.append(f"{', '.join(classes)} ({calls}): {what}")
        relabels.append(_survey_labels(real, small))
    fig = draw_panels(results, titles, ncols=ncols)
    for ax, mapping in zip(fig.axes, relabels, strict=True):
        for text in ax.texts:
            first = text.get_text().split("\n")[0]
            if first in mapping:
                text.set_text(text.get_text().replace(first, mapping[first], 1))
    return fig


def _survey_labels(real: ProbeResult, small: ProbeResult) -> dict[str, str]:
    """Axis label drawn -> the label with the real length: ``"D = 4"`` -> ``"D = 768, 4 drawn"``."""
    _, drawn = layout(small)
    lengths = dict(zip(real.names, real.shape, strict=True))
    mapping = {}
    for label in drawn:
        label = label.split(" (")[0]  # "H·W = 4 (H, W flattened)" -> "H·W = 4"
        if not label:
            continue
        name, size = label.split(" = ")
        true = int(np.prod([lengths[n] for n in name.split("·")]))
        if str(true) != size:
            mapping[label] = f"{name} = {true}, {size} drawn"
    return mapping
