"""Audit a model: where every normalization in it normalizes, found by behaviour.

``survey(model, *args, **kwargs)`` runs ``model(*args, **kwargs)`` once and returns a
``Survey``: one ``SurveyRow`` per normalization call, the candidates it checked and rejected
(with the reason), and the traps of the book it found (``Flag``)::

    report = survey(model, input_ids, attention_mask=mask)
    print(report)                                  # tables, flags, rejected candidates
    report.rows[0].sets, report.rows[0].place      # 'over (D)', 'embedding'
    report.to_json(); report.draw()

It reads no configuration and matches no class. The steps:

1. **Record.** Forward hooks on every leaf module (one without children) record each call. A
   call is a *candidate* when it took one floating tensor and returned one tensor of the same
   shape; that is how Hugging Face's ``LlamaRMSNorm``, ``T5LayerNorm`` and ConvNeXt's
   channels-first LayerNorm are found, although none of them is a ``torch.nn`` class. A leaf that
   took a floating tensor and returned one of its shape, but with more tensors in or out, is
   rejected with that structural reason; other leaf calls (a Linear that changes the width, an
   embedding lookup) are counted, not checked. A normalization computed inside a module that has
   children (a functional ``F.layer_norm`` in a block's ``forward``) is not seen.
2. **Screen.** A few calls on a random input of the call's shape reject what is plainly not a
   normalization, with the reason: a call that returns its input unchanged (Dropout in eval
   mode, Identity), a random one (Dropout in training mode), one function applied to each
   element on its own (an activation such as GELU), or an affine map that mixes elements (a
   Linear layer or a convolution that keeps the shape).
3. **Probe.** ``normlab.probe`` runs on a copy of the module (float32 for a half-precision call)
   at the call's real shape, cached by (module, shape, dtype). A call of more than
   ``probe.MAX_NUMEL`` elements is first probed at a small shape (each axis the module accepts
   at another length cut to 4); the real shape is then shrunk only along the axes that probe
   found independent, and ``probe_shape`` says so. A function that is no normalization gets
   probe's reason in ``rejected``, never a verdict. A module in eval mode whose call shares
   nothing (a fixed shift and scale per element, or nearly its input) is probed once more as a
   training-mode copy: if that copy computes statistics, it is a normalization with stored
   statistics (BatchNorm) and its row says where training normalizes; if not, it is rejected
   (a layer scale, a frozen BatchNorm).
4. **Describe.** Axis names by the book's notation: ``(N, D)`` for 2 axes; for 3, ``(N, C, T)``
   when the statistics span axis 1 or the module's 1-d parameters and buffers have axis 1's
   length and not axis 2's (a convolution's ``[N, C, T]``), else ``(N, T, D)``; for 4,
   ``(N, H, W, C)`` when those parameters have axis 3's length and not axis 1's (a channels-last
   tensor, as in ConvNeXt's blocks) or when the input is ``[N, C, H, W]`` memory permuted to
   ``[N, H, W, C]``, else ``(N, C, H, W)``. ``eps_declared`` is the module's
   ``eps``, ``variance_epsilon`` or ``epsilon`` attribute; ``eps_measured`` is probe's, and
   ``eps_check`` compares them (a declared eps below probe's ``eps_resolution`` is "consistent,
   not measurable"). ``compute_dtype`` is measured: a float16 copy of the module gets a float16
   input whose squares and squared deviations overflow float16 (elements around 300 to 700,
   as chapter 5's token of 300s); a module that computes its statistics in float32 returns the
   float64 copy's answer within float16 rounding (1% of the largest output), and is reported as
   ``"float32"``; one that computes them in its input's dtype returns zeros, infinities or NaN
   there, and is reported as ``"input"``.
5. **Place.** Where each norm sits in the residual stream, by perturbation. The model is run in
   float32 and eval mode (on a copy, if its parameters are half precision), with every leaf
   module that holds parameters or buffers, and every norm, *frozen*: it returns its output of
   a first such run, so a change reaches later tensors only through the parameter-free
   operations between modules (the residual sums, views, slices, Dropout in eval mode). A
   change ``delta`` takes values ``s * (+-1, 1.25, 1.5, 1.75)`` (``s`` the tensor's root mean
   square), and is *carried* to a later tensor when every changed element there changed by one
   of those values. For each norm call, in call order:

   - test P: ``delta`` is added in place to the norm's input (the norm's own output stays
     frozen). If it is carried to a later norm's or frozen leaf's input, or to a returned tensor
     that held other values than the norm's input, the stream reads the norm's input and goes
     around it: **pre-LN**, ``x + sublayer(norm(x))``.
   - test S: ``delta`` is added to the norm's output and followed to later norms' inputs and the
     returned tensors. It is carried *through a sum* when the tensor it reaches held other
     values than the norm's output (a residual sum), and *directly* when it held the norm's
     output itself (the norm's output is returned).

   A norm *reads the stream* when an earlier norm's delta reached its input (in test P, or
   through a sum in test S). Then: if the nearest such norm passed its delta through a sum
   (test S), the stream ran through that norm and runs through this one: **post-LN** (BERT's
   norms; also ConvNeXt's norms between stages, which read a residual sum and pass it on
   through a downsampling layer); if the stream went around the nearest one (test P), this
   norm is **final** when its output is returned directly, carried through no sum, and read by
   no later norm (a live run with the output changed tells), else **post-LN** (Swin's
   patch-merging norm). Only pre-LN norms count as gone around, and only embedding and post-LN
   norms as run through. A norm that reads no stream is an **embedding** norm when its output
   is carried through a sum and also read as it is by a later module (BERT's, CLIP's
   ``pre_layrnorm``, ConvNeXt's stem; in a post-LN model without an embedding norm, the first
   norm is called so), **final** as above (ConvNeXt's norm of the pooled features, OLMo2's last
   norm), and **in branch** otherwise: ConvNeXt's in-block norm, a QK-norm, a norm whose output
   is only added to the stream (OLMo2's norms after each sublayer, a BatchNorm ending a ResNet
   branch), a norm whose output goes on through a projection (Wav2Vec2's and ALBERT's input
   norms), a norm in a stack without residual connections (Wav2Vec2's feature encoder).
   ``"unknown"`` when the runs could not be made (the model takes a different path in eval
   mode, or an input cannot be changed in place). Call the model without
   ``output_hidden_states``: a returned intermediate stream is a tensor like any other.
6. **Flag.** Each rule of ``RULES`` is checked on every row: see ``_flags``.

The model is left as it was: its mode, its buffers (BatchNorm's running statistics are put
back after the pass) and the global random state.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import math
import re
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .checks import check_names
from .hooks import _snapshot
from .probe import NotANormalizationError, ProbeResult, probe
from .tables import format_table

# the module (the package's name `probe` is the function): MAX_NUMEL is read at call time
_probe_module = importlib.import_module(".probe", __package__)

#: Where a norm sits in the residual stream (see the module docstring, step 5).
PLACES = ("embedding", "pre-LN", "post-LN", "final", "in branch", "unknown")
#: The traps the survey checks (see ``_flags``).
RULES = ("W == C", "padded BatchNorm", "eps below resolution", "batch statistics in eval")
#: The module attributes read as the declared ``eps``.
EPS_ATTRIBUTES = ("eps", "variance_epsilon", "epsilon")
#: Relative agreement of the declared and the measured ``eps`` that counts as consistent.
EPS_AGREEMENT = 0.25
#: The widest text line ``str(survey)`` aims for.
WIDTH = 80


@dataclass(frozen=True)
class SurveyRow:
    """One normalization call, as ``survey`` found it.

    Attributes:
        name: the module's qualified name in ``model.named_modules()``; ``"name#2"`` for its
            second call, and so on.
        kind: the module's class name, e.g. ``"LlamaRMSNorm"``.
        shape: the input shape at this call, e.g. ``(2, 8, 32)``.
        dtype: the input dtype, e.g. ``"float32"``.
        probe_shape: the shape probed: ``shape``, or ``shape`` shrunk along axes found
            independent when ``shape`` exceeds ``normlab.probe.MAX_NUMEL``.
        result: ``probe``'s ``ProbeResult`` at ``probe_shape``, with ``names``.
        sets: which elements share statistics, e.g. ``"over (D)"``, ``"over (C in groups of 4,
            H, W)"``; ``"none"`` for stored statistics, followed by ``"; training: over (...)"``
            when a training-mode copy normalizes; and ``"; N undetermined"`` for axes of length 1.
        statistic: ``"mean and variance"``, ``"root mean square"`` or ``"none"``.
        eps_declared: the module's ``eps`` attribute (see ``EPS_ATTRIBUTES``), or None.
        eps_measured: ``result.eps``: the eps probe measured (0.0 below its resolution), or None.
        affine: the module's own parameters and their shapes, e.g. ``"weight [768], bias
            [768]"``, or ``"none"``.
        compute_dtype: the dtype its statistics are computed in for a half-precision input:
            ``"float32"`` (it upcasts, as LLaMA's does), ``"input"`` (the input's own dtype),
            ``"n/a"`` for stored statistics, ``"unknown"`` when the module does not run in
            float16.
        place: one of ``PLACES``.
        names: the axis names used, e.g. ``("N", "T", "D")``.
        eps_check: ``"consistent"``, ``"consistent, not measurable"`` (declared below probe's
            resolution), ``"differs"``, or ``""`` when there is nothing to compare.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    dtype: str
    probe_shape: tuple[int, ...]
    result: ProbeResult = field(repr=False)
    sets: str
    statistic: str
    eps_declared: float | None
    eps_measured: float | None
    affine: str
    compute_dtype: str
    place: str
    names: tuple[str, ...]
    eps_check: str = ""


