"""Chapter 8's LayerNorm kernels, loaded from the chapter's cells tagged `kernel` (the code the
reader reads is the code tested), against F.layer_norm on random shapes."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from tools import chapter_code


@pytest.fixture(scope="module")
def kernels():
    return chapter_code.load("notebooks/08_speed.ipynb", "kernel")


shapes = st.lists(st.integers(1, 9), min_size=0, max_size=2).flatmap(
    lambda lead: st.integers(1, 3000).map(lambda d: (*lead, d))
)


@settings(max_examples=40, deadline=None)
@given(
    shape=shapes,
    dtype=st.sampled_from([torch.float32, torch.bfloat16]),
    scale=st.sampled_from([1e-3, 1.0, 1e3]),
    shift=st.sampled_from([0.0, 5.0]),
)
def test_kernel_is_as_accurate_as_f_layer_norm(kernels, shape, dtype, scale, shift):
    """Against the exact (float64) result, the kernel's error is at most F.layer_norm's plus a
    rounding step of the output dtype: rows far from zero with a tiny spread are
    ill-conditioned, and there both differ from the truth (and from each other) by more than
    assert_close's default tolerance."""
    x = (torch.randn(shape) * scale + shift).to(dtype)  # [..., D]
    w, b = torch.randn(shape[-1]).to(dtype), torch.randn(shape[-1]).to(dtype)  # [D], [D]
    truth = F.layer_norm(x.double(), shape[-1:], w.double(), b.double())
    ours = (kernels.layer_norm(x, w, b).double() - truth).abs().max()
    torchs = (F.layer_norm(x, shape[-1:], w, b).double() - truth).abs().max()
    step = 1e-5 if dtype == torch.float32 else 2.0**-8 * truth.abs().max()
    assert ours <= 1.5 * torchs + step, (ours, torchs)


def test_kernel_equals_f_layer_norm_on_ordinary_rows(kernels):
    for dtype in (torch.float32, torch.bfloat16):
        x = (torch.randn(6, 333) * 2 + 1).to(dtype)  # [R, D]
        w, b = torch.randn(333).to(dtype), torch.randn(333).to(dtype)
        torch.testing.assert_close(kernels.layer_norm(x, w, b), F.layer_norm(x, (333,), w, b))


def test_kernel_writes_into_out_and_returns_it(kernels):
    x, w, b = torch.randn(3, 5, 40), torch.randn(40), torch.randn(40)
    out = torch.empty_like(x)
    assert kernels.layer_norm(x, w, b, eps=1e-3, out=out) is out
    torch.testing.assert_close(out, F.layer_norm(x, (40,), w, b, eps=1e-3))


def test_narrow_rounds_like_torch_including_ties_and_extremes(kernels):
    bits = torch.arange(0, 2**16, dtype=torch.int32)  # every bfloat16 pattern ...
    exact = (bits << 16).view(torch.float32)
    ties = ((bits << 16) | 0x8000).view(torch.float32)  # ... and each halfway to the next
    values = torch.cat([exact, ties])
    finite = values[torch.isfinite(values)]
    ours = np.empty(finite.numel(), np.uint16)
    kernels.narrow(finite.numpy(), ours)
    assert np.array_equal(ours, finite.bfloat16().view(torch.int16).numpy().view(np.uint16))


def test_narrow_writes_every_nan_as_torchs_scalar_quiet_nan(kernels):
    """torch's scalar conversion (c10's round_to_nearest_even, used for a 0-dim tensor on every
    CPU) writes 0x7FC0 for every NaN; its AVX2/AVX-512 code writes 0xFFFF. narrow follows the
    scalar rule, bit for bit, for NaNs of either sign whose payload sits anywhere."""
    named = [0x7F800001, 0xFF800001, 0x7FC00000, 0xFFC00000, 0x7FFFFFFF, 0xFFFFFFFF, 0x7F80FFFF]
    payloads = np.arange(1, 2**23, 997, dtype=np.uint32)  # a spread of the 23 payload bits
    signs = np.array([0x7F800000, 0xFF800000], np.uint32)  # exponent 255, either sign
    every = (payloads[:, None] | signs).ravel()
    patterns = np.concatenate([np.array(named, np.uint32), every])
    nans = patterns.view(np.float32)
    assert np.isnan(nans).all()
    ours = np.empty(nans.size, np.uint16)
    kernels.narrow(nans, ours)
    assert (ours == 0x7FC0).all()
    t = torch.from_numpy(nans)
    scalar = [t[i].bfloat16().view(torch.int16).item() & 0xFFFF for i in range(len(named))]
    assert scalar == [0x7FC0] * len(named)
    assert t.bfloat16().isnan().all()  # the vector path: a NaN too, whatever its bits


def test_kernel_gives_torchs_bits_on_rows_with_nan_or_inf(kernels):
    """A row holding NaN or infinity normalizes to NaN everywhere, as in F.layer_norm; the
    bfloat16 output is 0x7FC0, the bits F.layer_norm writes without vector code."""
    x = torch.randn(3, 100)  # [R, D]
    x[0, 5], x[1, 7] = float("nan"), float("inf")
    w, b = torch.randn(100), torch.randn(100)
    for dtype in (torch.float32, torch.bfloat16):
        xs, ws, bs = x.to(dtype), w.to(dtype), b.to(dtype)
        ours, theirs = kernels.layer_norm(xs, ws, bs), F.layer_norm(xs, (100,), ws, bs)
        assert ours[:2].isnan().all() and theirs[:2].isnan().all()
        torch.testing.assert_close(ours[2], theirs[2])
        if dtype == torch.bfloat16:
            assert (ours[:2].view(torch.int16) == 0x7FC0).all()


def test_channels_kernel_equals_layer_norm_over_c(kernels):
    x, w, b = torch.randn(3, 7, 5, 4), torch.randn(7), torch.randn(7)  # [N, C, H, W]
    out = torch.empty_like(x)
    kernels.layer_norm_channels(
        x.view(3, 7, 20).numpy(), w.numpy(), b.numpy(), np.float32(1e-5), out.view(3, 7, 20).numpy()
    )
    expected = F.layer_norm(x.permute(0, 2, 3, 1), (7,), w, b).permute(0, 3, 1, 2)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize(
    "x, w, out, message",
    [
        (torch.randn(4, 8).double(), torch.ones(8), None, "float32 or bfloat16"),
        (torch.randn(8, 4).t(), torch.ones(8), None, "contiguous=False; try x.contiguous"),
        (torch.randn(4, 8), torch.ones(7), None, r"weight and bias must have shape \(8,\)"),
        (torch.randn(4, 0), torch.ones(0), None, "D > 0"),
        (torch.randn(4, 8), torch.ones(8), torch.empty(4, 8).bfloat16(), "out must be"),
    ],
)
def test_wrapper_refuses_what_the_kernels_do_not_handle(kernels, x, w, out, message):
    with pytest.raises(ValueError, match=message):
        kernels.layer_norm(x, w, torch.zeros_like(w), out=out)
