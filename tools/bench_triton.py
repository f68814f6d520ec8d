"""The book's LayerNorm kernel for a CUDA GPU, in Triton: `make bench` uses it when it finds one.

Chapter 8's Numba kernel gives each CPU thread whole rows; on a GPU one program instance (a block
of threads) takes one row: it loads the row into registers once, computes the mean and the
variance from them, and writes every output once, so memory sees one read and one write, as on
the CPU. The row must fit in one block, which holds up to ``MAX_D`` elements. Statistics are
computed in float32 whatever the input's dtype.

Triton is imported only when this module is (it comes with CUDA builds of torch); the book
itself never needs a GPU. With ``TRITON_INTERPRET=1`` Triton runs the kernel on the CPU, slowly,
which is how ``tests/test_tools_bench.py`` checks it where Triton is installed.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

#: The longest row one program instance holds (the benchmark's D reach 16384).
MAX_D = 16384


@triton.jit
def _layer_norm_row(x_ptr, w_ptr, b_ptr, out_ptr, D, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < D
    x = tl.load(x_ptr + row * D + cols, mask=mask, other=0.0).to(tl.float32)  # [BLOCK]
    mean = tl.sum(x, axis=0) / D
    centred = tl.where(mask, x - mean, 0.0)  # [BLOCK]
    rstd = 1.0 / tl.sqrt(tl.sum(centred * centred, axis=0) / D + eps)
    w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    b = tl.load(b_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    y = centred * rstd * w + b
    tl.store(out_ptr + row * D + cols, y.to(out_ptr.dtype.element_ty), mask=mask)


def layer_norm(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    eps: float = 1e-5,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """``F.layer_norm(x, (D,), weight, bias, eps)`` for a contiguous x [..., D] with D <= MAX_D.

    Raises:
        ValueError: x is not contiguous, D is 0 or above ``MAX_D``, or weight, bias or out do
            not match x.
    """
    D = x.shape[-1] if x.ndim else 0
    if not x.is_contiguous() or not 0 < D <= MAX_D:
        raise ValueError(
            f"x must be contiguous with a last axis of 1 to {MAX_D} elements, got "
            f"shape {tuple(x.shape)}, contiguous={x.is_contiguous()}"
        )
    if weight.shape != (D,) or bias.shape != (D,):
        raise ValueError(
            f"weight and bias must have shape ({D},), got {tuple(weight.shape)} "
            f"and {tuple(bias.shape)}"
        )
    out = torch.empty_like(x) if out is None else out
    if out.shape != x.shape or out.dtype != x.dtype or not out.is_contiguous():
        raise ValueError(
            f"out must be a contiguous {x.dtype} tensor of shape {tuple(x.shape)}, "
            f"got {out.dtype} {tuple(out.shape)}"
        )
    rows = x.numel() // D
    block = triton.next_power_of_2(D)
    _layer_norm_row[(rows,)](
        x, weight, bias, out, D, eps, BLOCK=block, num_warps=min(max(block // 256, 1), 16)
    )
    return out