@dataclass(frozen=True)
class Rejected:
    """A candidate call that is not a normalization, and why (probe's message, or a short
    structural reason)."""

    name: str
    kind: str
    reason: str


@dataclass(frozen=True)
class Flag:
    """A trap of the book found in the model: ``rule`` (one of ``RULES``), the row's ``name``,
    and a ``message`` that says what was seen and what to do."""

    rule: str
    name: str
    message: str


@dataclass(frozen=True, eq=False)
class Survey:
    """What ``survey`` found in one forward pass.

    Attributes:
        model: the model's class name.
        rows: one ``SurveyRow`` per normalization call, in call order.
        rejected: the candidate calls that are not normalizations, with the reason.
        flags: the traps found, one ``Flag`` per rule and row.
        skipped: how many leaf calls were no candidates (they changed the shape, or took no
            floating tensor), and were not checked.

    ``str(survey)`` prints two aligned tables (where each norm normalizes; what it holds), then
    the flags and the rejected candidates; ``to_json()`` and ``draw()`` give the other forms.
    """

    model: str
    rows: list[SurveyRow]
    rejected: list[Rejected]
    flags: list[Flag]
    skipped: int = 0

    def __str__(self) -> str:
        return _format(self)

    def to_json(self) -> str:
        """Everything in the survey as JSON text (the probe results as their fields)."""
        return json.dumps(_as_dict(self), indent=1)

    def draw(self):
        """``normlab.figures.draw_survey(self)``: one panel per distinct kind of call."""
        from .figures import draw_survey  # figures imports the probe; keep this module light

        return draw_survey(self)


# ---- the survey ----


@dataclass
class _LeafCall:
    """One recorded call of a leaf module (internal): where its tensor came in (``slot``, an
    int for a positional argument or a str for a keyword), and the snapshots the survey needs."""

    name: str
    k: int
    module: nn.Module
    args: tuple
    kwargs: dict
    slot: int | str | None
    output: Any
    reason: str | None  # a structural reason to reject, None for a candidate

    @property
    def label(self) -> str:
        """The row's name: ``"name"``, ``"name#2"`` for the second call; the model itself is
        ``"(model)"``."""
        name = self.name or "(model)"
        return name if self.k == 0 else f"{name}#{self.k + 1}"


