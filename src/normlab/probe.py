"""Find out, by experiment, which elements share normalization statistics.

``probe(fn, shape)`` never reads a module's configuration. It works in three steps, and each
step either succeeds or raises ``NotANormalizationError`` saying what it found:

1. **Dependencies.** Feed ``fn`` a random tensor, move each input element far, and record which
   outputs change: ``reads[i, j]`` is true when output ``i`` changes as input ``j`` moves.
2. **Groups.** Shared statistics make groups in which every element reads every other: the
   relation must be symmetric (a one-sided dependence, as in a causal normalization, is not a
   group) and transitive (groups do not overlap). Along each axis, the groups must split the
   positions into classes of one size, so that each group is one class per axis.
3. **Verdict by reconstruction.** On fresh random inputs of ordinary scale, the output must be
   an elementwise affine map ``a * x_hat + b`` (fixed ``a`` and ``b`` per element, such as
   gamma and beta) of the input normalized over the groups: by mean and variance
   (``normlab.normalize``'s formula), or by root mean square (RMSNorm). Anything else (min-max
   or max-abs scaling, median centring, softmax, a Linear layer) is not a normalization.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .checks import check_names, check_shape

#: Largest number of elements ``probe`` accepts: it calls ``fn`` three times per element.
MAX_NUMEL = 2048
#: Fresh random inputs used to reconstruct the output (step 3).
N_SAMPLES = 8
#: Largest misfit of the reconstruction, relative to ``1 + max|output|``. A layer's own ``eps``
#: (Keras's 1e-3 is the largest common default) against group variances of at least 1 stays
#: below it; the look-alikes above miss by 1e-2 or more.
FIT_TOLERANCE = 2e-3

#: Per-axis classes: for each axis, the sets of positions along it that share statistics.
AxisGroups = tuple[tuple[tuple[int, ...], ...], ...]


class NotANormalizationError(ValueError):
    """Raised when ``fn`` does not behave like a normalization on the probed shape."""


@dataclass(frozen=True, repr=False, eq=False)
class ProbeResult:
    """What ``probe`` found.

    Attributes:
        shape: the probed shape ``(s0, s1, ...)``.
        names: one name per axis, used by ``str(result)``.
        reduced_dims: sorted axes along which *all* positions share statistics.
        group_size: per axis, how many positions along it share one set of statistics: 1 for an
            independent axis, ``shape[a]`` for a reduced one, in between for a grouped axis (such
            as GroupNorm's channels).
        statistics: ``"mean and variance"`` (the output is an elementwise affine map of the
            input normalized by each group's mean and variance), ``"root mean square"`` (the
            same with RMSNorm's statistic), or ``"none"`` (no element depends on another: a
            fixed shift and scale per element, as in BatchNorm's eval mode).
        groups: int64 tensor ``[*shape]``; elements with the same id share statistics. Ids
            count from 0 in the order groups first appear in row-major order.
        axis_groups: per axis, the classes of positions that share statistics, e.g.
            ``((0, 1, 2), (3, 4, 5))`` for GroupNorm(2, 6)'s channel axis, or ``((0, 2), (1, 3))``
            for a grouping that is not in consecutive blocks.

    ``str(result)``, which ``print(result)`` shows, says in one sentence what is shared over
    which axes, with ``names``. Two results are equal when shape, names, statistics and groups
    are.
    """

    shape: tuple[int, ...]
    names: tuple[str, ...]
    reduced_dims: tuple[int, ...]
    group_size: tuple[int, ...]
    statistics: str
    groups: torch.Tensor
    axis_groups: AxisGroups

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
        """Axes along which every position has its own statistics."""
        return tuple(a for a, g in enumerate(self.group_size) if g == 1)

    def is_consecutive(self, axis: int) -> bool:
        """Whether the classes along ``axis`` are consecutive blocks ``0..g-1, g..2g-1, ...``."""
        g = self.group_size[axis]
        return all(
            c == tuple(range(k * g, (k + 1) * g)) for k, c in enumerate(self.axis_groups[axis])
        )

    def __str__(self) -> str:
        """One sentence: which statistics are shared over which axes, and how many sets."""
        names = self.names
        if self.statistics == "none":
            return (
                "no statistics shared: every element is shifted and scaled on its own, "
                "by numbers that do not depend on the input (as BatchNorm does in eval mode)"
            )
        over = []
        for a, g in enumerate(self.group_size):
            if a in self.reduced_dims:
                over.append(names[a])
            elif a in self.grouped_dims and self.is_consecutive(a):
                over.append(f"{names[a]} in groups of {g}")
            elif a in self.grouped_dims:
                classes = " ".join("{" + ", ".join(map(str, c)) + "}" for c in self.axis_groups[a])
                over.append(f"{names[a]} in groups {classes}")
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
            a plain callable is called as it is (several times).
        shape: the input shape; every axis must be at least 2 long (an axis of length 1 cannot
            show whether it is shared), and the total at most ``MAX_NUMEL`` elements.
        names: one name per axis for the description; default ``(N, T, D)`` for 3 axes,
            ``(N, C, H, W)`` for 4 (the book's notation).
        dtype: the dtype of the probe's inputs, ``torch.float32`` or ``torch.float64`` (match
            the module's parameters). Half precision is refused: its rounding is too coarse to
            tell a normalization from a look-alike.
        seed: seed of the probe's own random generator (the global RNG is not touched).

    Returns:
        A ``ProbeResult``; ``str(result)`` is a one-sentence description.

    Raises:
        NotANormalizationError: ``fn`` raises, changes the shape, returns non-finite values, has
            one-sided or overlapping dependencies, groups that are not classes of the axes, or
            an output that is not an elementwise affine map of a normalization over its groups.
    """
    shape = check_shape(shape, "shape", min_size=2)
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
            f"shape {shape} has {n} elements; probe calls fn three times per element and accepts "
            f"at most {MAX_NUMEL}. The sharing pattern does not depend on size: probe a smaller "
            f"shape such as {tuple(min(s, 4) for s in shape)}"
        )
    if isinstance(fn, nn.Module):
        fn = copy.deepcopy(fn)

    gen = torch.Generator().manual_seed(seed)
    # Distinct values in [-2, 2], in random order. Small values keep every output away from
    # saturation and underflow (a softmax of values 10 apart is one-hot, and exp(-100) is 0 in
    # float32), so that a dependence shows both ways; the moves below are large anyway.
    spaced = 4.0 * (torch.randperm(n, generator=gen) + 0.3 * torch.rand(n, generator=gen)) / n - 2.0
    x = spaced.to(dtype).reshape(shape)
    _call(fn, x)

    with torch.no_grad():
        reads = _dependencies(fn, x)  # [n, n]
    groups = _groups(reads, shape, names)  # [*shape]
    axis_groups = _axis_groups(groups, names)
    group_size = tuple(len(classes[0]) for classes in axis_groups)
    with torch.no_grad():
        statistics = _verdict(fn, groups, dtype, gen, names)
    # with nothing shared every group size is 1, below every axis's length (at least 2)
    reduced = tuple(a for a, g in enumerate(group_size) if g == shape[a])
    return ProbeResult(shape, names, reduced, group_size, statistics, groups, axis_groups)


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
    if not torch.isfinite(y).all():
        raise NotANormalizationError(
            f"fn returned non-finite values on an input of shape {list(x.shape)}"
        )
    return y


def _dependencies(fn: Callable, x: torch.Tensor) -> torch.Tensor:
    """``reads[i, j]``: output i changes when input j moves. Shapes: x ``[*shape]`` -> ``[n, n]``.

    Input j is moved far below, far above and further above the rest; an output that differs
    between any two of the three runs depends on it. Large moves (rather than gradients) also
    catch groups of two, whose LayerNorm output is +-1 whatever the inputs (the sign flips),
    and RMSNorm (the magnitude changes); a third run makes it vanishingly unlikely that an
    output lands on the same value by coincidence in all of them. Deterministic kernels compute
    an output that does not depend on j bit for bit the same, so a change counts when it
    exceeds a millionth of the output's own size. The diagonal is set: an element belongs with
    itself.
    """
    n = x.numel()
    flat = x.reshape(-1)  # [n]
    far = 100.0 * (1.0 + float(flat.abs().max()))
    reads = torch.zeros(n, n, dtype=torch.bool)
    for j in range(n):
        runs = []
        for move in (-far, far, 3 * far):
            moved = flat.clone()
            moved[j] += move
            runs.append(_call(fn, moved.reshape(x.shape)).reshape(-1))
        ys = torch.stack(runs)  # [3, n]
        size = ys.abs().amax(dim=0)  # [n]
        reads[:, j] = ((ys - ys[0]).abs() > 1e-6 * size).any(dim=0)
    return reads | torch.eye(n, dtype=torch.bool)


def _where(index: int, shape: tuple[int, ...], names: tuple[str, ...]) -> str:
    """The element at flat ``index`` written with axis names, e.g. ``(N=0, T=2, D=1)``."""
    coords = torch.unravel_index(torch.tensor(index), shape)
    return "(" + ", ".join(f"{name}={int(c)}" for name, c in zip(names, coords, strict=True)) + ")"


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


def _fresh_input(groups: torch.Tensor, dtype: torch.dtype, gen: torch.Generator) -> torch.Tensor:
    """A random input ``[*shape]`` of ordinary scale: within each group, standard-normal values
    standardized, then scaled by 1..2 and shifted by N(0, 2^2). Every group has a variance of
    at least 1 (a layer's eps up to 1e-3 stays negligible, and nothing saturates) and a mean of
    its own (which tells mean-and-variance from root-mean-square statistics)."""
    flat = groups.reshape(-1)  # [n]
    n_groups = int(flat.max()) + 1
    count = torch.bincount(flat, minlength=n_groups).double()  # [n_groups]
    z = torch.randn(flat.numel(), generator=gen, dtype=torch.float64)  # [n]
    if count.max() > 1:
        mean = torch.bincount(flat, z, minlength=n_groups) / count  # [n_groups]
        var = torch.bincount(flat, (z - mean[flat]) ** 2, minlength=n_groups) / count
        z = (z - mean[flat]) / var[flat].sqrt()  # [n]: mean 0, variance 1 per group
    scale = 1.0 + torch.rand(n_groups, generator=gen, dtype=torch.float64)
    shift = 2.0 * torch.randn(n_groups, generator=gen, dtype=torch.float64)
    return (z * scale[flat] + shift[flat]).to(dtype).reshape(groups.shape)


def _normalized(x: torch.Tensor, groups: torch.Tensor, statistics: str) -> torch.Tensor:
    """``x`` normalized over ``groups`` in float64, eps = 0. Shapes: ``[*shape]`` -> ``[n]``."""
    flat, v = groups.reshape(-1), x.reshape(-1).double()  # [n], [n]
    count = torch.bincount(flat).double()  # [n_groups]
    if statistics == "root mean square":
        return v / (torch.bincount(flat, v**2) / count).sqrt()[flat]
    mean = torch.bincount(flat, v) / count  # [n_groups]
    var = torch.bincount(flat, (v - mean[flat]) ** 2) / count  # [n_groups], biased
    return (v - mean[flat]) / var.sqrt()[flat]


def _fit(z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Least-squares ``y ~ a * z + b`` per element over samples. Shapes: ``[s, n]`` each ->
    ``a [n]``, ``b [n]``, and the largest misfit relative to ``1 + max|y|``."""
    zc, yc = z - z.mean(dim=0), y - y.mean(dim=0)  # [s, n]
    zz = (zc**2).sum(dim=0)  # [n]
    a = torch.where(zz > 1e-12, (zc * yc).sum(dim=0) / zz.clamp_min(1e-12), 0.0)  # [n]
    b = y.mean(dim=0) - a * z.mean(dim=0)  # [n]
    misfit = (y - (a * z + b)).abs().max() / (1.0 + y.abs().max())
    return a, b, float(misfit)


def _verdict(
    fn: Callable, groups: torch.Tensor, dtype: torch.dtype, gen: torch.Generator, names
) -> str:
    """Which statistics ``fn`` normalizes each group by, reconstructed on fresh inputs."""
    xs = [_fresh_input(groups, dtype, gen) for _ in range(N_SAMPLES)]
    ys = torch.stack([_call(fn, x).reshape(-1).double() for x in xs])  # [s, n]
    if int(groups.max()) + 1 == groups.numel():
        # Nothing is shared. A fixed per-element shift and scale (BatchNorm in eval mode) is a
        # normalization with stored statistics; anything else is not.
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
        return "none"
    misfits = {}
    for statistics in ("mean and variance", "root mean square"):
        zs = torch.stack([_normalized(x, groups, statistics) for x in xs])  # [s, n]
        _, _, misfits[statistics] = _fit(zs, ys)
        if misfits[statistics] <= FIT_TOLERANCE:
            return statistics
    raise NotANormalizationError(
        f"fn mixes the elements of each group it found, but its output is not an elementwise "
        f"affine map (a * x_hat + b, with a and b fixed per element) of the group normalized by "
        f"its mean and variance (misfit {misfits['mean and variance']:.1e}) or by its root mean "
        f"square (misfit {misfits['root mean square']:.1e}), on random inputs of ordinary scale "
        f"(tolerance {FIT_TOLERANCE:.0e}). Min-max or max-abs scaling, median centring, softmax "
        f"and linear layers mix elements this way without being normalizations"
    )
