"""Check the arguments of normlab's instruments, raising errors that name the argument.

Every check raises an error that names the argument, says what was expected and shows what came
in, so that a reader who passes the wrong thing learns what the right thing is.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def check_tensor(x: object, name: str = "x") -> torch.Tensor:
    """Return ``x`` if it is a non-empty floating-point tensor, else raise.

    Shapes: any shape with at least one element.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (mean and variance need fractions), "
            f"got dtype {x.dtype}; convert it with {name}.float()"
        )
    if x.ndim == 0:
        raise ValueError(f"{name} must have at least one axis, got a 0-d tensor (a scalar)")
    if x.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {list(x.shape)}")
    return x


def check_dims(dims: object, ndim: int, name: str = "dims") -> tuple[int, ...]:
    """Normalize ``dims`` to a sorted tuple of non-negative axes of an ``ndim``-d tensor.

    Accepts one int or a tuple/list of ints; negative axes count from the end, as in torch.
    Raises for an empty, repeated, out-of-range or non-integer entry.
    """
    if isinstance(dims, bool) or not isinstance(dims, (int, Sequence)) or isinstance(dims, str):
        raise TypeError(
            f"{name} must be an int or a tuple of ints (axes to reduce), "
            f"got {type(dims).__name__} {dims!r}"
        )
    items = (dims,) if isinstance(dims, int) else tuple(dims)
    if not items:
        raise ValueError(f"{name} must name at least one axis to reduce over, got {dims!r}")
    out = []
    for d in items:
        if isinstance(d, bool) or not isinstance(d, int):
            raise TypeError(f"{name} must contain ints, got {type(d).__name__} {d!r} in {dims!r}")
        if not -ndim <= d < ndim:
            raise IndexError(
                f"{name} entry {d} is out of range for a tensor with {ndim} axes "
                f"(valid: {-ndim} to {ndim - 1}); got {name}={dims!r}"
            )
        out.append(d % ndim)
    if len(set(out)) != len(out):
        raise ValueError(
            f"{name} must not repeat an axis, got {dims!r} (as non-negative axes: {tuple(out)})"
        )
    return tuple(sorted(out))


def check_shape(shape: object, name: str = "shape", min_size: int = 1) -> tuple[int, ...]:
    """Return ``shape`` as a tuple of ints, each at least ``min_size``, else raise."""
    if isinstance(shape, torch.Size):
        shape = tuple(shape)
    if not isinstance(shape, (tuple, list)) or not shape:
        raise TypeError(
            f"{name} must be a non-empty tuple of ints such as (2, 3, 4), got {shape!r}"
        )
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, int):
            raise TypeError(f"{name} must contain ints, got {type(s).__name__} {s!r} in {shape!r}")
        if s < min_size:
            raise ValueError(f"{name} entries must be at least {min_size}, got {tuple(shape)}")
    return tuple(shape)


def check_names(names: object, ndim: int, name: str = "names") -> tuple[str, ...]:
    """Return axis names: ``names`` checked against ``ndim``, or defaults by dimensionality.

    Defaults follow the book's notation table: 2 axes -> (N, D); 3 axes -> (N, T, D) for text
    (batch, tokens, features); 4 axes -> (N, C, H, W) for images; otherwise axis0, axis1, ...
    """
    if names is None:
        return {2: ("N", "D"), 3: ("N", "T", "D"), 4: ("N", "C", "H", "W")}.get(
            ndim, tuple(f"axis{i}" for i in range(ndim))
        )
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise TypeError(f"{name} must be a tuple of strings, one per axis, got {names!r}")
    names = tuple(names)
    if len(names) != ndim or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"{name} must hold {ndim} non-empty strings, one per axis, got {names!r}")
    if len(set(names)) != ndim:
        raise ValueError(f"{name} must not repeat a name, got {names!r}")
    return names
