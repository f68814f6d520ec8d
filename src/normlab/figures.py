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
    style = {"fontsize": 8, "color": "0.2", "ha": "center", "va": "center"}
    ax.text(x / 2, -0.35 * max(1, y / 4) - 0.6, -0.2, labels[0], **style)
    ax.text(x + 0.8, y / 2, -0.2, labels[1], zdir="y", **style)
    if labels[2]:
        ax.text(-0.6, -0.6, z / 2, labels[2], zdir="z", **style)


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
    ax.set_box_aspect((x, y, z), zoom=0.9)
    ax.view_init(elev=20, azim=-58)
    ax.set_axis_off()
    _label_edges(ax, (x, y, z), labels)
    text = str(result) if title is None else title
    ax.set_title(textwrap.fill(text, 34), fontsize=9)
    return ax


def draw_panels(
    results: Sequence[ProbeResult],
    titles: Sequence[str] | None = None,
    *,
    ncols: int | None = None,
    size: float = 3.2,
) -> Figure:
    """Draw several probe results side by side, one 3-D panel each (e.g. BN | LN | IN | GN).

    Args:
        results: ``ProbeResult`` objects, usually of one shape so the panels compare.
        titles: one title per panel; default each result's description.
        ncols: panels per row; default all in one row.
        size: inches per panel.

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
    ncols = len(results) if ncols is None else ncols
    nrows = -(-len(results) // ncols)
    fig = plt.figure(figsize=(size * ncols, (size + 0.5) * nrows))
    for i, res in enumerate(results):
        ax = fig.add_subplot(nrows, ncols, i + 1, projection="3d")
        draw_groups(res, ax, title=None if titles is None else titles[i])
    fig.subplots_adjust(left=0.0, right=1.0, bottom=0.0, top=0.9, wspace=0.05, hspace=0.15)
    return fig
