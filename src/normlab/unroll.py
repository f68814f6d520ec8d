"""Draw a recurrent network unrolled over its time steps, from a recording of its calls.

A recurrent network applies the same layer at every time step. ``normlab.hooks.record`` sees
that from outside: hooked while the network reads T steps, one submodule is called T times.
``draw_unrolled`` draws such a recording as the unrolled chain: one box per call, left to right
in call order; the hidden state passed from each step to the next; the step's input entering
from below; and one box per distinct set of parameters the calls used, linked to every step
that used it. Parameters shared by all steps are therefore drawn once; T separate layers would
get T parameter boxes. ``parameter_sets`` is the grouping the drawing uses::

    with record(rnn, nn.LayerNorm) as calls:
        rnn(x)                                   # x: [N, T, E]
    parameter_sets(calls)                        # [[0, 1, ..., T - 1]]: one set, every step
    draw_unrolled(calls, params_label="g, b")

Steps are numbered from 1 in the drawing, as in the equations of a recurrent network
(``h_0`` is the initial state, step ``t`` reads ``x_t`` and ``h_{t-1}`` and gives ``h_t``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import FancyBboxPatch

from .hooks import Call

#: Sizes of the drawing, in data units: a step box and the distance between box centres.
BOX_W, BOX_H, STEP = 1.5, 0.9, 2.4
#: Height of the parameter boxes' centres above the step boxes' centres.
PARAMS_Y = 1.9
#: Font size of the box texts in points (the smallest text), and the inches per data unit of a
#: figure ``draw_unrolled`` makes: 6 steps fit in 6.6 inches, shown 1:1 in the book's 672 px
#: column, so the 8 pt text is 11 px high on screen (8 pt at 100 dpi).
BOX_PT, INCHES_PER_UNIT = 8, 0.42
#: Data units per character of ``BOX_PT`` text at ``INCHES_PER_UNIT`` (a mean glyph, 0.56 em).
CHAR_W = 0.56 * BOX_PT / 72 / INCHES_PER_UNIT


def _check_calls(calls: Sequence[Call]) -> list[Call]:
    """``calls`` as a non-empty list of ``Call`` objects, else raise naming the argument."""
    if isinstance(calls, (str, bytes)) or not isinstance(calls, Sequence):
        raise TypeError(
            f"calls must be a Recording from normlab.hooks.record or a list of Call objects, "
            f"got {type(calls).__name__}"
        )
    calls = list(calls)
    if not calls:
        raise ValueError(
            "calls must hold at least one Call, got none (was the model called inside the "
            "record block?)"
        )
    for i, call in enumerate(calls):
        if not isinstance(call, Call):
            raise TypeError(f"calls[{i}] must be a normlab.hooks.Call, got {type(call).__name__}")
    return calls


def parameter_sets(calls: Sequence[Call]) -> list[list[int]]:
    """Group the calls (steps ``0 .. len(calls) - 1``) by the parameter tensors they used.

    Two calls use the same set when their modules hold the same parameters by name and by
    storage (equal ``data_ptr()``): the same numbers in memory, not merely equal values. Calls
    of a module without parameters belong to no set.

    Args:
        calls: a ``Recording`` from ``normlab.hooks.record``, or a list of its ``Call``s.

    Returns:
        One list of call indices per set, in order of first use; e.g. ``[[0, 1, 2]]`` when one
        module served three steps, ``[[0], [1], [2]]`` for three separate modules.

    Raises:
        TypeError, ValueError: ``calls`` is not a non-empty sequence of ``Call`` objects.
    """
    groups: dict[tuple, list[int]] = {}
    for i, call in enumerate(_check_calls(calls)):
        key = tuple((name, p.data_ptr()) for name, p in call.module.named_parameters())
        if key:
            groups.setdefault(key, []).append(i)
    return list(groups.values())


def _describe_parameters(call: Call) -> str:
    """The parameters of the call's module with their shapes, e.g. ``weight [5], bias [5]``."""
    return ", ".join(f"{name} {list(p.shape)}" for name, p in call.module.named_parameters())


def _box_width(text: str) -> float:
    """The width in data units of a box wide enough for ``text``."""
    return max(BOX_W, CHAR_W * max(len(line) for line in text.splitlines()) + 0.3)


