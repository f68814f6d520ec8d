"""Figures of which elements share statistics, drawn from ``probe`` results.

A tensor is drawn as a block of cubes, one cube per element, in the manner of Figure 2 of the
Group Normalization paper (Wu & He, 2018). The cubes of one group of shared statistics are
coloured; the rest are left pale. Because the colouring is read from ``ProbeResult.groups``, a
figure cannot disagree with what the code does.

Layout, as (depth, vertical, horizontal):
    2-D ``[A, B]``        -> (1, A, B): one sheet.
    3-D ``[A, B, C]``     -> (A, B, C): A sheets of B rows and C columns; ``[N, T, D]``
                             is N sentences, one token per row.
    4-D ``[N, C, H, W]``  -> (N, H*W, C): the Group Normalization paper's picture, with the two
                             spatial axes flattened onto the vertical.
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

PALE = (0.93, 0.93, 0.93, 0.25)
EDGE = (0.45, 0.45, 0.45, 0.6)


def layout(
    result: ProbeResult, order: tuple[int, int, int] | None = None
) -> tuple[np.ndarray, tuple[str, str, str]]:
    """Group ids arranged as ``[depth, vertical, horizontal]`` and the three axis labels.

    Args:
        result: a ``ProbeResult`` of a 2-, 3- or 4-d shape.
        order: for a 3-d result only, which axes become (depth, vertical, horizontal); default
            ``(0, 1, 2)``. ``(1, 0, 2)`` draws ``[N, T, D]`` as T sheets of ``[N, D]``.

    Returns:
        ``(ids, (depth_label, vertical_label, horizontal_label))`` with ``ids`` an int array.
    """
    if not isinstance(result, ProbeResult):
        raise TypeError(
            f"result must be a ProbeResult from normlab.probe, got {type(result).__name__}"
        )
    g = result.groups.numpy()
    names = result.names
    if order is not None:
        if g.ndim != 3 or sorted(order) != [0, 1, 2]:
            raise ValueError(
                f"order must be a permutation of (0, 1, 2) for a 3-d result, got order={order!r} "
                f"for shape {result.shape}"
            )
        return g.transpose(order), tuple(names[a] for a in order)
    if g.ndim == 2:
        return g[None], ("", names[0], names[1])
    if g.ndim == 3:
        return g, names
    if g.ndim == 4:
        n, c, h, w = g.shape
        return g.reshape(n, c, h * w).transpose(0, 2, 1), (
            names[0],
            f"{names[2]}, {names[3]}",
            names[1],
        )
    raise ValueError(
        f"result must come from a 2-, 3- or 4-d shape to be drawn, got shape {result.shape}"
    )


def draw_groups(
    result: ProbeResult,
    ax: Axes | None = None,
    *,
    group: int = 0,
    title: str | None = None,
    color: str = "C0",
    order: tuple[int, int, int] | None = None,
) -> Axes:
    """Draw the probed tensor as cubes and colour the elements of one group of shared statistics.

    Args:
        result: from ``normlab.probe`` on a 2-, 3- or 4-d shape.
        ax: a 3-D axes (``projection="3d"``) to draw on; a new figure is made when omitted.
        group: the group id to colour, ``0 <= group < result.n_groups``; 0 is the group that
            holds the first element.
        title: the axes title; default ``str(result)``, wrapped.
        color: the colour of the highlighted cubes.
        order: for 3-d results, which axes are drawn as (depth, vertical, horizontal); see
            ``layout``.

    Returns:
        The axes drawn on.
    """
    ids, (depth_label, vertical_label, horizontal_label) = layout(result, order)
    if isinstance(group, bool) or not isinstance(group, int) or not 0 <= group < result.n_groups:
        raise ValueError(f"group must be an int from 0 to {result.n_groups - 1}, got {group!r}")
    if ax is None:
        fig = plt.figure(figsize=(4.2, 4.2))
        ax = fig.add_subplot(projection="3d")
    elif getattr(ax, "name", "") != "3d":
        raise ValueError('ax must be a 3-D axes, made with add_subplot(projection="3d")')

    depth, vertical, horizontal = ids.shape
    # voxels() indexes [x, y, z] = [horizontal, depth, vertical (bottom up)].
    cube = ids.transpose(2, 0, 1)[:, :, ::-1]
    faces = np.empty(cube.shape + (4,))
    faces[...] = PALE

    faces[cube == group] = mcolors.to_rgba(color, 0.85)
    ax.voxels(np.ones(cube.shape, dtype=bool), facecolors=faces, edgecolors=EDGE, linewidth=0.4)
    ax.set_box_aspect((horizontal, depth, vertical))
    ax.view_init(elev=22, azim=-62)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_zticks([])
    ax.set_xlabel(horizontal_label, labelpad=-12)
    ax.set_ylabel(depth_label, labelpad=-12)
    ax.set_zlabel(vertical_label, labelpad=-12)
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.pane.set_visible(False)
        axis.line.set_visible(False)
    ax.grid(False)
    ax.set_facecolor("none")  # let a neighbouring panel's axis label show through
    text = str(result) if title is None else title
    ax.set_title(textwrap.fill(text, 34), fontsize=9)
    return ax


def draw_panels(
    results: Sequence[ProbeResult],
    titles: Sequence[str] | None = None,
    *,
    ncols: int | None = None,
    size: float = 3.2,
    order: tuple[int, int, int] | None = None,
) -> Figure:
    """Draw several probe results side by side, one 3-D panel each (e.g. BN | LN | IN | GN).

    Args:
        results: ``ProbeResult`` objects, usually of one shape so the panels compare.
        titles: one title per panel; default each result's description.
        ncols: panels per row; default all in one row.
        size: inches per panel.
        order: for 3-d results, which axes every panel draws as (depth, vertical, horizontal);
            see ``layout``.

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
        draw_groups(res, ax, title=None if titles is None else titles[i], order=order)
    fig.subplots_adjust(left=0.0, right=0.97, bottom=0.02, top=0.9, wspace=0.3, hspace=0.25)
    return fig
