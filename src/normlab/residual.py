"""The residual path of one Transformer layer, read from hooked calls and drawn in call order.

A Transformer layer runs two blocks (attention, then the feed-forward network), each around a
**residual stream** ``x``, the ``[N, T, D]`` tensor that flows from block to block: the
sublayer computes something from it and the block adds ``x`` back (the residual, or skip,
connection). Where the normalization sits relative to that sum has two forms:

- **post-LN** (BERT, the original Transformer): ``norm(x + sublayer(x))``, the norm after the
  sum, so the stream itself is normalized after every block;
- **pre-LN** (GPT-2, LLaMA, T5): ``x + sublayer(norm(x))``, the norm inside the branch, on the
  copy of ``x`` that enters the sublayer; the stream itself is never normalized, and the model
  ends with one more norm after its last layer (``ln_f``, ``norm``, ``final_layer_norm``).

``residual_steps`` reads the path from a ``Recording`` of ``normlab.hooks.record``, decides for
each norm which of the two forms the recorded tensors show, and checks every link;
``draw_residual_block`` draws what it found::

    with record(model, (nn.LayerNorm, nn.Linear, nn.Dropout, "BertSelfOutput", ...)) as calls:
        model(input_ids=ids)
    draw_residual_block(calls, "encoder.layer.0.")
    with record(gpt2, (nn.LayerNorm, "GPT2Attention", "GPT2MLP", "GPT2Block")) as calls:
        gpt2(input_ids=ids)
    draw_residual_block(calls, "h.1.", final="ln_f")

Nothing is drawn by hand: the boxes are the recorded calls in the order they returned, the
``+`` is placed where the stream ``x`` is added back, and the norm is the call whose recorded
input is the sum (post-LN) or the stream itself (pre-LN). A norm is a call of ``nn.LayerNorm``,
``nn.RMSNorm``, or a class whose name ends in ``LayerNorm`` or ``RMSNorm`` (Hugging Face's
``T5LayerNorm`` and ``LlamaRMSNorm``, which are RMSNorms).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.patches import FancyBboxPatch
from torch import nn

from .hooks import Call, Recording

#: Colours of the drawing: the stream, the sublayer's calls, the norm.
STREAM, CALL, NORM = "0.92", "white", "#9ecae1"
#: The two places a norm can sit, as ``ResidualStep.position`` names them.
POST_LN, PRE_LN = "post-LN", "pre-LN"
#: The drawing's sizes. Its layout is in data units, one unit between two rows, and a figure
#: made by ``draw_residual_block`` shows ``UNIT`` inches per data unit, so that the boxes'
#: text, ``FONT`` points, fits in boxes ``WIDTH`` units wide and ``2 * HALF`` high. ``GAP`` is
#: the distance between two columns' centres. The smallest text is ``FONT``: at 100 dpi and
#: shown 1:1, 8.5 points are 11.8 pixels.
FONT, UNIT, WIDTH, HALF, GAP = 8.5, 0.55, 3.9, 0.31, 4.9


@dataclass(frozen=True)
class ResidualStep:
    """One block of a layer, checked on tensors: post-LN ``x -> sublayer -> (+ x) -> norm`` or
    pre-LN ``x -> norm -> sublayer -> (+ x)``.

    Attributes:
        sublayer: the names of the calls that compute the sublayer, in the order they returned;
            a call made inside another recorded call of the sublayer is folded into it
            (``attention.self.query`` into ``attention.self``).
        block: the name of the module that holds the norm and adds ``x`` back: the norm's
            parent (``...attention.output`` for BERT's ``...attention.output.LayerNorm``,
            ``h.0`` for GPT-2's ``h.0.ln_1``).
        norm: the name of the norm's call.
        labels: one label per box, in the order drawn (post-LN: the sublayer's calls, then the
            norm; pre-LN: the norm, then the sublayer's calls): the name without the prefix and
            the module's class, on two lines.
        stream_in: the stream ``x`` entering the block, ``[N, T, D]``.
        stream_out: the stream leaving it, ``[N, T, D]``: the norm's output (post-LN) or
            ``x + sublayer(norm(x))`` (pre-LN).
        position: ``"post-LN"`` (the norm receives ``x + sublayer(x)``) or ``"pre-LN"`` (the
            norm receives ``x`` and the sublayer reads its output).
    """

    sublayer: tuple[str, ...]
    block: str
    norm: str
    labels: tuple[str, ...]
    stream_in: torch.Tensor = field(repr=False)
    stream_out: torch.Tensor = field(repr=False)
    position: str = POST_LN


def is_norm(module: nn.Module) -> bool:
    """Whether ``module`` is a normalization ``residual_steps`` looks for: ``nn.LayerNorm``,
    ``nn.RMSNorm``, or a class named ``...LayerNorm`` or ``...RMSNorm``."""
    name = type(module).__name__
    return isinstance(module, (nn.LayerNorm, nn.RMSNorm)) or name.endswith(("LayerNorm", "RMSNorm"))


def _close(a: object, b: torch.Tensor) -> bool:
    """Whether ``a`` is a tensor equal to ``b`` up to float32 rounding, and up to a reshape
    (OPT runs its feed-forward block on the tokens flattened to ``[N * T, D]``)."""
    if not isinstance(a, torch.Tensor) or a.numel() != b.numel():
        return False
    return torch.allclose(a.reshape(b.shape), b, 1e-5, 1e-5)


def _tensor_output(call: Call) -> torch.Tensor:
    """The call's output, or the first element of a tuple output (attention returns a tuple)."""
    out = call.output[0] if isinstance(call.output, tuple) else call.output
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"calls: {call.name!r} returned {type(out).__name__}, not a tensor")
    return out


def _tensor_input(call: Call) -> torch.Tensor | None:
    """The tensor a call read: its first positional argument, else its ``hidden_states``
    keyword, else its first keyword tensor (LLaMA calls its attention with keywords only)."""
    if call.args and isinstance(call.args[0], torch.Tensor):
        return call.args[0]
    tensors = {k: v for k, v in call.kwargs.items() if isinstance(v, torch.Tensor)}
    return tensors.get("hidden_states", next(iter(tensors.values()), None))


def _label(call: Call, prefix: str) -> str:
    """``"attention.output.dense\\nLinear"``: the name without the prefix, then the class."""
    name = call.name[len(prefix) :] if call.name.startswith(prefix) else call.name
    return f"{name}\n{type(call.module).__name__}"


def _outermost(segment: list[Call]) -> list[Call]:
    """The calls of ``segment`` not made inside another call of it (a parent returns later)."""
    return [
        c
        for i, c in enumerate(segment)
        if not any(p.name and c.name.startswith(p.name + ".") for p in segment[i + 1 :])
    ]


def _is_ancestor(name: str, of: str) -> bool:
    """Whether the module ``name`` contains the module ``of`` (``""`` is the model itself)."""
    return name == "" or of.startswith(name + ".")


def _pre_ln_step(
    calls: Recording, inside: list[Call], k: int, end: int, prefix: str, x: torch.Tensor
) -> tuple[ResidualStep, int]:
    """The pre-LN step of the norm ``inside[k]``, whose sublayer ends before ``inside[end]``.
    Returns the step and the index the next step starts from."""
    norm = inside[k]
    parent = norm.name.rsplit(".", 1)[0]
    window = [c for c in inside[k + 1 : end] if not _is_ancestor(c.name, norm.name)]
    sublayer = _outermost(window)
    if not sublayer:
        raise ValueError(
            f"calls: {norm.name!r} reads the stream x, but no call of a sublayer was recorded "
            f"after it; add the sublayer's class (attention, MLP) to the match of record"
        )
    if not _close(_tensor_input(sublayer[0]), norm.output):
        raise ValueError(
            f"calls: {sublayer[0].name!r}, the first call after {norm.name!r}, does not read "
            f"the norm's output (a pre-LN block computes x + sublayer(norm(x)))"
        )
    x_next = x + _tensor_output(sublayer[-1]).reshape(x.shape)  # [N, T, D]: x + sublayer(norm(x))
    holders = [c for c in calls if c.name == parent]  # the block, where it was recorded
    last = sublayer[-1]
    returned = [c for c in holders if _returns_between(calls, c, last, inside, end)]
    for block in returned:  # the block returned the sum before the next norm: check it
        if not _close(_tensor_output(block), x_next):
            raise ValueError(
                f"calls: {block.name!r} does not return x + sublayer(norm(x)) for {norm.name!r}"
            )
    labels = tuple(_label(c, prefix) for c in [norm, *sublayer])
    names = tuple(c.name for c in sublayer)
    return ResidualStep(names, parent, norm.name, labels, x, x_next, PRE_LN), end


def _returns_between(
    calls: Recording, call: Call, after: Call, inside: list[Call], end: int
) -> bool:
    """Whether ``call`` returned after ``after`` and before ``inside[end]`` (or the end)."""
    order = {id(c): i for i, c in enumerate(calls)}
    stop = order[id(inside[end])] if end < len(inside) else len(calls)
    return order[id(after)] < order[id(call)] < stop


def _post_ln_step(
    inside: list[Call], k: int, start: int, x: torch.Tensor, prefix: str
) -> tuple[ResidualStep, int]:
    """The post-LN step of the norm ``inside[k]``, whose sublayer starts at ``inside[start]``.
    Returns the step and the index the next step starts from."""
    norm, sublayer = inside[k], _outermost(inside[start:k])
    if not sublayer or not _close(_tensor_input(sublayer[0]), x):
        raise ValueError(
            f"calls: {norm.name!r} does not follow a sublayer that reads the stream x (a "
            f"post-LN block computes norm(x + sublayer(x))), nor does it read x itself (a "
            f"pre-LN block computes x + sublayer(norm(x)))"
        )
    parent = norm.name.rsplit(".", 1)[0]
    if not _close(norm.input, x + _tensor_output(sublayer[-1]).reshape(x.shape)):
        raise ValueError(f"calls: {norm.name!r} does not receive x + sublayer(x)")
    stream_out = norm.output.reshape(x.shape)  # [N, T, D]
    labels = _labels(sublayer, norm, prefix)
    if parent == prefix.rstrip("."):  # the layer adds x back itself (OPT); checked at its end
        return ResidualStep(_names(sublayer), parent, norm.name, labels, x, stream_out), k + 1
    after = [i for i in range(k + 1, len(inside)) if inside[i].name == parent]
    if not after:
        raise ValueError(
            f"calls: the block {parent!r} that holds {norm.name!r} was not recorded; "
            f"add its class to the match of record"
        )
    block = inside[after[0]]
    if len(block.args) < 2 or not _close(block.args[1], x):
        raise ValueError(f"calls: {block.name!r} does not receive x as its second argument")
    if not _close(_tensor_output(block), norm.output):
        raise ValueError(f"calls: {block.name!r} does not return its norm's output")
    step = ResidualStep(_names(sublayer), block.name, norm.name, labels, x, stream_out)
    return step, after[0] + 1


def _names(sublayer: list[Call]) -> tuple[str, ...]:
    """The names of the sublayer's calls."""
    return tuple(c.name for c in sublayer)


def _labels(sublayer: list[Call], norm: Call, prefix: str) -> tuple[str, ...]:
    """The labels of a post-LN block's boxes, in the order drawn: the sublayer, then the norm."""
    return tuple(_label(c, prefix) for c in [*sublayer, norm])


def residual_steps(
    calls: Recording, prefix: str, stream: torch.Tensor | None = None
) -> list[ResidualStep]:
    """Read the residual path of the layer ``prefix`` from hooked calls, checking each link.

    The norms recorded under ``prefix`` are taken in call order. A norm whose recorded input is
    the stream ``x`` is **pre-LN**: the checks are that the sublayer's first call (the first
    recorded call after the norm that is not one of its parents) reads the norm's output, and
    that the stream leaving the block, ``x + sublayer(norm(x))``, is what the next norm
    receives, or what the block returns where it was recorded and returned before the next
    norm (T5's ``layer.0``), or what the layer returns (the layer's own call, ``prefix``
    without its dot, when recorded). Otherwise the norm must be **post-LN**: the sublayer's
    first call reads ``x``, the norm receives ``x`` plus the sublayer's output, and the norm's
    output is the next ``x``. Where the block that holds the norm (its parent) is a module of
    its own, as BERT's ``BertSelfOutput``, it must be recorded: it receives the sublayer's
    output and ``x`` as its two positional arguments and returns the norm's output. Where the
    parent is the layer itself (OPT adds ``x`` back in its layer's ``forward``), the layer must
    be recorded and return the last norm's output. All comparisons are up to float32 rounding
    and up to a reshape (OPT's MLP runs on ``[N * T, D]``).

    Args:
        calls: a ``Recording`` from ``normlab.hooks.record`` that hooked the norms and the
            sublayers' calls; for post-LN also the blocks that add the residual (for BERT:
            ``nn.LayerNorm``, ``nn.Linear``, ``nn.Dropout``, ``"BertSelfAttention"``,
            ``"BertSelfOutput"``, ``"BertIntermediate"``, ``"BertOutput"``); for pre-LN the
            layer (for GPT-2: ``nn.LayerNorm``, ``"GPT2Attention"``, ``"GPT2MLP"``,
            ``"GPT2Block"``).
        prefix: the layer's name with a trailing dot, e.g. ``"encoder.layer.0."``; only calls
            whose names start with it are read.
        stream: the stream ``x`` entering the layer, ``[N, T, D]``; default the input of the
            layer's first call.

    Returns:
        One ``ResidualStep`` per norm, in call order (two per layer).

    Raises:
        TypeError: ``calls`` is not a ``Recording`` or ``prefix`` not a string.
        ValueError: no call matches ``prefix``, no norm was recorded under it, a block or the
            layer was not recorded, or a check fails (the message names the call and the
            check).
    """
    if not isinstance(calls, Recording):
        raise TypeError(f"calls must be a Recording from normlab.hooks.record, got {calls!r}")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str such as 'encoder.layer.0.', got {prefix!r}")
    inside = [c for c in calls if c.name.startswith(prefix)]
    if not inside:
        raise ValueError(f"prefix {prefix!r} matches no recorded call; recorded: {calls.names}")
    norms = [i for i, c in enumerate(inside) if is_norm(c.module)]
    if not norms:
        raise ValueError(
            f"calls: no LayerNorm was recorded under prefix {prefix!r} (nor any RMSNorm); "
            f"the calls under it are of {sorted({type(c.module).__name__ for c in inside})}"
        )
    x = _tensor_input(inside[0]) if stream is None else stream  # [N, T, D]
    steps, start = [], 0
    for j, k in enumerate(norms):
        if k < start:
            continue  # a norm inside a sublayer already read (none in the models of the book)
        end = norms[j + 1] if j + 1 < len(norms) else len(inside)
        if _close(inside[k].input, x):  # the norm reads the stream itself: pre-LN
            step, start = _pre_ln_step(calls, inside, k, end, prefix, x)
        else:
            step, start = _post_ln_step(inside, k, start, x, prefix)
        steps.append(step)
        x = step.stream_out
    if steps[-1].position == PRE_LN or steps[-1].block == prefix.rstrip("."):
        _check_layer_output(calls, prefix, steps[-1])  # the layer's own sum, or its last norm
    return steps


def _check_layer_output(calls: Recording, prefix: str, step: ResidualStep) -> None:
    """Check that the pre-LN layer returns the stream its last step computed."""
    layer = prefix.rstrip(".")
    recorded = [c for c in calls if c.name == layer]
    if not recorded:
        raise ValueError(
            f"calls: the layer {layer!r} was not recorded, so the stream leaving its last "
            f"block ({step.norm!r}) cannot be checked; add the layer's class to the match of "
            f"record"
        )
    if not _close(_tensor_output(recorded[0]), step.stream_out):
        raise ValueError(
            f"calls: the layer {layer!r} does not return the stream its last block left"
        )


def _node(ax: Axes, x: float, y: float, text: str, color: str, width: float) -> None:
    """A rounded box of ``width`` centred at ``(x, y)``, with ``text`` in it."""
    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - HALF),
            width,
            2 * HALF,
            boxstyle="round,pad=0.02,rounding_size=0.1",
            facecolor=color,
            edgecolor="0.25",
            linewidth=0.8,
            alpha=0.9,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=FONT, linespacing=1.1)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], **style) -> None:
    """An arrow from ``start`` to ``end`` (data coordinates)."""
    props = {"arrowstyle": "-|>", "color": "0.25", "lw": 0.9, "shrinkA": 0, "shrinkB": 0}
    ax.annotate("", xy=end, xytext=start, arrowprops=props | style)


