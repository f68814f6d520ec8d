"""Normalize a tensor over chosen axes: the one formula every normalization layer shares."""

from __future__ import annotations

import torch

from .checks import check_dims, check_tensor


def normalize(
    x: torch.Tensor, dims: int | tuple[int, ...], eps: float = 1e-5, *, unbiased: bool = False
) -> torch.Tensor:
    """Subtract the mean over ``dims`` and divide by ``sqrt(var + eps)``.

    LayerNorm, InstanceNorm, GroupNorm and BatchNorm (train mode) differ only in ``dims`` (and in
    reshapes for GroupNorm); their affine parameters come after this step.

    Args:
        x: floating tensor, any shape ``[*]`` with at least one element.
        dims: the axes whose elements share one mean and one variance; an int or a tuple of ints,
            negative axes allowed. ``nn.LayerNorm(D)`` on ``[N, T, D]`` is ``dims=(-1,)``.
        eps: added to the variance *inside* the square root, as torch's layers do. ``eps=0``
            reproduces a hand computation without it.
        unbiased: divide the sum of squares by ``n - 1`` (``torch.std``'s default) instead of
            ``n`` (what the layers use). Needs at least two elements per group.

    Returns:
        A tensor of ``x``'s shape and dtype.

    Example:
        >>> x = torch.randn(2, 3, 4)
        >>> torch.testing.assert_close(normalize(x, (-1,)), torch.nn.LayerNorm(4)(x))
    """
    x = check_tensor(x, "x")
    dims = check_dims(dims, x.ndim, "dims")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps < 0:
        raise ValueError(f"eps must be a non-negative number, got {eps!r}")
    n = 1
    for d in dims:
        n *= x.shape[d]
    if unbiased and n < 2:
        raise ValueError(
            f"unbiased=True divides by n - 1, so each group needs at least 2 elements; "
            f"dims={dims} of shape {list(x.shape)} gives groups of {n}"
        )
    # With keepdim, the statistics keep every axis, with size 1 on ``dims``: for x [N, T, D] and
    # dims=(2,) they are [N, T, 1], one per token, and broadcast back over D.
    mean = x.mean(dim=dims, keepdim=True)  # [*, 1 on dims]
    var = x.var(dim=dims, correction=1 if unbiased else 0, keepdim=True)  # [*, 1 on dims]
    return (x - mean) / torch.sqrt(var + eps)  # [*]: x's shape