def survey(model: nn.Module, *args: Any, padded: Any = None, **kwargs: Any) -> Survey:
    """Run ``model(*args, **kwargs)`` once and find, by behaviour, every normalization it calls.

    Args:
        model: any ``nn.Module``, in the mode it should be audited in (eval for inference).
        *args, **kwargs: what ``model`` is called with, e.g. ``input_ids`` and
            ``attention_mask=...`` for a Hugging Face text model, ``pixel_values`` for an image.
        padded: whether the batch holds padded sequences: a bool, or a mask ``[N, T]`` that is
            true (or 1) at padding positions. An ``attention_mask`` keyword with a zero says so
            too. Used by the "padded BatchNorm" rule.

    Returns:
        A ``Survey``: ``rows`` (one per normalization call), ``rejected``, ``flags``.

    Raises:
        TypeError: ``model`` is not a module, or ``padded`` is not a bool, tensor or None.
        ValueError: ``model(*args, **kwargs)`` raised (the message carries its error).

    Example:
        >>> net = nn.Sequential(nn.Linear(8, 8), nn.GELU(), nn.LayerNorm(8))
        >>> report = survey(net, torch.randn(2, 3, 8))
        >>> [(r.name, r.sets, r.place) for r in report.rows]
        [('2', 'over (D)', 'final')]
        >>> [(r.name, r.kind) for r in report.rejected]
        [('0', 'Linear'), ('1', 'GELU')]
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    is_padded = _is_padded(padded, kwargs)
    cuda = sorted({t.device.index or 0 for t in model.parameters() if t.is_cuda})
    with torch.no_grad(), torch.random.fork_rng(devices=cuda):  # the caller's RNG is kept
        return _survey(model, args, kwargs, is_padded)


def _survey(model: nn.Module, args: tuple, kwargs: dict, is_padded: bool) -> Survey:
    """``survey`` on checked arguments."""
    calls = _record(model, args, kwargs)
    rows, rejected, skipped = [], [], 0
    cache: dict[tuple, tuple] = {}
    for call in calls:
        kind = type(call.module).__name__
        if call.reason is not None:
            rejected.append(Rejected(call.label, kind, call.reason))
            continue
        if call.slot is None:
            skipped += 1
            continue
        x = _slot_tensor(call.args, call.kwargs, call.slot)
        key = (id(call.module), tuple(x.shape), x.dtype)
        if key not in cache:
            cache[key] = _examine(call, x)
        found = cache[key]
        if found[0] == "rejected":
            rejected.append(Rejected(call.label, kind, found[1]))
        else:
            rows.append(_row(call, x, *found[1:]))
    labels = {r.name for r in rows}
    norm_calls = [c for c in calls if c.label in labels]
    places = _places(model, args, kwargs, [(c.name, c.k) for c in norm_calls])
    rows = [
        dataclasses.replace(r, place=places.get((c.name, c.k), "unknown"))
        for r, c in zip(rows, norm_calls, strict=True)
    ]
    flags = _flags(rows, model, norm_calls, is_padded)
    return Survey(type(model).__name__, rows, rejected, flags, skipped)


def _is_padded(padded: Any, kwargs: dict) -> bool:
    """Whether the batch holds padding: ``padded`` (a bool or a mask true at padding), or an
    ``attention_mask`` keyword with a zero."""
    if padded is not None and not isinstance(padded, (bool, torch.Tensor)):
        raise TypeError(
            f"padded must be None, a bool, or a mask tensor [N, T] that is true at padding "
            f"positions, got {type(padded).__name__}"
        )
    mask = kwargs.get("attention_mask")
    from_mask = isinstance(mask, torch.Tensor) and bool((mask == 0).any())
    if isinstance(padded, torch.Tensor):
        return bool(padded.bool().any()) or from_mask
    return bool(padded) or from_mask


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules without children, the model itself included when it has none."""
    return [(n, m) for n, m in model.named_modules() if next(m.children(), None) is None]


def _tensors(args: tuple, kwargs: dict) -> list[tuple[int | str, torch.Tensor]]:
    """The tensors among the top-level arguments, with their slot (position or keyword)."""
    found: list[tuple[int | str, torch.Tensor]] = [
        (i, a) for i, a in enumerate(args) if isinstance(a, torch.Tensor)
    ]
    found += [(k, v) for k, v in kwargs.items() if isinstance(v, torch.Tensor)]
    return found


def _slot_tensor(args: tuple, kwargs: dict, slot: int | str) -> torch.Tensor:
    return args[slot] if isinstance(slot, int) else kwargs[slot]


def _classify_call(args: tuple, kwargs: dict, output: Any) -> tuple[int | str | None, str | None]:
    """``(slot, None)`` for a candidate, ``(None, reason)`` for a structural reject, and
    ``(None, None)`` for a leaf call that is no candidate at all."""
    tensors = _tensors(args, kwargs)
    floating = [(s, t) for s, t in tensors if t.is_floating_point()]
    if not floating:
        return None, None
    slot, x = floating[0]
    if isinstance(output, torch.Tensor) and output.shape == x.shape and len(tensors) == 1:
        return slot, None
    first = output[0] if isinstance(output, (tuple, list)) and output else output
    if not (isinstance(first, torch.Tensor) and first.shape == x.shape):
        return None, None
    if len(tensors) > 1:
        return None, (
            f"takes {len(tensors)} tensors; the survey probes calls of one floating tensor in, "
            f"one tensor of its shape out"
        )
    return None, (
        f"returns a {type(output).__name__} of {len(output)} items; the survey probes calls of "
        f"one floating tensor in, one tensor of its shape out"
    )


def _record(model: nn.Module, args: tuple, kwargs: dict) -> list[_LeafCall]:
    """Run the model once, in its own mode, under no_grad, and record every leaf call; the
    buffers and the global random state are put back afterwards."""
    calls: list[_LeafCall] = []
    counts: dict[str, int] = {}

    def make_hook(name: str):
        def hook(module: nn.Module, a: tuple, kw: dict, output: Any) -> None:
            k = counts.get(name, 0)
            counts[name] = k + 1
            slot, reason = _classify_call(a, kw, output)
            keep = slot is not None or reason is not None
            calls.append(
                _LeafCall(
                    name, k, module, _snapshot(a) if keep else (), _snapshot(dict(kw)) if keep
                    else {}, slot, _snapshot(output) if slot is not None else None, reason,
                )
            )  # fmt: skip

        return hook

    handles = [m.register_forward_hook(make_hook(n), with_kwargs=True) for n, m in _leaves(model)]
    buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model(*args, **kwargs)
    except Exception as err:
        raise ValueError(
            f"model(*args, **kwargs) raised {type(err).__name__}: {err}; survey needs a call "
            f"that runs: check the inputs' shapes and dtypes against the model"
        ) from err
    finally:
        for h in handles:
            h.remove()
        with torch.no_grad():
            for n, b in model.named_buffers():
                if n in buffers:
                    b.copy_(buffers[n])
    return calls


def _probe_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _as_fn(module: nn.Module, call: _LeafCall, dtype: torch.dtype, train: bool | None = None):
    """A function ``x -> module(...)`` on a private copy of the module (in ``dtype``, and in
    training mode when ``train``), with the call's other arguments kept."""
    m = copy.deepcopy(module).to(device="cpu", dtype=dtype)  # probe's inputs are on the CPU
    if train is not None:
        m.train(train)
    if call.slot == 0 and len(call.args) == 1 and not call.kwargs:
        return m

    def fn(x: torch.Tensor) -> torch.Tensor:
        a, kw = list(call.args), dict(call.kwargs)
        if isinstance(call.slot, int):
            a[call.slot] = x
        else:
            kw[call.slot] = x
        return m(*a, **kw)

    return fn