def _final_norm(calls: Recording, final: str, step: ResidualStep) -> Call:
    """The recorded call ``final``, checked to be a norm that reads the stream ``step`` leaves."""
    if not isinstance(final, str):
        raise TypeError(f"final must be the name of a recorded norm such as 'ln_f', got {final!r}")
    call = calls[final]  # KeyError naming the recorded calls if it is not there
    if not is_norm(call.module):
        raise ValueError(f"final: {final!r} is a {type(call.module).__name__}, not a norm")
    if not _close(call.input, step.stream_out):
        raise ValueError(
            f"final: {final!r} does not read the stream leaving the layer (is the layer drawn "
            f"the model's last one?)"
        )
    return call


def draw_residual_block(
    calls: Recording,
    prefix: str,
    stream: torch.Tensor | None = None,
    *,
    final: str | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Draw the residual path of the layer ``prefix``: one column per block, top to bottom.

    Each column is one ``ResidualStep`` of ``residual_steps`` (which checks it): the stream
    ``x`` at the top, then the boxes in call order, a ``+`` where ``x`` is added back (the arc
    on the right is the skip connection), and the stream leaving the block. The norm is
    coloured: after the ``+`` in a post-LN block, before the sublayer in a pre-LN one. A dashed
    line carries the stream to the next column.

    Args:
        calls, prefix, stream: as ``residual_steps``.
        final: the name of the model's final norm (``"ln_f"`` for GPT-2), drawn (coloured) under
            the last column, labelled ``"ln_f\nfinal LayerNorm"``, after checking that it reads
            the stream leaving the layer, which must then be the model's last layer.
        ax: the axes to draw on; when omitted, a new figure of ``UNIT`` inches per data unit
            (5.2 inches wide for two blocks), whose smallest text is ``FONT`` points.
        title: the axes title; default names the layer and says where its norms sit.

    Returns:
        The axes drawn on.
    """
    steps = residual_steps(calls, prefix, stream)
    last = _final_norm(calls, final, steps[-1]) if final is not None else None
    rows = 4 + max(len(s.sublayer) for s in steps) + (2 if last is not None else 0)
    width, gap = WIDTH, GAP  # box width, distance between columns
    if ax is None:  # UNIT inches per data unit, and room for the title
        size = (UNIT * (width + (len(steps) - 1) * gap + 0.7), UNIT * rows + 0.5)
        fig, ax = plt.subplots(figsize=size)
        fig.subplots_adjust(left=0, right=1, bottom=0, top=1 - 0.5 / size[1])
    for j, step in enumerate(steps):
        cx = j * gap
        ys = [-float(i) for i in range(len(step.sublayer) + 4)]  # x, boxes, +, next x
        add_y = ys[-2]
        _node(ax, cx, ys[0], f"x{_sub(j)}: residual stream", STREAM, width)
        for i, label in enumerate(step.labels):
            is_norm_box = i == (0 if step.position == PRE_LN else len(step.labels) - 1)
            y = ys[i + 1] if step.position == PRE_LN or not is_norm_box else ys[-2]
            _node(ax, cx, y, label, NORM if is_norm_box else CALL, width)
        if step.position == POST_LN:  # the + comes before the norm: shift it up one row
            add_y = ys[-3]
        ax.add_patch(plt.Circle((cx, add_y), 0.2, facecolor="white", edgecolor="0.25"))
        ax.text(cx, add_y, "+", ha="center", va="center", fontsize=11)
        _node(ax, cx, ys[-1], f"x{_sub(j + 1)}: residual stream", STREAM, width)
        for upper, lower in zip(ys[:-1], ys[1:], strict=True):
            top = upper - (0.2 if upper == add_y else HALF)
            _arrow(ax, (cx, top), (cx, lower + (0.2 if lower == add_y else HALF)))
        side = cx + width / 2 + 0.3  # the skip connection: x goes round the sublayer to the +
        ax.plot([cx + width / 2, side, side], [ys[0], ys[0], add_y], color="0.25", lw=0.9)
        _arrow(ax, (side, add_y), (cx + 0.2, add_y))
        ax.text(side + 0.05, (ys[0] + add_y) / 2, "x", fontsize=FONT + 1, style="italic")
        if j + 1 < len(steps):  # the stream leaving this block enters the next one
            mid = cx + gap / 2
            ax.plot([cx + width / 2, mid, mid], [ys[-1], ys[-1], ys[0]], color="0.5", ls="--")
            _arrow(ax, (mid, ys[0]), (cx + gap - width / 2, ys[0]), color="0.5")
    if last is not None:  # the final norm, under the last column
        cx, y0 = (len(steps) - 1) * gap, -float(len(steps[-1].sublayer) + 3)
        label = f"{last.name}\nfinal {type(last.module).__name__}"
        _node(ax, cx, y0 - 1, label, NORM, width)
        _node(ax, cx, y0 - 2, "model output", STREAM, width)
        _arrow(ax, (cx, y0 - HALF), (cx, y0 - 1 + HALF))
        _arrow(ax, (cx, y0 - 1 - HALF), (cx, y0 - 2 + HALF))
    ax.set_xlim(-width / 2 - 0.1, (len(steps) - 1) * gap + width / 2 + 0.6)
    ax.set_ylim(-rows + 0.5, 0.5)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(_title(prefix, steps, final) if title is None else title, fontsize=FONT + 1)
    return ax


def _title(prefix: str, steps: list[ResidualStep], final: str | None) -> str:
    """The default title: the layer, and where its norms sit."""
    positions = {s.position for s in steps}
    if positions == {POST_LN}:
        where = "LayerNorm after the residual sum (post-LN)"
    elif positions == {PRE_LN}:
        where = "norm before the sublayer, inside the branch (pre-LN)"
    else:
        where = "post-LN and pre-LN blocks"
    after = f",\nthen the final norm {final}" if final is not None else ""
    return f"{prefix.rstrip('.')} in call order:\n{where}{after}"


def _sub(i: int) -> str:
    """``i`` as subscript digits, for the stream's name (x₀, x₁, ...)."""
    return str(i).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))
