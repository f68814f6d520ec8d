"""Figures of which elements share statistics, drawn from ``probe`` results.

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

import textwrap
from collections.abc import Sequence

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

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