def _examine(call: _LeafCall, x: torch.Tensor) -> tuple:
    """``("rejected", reason)`` or ``("row", result, probe_shape, training_result, compute)``."""
    module, shape, dtype = call.module, tuple(x.shape), _probe_dtype(x)
    stateful = any(True for _ in module.parameters()) or any(True for _ in module.buffers())
    reason, code = _screen(_as_fn(module, call, dtype), shape, dtype)
    if code in ("random", "activation", "mixing"):
        return "rejected", reason
    result = probe_shape = None
    if code is None:
        try:
            result, probe_shape = _probe_fitting(_as_fn(module, call, dtype), shape, dtype)
        except NotANormalizationError as err:
            reason = str(err)
        except _TooLarge as err:
            return "rejected", str(err)
    if result is not None and result.statistics != "none":
        return "row", result, probe_shape, None, _compute_dtype(module, call, result)
    # shares nothing, or close to its input: a normalization only if training computes statistics
    training = None
    if stateful and not module.training:
        fn = _as_fn(module, call, dtype, train=True)
        if _screen(fn, shape, dtype)[1] is None:
            try:
                training, _ = _probe_fitting(fn, shape, dtype)
            except (NotANormalizationError, _TooLarge):
                training = None
        if training is not None and training.statistics == "none":
            training = None
    if training is None:
        if result is None:
            return "rejected", reason
        return "rejected", (
            "shifts and scales every element on its own by fixed numbers, and computes no "
            "statistics in training mode either (a layer scale, or a frozen BatchNorm): probe "
            "calls that 'none', but there are no statistics to place"
        )
    if result is None:  # nearly its input: BatchNorm's running statistics at initialization
        result, probe_shape = _unshared(shape), shape
    return "row", result, probe_shape, training, "n/a"


class _TooLarge(Exception):
    """The call is too large to probe even when shrunk along its independent axes."""


def _accepts(fn: Callable, shape: tuple[int, ...], dtype: torch.dtype) -> bool:
    """Whether ``fn`` maps a random tensor of ``shape`` to one of the same shape."""
    gen = torch.Generator().manual_seed(4)
    try:
        with torch.no_grad():
            y = fn(torch.randn(shape, generator=gen, dtype=dtype))
    except Exception:
        return False
    return isinstance(y, torch.Tensor) and tuple(y.shape) == shape


