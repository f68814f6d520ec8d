"""Find out, by experiment, which elements share normalization statistics.

``probe(fn, shape)`` never reads a module's configuration. It feeds ``fn`` a random tensor, asks
which outputs change when each input is moved, groups the elements that depend on each other, and
then checks that ``fn`` really normalizes each group: shifting and scaling a whole group together
must leave the output unchanged (mean and variance), or at least scaling must (root mean square).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from .checks import check_names, check_shape

#: Largest number of elements ``probe`` accepts: it calls ``fn`` three times per element.
MAX_NUMEL = 2048


class NotANormalizationError(ValueError):
    """Raised when ``fn`` does not behave like a normalization on the probed shape."""


@dataclass(frozen=True, repr=False)
class ProbeResult:
    """What ``probe`` found.

    Attributes:
        shape: the probed shape ``(s0, s1, ...)``.
        names: one name per axis, used by ``description``.
        reduced_dims: sorted axes along which *all* positions share statistics.
        group_size: per axis, how many positions along it share one set of statistics: 1 for an
            independent axis, ``shape[a]`` for a reduced one, in between for a grouped axis (such
            as GroupNorm's channels).
        statistics: ``"mean and variance"`` (output unchanged when a group is shifted and
            scaled), ``"root mean square"`` (unchanged when scaled only, as in RMSNorm), or
            ``"none"`` (no element depends on another, as in BatchNorm's eval mode).
        groups: int64 tensor of ``shape``; elements with the same id share statistics. Ids count
            from 0 in the order groups first appear in row-major order.
    """

    shape: tuple[int, ...]
    names: tuple[str, ...]
    reduced_dims: tuple[int, ...]
    group_size: tuple[int, ...]
    statistics: str
    groups: torch.Tensor = field(compare=False)

    @property
    def n_groups(self) -> int:
        """How many separate sets of statistics the tensor has."""
        return int(self.groups.max()) + 1

    @property
    def grouped_dims(self) -> tuple[int, ...]:
        """Axes split into blocks of ``group_size[a]`` positions, each with its own statistics."""
        return tuple(a for a, g in enumerate(self.group_size) if 1 < g < self.shape[a])

    @property
    def independent_dims(self) -> tuple[int, ...]:
        """Axes along which every position has its own statistics."""
        return tuple(a for a, g in enumerate(self.group_size) if g == 1)

    def describe(self, names: tuple[str, ...] | None = None) -> str:
        """A sentence saying what is shared over which axes, with ``names`` for the axes."""
        names = self.names if names is None else check_names(names, len(self.shape))
        if self.statistics == "none":
            return (
                "no statistics shared: every element is shifted and scaled on its own, "
                "by numbers that do not depend on the input (as BatchNorm does in eval mode)"
            )
        over = []
        for a, g in enumerate(self.group_size):
            if a in self.reduced_dims:
                over.append(names[a])
            elif a in self.grouped_dims:
                over.append(f"{names[a]} in groups of {g}")
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

    @property
    def description(self) -> str:
        """``describe()`` with the names given to ``probe``."""
        return self.describe()

    def __str__(self) -> str:
        return self.description

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
        names: one name per axis for the description; default ``(batch, seq, dim)`` for 3 axes,
            ``(N, C, H, W)`` for 4.
        dtype: the floating dtype of the probe input (match the module's parameters).
        seed: seed of the probe's own random generator (the global RNG is not touched).

    Returns:
        A ``ProbeResult``; ``str(result)`` is a one-sentence description.

    Raises:
        NotANormalizationError: ``fn`` raises, changes the shape, returns non-finite values, or
            its output is not invariant to shifting/scaling the groups it mixes.
    """
    shape = check_shape(shape, "shape", min_size=2)
    names = check_names(names, len(shape), "names")
    if not callable(fn):
        raise TypeError(f"fn must be a module or callable mapping a tensor to a tensor, got {fn!r}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
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
    # Distinct values at least 7 apart, in random order: no two elements are nearly tied, so a
    # layer's eps (added to variances of 25 or more) cannot blur the invariance checks below.
    spaced = 10.0 * (torch.randperm(n, generator=gen) - n / 2) + 3.0 * torch.rand(n, generator=gen)
    x = spaced.to(dtype).reshape(shape)
    y = _call(fn, x)

    groups = _dependency_groups(fn, x)
    group_size = _group_size(groups, shape)
    statistics = _statistics(fn, x, y, groups, gen)
    reduced = tuple(a for a, g in enumerate(group_size) if g == shape[a])
    if statistics == "none":
        reduced = ()
    return ProbeResult(shape, names, reduced, group_size, statistics, groups)


def _call(fn: Callable, x: torch.Tensor) -> torch.Tensor:
    """Call ``fn(x)`` and check it returned a tensor of ``x``'s shape."""
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


def _dependency_groups(fn: Callable, x: torch.Tensor) -> torch.Tensor:
    """Group ids ``[*shape]``: connected components of "output i changes when input j moves".

    Input j is moved far below, far above and further above the rest; every output that changes
    between those three runs depends on it. Large moves (rather than gradients) also catch groups
    of two, whose LayerNorm output is +-1 whatever the inputs, and RMSNorm, which a sign flip of
    one input would not reveal.
    """
    n = x.numel()
    flat = x.reshape(-1)
    far = 100.0 * (1.0 + float(flat.abs().max()))
    linked = torch.zeros(n, n, dtype=torch.bool)
    with torch.no_grad():
        for j in range(n):
            runs = []
            for move in (-far, far, 3 * far):
                moved = flat.clone()
                moved[j] += move
                runs.append(_call(fn, moved.reshape(x.shape)).reshape(-1))
            ys = torch.stack(runs)
            tol = 1e-5 * (1.0 + ys.abs().amax(dim=0))
            linked[:, j] = ((ys - ys[0]).abs() > tol).any(dim=0)
    linked = linked | linked.T | torch.eye(n, dtype=torch.bool)
    # Connected components by repeated min-label propagation (groups are cliques: one pass).
    labels = torch.arange(n)
    big = torch.full((n, n), n)
    while True:
        new = torch.where(linked, labels[None, :], big).min(dim=1).values
        if torch.equal(new, labels):
            break
        labels = new
    # Renumber 0, 1, 2, ... in order of first appearance.
    _, first = torch.unique(labels, return_inverse=True)
    order = torch.full((n,), -1)
    next_id = 0
    for g in first.tolist():
        if order[g] < 0:
            order[g] = next_id
            next_id += 1
    return order[first].reshape(x.shape)


def _group_size(groups: torch.Tensor, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Per axis, how many positions one group spans; raises if groups are not rectangular blocks."""
    n_groups = int(groups.max()) + 1
    sizes = torch.bincount(groups.reshape(-1), minlength=n_groups)
    coords = torch.stack(
        torch.meshgrid(*[torch.arange(s) for s in shape], indexing="ij"), dim=-1
    ).reshape(-1, len(shape))
    flat = groups.reshape(-1)
    per_axis = []
    for a, s in enumerate(shape):
        pairs = torch.unique(flat * s + coords[:, a])
        counts = torch.bincount(pairs // s, minlength=n_groups)
        if not (counts == counts[0]).all():
            raise NotANormalizationError(
                f"groups of shared statistics span different numbers of positions along axis {a} "
                f"({sorted(set(counts.tolist()))}); probe describes groups that are the same "
                f"block shape everywhere, as torch's normalization layers are"
            )
        per_axis.append(int(counts[0]))
    if not (sizes == math.prod(per_axis)).all():
        raise NotANormalizationError(
            f"groups of shared statistics are not rectangular blocks (sizes "
            f"{sorted(set(sizes.tolist()))}, spans per axis {per_axis}); probe cannot describe "
            f"them by axes"
        )
    return tuple(per_axis)


def _statistics(
    fn: Callable, x: torch.Tensor, y: torch.Tensor, groups: torch.Tensor, gen: torch.Generator
) -> str:
    """Which statistics ``fn`` removes from each group: what leaves its output unchanged."""
    n_groups = int(groups.max()) + 1

    def unchanged(y2: torch.Tensor) -> bool:
        tol = 1e-4 * (1.0 + float(y.abs().max()))
        return bool(((y2 - y).abs() <= tol).all())

    with torch.no_grad():
        if n_groups == x.numel():
            # Nothing is shared. A fixed per-element shift and scale (BatchNorm in eval mode, or
            # any affine map) is still a normalization with stored statistics; anything else is not.
            d = 2.0 * float(x.abs().max()) * torch.randn(x.shape, generator=gen, dtype=x.dtype)
            y1, y2 = _call(fn, x + d), _call(fn, x + 2 * d)
            step1, step2 = y1 - y, y2 - y1
            if not ((step2 - step1).abs() <= 1e-4 * (1.0 + step1.abs().max())).all():
                raise NotANormalizationError(
                    "fn treats every element on its own, but not as a fixed shift and scale (its "
                    "output is not affine in its input), so it is not a normalization"
                )
            if torch.equal(y, x):
                raise NotANormalizationError(
                    "fn returned its input unchanged, so there is nothing to probe: it is not a "
                    "normalization"
                )
            if not (step1.abs() > 0).any():
                raise NotANormalizationError(
                    "fn's output does not depend on its input, so it is not a normalization"
                )
            return "none"
        scale = (1.5 + 1.5 * torch.rand(n_groups, generator=gen, dtype=x.dtype))[groups]
        shift = (10.0 * torch.randn(n_groups, generator=gen, dtype=x.dtype))[groups]
        if unchanged(_call(fn, x * scale + shift)):
            return "mean and variance"
        if unchanged(_call(fn, x * scale)):
            return "root mean square"
    raise NotANormalizationError(
        "fn mixes elements, but its output changes when a group of mixed elements is scaled "
        "together; a normalization's output does not (it divides the scale out). Is fn a "
        "normalization layer?"
    )
