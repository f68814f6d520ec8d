"""The residual path of one encoder layer, read from hooked calls and drawn in call order.

A post-LN Transformer layer such as BERT's runs two blocks, and each computes
``LayerNorm(x + sublayer(x))``: ``x`` is the **residual stream**, the ``[N, T, D]`` tensor that
flows from block to block; the sublayer (attention, or the feed-forward network) reads it, the
block adds ``x`` back (the residual, or skip, connection) and a LayerNorm normalizes the sum.
``residual_steps`` reads that path from a ``Recording`` of ``normlab.hooks.record`` and checks
every link on the recorded tensors; ``draw_residual_block`` draws what it found::

    with record(model, (nn.LayerNorm, nn.Linear, nn.Dropout, "BertSelfOutput", ...)) as calls:
        model(input_ids=ids)
    draw_residual_block(calls, "encoder.layer.0.")

Nothing is drawn by hand: the boxes are the recorded calls in the order they returned, the
``+`` is placed where a block's second argument (the stream ``x``) is added back, and the
LayerNorm is the one that received the sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.patches import FancyBboxPatch
from torch import nn

from .hooks import Call, Recording

#: Colours of the drawing: the stream, the sublayer's calls, the LayerNorm.
STREAM, CALL, NORM = "0.92", "white", "#9ecae1"


@dataclass(frozen=True)
class ResidualStep:
    """One block of a post-LN layer: ``x -> sublayer -> (+ x) -> norm``, checked on tensors.

    Attributes:
        sublayer: the names of the calls that compute ``sublayer(x)``, in the order they
            returned; a call made inside another recorded call of the sublayer is folded into
            it (``attention.self.query`` into ``attention.self``).
        block: the name of the call that received ``(sublayer output so far, x)`` and adds
            ``x`` back.
        norm: the name of the LayerNorm that received ``x + sublayer(x)``.
        labels: one label per call of ``sublayer`` and then ``norm``: the name without the
            prefix and the module's class, on two lines.
        stream_in: the stream ``x`` entering the block, ``[N, T, D]``.
        stream_out: the LayerNorm's output, the stream leaving the block, ``[N, T, D]``.
    """

    sublayer: tuple[str, ...]
    block: str
    norm: str
    labels: tuple[str, ...]
    stream_in: torch.Tensor = field(repr=False)
    stream_out: torch.Tensor = field(repr=False)


def _close(a: object, b: torch.Tensor) -> bool:
    """Whether ``a`` is a tensor equal to ``b`` up to float32 rounding."""
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a, b, 1e-5, 1e-5)


def _tensor_output(call: Call) -> torch.Tensor:
    """The call's output, or the first element of a tuple output (attention returns a tuple)."""
    out = call.output[0] if isinstance(call.output, tuple) else call.output
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"calls: {call.name!r} returned {type(out).__name__}, not a tensor")
    return out


def _label(call: Call, prefix: str) -> str:
    """``"attention.output.dense\\nLinear"``: the name without the prefix, then the class."""
    return f"{call.name[len(prefix) :]}\n{type(call.module).__name__}"


def _outermost(segment: list[Call]) -> list[Call]:
    """The calls of ``segment`` not made inside another call of it (a parent returns later)."""
    return [
        c
        for i, c in enumerate(segment)
        if not any(p.name and c.name.startswith(p.name + ".") for p in segment[i + 1 :])
    ]


def residual_steps(
    calls: Recording, prefix: str, stream: torch.Tensor | None = None
) -> list[ResidualStep]:
    """Read the residual path of the layer ``prefix`` from hooked calls, checking each link.

    For every LayerNorm recorded under ``prefix`` (in call order) the block that holds it is
    the recorded call named like its parent (``...attention.output`` for
    ``...attention.output.LayerNorm``); the block's second positional argument is the stream
    ``x``. The checks, up to float32 rounding: the sublayer's first call reads ``x``; the block
    receives ``x`` as its second argument; the LayerNorm receives ``x`` plus the output of the
    sublayer's last call; the block returns the LayerNorm's output, which is the next ``x``.

    Args:
        calls: a ``Recording`` from ``normlab.hooks.record`` that hooked the LayerNorms, the
            sublayers' calls and the blocks that add the residual (for BERT: ``nn.LayerNorm``,
            ``nn.Linear``, ``nn.Dropout``, ``"BertSelfAttention"``, ``"BertSelfOutput"``,
            ``"BertIntermediate"``, ``"BertOutput"``).
        prefix: the layer's name with a trailing dot, e.g. ``"encoder.layer.0."``; only calls
            whose names start with it are read.
        stream: the stream ``x`` entering the layer, ``[N, T, D]``; default the input of the
            layer's first call.

    Returns:
        One ``ResidualStep`` per LayerNorm, in call order (two per BERT layer).

    Raises:
        TypeError: ``calls`` is not a ``Recording`` or ``prefix`` not a string.
        ValueError: no call matches ``prefix``, no LayerNorm was recorded under it, a block was
            not recorded, or a check fails (the message names the call and the check); a
            pre-LN layer fails the first check, since its LayerNorm comes before the sublayer.
    """
    if not isinstance(calls, Recording):
        raise TypeError(f"calls must be a Recording from normlab.hooks.record, got {calls!r}")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str such as 'encoder.layer.0.', got {prefix!r}")
    inside = [c for c in calls if c.name.startswith(prefix)]
    if not inside:
        raise ValueError(f"prefix {prefix!r} matches no recorded call; recorded: {calls.names}")
    norms = [i for i, c in enumerate(inside) if isinstance(c.module, nn.LayerNorm)]
    if not norms:
        raise ValueError(f"calls: no LayerNorm was recorded under prefix {prefix!r}")
    x = inside[0].input if stream is None else stream  # [N, T, D]
    steps, start = [], 0
    for k in norms:
        norm, sublayer = inside[k], _outermost(inside[start:k])
        if not sublayer or not _close(sublayer[0].input, x):
            raise ValueError(
                f"calls: {norm.name!r} does not follow a sublayer that reads the stream x "
                f"(a post-LN block computes LayerNorm(x + sublayer(x)))"
            )
        parent = norm.name.rsplit(".", 1)[0]
        after = [i for i in range(k + 1, len(inside)) if inside[i].name == parent]
        if not after:
            raise ValueError(
                f"calls: the block {parent!r} that holds {norm.name!r} was not recorded; "
                f"add its class to the match of record"
            )
        block = inside[after[0]]
        if len(block.args) < 2 or not _close(block.args[1], x):
            raise ValueError(f"calls: {block.name!r} does not receive x as its second argument")
        if not _close(norm.input, x + _tensor_output(sublayer[-1])):  # x + sublayer(x)
            raise ValueError(f"calls: {norm.name!r} does not receive x + sublayer(x)")
        if not _close(_tensor_output(block), norm.output):
            raise ValueError(f"calls: {block.name!r} does not return its LayerNorm's output")
        labels = tuple(_label(c, prefix) for c in [*sublayer, norm])
        names = tuple(c.name for c in sublayer)
        steps.append(ResidualStep(names, block.name, norm.name, labels, x, norm.output))
        x, start = norm.output, after[0] + 1  # the next block reads the LayerNorm's output
    return steps