def _box(ax: Axes, x: float, y: float, text: str, gid: str, color: str) -> None:
    """A rounded box centred at ``(x, y)`` with ``text`` in it, wide enough for the text."""
    width = _box_width(text)
    patch = FancyBboxPatch(
        (x - width / 2, y - BOX_H / 2), width, BOX_H, boxstyle="round,pad=0.05",
        facecolor=color, edgecolor="0.2", linewidth=0.8,
    )  # fmt: skip
    patch.set_gid(gid)
    ax.add_patch(patch)
    ax.text(x, y, text, ha="center", va="center", fontsize=BOX_PT, gid=gid)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], gid: str) -> None:
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
    from below. Above the chain, one box per set of parameters (see ``parameter_sets``), with
    the parameters' names and shapes, is linked by a dashed line to each step that used it.

    Args:
        calls: a ``Recording`` from ``normlab.hooks.record`` (or a list of its ``Call``s), one
            call per time step, in order.
        ax: a 2-D axes to draw on; when omitted, a new figure that the drawing fills, at
            ``INCHES_PER_UNIT`` (6 steps: 6.6 inches wide).
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
    calls = _check_calls(calls)
    n_steps = len(calls)
    xs = [STEP * t for t in range(n_steps)]  # [n_steps]: box centres
    edge = (STEP - BOX_W) / 2  # length of the state arrows before the first and after the last
    margin = BOX_W / 2 + 2 * edge + 0.15  # room for the first and the last state arrow
    xlim = (xs[0] - margin, xs[-1] + margin)

    # One box per parameter set, centred above the steps that use it. Where neighbouring
    # boxes would overlap (a set per step), every second one moves up a row.
    sets = parameter_sets(calls)
    texts = [_describe_parameters(calls[steps[0]]) for steps in sets]
    texts = texts if params_label is None else [f"{params_label}\n{t}" for t in texts]
    centres = [sum(xs[i] for i in steps) / len(steps) for steps in sets]
    gaps = [b - a for a, b in itertools.pairwise(centres)]  # [len(sets) - 1]
    crowded = bool(gaps) and max(map(_box_width, texts)) + 0.2 > min(gaps)
    rows = [PARAMS_Y + (BOX_H + 0.3) * (crowded and k % 2) for k in range(len(sets))]
    ylim = (-1.6, max(rows, default=PARAMS_Y) + BOX_H / 2 + 0.3)
    if ax is None:
        size = (xlim[1] - xlim[0], ylim[1] - ylim[0])  # in data units
        fig = plt.figure(figsize=tuple(INCHES_PER_UNIT * s for s in size))
        ax = fig.add_axes((0, 0, 1, 1))  # the drawing fills the figure
    elif getattr(ax, "name", "") == "3d":
        raise ValueError("ax must be a 2-D axes, got a 3-D one")
    for t, (x, call) in enumerate(zip(xs, calls, strict=True), start=1):
        _box(ax, x, 0, f"{type(call.module).__name__}\n(step {t})", "step", "#cfe0f3")
        _arrow(ax, (x, -1.1), (x, -BOX_H / 2 - 0.05), "input")
        ax.text(x, -1.3, f"${input_name}_{{{t}}}$", ha="center", va="center", fontsize=10)
        _arrow(ax, (x - BOX_W / 2 - 2 * edge, 0), (x - BOX_W / 2 - 0.05, 0), "state")
        ax.text(x - STEP / 2, 0.2, f"${state_name}_{{{t - 1}}}$", ha="center", fontsize=10)
    last = xs[-1] + BOX_W / 2
    _arrow(ax, (last + 0.05, 0), (last + 2 * edge, 0), "state")
    ax.text(xs[-1] + STEP / 2, 0.2, f"${state_name}_{{{n_steps}}}$", ha="center", fontsize=10)

    for steps, text, centre, row in zip(sets, texts, centres, rows, strict=True):
        _box(ax, centre, row, text, "params", "#f6d7a7")
        for i in steps:
            ax.plot([centre, xs[i]], [row - BOX_H / 2 - 0.05, BOX_H / 2 + 0.05],
                    linestyle="--", color="0.45", linewidth=0.8, gid="link")  # fmt: skip

    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title, fontsize=10)
    return ax