def _probe_fitting(fn: Callable, shape: tuple[int, ...], dtype: torch.dtype):
    """``(result, probe_shape)``: probe at ``shape``, or, above ``MAX_NUMEL``, at ``shape``
    shrunk along the axes a first probe at a small shape finds independent."""
    limit = _probe_module.MAX_NUMEL
    if math.prod(shape) <= limit:
        return probe(fn, shape, dtype=dtype), shape
    small = list(shape)
    for a in sorted(range(len(shape)), key=lambda a: -shape[a]):
        trial = small[:a] + [min(small[a], 4)] + small[a + 1 :]
        if trial != small and _accepts(fn, tuple(trial), dtype):
            small = trial
    if math.prod(small) > limit:
        raise _TooLarge(
            f"too large to probe: {math.prod(shape)} elements, and the module accepts no shape "
            f"smaller than {tuple(small)} ({math.prod(small)} elements; probe takes at most "
            f"{limit})"
        )
    first = probe(fn, tuple(small), dtype=dtype)
    fitted = list(shape)
    for a in sorted(first.independent_dims, key=lambda a: -shape[a]):
        rest = math.prod(fitted) // fitted[a]
        fitted[a] = max(2, min(fitted[a], limit // rest))
    if math.prod(fitted) > limit or not _accepts(fn, tuple(fitted), dtype):
        raise _TooLarge(
            f"too large to probe: {math.prod(shape)} elements, and shrinking the axes probe "
            f"found independent at {tuple(small)} (axes {first.independent_dims}) leaves "
            f"{math.prod(fitted)}; probe takes at most {limit}"
        )
    return probe(fn, tuple(fitted), dtype=dtype), tuple(fitted)


def _unshared(shape: tuple[int, ...]) -> ProbeResult:
    """The result probe gives a fixed per-element shift and scale: nothing shared."""
    groups = torch.arange(math.prod(shape)).reshape(shape)  # [*shape]
    axis_groups = tuple(tuple((p,) for p in range(s)) for s in shape)
    names = check_names(None, len(shape))
    undetermined = tuple(a for a, s in enumerate(shape) if s == 1)
    return ProbeResult(
        shape, names, (), (1,) * len(shape), "none", groups, axis_groups,
        undetermined_dims=undetermined,
    )  # fmt: skip


def _screen(fn: Callable, shape: tuple[int, ...], dtype: torch.dtype) -> tuple[str, str | None]:
    """A few calls that reject what is plainly no normalization: ``(reason, code)``, with code
    ``"identity"``, ``"random"``, ``"activation"`` or ``"mixing"``; ``("", None)`` otherwise
    (including an elementwise shift and scale, which probe judges)."""
    gen = torch.Generator().manual_seed(1)
    x, x2, d = (torch.randn(shape, generator=gen, dtype=dtype) * 1.5 + 0.5 for _ in range(3))
    try:
        with torch.no_grad():
            y = fn(x)
            if not isinstance(y, torch.Tensor) or y.shape != x.shape:
                return "", None  # probe says why
            y = y.to(dtype)
            if not torch.equal(fn(x).to(dtype), y):
                return (
                    "returns different outputs for the same input (random, as Dropout in "
                    "training mode): not a normalization"
                ), "random"
            if torch.equal(y, x):
                return (
                    "returns its input unchanged (as Dropout in eval mode or Identity do): "
                    "nothing to probe"
                ), "identity"
            tol = 1e-4 * (1.0 + float(y.abs().max()))
            perm = torch.randperm(x.numel(), generator=gen)
            permuted = fn(x.reshape(-1)[perm].reshape(shape)).to(dtype).reshape(-1)
            same_function = bool(((permuted - y.reshape(-1)[perm]).abs() <= tol).all())
            step = fn(x + d).to(dtype) - y
            affine = bool(((step - (fn(x2 + d).to(dtype) - fn(x2).to(dtype))).abs() <= tol).all())
            if same_function and not affine:
                return (
                    "applies one nonlinear function to each element on its own (as an "
                    "activation such as GELU does): no output depends on another element, and "
                    "it is no fixed shift and scale"
                ), "activation"
            if affine and not same_function:
                slope = fn(x + 1).to(dtype) - y  # [*shape]: the per-element scale if elementwise
                if not bool(((step - slope * d).abs() <= tol).all()):
                    return (
                        "is an affine map that mixes elements (as a Linear layer or a "
                        "convolution that keeps the shape is): a change of input changes the "
                        "output by the same amount wherever it starts, which no normalization "
                        "by statistics does"
                    ), "mixing"
    except Exception:
        return "", None  # probe reports the error in its own words
    return "", None


# ---- one row ----


def _row(
    call: _LeafCall,
    x: torch.Tensor,
    result: ProbeResult,
    probe_shape: tuple[int, ...],
    training: ProbeResult | None,
    compute: str,
) -> SurveyRow:
    """The row of one normalization call (its place is filled in later)."""
    module = call.module
    names = _axis_names(probe_shape, result, module, x)
    result = dataclasses.replace(result, names=names)
    if training is not None:
        training = dataclasses.replace(training, names=names)
    declared = _declared_eps(module)
    measured = getattr(result, "eps", None)
    return SurveyRow(
        name=call.label,
        kind=type(module).__name__,
        shape=tuple(x.shape),
        dtype=str(x.dtype).removeprefix("torch."),
        probe_shape=tuple(probe_shape),
        result=result,
        sets=_sets(result, training),
        statistic=result.statistics,
        eps_declared=declared,
        eps_measured=measured,
        affine=_affine(module),
        compute_dtype=compute,
        place="unknown",
        names=names,
        eps_check=_eps_check(declared, measured, getattr(result, "eps_resolution", None)),
    )


def _vectors(module: nn.Module) -> set[int]:
    """The lengths of the module's own 1-d parameters and buffers."""
    tensors = list(module.parameters(recurse=False)) + list(module.buffers(recurse=False))
    return {t.shape[0] for t in tensors if t.ndim == 1}


def _permuted_channels_last(x: torch.Tensor) -> bool:
    """Whether ``x`` is ``[N, C, H, W]`` memory viewed as ``[N, H, W, C]`` (``permute(0, 2, 3,
    1)``): its axes, from the slowest in memory to the fastest, are 0, 3, 1, 2."""
    if x.ndim != 4:
        return False
    return sorted(range(4), key=lambda a: -x.stride(a)) == [0, 3, 1, 2]


def _axis_names(
    shape: tuple[int, ...], result: ProbeResult, module: nn.Module, x: torch.Tensor
) -> tuple:
    """The book's axis names for this call (the rule is in the module docstring, step 4)."""
    lengths = _vectors(module)
    if len(shape) == 3:
        spans_1 = 1 in result.reduced_dims or 1 in result.grouped_dims
        conv = lengths and shape[1] in lengths and shape[2] not in lengths
        return ("N", "C", "T") if spans_1 or conv else ("N", "T", "D")
    if len(shape) == 4:
        last = lengths and shape[3] in lengths and shape[1] not in lengths
        last = last or _permuted_channels_last(x)
        return ("N", "H", "W", "C") if last else ("N", "C", "H", "W")
    return check_names(None, len(shape))


def _over(result: ProbeResult) -> str:
    """``"over (C in groups of 4, H, W)"``: the axes the statistics span."""
    return f"over ({', '.join(result.spans(sep=','))})"


def _sets(result: ProbeResult, training: ProbeResult | None) -> str:
    """The ``sets`` text of a row (see ``SurveyRow``)."""
    text = "none" if result.statistics == "none" else _over(result)
    if training is not None:
        text += f"; training: {_over(training)}"
    undetermined = getattr(result, "undetermined_dims", ())
    if undetermined:
        text += "; " + ", ".join(result.names[a] for a in undetermined) + " undetermined"
    return text


def _declared_eps(module: nn.Module) -> float | None:
    for attribute in EPS_ATTRIBUTES:
        value = getattr(module, attribute, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _eps_check(declared: float | None, measured: float | None, resolution: float | None) -> str:
    """Whether the declared eps agrees with the measured one (see ``SurveyRow.eps_check``)."""
    if declared is None or measured is None or resolution is None:
        return ""
    if declared < resolution:
        return "consistent, not measurable" if measured < resolution else "differs"
    return "consistent" if abs(measured - declared) <= EPS_AGREEMENT * declared else "differs"


def _affine(module: nn.Module) -> str:
    params = [
        f"{n} [{', '.join(map(str, p.shape))}]" for n, p in module.named_parameters(recurse=False)
    ]
    return ", ".join(params) or "none"


def _compute_dtype(module: nn.Module, call: _LeafCall, result: ProbeResult) -> str:
    """``"float32"`` when a float16 copy computes its statistics in float32, ``"input"`` when in
    float16 (see the module docstring, step 4); ``"unknown"`` if it does not run in float16."""
    groups = result.groups.reshape(-1)  # [n]
    n_groups = int(groups.max()) + 1
    gen = torch.Generator().manual_seed(2)
    z = torch.randn(groups.numel(), generator=gen, dtype=torch.float64)
    count = torch.bincount(groups, minlength=n_groups).double()  # [n_groups]
    mean = torch.bincount(groups, z, minlength=n_groups) / count  # [n_groups]
    var = torch.bincount(groups, (z - mean[groups]) ** 2, minlength=n_groups) / count
    z = (z - mean[groups]) / var[groups].sqrt().clamp_min(1e-12)  # [n]: mean 0, variance 1
    # squares and squared deviations of 400 and more overflow float16 (largest: 65504)
    x = (300.0 + 400.0 * z).reshape(result.shape).to(torch.float16)  # [*probe_shape]
    try:
        with torch.no_grad():
            y16 = _as_fn(module, call, torch.float16)(x).double()  # [*probe_shape]
            # the same float16 weights, computed in float64
            ref = _as_fn(_to(module, torch.float16), call, torch.float64)(x.double())
    except Exception:
        return "unknown"
    scale = float(ref.abs().max())
    close = bool(torch.isfinite(y16).all()) and float((y16 - ref).abs().max()) <= 1e-2 * scale
    return "float32" if close else "input"


def _to(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    return copy.deepcopy(module).to(dtype)


# ---- places in the residual stream ----


def _float_copy(model: nn.Module, args: tuple, kwargs: dict):
    """The model, args and kwargs in float32 (a copy of the model if it holds half precision)."""
    half = (torch.float16, torch.bfloat16)
    tensors = list(model.parameters()) + list(model.buffers())
    if any(t.dtype in half for t in tensors):
        model = copy.deepcopy(model).float()

    def cast(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return v.float() if v.dtype in half else v
        return v

    return model, tuple(cast(a) for a in args), {k: cast(v) for k, v in kwargs.items()}


def _output_tensors(output: Any) -> list[torch.Tensor]:
    """Every tensor in what the model returned (tuples, lists, dicts, ModelOutput)."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, Mapping):
        return [t for v in output.values() for t in _output_tensors(v)]
    if isinstance(output, (tuple, list)):
        return [t for v in output for t in _output_tensors(v)]
    return []


class _Mismatch(Exception):
    """A placement run took another path than the first one."""


@dataclass
class _Action:
    index: int  # which norm call, in call order
    where: str  # "input" (in place, output frozen) or "output"
    delta: torch.Tensor


def _first_float(a: tuple, kw: dict) -> torch.Tensor:
    x = next((t for _, t in _tensors(a, kw) if t.is_floating_point()), None)
    if x is None:
        raise _Mismatch("a norm was called without a floating tensor")
    return x


class _Runs:
    """The placement runs of a float32 model in eval mode (see the module docstring, step 5).

    A first, *live* run stores the output of every leaf that holds parameters or buffers and of
    every norm (``stored``), the norm calls in order (``order``) and their inputs
    (``live_inputs``). ``frozen(action)`` runs the model with those leaves returning their
    stored outputs; ``live(index, delta)`` runs it as it is, with ``delta`` added to the output
    of norm call ``index``. Both return the inputs of the norm calls, in call order.
    """

    def __init__(self, model: nn.Module, args: tuple, kwargs: dict, norms: set[str]) -> None:
        self.model, self.args, self.kwargs, self.norms = model, args, kwargs, norms
        self.frozen_modules = {
            n: m
            for n, m in _leaves(model)
            if n in norms or any(True for _ in m.parameters()) or any(True for _ in m.buffers())
        }
        self.stored: dict[tuple[str, int], Any] = {}
        self.order: list[tuple[str, int]] = []
        self.live_inputs = self.live(None, None)

    def _call(self) -> list[torch.Tensor]:
        output = self.model(*_fresh(self.args), **_fresh(self.kwargs))
        return [t.detach() for t in _output_tensors(output)]

    def live(self, index: int | None, delta: torch.Tensor | None) -> list[torch.Tensor]:
        counts: dict[str, int] = {}
        inputs: list[torch.Tensor] = []
        first = not self.stored

        def make_hook(name: str):
            def hook(module: nn.Module, a: tuple, kw: dict, output: Any) -> Any:
                k = counts.get(name, 0)
                counts[name] = k + 1
                if first:
                    self.stored[(name, k)] = _snapshot(output)
                if name not in self.norms:
                    return None
                if first:
                    self.order.append((name, k))
                inputs.append(_first_float(a, kw).detach().clone())
                if index is not None and len(inputs) - 1 == index:
                    return output + delta
                return None

            return hook

        modules = self.frozen_modules.items()
        handles = [m.register_forward_hook(make_hook(n), with_kwargs=True) for n, m in modules]
        try:
            self._call()
        finally:
            for h in handles:
                h.remove()
        return inputs

    def frozen(self, action: _Action | None) -> tuple[list, list[torch.Tensor], list[int]]:
        """``(leaf_inputs, outputs, norm_positions)``: the input of every frozen leaf call in
        call order (None for one without a floating tensor), the tensors the model returned,
        and where in ``leaf_inputs`` the norm calls are."""
        counts: dict[str, int] = {}
        inputs: list[torch.Tensor | None] = []
        positions: list[int] = []

        def make_forward(name: str):
            def forward(*a: Any, **kw: Any) -> Any:
                k = counts.get(name, 0)
                counts[name] = k + 1
                if (name, k) not in self.stored:
                    raise _Mismatch(name)
                out = _snapshot(self.stored[(name, k)])
                if name not in self.norms:
                    x = next((t for _, t in _tensors(a, kw) if t.is_floating_point()), None)
                    inputs.append(None if x is None else x.detach().clone())
                    return out
                x = _first_float(a, kw)
                positions.append(len(inputs))
                inputs.append(x.detach().clone())
                if action is not None and action.index == len(positions) - 1:
                    if action.where == "input":
                        x.add_(action.delta)
                    else:
                        out = out + action.delta
                return out

            return forward

        saved = {n: m.__dict__.get("forward") for n, m in self.frozen_modules.items()}
        try:
            for n, m in self.frozen_modules.items():
                m.forward = make_forward(n)
            outputs = self._call()
        finally:
            for n, m in self.frozen_modules.items():
                if saved[n] is None:
                    del m.forward
                else:
                    m.forward = saved[n]
        if len(positions) != len(self.order):
            raise _Mismatch("another number of norm calls")
        return inputs, outputs, positions


def _fresh(v: Any) -> Any:
    """Clones of the tensors in ``v`` (tuples, lists and dicts), so that nothing the caller
    passed is changed in place."""
    if isinstance(v, torch.Tensor):
        return v.clone()
    if isinstance(v, tuple):
        return tuple(_fresh(i) for i in v)
    if isinstance(v, list):
        return [_fresh(i) for i in v]
    if isinstance(v, dict):
        return {k: _fresh(i) for k, i in v.items()}
    return v


def _delta(t: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, float]:
    """A change for ``t``: values ``s * (+-1, 1.25, 1.5, 1.75)``, ``s`` its root mean square."""
    s = float(t.double().pow(2).mean().sqrt())
    s = s if s > 1e-3 else 1.0
    sign = torch.randint(0, 2, t.shape, generator=gen) * 2 - 1
    step = torch.randint(0, 4, t.shape, generator=gen)
    return (s * sign * (1 + step / 4)).to(device=t.device, dtype=t.dtype), s


def _carried(base: torch.Tensor, changed: torch.Tensor, s: float) -> torch.Tensor | None:
    """The base values at the positions that changed by one of the delta's values; None if
    nothing changed, or something changed by another amount."""
    if base.shape != changed.shape or not base.is_floating_point():
        return None
    b, c = base.double().reshape(-1), changed.double().reshape(-1)
    tol = 64 * torch.finfo(base.dtype).eps * (b.abs() + 2 * s)  # [n]
    d = c - b  # [n]
    moved = d.abs() > tol
    if not moved.any():
        return None
    r = d[moved].abs() / s  # [m]: one of 1, 1.25, 1.5, 1.75
    nearest = 1 + ((r - 1) * 4).round().clamp(0, 3) / 4
    if not bool(((r - nearest).abs() * s <= tol[moved]).all()):
        return None
    return b[moved]


def _places(
    model: nn.Module, args: tuple, kwargs: dict, keys: list[tuple[str, int]]
) -> dict[tuple[str, int], str]:
    """The place of each norm call ``(name, k)`` (see the module docstring, step 5)."""
    if not keys:
        return {}
    model, args, kwargs = _float_copy(model, args, kwargs)
    modes = {m: m.training for m in model.modules()}
    gen = torch.Generator().manual_seed(3)
    try:
        model.eval()
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            runs = _Runs(model, args, kwargs, {n for n, _ in keys})
            base = runs.frozen(None)
            tests = [_tests(runs, i, base, gen) for i in range(len(runs.order))]
    except (_Mismatch, RuntimeError, ValueError, TypeError):
        return {}
    finally:
        for m, mode in modes.items():
            m.training = mode
    places: list[str] = []
    for i in range(len(tests)):
        places.append(_place(i, tests, places))
    return dict(zip(runs.order, places, strict=True))


def _tests(runs: _Runs, i: int, base: tuple, gen: torch.Generator) -> dict[str, Any]:
    """Tests P and S for norm call ``i`` (see the module docstring, step 5): which later norm
    inputs, leaf inputs (test P) and outputs carry its delta; and, for a norm whose output is
    returned, whether a later norm depends on it."""
    found: dict[str, Any] = {"P": False, "S": False, "direct": False, "fedP": set(), "fedS": set()}
    base_leaves, _, positions = base
    x = base_leaves[positions[i]]
    delta, s = _delta(x, gen)
    x_values = x.double().reshape(-1)
    for j, b, c in _later(i, base, runs.frozen(_Action(i, "input", delta)), leaves=True):
        values = _carried(b, c, s)
        if values is None:
            continue
        if j is not None:
            found["P"] = True
            if j >= 0:
                found["fedP"].add(j)
        elif not bool(torch.isin(values, x_values).all()):
            found["P"] = True  # returned after a sum; returned as it came in is no evidence
    y = runs.stored[runs.order[i]]
    if found["P"] or not isinstance(y, torch.Tensor):
        return found
    delta, s = _delta(y, gen)
    y_values = y.double().reshape(-1)
    for j, b, c in _later(i, base, runs.frozen(_Action(i, "output", delta)), leaves=True):
        values = _carried(b, c, s)
        if values is None:
            continue
        if bool(torch.isin(values, y_values).all()):  # the norm's output itself
            found["direct"] = found["direct"] or j is None
            found["read"] = found.get("read", False) or j is not None
        elif j != -1:
            found["S"] = True  # through a sum
            if j is not None:
                found["fedS"].add(j)
    if found["direct"] and not found["S"]:
        found["read later"] = _read_later(runs, i, delta)
    return found


def _later(i: int, base: tuple, run: tuple, leaves: bool) -> list[tuple[int | None, Any, Any]]:
    """``(j, base, changed)`` after norm call ``i``: each later norm's input (``j`` its index),
    with ``leaves`` each later frozen leaf's input too (``j = -1``), and each output
    (``j = None``)."""
    (base_leaves, base_out, positions), (leaves_in, outputs, _) = base, run
    norm_at = {p: j for j, p in enumerate(positions)}
    later = []
    for p in range(positions[i] + 1, len(base_leaves)):
        j = norm_at.get(p, -1)
        if (j >= 0 or leaves) and base_leaves[p] is not None:
            later.append((j, base_leaves[p], leaves_in[p]))
    return later + [(None, b, o) for b, o in zip(base_out, outputs, strict=True)]


def _read_later(runs: _Runs, i: int, delta: torch.Tensor) -> bool:
    """Whether the input of a later norm call changes, in a live run, when the output of norm
    call ``i`` changes (by anything: through the layers between them)."""
    inputs = runs.live(i, delta)
    for b, c in zip(runs.live_inputs[i + 1 :], inputs[i + 1 :], strict=True):
        if b.shape != c.shape or not torch.allclose(b, c, rtol=1e-6, atol=1e-6):
            return True
    return False


def _place(i: int, tests: list[dict[str, Any]], places: list[str]) -> str:
    """The place of norm call ``i`` from its tests and the places of the calls before it (see
    the module docstring, step 5)."""
    me = tests[i]
    if me["P"]:
        return "pre-LN"
    final = me["direct"] and not me["S"] and not me.get("read later", True)
    # the stream reaches this norm from a norm it went around, or one it ran through
    feeders = [(j, "P") for j in range(i) if i in tests[j]["fedP"] and places[j] == "pre-LN"]
    feeders += [(j, "S") for j in range(i) if i in tests[j]["fedS"] and places[j] in STREAM_PLACES]
    if feeders:
        _, how = max(feeders)
        return "final" if how == "P" and final else "post-LN"
    if me["S"] and me.get("read", False):
        return "embedding"  # starts the stream: later layers read its output and add to it
    return "final" if final else "in branch"


#: The places of norms the stream runs through.
STREAM_PLACES = ("embedding", "post-LN")


# ---- flags ----


def _spans_batch(result: ProbeResult) -> bool:
    return 0 in result.reduced_dims or 0 in result.grouped_dims


def _flags(
    rows: list[SurveyRow], model: nn.Module, calls: list[_LeafCall], padded: bool
) -> list[Flag]:
    """Each rule of ``RULES``, checked on every row (``calls``: the row's calls, in order):

    - ``"W == C"``: a 4-d input normalized over its last axis only, whose last axis has the
      length of axis 1, and which is not ``[N, C, H, W]`` memory permuted to ``[N, H, W, C]``
      (as ConvNeXt's blocks make): if axis 1 holds the channels, a LayerNorm(C) meant for them
      normalizes over W instead (chapter 2).
    - ``"padded BatchNorm"``: the batch is padded (``padded=``, or an ``attention_mask`` with a
      zero) and a norm's statistics span the batch axis N, in this call or in training mode.
    - ``"eps below resolution"``: a module whose class is not from ``torch.nn`` computes its
      statistics in its input's dtype (``compute_dtype == "input"``), and its declared eps is 0
      in that dtype, or below its smallest normal number (chapter 6: BERT's 1e-12 in float16).
    - ``"batch statistics in eval"``: the model is in eval mode, yet a norm's statistics span
      the batch axis N (a module left in training mode, or one without running statistics).
    """
    flags = []
    for row, call in zip(rows, calls, strict=True):
        module, result = call.module, row.result
        x = _slot_tensor(call.args, call.kwargs, call.slot)
        if (
            len(row.shape) == 4
            and result.reduced_dims == (3,)
            and not result.grouped_dims
            and row.shape[3] == row.shape[1]
            and not _permuted_channels_last(x)
        ):
            flags.append(
                Flag(
                    "W == C",
                    row.name,
                    f"normalizes {list(row.shape)} over its last axis only, whose length "
                    f"{row.shape[3]} is also axis 1's: if this is [N, C, H, W], it normalizes "
                    f"over W, not over the channels C (chapter 2's silent W == C case). For "
                    f"channels at each pixel, permute to [N, H, W, C], normalize, and permute back",
                )
            )
        training_spans = "training: over (N" in row.sets
        if padded and (_spans_batch(result) or training_spans):
            when = "in this call" if _spans_batch(result) else "in training mode"
            flags.append(
                Flag(
                    "padded BatchNorm",
                    row.name,
                    f"its statistics span the batch axis N {when} ({row.sets}), and this batch "
                    f"is padded: padding positions enter the mean and variance (and the running "
                    f"statistics). Normalize each token instead (LayerNorm over D), or mask the "
                    f"padding out of the statistics",
                )
            )
        dtype = getattr(torch, row.dtype)
        if (
            not type(module).__module__.startswith("torch.nn")
            and row.compute_dtype == "input"
            and row.eps_declared is not None
            and row.eps_declared < torch.finfo(dtype).tiny
        ):
            stored = float(torch.tensor(row.eps_declared, dtype=dtype))
            what = "rounds to 0" if stored == 0 else f"is subnormal (stored as {stored:.2g})"
            flags.append(
                Flag(
                    "eps below resolution",
                    row.name,
                    f"{row.kind} computes its statistics in its input's dtype ({row.dtype}), "
                    f"where its eps {row.eps_declared:g} {what}: below {row.dtype}'s smallest "
                    f"normal number {torch.finfo(dtype).tiny:.2g} (chapter 6). A constant token "
                    f"then divides by about 0; compute the statistics in float32",
                )
            )
        if not model.training and _spans_batch(result):
            flags.append(
                Flag(
                    "batch statistics in eval",
                    row.name,
                    f"the model is in eval mode, yet this norm's statistics span the batch axis "
                    f"N ({row.sets}): each output depends on the other inputs of the batch. "
                    f"Call .eval() on it too, or give it running statistics",
                )
            )
    return flags


# ---- text and JSON ----


def _short(name: str, width: int) -> str:
    """``name`` within ``width`` characters: its leading components cut to their first letter
    (``encoder.layer.0.output.LayerNorm`` -> ``e.l.0.output.LayerNorm``), then its start cut
    (``…``) if it is still too long."""
    parts = name.split(".")
    i = 0
    while len(".".join(parts)) > width and i < len(parts) - 2:
        if not parts[i].isdigit():  # layer numbers stay whole
            parts[i] = parts[i][0]
        i += 1
    text = ".".join(parts)
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def _eps_text(value: float | None) -> str:
    """``1e-05`` -> ``"1e-5"``; ``"0"`` for 0 and ``"-"`` for None."""
    if value is None:
        return "-"
    return f"{value:.1g}".replace("e-0", "e-").replace("e+0", "e") if value else "0"


#: The statistic, as the table shows it.
STAT_SHORT = {"mean and variance": "mean, var", "root mean square": "rms", "none": "none"}


def _shape_text(row: SurveyRow) -> str:
    """``N=2 T=8 D=32``: the input's axes with their names."""
    return " ".join(f"{n}={s}" for n, s in zip(row.names, row.shape, strict=True))


def _tables(rows: list[SurveyRow]) -> list[str]:
    """The two tables of ``str(survey)``: where each norm normalizes, and what it holds."""
    where = [
        [str(i + 1), _shape_text(r), r.sets.split(";")[0], STAT_SHORT[r.statistic], r.place]
        for i, r in enumerate(rows)
    ]
    rest = [max(len(c[j]) for c in where) for j in range(1, 5)]
    width = max(16, WIDTH - len(str(len(rows))) - sum(max(w, 9) for w in rest) - 10)
    for c, r in zip(where, rows, strict=True):
        c.insert(1, _short(r.name, width))
    header = ["#", "norm", "input", "sets", "statistic", "place"]
    what = [
        [str(i + 1), _short(r.kind, 17), _eps_text(r.eps_declared), _eps_text(r.eps_measured),
         r.compute_dtype, _affine_short(r.affine)]
        for i, r in enumerate(rows)
    ]  # fmt: skip
    return [
        format_table(header, where),
        "",
        format_table(["#", "kind", "eps", "measured", "stats in", "affine"], what),
    ]


def _format(report: Survey) -> str:
    """``str(survey)``: the two tables, their notes, the flags and the rejected candidates."""
    n = len(report.rows)
    out = [f"survey of {report.model}: {n} normalization call{'s' * (n != 1)}"]
    if report.rows:
        out += ["", *_tables(report.rows)]
    notes: dict[str, list[int]] = {}  # note -> the rows it is about
    for i, r in enumerate(report.rows):
        if ";" in r.sets:
            notes.setdefault(r.sets, []).append(i + 1)
        if r.probe_shape != r.shape:
            notes.setdefault(f"probed at {list(r.probe_shape)} (independent axes cut)", [])
            notes[f"probed at {list(r.probe_shape)} (independent axes cut)"].append(i + 1)
        if r.eps_check == "differs":
            text = f"declares eps {r.eps_declared:g}, but behaves as eps {r.eps_measured:.2g}"
            notes.setdefault(text, []).append(i + 1)
    if notes:
        out += [""]
        for text, rows in notes.items():
            out += _wrapped(f"{_ranges(rows)}: {text}")
    if report.flags:
        out += ["", "flags:"]
        for f in report.flags:
            out += _wrapped(f"[{f.rule}] {f.name}: {f.message}")
    if report.rejected:
        out += ["", "rejected (checked, not normalizations):"]
        groups: dict[tuple[str, str], list[str]] = {}
        for r in report.rejected:
            groups.setdefault((r.kind, r.reason), []).append(r.name)
        for (kind, reason), names in groups.items():
            shown = ", ".join(_short(name, 36) for name in names[:2])
            more = f" and {len(names) - 2} more" if len(names) > 2 else ""
            out += _wrapped(f"{kind} x{len(names)} ({shown}{more}): {reason}")
    if report.skipped:
        out += [""] + textwrap.wrap(
            f"not candidates: {report.skipped} leaf calls that change the shape or take no "
            f"floating tensor",
            WIDTH,
        )
    return "\n".join(line.rstrip() for line in out)


def _ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``"1-3, 5"``."""
    spans: list[list[int]] = []
    for k in numbers:
        if spans and k == spans[-1][1] + 1:
            spans[-1][1] = k
        else:
            spans.append([k, k])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def _affine_short(affine: str) -> str:
    """``"weight [32], bias [32]"`` -> ``"weight, bias [32]"`` when the shapes agree."""
    parts = re.findall(r"(\w+) (\[[^\]]*\])", affine)
    if len(parts) > 1 and len({shape for _, shape in parts}) == 1:
        return ", ".join(name for name, _ in parts) + " " + parts[0][1]
    return affine


def _wrapped(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent="- ", subsequent_indent="  ")


def _result_dict(result: ProbeResult) -> dict[str, Any]:
    return {
        "shape": list(result.shape),
        "names": list(result.names),
        "reduced_dims": list(result.reduced_dims),
        "grouped_dims": list(result.grouped_dims),
        "independent_dims": list(result.independent_dims),
        "undetermined_dims": list(getattr(result, "undetermined_dims", ())),
        "group_size": list(result.group_size),
        "statistics": result.statistics,
        "eps": getattr(result, "eps", None),
        "eps_resolution": getattr(result, "eps_resolution", None),
        "description": str(result),
    }


def _as_dict(report: Survey) -> dict[str, Any]:
    rows = []
    for r in report.rows:
        row = dataclasses.asdict(dataclasses.replace(r, result=None))
        row["result"] = _result_dict(r.result)
        row["shape"], row["probe_shape"] = list(r.shape), list(r.probe_shape)
        row["names"] = list(r.names)
        rows.append(row)
    return {
        "model": report.model,
        "rows": rows,
        "rejected": [dataclasses.asdict(r) for r in report.rejected],
        "flags": [dataclasses.asdict(f) for f in report.flags],
        "skipped": report.skipped,
    }


def kinds(report: Survey) -> Iterator[tuple[tuple, list[SurveyRow]]]:
    """The distinct kinds of call, ``((statistic, sets, axis names), rows)``, in order of first
    call; the axis names as a set, so that ``[N, C, H, W]`` and ``[N, H, W, C]`` are one kind."""
    found: dict[tuple, list[SurveyRow]] = {}
    for r in report.rows:
        found.setdefault((r.statistic, r.sets.split(";")[0], frozenset(r.names)), []).append(r)
    yield from found.items()