def _node(ax: Axes, x: float, y: float, text: str, color: str, width: float) -> None:
    """A rounded box of ``width`` centred at ``(x, y)``, with ``text`` in it."""
    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - 0.27),
            width,
            0.54,
            boxstyle="round,pad=0.02,rounding_size=0.1",
            facecolor=color,
            edgecolor="0.25",
            linewidth=0.8,
            alpha=0.9,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=7.5, linespacing=1.1)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], **style) -> None:
    """An arrow from ``start`` to ``end`` (data coordinates)."""
    props = {"arrowstyle": "-|>", "color": "0.25", "lw": 0.9, "shrinkA": 0, "shrinkB": 0}
    ax.annotate("", xy=end, xytext=start, arrowprops=props | style)


def draw_residual_block(
    calls: Recording,
    prefix: str,
    stream: torch.Tensor | None = None,
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Draw the residual path of the layer ``prefix``: one column per block, top to bottom.

    Each column is one ``ResidualStep`` of ``residual_steps`` (which checks it): the stream
    ``x`` at the top, the sublayer's calls in call order, a ``+`` where the block adds ``x``
    back (the arc on the right is the skip connection), the LayerNorm (coloured) after the
    sum, and the stream leaving the block. A dashed line carries it to the next column.

    Args:
        calls, prefix, stream: as ``residual_steps``.
        ax: the axes to draw on; a new figure is made when omitted.
        title: the axes title; default names the layer and says where the LayerNorm sits.

    Returns:
        The axes drawn on.
    """
    steps = residual_steps(calls, prefix, stream)
    rows = 4 + max(len(s.sublayer) for s in steps)  # x, calls..., +, norm, next x
    if ax is None:
        _, ax = plt.subplots(figsize=(3.7 * len(steps), 0.65 * rows + 0.4))
    width, gap = 2.8, 3.7  # box width, distance between columns
    for j, step in enumerate(steps):
        cx = j * gap
        ys = [-float(i) for i in range(len(step.sublayer) + 4)]  # x, calls, +, norm, next x
        _node(ax, cx, ys[0], f"x{_sub(j)}: residual stream", STREAM, width)
        for i, label in enumerate(step.labels[:-1]):
            _node(ax, cx, ys[i + 1], label, CALL, width)
        add_y = ys[-3]
        ax.add_patch(plt.Circle((cx, add_y), 0.2, facecolor="white", edgecolor="0.25"))
        ax.text(cx, add_y, "+", ha="center", va="center", fontsize=11)
        _node(ax, cx, ys[-2], step.labels[-1], NORM, width)
        _node(ax, cx, ys[-1], f"x{_sub(j + 1)}: residual stream", STREAM, width)
        for upper, lower in zip(ys[:-1], ys[1:], strict=True):
            top = upper - (0.2 if upper == add_y else 0.27)
            _arrow(ax, (cx, top), (cx, lower + (0.2 if lower == add_y else 0.27)))
        side = cx + width / 2 + 0.3  # the skip connection: x goes round the sublayer to the +
        ax.plot([cx + width / 2, side, side], [ys[0], ys[0], add_y], color="0.25", lw=0.9)
        _arrow(ax, (side, add_y), (cx + 0.2, add_y))
        ax.text(side + 0.05, (ys[0] + add_y) / 2, "x", fontsize=9, style="italic")
        if j + 1 < len(steps):  # the stream leaving this block enters the next one
            mid = cx + gap / 2
            ax.plot([cx + width / 2, mid, mid], [ys[-1], ys[-1], ys[0]], color="0.5", ls="--")
            _arrow(ax, (mid, ys[0]), (cx + gap - width / 2, ys[0]), color="0.5")
    ax.set_xlim(-width / 2 - 0.1, (len(steps) - 1) * gap + width / 2 + 0.6)
    ax.set_ylim(-rows + 0.5, 0.5)
    ax.set_aspect("equal")
    ax.set_axis_off()
    default = f"{prefix.rstrip('.')} in call order: LayerNorm after the residual sum (post-LN)"
    ax.set_title(default if title is None else title, fontsize=9)
    return ax


def _sub(i: int) -> str:
    """``i`` as subscript digits, for the stream's name (x₀, x₁, ...)."""
    return str(i).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))
