"""Find out, by experiment, which elements share normalization statistics.

``probe(fn, shape)`` never reads a module's configuration. It works in four steps, and each
step either succeeds or raises ``NotANormalizationError`` saying what it found:

1. **Slices.** Feed ``fn`` a random tensor, then, for each axis and each position along it, move
   the whole slice at that position far (three times: far below, far above in reverse order,
   and further above) and record which positions along that axis change. Torch's
   normalizations share statistics in blocks of the axes, so a slice moves whole slices of the
   output: along each axis the positions fall into classes, and the groups of shared statistics
   are one class per axis. This takes three calls per position, so the calls grow with the sum
   of the axes, not with their product. The dependence between positions must be symmetric (a
   one-sided one, as in a causal normalization, is not a group), its classes must not overlap
   (a sliding window's do), and they must have one size along each axis.
2. **Elements.** Check the groups on a random sample of ``N_CHECKED`` elements (every element of
   a small tensor): moving one element alone must change exactly the outputs of its group. On
   a shape of at most ``EXHAUSTIVE_NUMEL`` elements, anything that is not blocks (in step 1 or
   here) sends probe to its exhaustive method, which moves every element three times and
   describes what it finds in the same words as it always has.
3. **Verdict by reconstruction.** On fresh random inputs whose groups' variances span six
   decades (1e-4 to 1e2), the output must be an elementwise affine map ``a * x_hat + b`` (fixed
   ``a`` and ``b`` per element, such as gamma and beta) of the input normalized over the groups:
   by mean and variance (``normlab.normalize``'s formula), or by root mean square (RMSNorm),
   with ``eps`` inside the square root fitted as one more unknown. Anything else (min-max or
   max-abs scaling, median centring, softmax, a Linear layer) is not a normalization.
4. **eps.** The fitted ``eps`` is reported with the smallest ``eps`` this call could tell from 0
   (``eps_resolution``); below it, ``eps`` is reported as 0. A negative ``eps`` is refused.

An axis of length 1 is accepted and reported in ``undetermined_dims``: one position cannot show
whether it is shared. ``probe`` runs ``fn`` in one thread (its many small calls would otherwise
pay for waking the others each time) and restores the caller's setting afterwards.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .checks import check_names, check_shape

#: Largest number of elements ``probe`` accepts (about 2 million): it holds the outputs of a few
#: calls and of ``N_SAMPLES`` fresh inputs in float64 at once.
MAX_NUMEL = 2**21
#: Largest number of elements on which ``probe`` falls back to moving every element three times
#: when the slices of step 1, or the sampled elements of step 2, show groups that are not blocks.
EXHAUSTIVE_NUMEL = 2048
#: Single elements moved in step 2 to check the groups found by moving slices.
N_CHECKED = 16
#: Fresh random inputs used to reconstruct the output (step 3).
N_SAMPLES = 8
#: log10 of the smallest and largest standard deviation of a group in the fresh inputs: group
#: variances from 1e-4 to 1e2, so that an ``eps`` between about 1e-9 and 1e2 changes the output
#: of some samples and not of others, and can be measured.
LOG_STD = (-2.0, 1.0)
#: Elements (at most) on which ``eps`` is fitted; the fit is then checked on every element.
FIT_ELEMENTS = 4096
#: Largest misfit of the reconstruction, relative to ``1 + max|output|``, with ``eps`` fitted.
#: Torch's layers, and hand-written ones that put ``eps`` elsewhere (outside the square root,
#: or an unbiased variance), stay below it; the look-alikes above miss by 1e-2 or more.
FIT_TOLERANCE = 2e-3
#: ``str(result)`` names the measured ``eps`` from this size on (smaller ones change little).
EPS_SHOWN = 1e-2

#: Per-axis classes: for each axis, the sets of positions along it that share statistics.
AxisGroups = tuple[tuple[tuple[int, ...], ...], ...]


class NotANormalizationError(ValueError):
    """Raised when ``fn`` does not behave like a normalization on the probed shape."""


class _NotBlocks(Exception):
    """Step 1 or 2 found something that is not blocks of the axes; carries the message."""


@dataclass(frozen=True, repr=False, eq=False)
class ProbeResult:
    """What ``probe`` found.

    Attributes:
        shape: the probed shape ``(s0, s1, ...)``.
        names: one name per axis, used by ``str(result)``.
        reduced_dims: sorted axes along which *all* positions share statistics (never an axis
            of length 1).
        group_size: per axis, how many positions along it share one set of statistics: 1 for an
            independent axis, ``shape[a]`` for a reduced one, in between for a grouped axis (such
            as GroupNorm's channels); 1 for an axis of length 1.
        statistics: ``"mean and variance"`` (the output is an elementwise affine map of the
            input normalized by each group's mean and variance), ``"root mean square"`` (the
            same with RMSNorm's statistic), or ``"none"`` (no element depends on another: a
            fixed shift and scale per element, as in BatchNorm's eval mode).
        groups: int64 tensor ``[*shape]``; elements with the same id share statistics. Ids
            count from 0 in the order groups first appear in row-major order.
        axis_groups: per axis, the classes of positions that share statistics, e.g.
            ``((0, 1, 2), (3, 4, 5))`` for GroupNorm(2, 6)'s channel axis, or ``((0, 2), (1, 3))``
            for a grouping that is not in consecutive blocks.
        eps: the ``eps`` measured from behaviour, added to the statistic inside the square root
            (fitted as one more unknown of the reconstruction); ``0.0`` when it is below
            ``eps_resolution``; ``None`` when ``statistics`` is ``"none"``.
        eps_resolution: the smallest ``eps`` this call could tell from 0 (``None`` when
            ``statistics`` is ``"none"``); a declared ``eps`` below it is consistent with the
            behaviour but not measurable.
        undetermined_dims: the axes of length 1: one position cannot show whether it is
            shared, so they are in none of ``reduced_dims``, ``grouped_dims`` and
            ``independent_dims``.

    ``str(result)``, which ``print(result)`` shows, says in one sentence what is shared over
    which axes, with ``names``, then the measured ``eps`` if it is at least ``EPS_SHOWN`` and the
    undetermined axes if there are any. Two results are equal when shape, names, statistics and
    groups are.
    """

    shape: tuple[int, ...]
    names: tuple[str, ...]
    reduced_dims: tuple[int, ...]
    group_size: tuple[int, ...]
    statistics: str
    groups: torch.Tensor
    axis_groups: AxisGroups
    eps: float | None = None
    eps_resolution: float | None = None
    undetermined_dims: tuple[int, ...] = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProbeResult):
            return NotImplemented
        return (self.shape, self.names, self.statistics) == (
            other.shape,
            other.names,
            other.statistics,
        ) and torch.equal(self.groups, other.groups)

    def __hash__(self) -> int:
        return hash((self.shape, self.names, self.statistics, self.axis_groups))

    @property
    def n_groups(self) -> int:
        """How many separate sets of statistics the tensor has."""
        return int(self.groups.max()) + 1

    @property
    def grouped_dims(self) -> tuple[int, ...]:
        """Axes split into classes of ``group_size[a]`` positions, each with its own statistics."""
        return tuple(a for a, g in enumerate(self.group_size) if 1 < g < self.shape[a])

    @property
    def independent_dims(self) -> tuple[int, ...]:
        """Axes along which every position has its own statistics (never an axis of length 1)."""
        return tuple(
            a for a, g in enumerate(self.group_size) if g == 1 and a not in self.undetermined_dims
        )

    def is_consecutive(self, axis: int) -> bool:
        """Whether the classes along ``axis`` are consecutive blocks ``0..g-1, g..2g-1, ...``."""
        g = self.group_size[axis]
        return all(
            c == tuple(range(k * g, (k + 1) * g)) for k, c in enumerate(self.axis_groups[axis])
        )

    def spans(self, sep: str = ", ") -> list[str]:
        """The axes the statistics span, one phrase each: ``["C in groups of 4", "H", "W"]``;
        classes that are not consecutive blocks are listed, their positions joined by ``sep``."""
        over = []
        for a, g in enumerate(self.group_size):
            name = self.names[a]
            if a in self.reduced_dims:
                over.append(name)
            elif a in self.grouped_dims and self.is_consecutive(a):
                over.append(f"{name} in groups of {g}")
            elif a in self.grouped_dims:
                classes = " ".join("{" + sep.join(map(str, c)) + "}" for c in self.axis_groups[a])
                over.append(f"{name} in groups {classes}")
        return over

    def __str__(self) -> str:
        """One sentence: which statistics are shared over which axes, and how many sets."""
        return self._sets() + self._notes()

    def _sets(self) -> str:
        names = self.names
        if self.statistics == "none":
            return (
                "no statistics shared: every element is shifted and scaled on its own, "
                "by numbers that do not depend on the input (as BatchNorm does in eval mode)"
            )
        over = self.spans()
        per = [names[a] for a in self.independent_dims]
        per += [f"{names[a]} group" for a in self.grouped_dims]
        unit = "pair" if self.statistics == "mean and variance" else "value"
        if not per:
            where = f"one {unit} for the whole tensor"
        elif len(per) == 1:
            where = f"one {unit} per {per[0]} element, {self.n_groups} in all"
        else:
            where = f"one {unit} per ({', '.join(per)}) position, {self.n_groups} in all"
        return f"{self.statistics} over ({', '.join(over)}): {where}"

    def _notes(self) -> str:
        """The clauses after the sentence: a large measured eps, and axes of length 1."""
        notes = ""
        if self.eps is not None and self.eps >= EPS_SHOWN:
            notes += f"; eps {self.eps:.2g} measured"
        if self.undetermined_dims:
            axes = ", ".join(self.names[a] for a in self.undetermined_dims)
            notes += f"; {axes} undetermined (length 1)"
        return notes

    def __repr__(self) -> str:
        return (
            f"ProbeResult(shape={self.shape}, reduced_dims={self.reduced_dims}, "
            f"group_size={self.group_size}, statistics={self.statistics!r})"
        )


def probe(
    fn: Callable[[torch.Tensor], torch.Tensor],
    shape: tuple[int, ...],
    names: tuple[str, ...] | None = None,
    *,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> ProbeResult:
    """Discover which elements of an input of ``shape`` share normalization statistics under ``fn``.

    Args:
        fn: a module or callable mapping a tensor ``[*shape]`` to a tensor of the same shape, e.g.
            ``nn.LayerNorm(4)`` or ``lambda x: F.layer_norm(x.permute(0, 2, 3, 1), (C,))...``.
            An ``nn.Module`` is deep-copied first, so its running statistics are left untouched;
            a plain callable is called as it is (three times per position along each axis, and
            a few dozen times more).
        shape: the input shape, at most ``MAX_NUMEL`` elements. An axis of length 1 is accepted
            and reported in ``undetermined_dims`` (one position cannot show whether it is
            shared); at least one axis must be longer.
        names: one name per axis for the description; default ``(N, T, D)`` for 3 axes,
            ``(N, C, H, W)`` for 4 (the book's notation).
        dtype: the dtype of the probe's inputs, ``torch.float32`` or ``torch.float64`` (match
            the module's parameters). Half precision is refused: its rounding is too coarse to
            tell a normalization from a look-alike.
        seed: seed of the probe's own random generator (the global RNG is not touched).

    Returns:
        A ``ProbeResult``; ``str(result)`` is a one-sentence description, and ``result.eps`` the
        ``eps`` measured from behaviour.

    Raises:
        NotANormalizationError: ``fn`` raises, changes the shape, returns non-finite values, has
            one-sided or overlapping dependencies, groups that are not classes of the axes, an
            output that is not an elementwise affine map of a normalization over its groups, or
            a negative ``eps``.
    """
    shape = check_shape(shape, "shape")
    names = check_names(names, len(shape), "names")
    if not callable(fn):
        raise TypeError(f"fn must be a module or callable mapping a tensor to a tensor, got {fn!r}")
    if dtype in (torch.float16, torch.bfloat16):
        raise TypeError(
            f"dtype must be torch.float32 or torch.float64, got {dtype}: half-precision rounding "
            f"(about 3 significant digits) is too coarse to tell a normalization from a "
            f"look-alike. Probe a float32 copy instead, e.g. probe(module.float(), shape)"
        )
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    n = math.prod(shape)
    if n > MAX_NUMEL:
        raise ValueError(
            f"shape {shape} has {n} elements; probe accepts at most {MAX_NUMEL} (it holds several "
            f"copies of the tensor in float64). The sharing pattern does not depend on size: "
            f"probe a smaller shape such as {tuple(min(s, 64) for s in shape)}"
        )
    if n == 1:
        raise ValueError(
            f"shape {shape} has one element, which cannot show which elements share statistics; "
            f"probe a shape with an axis at least 2 long, such as {(2,) + shape[1:]}"
        )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _warm_allocator()
        return _probe(fn, shape, names, dtype, seed, exhaustive=False)
    finally:
        torch.set_num_threads(threads)


def _probe(
    fn: Callable,
    shape: tuple[int, ...],
    names: tuple[str, ...],
    dtype: torch.dtype,
    seed: int,
    exhaustive: bool,
) -> ProbeResult:
    """``probe`` on checked arguments: by slices (falling back to every element on a small shape
    that is not blocks), or, with ``exhaustive``, by moving every element."""
    if isinstance(fn, nn.Module):
        fn = copy.deepcopy(fn)
    n = math.prod(shape)
    gen = torch.Generator().manual_seed(seed)
    # Distinct values in [-2, 2], in random order. Small values keep every output away from
    # saturation and underflow (a softmax of values 10 apart is one-hot, and exp(-100) is 0 in
    # float32), so that a dependence shows both ways; the moves below are large anyway.
    spaced = 4.0 * (torch.randperm(n, generator=gen) + 0.3 * torch.rand(n, generator=gen)) / n - 2.0
    x = spaced.to(dtype).reshape(shape)
    _call(fn, x)

    with torch.no_grad():
        if not exhaustive:
            try:
                # The slices and the sample draw from a generator of their own, so that the
                # verdict below sees the same inputs whichever way the groups were found.
                seen = torch.Generator().manual_seed(seed + 1)
                groups, axis_groups = _blocks(fn, x, names, seen)  # [*shape], per axis
            except _NotBlocks as found:
                if n > EXHAUSTIVE_NUMEL:
                    raise NotANormalizationError(str(found)) from None
                exhaustive = True  # small enough to move every element: say what it is
        if exhaustive:
            groups = _groups(_dependencies(fn, x), shape, names)  # [*shape]
            axis_groups = _axis_groups(groups, names)
        statistics, eps, resolution = _verdict(fn, groups, dtype, gen)
    group_size = tuple(len(classes[0]) for classes in axis_groups)
    undetermined = tuple(a for a, s in enumerate(shape) if s == 1)
    # with nothing shared every group size is 1, below every determined axis's length
    reduced = tuple(a for a, g in enumerate(group_size) if g == shape[a] > 1)
    return ProbeResult(
        shape,
        names,
        reduced,
        group_size,
        statistics,
        groups,
        axis_groups,
        eps=eps,
        eps_resolution=resolution,
        undetermined_dims=undetermined,
    )


def _warm_allocator() -> None:
    """Allocate and free 16 MiB, so that the thousands of tensor-sized blocks probe allocates and
    frees are reused rather than returned to the system each time.

    glibc's malloc hands blocks above 128 KiB back to the system when they are freed, until a
    larger one is freed (it then raises that limit to the freed size); a first probe of a
    ``[2, 64, 768]`` tensor otherwise pays about a million page faults, 1.5 s of its 2 s.
    Nothing is written to the block, so it costs no page faults itself.
    """
    torch.empty(2**21, dtype=torch.float64)


def _call(fn: Callable, x: torch.Tensor) -> torch.Tensor:
    """Call ``fn(x)`` and check it returned a finite tensor of ``x``'s shape."""
    try:
        y = fn(x)
    except Exception as err:  # re-raised with the probe's context
        raise NotANormalizationError(
            f"fn raised {type(err).__name__} on an input of shape {list(x.shape)}: {err}"
        ) from err
    if not isinstance(y, torch.Tensor):
        raise NotANormalizationError(
            f"fn must return a tensor, got {type(y).__name__} (for a Hugging Face module, wrap it: "
            f"lambda x: module(x)[0])"
        )
    if y.shape != x.shape:
        raise NotANormalizationError(
            f"fn must return a tensor of the input's shape {list(x.shape)}, got {list(y.shape)}; "
            f"a normalization changes values, not shapes"
        )
    # the largest magnitude is NaN or inf when any value is (and is one pass over y)
    if y.is_floating_point() and not torch.isfinite(y.abs().amax()):
        raise NotANormalizationError(
            f"fn returned non-finite values on an input of shape {list(x.shape)}"
        )
    return y


def _changed(runs: list[torch.Tensor]) -> torch.Tensor:
    """Which outputs differ between runs. Shapes: ``runs``, each ``[*]`` -> ``[*]``.

    Deterministic kernels compute an output that does not depend on the moved input bit for bit
    the same, so a change counts when it exceeds a millionth of the output's own size (its
    largest magnitude over the runs).
    """
    first = runs[0]
    size, diff = first.abs(), torch.zeros_like(first)  # [*] each
    for y in runs[1:]:
        size = torch.maximum(size, y.abs())
        diff = torch.maximum(diff, (y - first).abs())
    return diff > 1e-6 * size


def _far(x: torch.Tensor) -> float:
    """How far a move goes: a hundred times the input's own range."""
    return 100.0 * (1.0 + float(x.abs().max()))


def _column(fn: Callable, x: torch.Tensor, j: int, far: float) -> torch.Tensor:
    """Which outputs change as input ``j`` alone moves. Shapes: x ``[*shape]`` -> ``[n]``.

    Input j is moved far below, far above and further above the rest; an output that differs
    between any two of the three runs depends on it. Large moves (rather than gradients) also
    catch groups of two, whose LayerNorm output is +-1 whatever the inputs (the sign flips),
    and RMSNorm (the magnitude changes); a third run makes it vanishingly unlikely that an
    output lands on the same value by coincidence in all of them.
    """
    flat = x.reshape(-1)  # [n]
    runs = []
    for move in (-far, far, 3 * far):
        moved = flat.clone()
        moved[j] += move
        runs.append(_call(fn, moved.reshape(x.shape)).reshape(-1))
    return _changed(runs)  # [n]


def _dependencies(fn: Callable, x: torch.Tensor) -> torch.Tensor:
    """``reads[i, j]``: output i changes when input j moves. Shapes: x ``[*shape]`` -> ``[n, n]``.

    The exhaustive method: every input is moved three times (``_column``). The diagonal is set:
    an element belongs with itself.
    """
    n = x.numel()
    far = _far(x)
    reads = torch.zeros(n, n, dtype=torch.bool)
    for j in range(n):
        reads[:, j] = _column(fn, x, j, far)
    return reads | torch.eye(n, dtype=torch.bool)


def _where(index: int, shape: tuple[int, ...], names: tuple[str, ...]) -> str:
    """The element at flat ``index`` written with axis names, e.g. ``(N=0, T=2, D=1)``."""
    coords = torch.unravel_index(torch.tensor(index), shape)
    return "(" + ", ".join(f"{name}={int(c)}" for name, c in zip(names, coords, strict=True)) + ")"


# --- Steps 1 and 2: groups from moving whole slices, checked on single elements. ---------------


def _slice_reads(fn: Callable, x: torch.Tensor, a: int, names: tuple[str, ...]) -> torch.Tensor:
    """``reads[q, p]``: the outputs at position q along axis ``a`` change when the slice at
    position p moves. Shapes: x ``[*shape]`` -> ``[L, L]`` with ``L = shape[a]``.

    The slice's values ``u`` (distinct, in [-2, 2]) are replaced by ``u - far``, by ``far - u``
    (the same values in reverse order, so that any two of them swap places: a group of two
    inside the slice flips its sign) and by ``3 far + u |u|`` (not an affine map of ``u``, which
    a group inside the slice would not see). Raises ``_NotBlocks`` unless each slice changes
    whole slices of the output along ``a``.
    """
    far, length, shape = _far(x), x.shape[a], tuple(x.shape)
    reads = torch.eye(length, dtype=torch.bool)
    for p in range(length):
        u = x.select(a, p)  # [*shape without a]
        runs = []
        for values in (u - far, far - u, 3 * far + u * u.abs()):
            moved = x.clone()
            moved.select(a, p).copy_(values)
            runs.append(_call(fn, moved))
        per = _changed(runs).movedim(a, 0).reshape(length, -1)  # [L, rest]
        count = per.sum(dim=1)  # [L]: outputs changed at each position
        some, every = count > 0, count == per.shape[1]  # [L] each
        if not torch.equal(some, every):
            q = int(torch.nonzero(some & ~every)[0])
            index = torch.arange(x.numel()).reshape(shape).movedim(a, 0).reshape(length, -1)
            yi = int(index[q][per[q]][0])  # an output at position q that changed
            yj = int(index[q][~per[q]][0])  # and one that did not
            raise _NotBlocks(
                f"the outputs that change when the inputs at {names[a]}={p} move are not whole "
                f"slices: the output at {_where(yi, shape, names)} changes, the one at "
                f"{_where(yj, shape, names)} does not. Groups that take one class of positions "
                f"per axis, as torch's normalization layers have, change whole slices, so probe "
                f"cannot describe fn by axes"
            )
        reads[:, p] |= some
    return reads


def _axis_classes(reads: torch.Tensor, name: str) -> tuple[tuple[int, ...], ...]:
    """The classes of positions along one axis, from ``reads [L, L]`` (``_slice_reads``); raises
    ``_NotBlocks`` unless the relation splits the positions into classes of one size."""
    if not torch.equal(reads, reads.T):
        readers, read = torch.nonzero(reads & ~reads.T, as_tuple=True)  # [m] each
        q, p = int(readers[0]), int(read[0])
        along = ""
        if (readers > read).all():
            along = (
                f" Along {name}, positions read the positions before them and not those after "
                f"them: a causal (prefix) pattern, as when position t is normalized with the "
                f"statistics of positions <= t."
            )
        elif (readers < read).all():
            along = (
                f" Along {name}, positions read the positions after them and not those before "
                f"them: an anti-causal (suffix) pattern."
            )
        raise _NotBlocks(
            f"the dependence is one-sided: the outputs at {name}={q} change when the inputs at "
            f"{name}={p} move, but the outputs at {name}={p} do not change when the inputs at "
            f"{name}={q} move.{along} Shared statistics make groups in which every element "
            f"depends on every other, so fn has no groups for probe to describe; to see its "
            f"pattern, look at the dependencies directly (move one input and watch which "
            f"outputs change)"
        )
    _, label = torch.unique(reads, dim=0, return_inverse=True)  # [L]: rows that are equal
    if not torch.equal(reads, label[:, None] == label[None, :]):  # not classes: find a witness
        for p in range(reads.shape[0]):
            idx = torch.nonzero(reads[p]).flatten()  # [m]: the positions p reads, itself included
            missing = ~reads[idx][:, idx]  # [m, m]: pairs of them that do not read each other
            if missing.any():
                r, c = torch.nonzero(missing)[0].tolist()
                raise _NotBlocks(
                    f"groups overlap: the outputs at {name}={int(idx[r])} and "
                    f"{name}={int(idx[c])} both depend on the inputs at {name}={p}, but not on "
                    f"each other (a sliding window does this). Shared statistics make disjoint "
                    f"groups in which every element depends on every other, so probe cannot "
                    f"describe fn by groups"
                )
    classes = sorted(
        tuple(torch.nonzero(label == k).flatten().tolist()) for k in range(int(label.max()) + 1)
    )
    if len({len(c) for c in classes}) != 1:
        raise _NotBlocks(
            f"along {name} the classes of positions that share statistics have different sizes "
            f"({[list(c) for c in classes]}); probe describes groups of one size, as torch's "
            f"normalization layers have"
        )
    return tuple(classes)


def _block_ids(axis_groups: AxisGroups, shape: tuple[int, ...]) -> torch.Tensor:
    """Group ids ``[*shape]`` of the blocks with these classes per axis, counting from 0 in the
    order the groups first appear in row-major order (classes are sorted by first position)."""
    ids = torch.zeros(shape, dtype=torch.long)  # [*shape]
    for a, classes in enumerate(axis_groups):
        which = torch.empty(shape[a], dtype=torch.long)  # [shape[a]]: class of each position
        for k, c in enumerate(classes):
            which[list(c)] = k
        view = [1] * len(shape)
        view[a] = shape[a]
        ids = ids * len(classes) + which.view(view)  # [*shape]
    return ids


def _check_elements(
    fn: Callable,
    x: torch.Tensor,
    groups: torch.Tensor,
    names: tuple[str, ...],
    gen: torch.Generator,
) -> None:
    """Move single elements (all of a small tensor, ``N_CHECKED`` at random otherwise): each must
    change exactly the outputs of its group, else ``_NotBlocks``. Shapes: x, groups ``[*shape]``.
    """
    shape, n, flat = tuple(x.shape), x.numel(), groups.reshape(-1)
    far = _far(x)
    checked = range(n) if n <= N_CHECKED else torch.randint(n, (N_CHECKED,), generator=gen)
    for j in map(int, checked):
        changed = _column(fn, x, j, far)  # [n]
        changed[j] = True  # an element belongs with itself
        wrong = changed != (flat == flat[j])  # [n]
        if wrong.any():
            k = int(torch.nonzero(wrong)[0])
            does = "changes" if changed[k] else "does not change"
            where = "outside" if changed[k] else "inside"
            raise _NotBlocks(
                f"moving the input at {_where(j, shape, names)} alone {does} the output at "
                f"{_where(k, shape, names)}, {where} the group that moving whole slices found for "
                f"it: the groups of shared statistics are not blocks of the axes, so probe "
                f"cannot describe them by axes"
            )


def _blocks(
    fn: Callable, x: torch.Tensor, names: tuple[str, ...], gen: torch.Generator
) -> tuple[torch.Tensor, AxisGroups]:
    """Steps 1 and 2: group ids ``[*shape]`` and classes per axis, from moving whole slices
    (3 calls per position along each axis), checked on single elements; else ``_NotBlocks``."""
    shape = tuple(x.shape)
    axis_groups = []
    for a, name in enumerate(names):
        if shape[a] == 1:  # undetermined: one position, one class
            axis_groups.append(((0,),))
            continue
        axis_groups.append(_axis_classes(_slice_reads(fn, x, a, names), name))
    groups = _block_ids(tuple(axis_groups), shape)  # [*shape]
    _check_elements(fn, x, groups, names, gen)
    return groups, tuple(axis_groups)


# --- The exhaustive method: every element moved, its dependencies read as a relation. ----------


def _one_sided_error(
    reads: torch.Tensor, shape: tuple[int, ...], names: tuple[str, ...]
) -> NotANormalizationError:
    """The error for a dependence that runs one way only: a pair, and the axis it runs along."""
    readers, read = torch.nonzero(reads & ~reads.T, as_tuple=True)  # [m] each
    i, j = int(readers[0]), int(read[0])
    coords = torch.stack(torch.unravel_index(torch.arange(math.prod(shape)), shape), dim=1)
    step = coords[readers] - coords[read]  # [m, ndim]: reader minus read, per axis
    along = ""
    for a, name in enumerate(names):
        if (step[:, a] > 0).all():
            along = (
                f" Along {name}, positions read the positions before them and not those after "
                f"them: a causal (prefix) pattern, as when position t is normalized with the "
                f"statistics of positions <= t."
            )
        elif (step[:, a] < 0).all():
            along = (
                f" Along {name}, positions read the positions after them and not those before "
                f"them: an anti-causal (suffix) pattern."
            )
    return NotANormalizationError(
        f"the dependence is one-sided: the output at {_where(i, shape, names)} changes when the "
        f"input at {_where(j, shape, names)} moves, but the output at {_where(j, shape, names)} "
        f"does not change when the input at {_where(i, shape, names)} moves.{along} Shared "
        f"statistics make groups in which every element depends on every other, so fn has no "
        f"groups for probe to describe; to see its pattern, look at the dependencies directly "
        f"(move one input and watch which outputs change)"
    )


def _groups(reads: torch.Tensor, shape: tuple[int, ...], names: tuple[str, ...]) -> torch.Tensor:
    """Group ids ``[*shape]`` from ``reads`` ``[n, n]``; raises unless it is disjoint cliques."""
    if not torch.equal(reads, reads.T):
        raise _one_sided_error(reads, shape, names)
    n = reads.shape[0]
    ids = torch.full((n,), -1)
    next_id = 0
    for i in range(n):  # row-major order: ids count up in order of first appearance
        if ids[i] >= 0:
            continue
        members = reads[i]  # [n]: everything element i depends on, itself included
        idx = torch.nonzero(members).flatten()  # [m]
        missing = ~reads[idx][:, idx]  # [m, m]: member pairs that do not depend on each other
        outside = reads[idx].any(dim=0) & ~members  # [n]: read by a member, not by i
        if missing.any():
            r, c = torch.nonzero(missing)[0].tolist()
            ends, centre = (int(idx[r]), int(idx[c])), i
        elif outside.any():
            k = int(torch.nonzero(outside)[0])
            centre = int(idx[reads[idx, k]][0])
            ends = (i, k)
        else:
            ids[members] = next_id
            next_id += 1
            continue
        raise NotANormalizationError(
            f"groups overlap: the elements at {_where(ends[0], shape, names)} and "
            f"{_where(ends[1], shape, names)} both depend on the one at "
            f"{_where(centre, shape, names)}, but not on each other (a sliding window does "
            f"this). Shared statistics make disjoint groups in which every element depends on "
            f"every other, so probe cannot describe fn by groups"
        )
    return ids.reshape(shape)


def _axis_groups(groups: torch.Tensor, names: tuple[str, ...]) -> AxisGroups:
    """Per axis, the classes of positions that share statistics; raises unless every group is
    one class per axis (a "block", consecutive or not) and the classes of an axis are one size.
    """
    shape = tuple(groups.shape)
    flat = groups.reshape(-1)  # [n]
    n_groups = int(flat.max()) + 1
    coords = torch.stack(torch.unravel_index(torch.arange(flat.numel()), shape), dim=1)  # [n, ndim]
    sizes = torch.bincount(flat, minlength=n_groups)  # [n_groups]
    result = []
    spans = torch.ones(n_groups, dtype=torch.long)  # [n_groups]: product of per-axis spans
    for a, name in enumerate(names):
        member = torch.zeros(n_groups, shape[a], dtype=torch.bool)  # [n_groups, shape[a]]
        member[flat, coords[:, a]] = True  # group g has an element at position p of axis a
        classes = sorted({tuple(torch.nonzero(row).flatten().tolist()) for row in member})
        covered = [p for c in classes for p in c]
        if len(covered) != shape[a]:
            p = next(p for p in covered if covered.count(p) > 1)
            a_class, b_class = [list(c) for c in classes if p in c][:2]
            raise NotANormalizationError(
                f"along axis {a} ({name}) the groups of shared statistics do not split the "
                f"positions into separate classes: position {p} is in a group spanning "
                f"positions {a_class} and in one spanning {b_class}; probe describes groups "
                f"that take one class of positions per axis, as torch's normalization layers do"
            )
        if len({len(c) for c in classes}) != 1:
            raise NotANormalizationError(
                f"along axis {a} ({name}) the classes of positions that share statistics have "
                f"different sizes ({[list(c) for c in classes]}); probe describes groups of one "
                f"size, as torch's normalization layers have"
            )
        spans *= member.sum(dim=1)
        result.append(tuple(classes))
    if not torch.equal(sizes, spans):
        raise NotANormalizationError(
            f"the groups of shared statistics are not blocks of the axes (a group of "
            f"{int(sizes[0])} elements spans {int(spans[0])} positions' worth of per-axis "
            f"combinations); probe cannot describe them by axes"
        )
    return tuple(result)


# --- Steps 3 and 4: the verdict by reconstruction, with eps fitted. ---------------------------


def _fresh_input(groups: torch.Tensor, dtype: torch.dtype, gen: torch.Generator) -> torch.Tensor:
    """A random input ``[*shape]`` for a tensor whose elements share nothing: standard-normal
    values scaled by 1..2 and shifted by N(0, 2^2), each element on its own."""
    n = groups.numel()
    z = torch.randn(n, generator=gen, dtype=torch.float64)  # [n]
    scale = 1.0 + torch.rand(n, generator=gen, dtype=torch.float64)  # [n]
    shift = 2.0 * torch.randn(n, generator=gen, dtype=torch.float64)  # [n]
    return (z * scale + shift).to(dtype).reshape(groups.shape)


def _fresh_inputs(
    groups: torch.Tensor, dtype: torch.dtype, gen: torch.Generator
) -> list[torch.Tensor]:
    """``N_SAMPLES`` random inputs ``[*shape]`` in which every group has a standard deviation
    ``10**l`` for ``l`` evenly spaced over ``LOG_STD``, one level per sample in an order of its
    own (so each group is seen at every scale, and an ``eps`` within the range changes some of
    its samples and not others), and a mean of ``2 * std * N(0, 1)`` (which tells mean and
    variance from root-mean-square statistics, at every scale alike)."""
    flat = groups.reshape(-1)  # [n]
    n_groups = int(flat.max()) + 1
    count = torch.bincount(flat, minlength=n_groups).double()  # [n_groups]
    levels = torch.linspace(*LOG_STD, N_SAMPLES, dtype=torch.float64)  # [s]
    order = torch.rand(n_groups, N_SAMPLES, generator=gen).argsort(dim=1)  # [n_groups, s]
    stds = 10.0 ** levels[order]  # [n_groups, s]
    xs = []
    for k in range(N_SAMPLES):
        z = torch.randn(flat.numel(), generator=gen, dtype=torch.float64)  # [n]
        mean = torch.bincount(flat, z, minlength=n_groups) / count  # [n_groups]
        var = torch.bincount(flat, (z - mean[flat]) ** 2, minlength=n_groups) / count
        z = (z - mean[flat]) / var[flat].sqrt()  # [n]: mean 0, variance 1 per group
        std = stds[:, k]  # [n_groups]
        shift = 2.0 * std * torch.randn(n_groups, generator=gen, dtype=torch.float64)
        xs.append((z * std[flat] + shift[flat]).to(dtype).reshape(groups.shape))
    return xs


def _statistic(
    x: torch.Tensor, flat: torch.Tensor, statistics: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` centred (or not, for root mean square) and each group's statistic, in float64.
    Shapes: x ``[*shape]``, flat ``[n]`` group ids -> ``[n]``, ``[n_groups]``; the normalized
    input is ``centred / sqrt(statistic[flat] + eps)``."""
    v = x.reshape(-1).double()  # [n]
    count = torch.bincount(flat).double()  # [n_groups]
    if statistics == "root mean square":
        return v, torch.bincount(flat, v**2) / count
    mean = torch.bincount(flat, v) / count  # [n_groups]
    return v - mean[flat], torch.bincount(flat, (v - mean[flat]) ** 2) / count  # biased


def _residuals(z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Least-squares ``y ~ a * z + b`` per element over samples. Shapes: ``[s, n]`` each ->
    ``a [n]``, ``b [n]``, residuals ``[s, n]``."""
    zc, yc = z - z.mean(dim=0), y - y.mean(dim=0)  # [s, n]
    zz = (zc**2).sum(dim=0)  # [n]
    a = torch.where(zz > 1e-12, (zc * yc).sum(dim=0) / zz.clamp_min(1e-12), 0.0)  # [n]
    b = y.mean(dim=0) - a * z.mean(dim=0)  # [n]
    return a, b, y - (a * z + b)


def _fit(z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Least-squares ``y ~ a * z + b`` per element over samples. Shapes: ``[s, n]`` each ->
    ``a [n]``, ``b [n]``, and the largest misfit relative to ``1 + max|y|``."""
    a, b, r = _residuals(z, y)
    return a, b, float(r.abs().max() / (1.0 + y.abs().max()))


def _fit_eps(centred: torch.Tensor, var: torch.Tensor, y: torch.Tensor, lo: float, hi: float):
    """The ``eps`` in ``(-lo, hi]`` whose normalization ``centred / sqrt(var + eps)`` an
    elementwise affine map fits best to ``y`` (least squares): a grid of four points a decade
    from ``1e-8 lo`` up, and as many below 0, then a golden-section search between the best
    point's neighbours. Shapes: ``[s, m]`` each -> float."""

    def sse(eps: float) -> float:
        _, _, r = _residuals(centred / (var + eps).sqrt(), y)  # [s, m]
        return float((r**2).sum())

    below = [-lo * f for f in (0.999, 0.99, 0.9, 0.5)] + [-lo * 10.0**-k for k in range(1, 9)]
    above = [lo * 10.0 ** (k / 4) for k in range(-32, 100) if lo * 10.0 ** (k / 4) < hi]
    grid = below + [0.0] + above + [hi]
    best = min(range(len(grid)), key=lambda i: sse(grid[i]))
    left, right = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    for _ in range(40):
        inner = (right - left) * 0.381966  # (3 - sqrt 5) / 2
        if sse(left + inner) < sse(right - inner):
            right = right - inner
        else:
            left = left + inner
    eps = (left + right) / 2
    return eps if sse(eps) <= sse(grid[best]) else grid[best]


def _resolution(
    centred: torch.Tensor, var: torch.Tensor, a: torch.Tensor, scale: float, floor: float, hi: float
) -> float:
    """The smallest ``eps`` whose effect on the output, after refitting the affine map of each
    element, reaches ``floor`` (relative to ``scale = 1 + max|y|``): below it, the measurement
    cannot tell ``eps`` from 0. Bisection in log space up to ``hi``. Shapes: centred, var
    ``[s, m]``, a ``[m]`` (the fitted scale of each element)."""
    z0 = centred / var.sqrt()  # [s, m]

    def effect(eps: float) -> float:
        _, _, r = _residuals(z0, centred / (var + eps).sqrt())  # [s, m], in units of x_hat
        return float((a.abs() * r.abs()).max()) / scale

    if effect(hi) < floor:
        return hi
    low, high = math.log10(float(var.min())) - 16, math.log10(hi)
    for _ in range(50):
        mid = (low + high) / 2
        low, high = (mid, high) if effect(10.0**mid) < floor else (low, mid)
    return 10.0**high


def _verdict(
    fn: Callable, groups: torch.Tensor, dtype: torch.dtype, gen: torch.Generator
) -> tuple[str, float | None, float | None]:
    """Which statistics ``fn`` normalizes each group by, reconstructed on fresh inputs, with the
    ``eps`` it measured and the smallest ``eps`` it could have told from 0."""
    flat = groups.reshape(-1)  # [n]
    n_groups = int(flat.max()) + 1
    if n_groups == flat.numel():
        return _verdict_unshared(fn, groups, dtype, gen)
    xs = _fresh_inputs(groups, dtype, gen)
    ys = torch.stack([_call(fn, x).reshape(-1).double() for x in xs])  # [s, n]
    n = flat.numel()
    subset = torch.randperm(n, generator=gen)[:FIT_ELEMENTS] if n > FIT_ELEMENTS else slice(None)
    scale = 1.0 + float(ys.abs().max())
    found = {}
    for statistics in ("mean and variance", "root mean square"):
        pairs = [_statistic(x, flat, statistics) for x in xs]
        centred = torch.stack([c for c, _ in pairs])  # [s, n]
        var = torch.stack([v for _, v in pairs])  # [s, n_groups]
        lo, hi = float(var.min()), float(var.max())
        some = (centred[:, subset], var[:, flat[subset]])  # [s, m] each
        eps = _fit_eps(*some, ys[:, subset], lo, hi)
        a, _, misfit = _fit(centred / (var[:, flat] + eps).sqrt(), ys)  # every element
        found[statistics] = misfit
        if misfit > FIT_TOLERANCE:
            continue
        floor = max(4 * misfit, 16 * torch.finfo(dtype).eps)
        resolution = _resolution(*some, a[subset], scale, floor, hi)
        if eps < -resolution:
            raise NotANormalizationError(
                f"fn normalizes each group by its {statistics}, but with a negative eps (about "
                f"{eps:.1e}, where the smallest it can tell from 0 is {resolution:.0e}): its "
                f"output is larger than the group divided by sqrt({_noun(statistics)}), which "
                f"only eps < 0 explains. A normalization adds eps >= 0 inside the square root; "
                f"check the sign of fn's eps"
            )
        return statistics, (eps if eps >= resolution else 0.0), resolution
    raise NotANormalizationError(
        f"fn mixes the elements of each group it found, but its output is not an elementwise "
        f"affine map (a * x_hat + b, with a and b fixed per element) of the group normalized by "
        f"its mean and variance (misfit {found['mean and variance']:.1e}) or by its root mean "
        f"square (misfit {found['root mean square']:.1e}), each with the eps (up to the largest "
        f"variance) that fits best, on random inputs whose groups' variances span "
        f"{10 ** (2 * LOG_STD[0]):.0e} to {10 ** (2 * LOG_STD[1]):.0e} "
        f"(tolerance {FIT_TOLERANCE:.0e}). Min-max or max-abs scaling, median centring, softmax "
        f"and linear layers mix elements this way without being normalizations"
    )


def _noun(statistics: str) -> str:
    """The statistic under the square root, in words."""
    return "variance" if statistics == "mean and variance" else "mean square"


def _verdict_unshared(
    fn: Callable, groups: torch.Tensor, dtype: torch.dtype, gen: torch.Generator
) -> tuple[str, None, None]:
    """Nothing is shared. A fixed per-element shift and scale (BatchNorm in eval mode) is a
    normalization with stored statistics; anything else is not."""
    xs = [_fresh_input(groups, dtype, gen) for _ in range(N_SAMPLES)]
    ys = torch.stack([_call(fn, x).reshape(-1).double() for x in xs])  # [s, n]
    a, b, misfit = _fit(torch.stack([x.reshape(-1).double() for x in xs]), ys)
    if misfit > FIT_TOLERANCE:
        raise NotANormalizationError(
            "fn treats every element on its own, but not as a fixed shift and scale (its "
            f"output is not affine in its input: misfit {misfit:.1e}), so it is not a "
            "normalization"
        )
    if not (a.abs() > 1e-6).any():
        raise NotANormalizationError(
            "fn's output does not depend on its input, so it is not a normalization"
        )
    if torch.allclose(a, torch.ones_like(a)) and torch.allclose(b, torch.zeros_like(b)):
        raise NotANormalizationError(
            "fn returned its input unchanged, so there is nothing to probe: it is not a "
            "normalization"
        )
    return "none", None, None
