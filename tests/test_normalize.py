"""normalize() against torch's own normalization functions, over many shapes and axis sets."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from normlab import normalize

# No per-example deadline: a correct formula must not fail because a shared CPU is busy.
SETTINGS = settings(max_examples=60, deadline=None)
shapes = st.lists(st.integers(2, 5), min_size=2, max_size=5).map(tuple)


def rand(shape, seed):
    """float64, so the comparisons test the formula rather than float32 summation order."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=torch.float64) * 3 + 1


@SETTINGS
@given(
    shape=shapes,
    k=st.integers(1, 5),
    seed=st.integers(0, 2**16),
    eps=st.sampled_from([1e-5, 1e-12, 0.1]),
)
def test_matches_layer_norm_over_last_k_dims(shape, k, seed, eps):
    k = min(k, len(shape))
    x = rand(shape, seed)
    expected = F.layer_norm(x, shape[-k:], eps=eps)
    torch.testing.assert_close(normalize(x, tuple(range(-k, 0)), eps), expected)


@SETTINGS
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_matches_layer_norm_module(shape, seed):
    x = rand(shape, seed)
    torch.testing.assert_close(normalize(x, -1), nn.LayerNorm(shape[-1], dtype=torch.float64)(x))


@SETTINGS
@given(
    shape=st.lists(st.integers(2, 5), min_size=3, max_size=5).map(tuple), seed=st.integers(0, 2**16)
)
def test_matches_instance_norm(shape, seed):
    x = rand(shape, seed)
    spatial = tuple(range(2, len(shape)))
    torch.testing.assert_close(normalize(x, spatial), F.instance_norm(x))


@SETTINGS
@given(
    shape=st.lists(st.integers(2, 5), min_size=2, max_size=5).map(tuple), seed=st.integers(0, 2**16)
)
def test_matches_batch_norm_in_training(shape, seed):
    x = rand(shape, seed)
    batch_and_spatial = (0,) + tuple(range(2, len(shape)))
    expected = F.batch_norm(x, None, None, training=True)
    torch.testing.assert_close(normalize(x, batch_and_spatial), expected)


@SETTINGS
@given(
    n=st.integers(1, 4),
    groups=st.integers(1, 4),
    per_group=st.integers(1, 3),
    spatial=st.lists(st.integers(1, 4), min_size=0, max_size=2),
    seed=st.integers(0, 2**16),
)
def test_matches_group_norm(n, groups, per_group, spatial, seed):
    c = groups * per_group
    if per_group * max(1, torch.Size(spatial).numel()) < 2:
        # a one-element group normalizes to 0 whatever it holds: two elements make the
        # comparison test the formula
        spatial = [2]
    x = rand((n, c, *spatial), seed)
    # GroupNorm is normalize over (channels-in-group, spatial) after splitting C into G x C/G.
    grouped = x.reshape(n, groups, per_group, *spatial)
    by_hand = normalize(grouped, tuple(range(2, grouped.ndim))).reshape(x.shape)
    torch.testing.assert_close(by_hand, F.group_norm(x, groups))


@SETTINGS
@given(shape=shapes, seed=st.integers(0, 2**16), data=st.data())
def test_any_axis_set_gives_zero_mean_unit_variance(shape, seed, data):
    dims = data.draw(st.sets(st.integers(0, len(shape) - 1), min_size=1).map(tuple))
    y = normalize(rand(shape, seed), dims, eps=0.0)
    mean, var = y.mean(dims), y.var(dims, correction=0)
    torch.testing.assert_close(mean, torch.zeros_like(mean), atol=1e-12, rtol=0)
    torch.testing.assert_close(var, torch.ones_like(var), atol=1e-12, rtol=0)


def test_reproduces_the_learners_mistaken_numbers():
    x = rand((2, 3, 4), 0)
    mean = x[0].mean()
    std = x[0].std()  # unbiased, over the whole sentence, no eps
    mistaken = (x[0] - mean) / std
    torch.testing.assert_close(normalize(x, (1, 2), eps=0.0, unbiased=True)[0], mistaken)


def test_negative_and_positive_dims_agree():
    x = rand((2, 3, 4), 1)
    torch.testing.assert_close(normalize(x, (-2, -1)), normalize(x, (2, 1)))


def test_keeps_dtype_and_shape():
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        x = rand((2, 3), 2).to(dtype)
        y = normalize(x, 1)
        assert y.dtype == dtype and y.shape == x.shape


@pytest.mark.parametrize(
    "dims, error, words",
    [
        ((), ValueError, "at least one axis"),
        ((1, 1), ValueError, "must not repeat"),
        ((2, -1), ValueError, "must not repeat"),
        ((3,), IndexError, "out of range"),
        ((-4,), IndexError, "out of range"),
        ((1.0,), TypeError, "must contain ints"),
        ("1", TypeError, "an int or a tuple"),
        (None, TypeError, "an int or a tuple"),
        (True, TypeError, "an int or a tuple"),
    ],
)
def test_bad_dims_are_named(dims, error, words):
    with pytest.raises(error, match=words) as info:
        normalize(torch.randn(2, 3, 4), dims)
    assert "dims" in str(info.value)


@pytest.mark.parametrize(
    "x, words",
    [
        (torch.arange(6).reshape(2, 3), "floating-point"),
        (torch.randn(0, 3), "must not be empty"),
        (torch.tensor(1.0), "0-d"),
        ([[1.0, 2.0]], "torch.Tensor"),
    ],
)
def test_bad_x_is_named(x, words):
    with pytest.raises((TypeError, ValueError), match=words) as info:
        normalize(x, -1)
    assert str(info.value).startswith("x ")


def test_bad_eps_and_unbiased_on_single_elements():
    with pytest.raises(ValueError, match="eps must be a non-negative"):
        normalize(torch.randn(2, 3), -1, eps=-1.0)
    with pytest.raises(ValueError, match="at least 2 elements"):
        normalize(torch.randn(2, 1), -1, unbiased=True)


# --- Issue 23: the unbiased count, from both sides. ---------------------------------------------


def test_unbiased_counts_the_elements_of_every_reduced_axis():
    x = rand((3, 1), 0)  # one group of 3 elements, spread over both axes
    expected = (x - x.mean()) / x.std()  # torch.std divides by n - 1 = 2
    torch.testing.assert_close(normalize(x, (0, 1), eps=0.0, unbiased=True), expected)
    # Two elements over two axes are enough (variance (1 + 1) / 1); one element is not.
    pair = torch.tensor([[1.0], [3.0]])
    torch.testing.assert_close(
        normalize(pair, (0, 1), eps=0.0, unbiased=True), torch.tensor([[-0.5], [0.5]]) * 2**0.5
    )
    with pytest.raises(ValueError, match=r"dims=\(0, 1\) of shape \[1, 1\] gives groups of 1"):
        normalize(torch.ones(1, 1), (0, 1), unbiased=True)


# --- Issue 23: each argument named in its own error, and a bool is no eps. ----------------------


@pytest.mark.parametrize(
    "dims, eps, error, message",
    [
        (
            1.5,
            0.0,
            TypeError,
            "dims must be an int or a tuple of ints (axes to reduce), got float 1.5",
        ),
        (-1, True, ValueError, "eps must be a non-negative number, got True"),
        (-1, -1.0, ValueError, "eps must be a non-negative number, got -1.0"),
    ],
)
def test_bad_dims_and_eps_are_named(dims, eps, error, message):
    with pytest.raises(error) as caught:
        normalize(torch.randn(2, 3), dims, eps=eps)
    assert str(caught.value) == message
