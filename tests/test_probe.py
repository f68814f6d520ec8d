"""probe() on torch's normalization layers, in train and eval mode, across shapes."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from normlab import MAX_NUMEL, NotANormalizationError, ProbeResult, probe

NLP = (2, 3, 4)
VISION = (2, 4, 3, 3)


@pytest.mark.parametrize("shape", [(2, 3, 4), (3, 5, 2), (2, 2, 2, 6)])
def test_layer_norm_last_dim(shape):
    r = probe(nn.LayerNorm(shape[-1]), shape)
    last = len(shape) - 1
    assert r.reduced_dims == (last,)
    assert r.group_size == (1,) * last + (shape[-1],)
    assert r.statistics == "mean and variance"
    assert r.n_groups == torch.Size(shape[:-1]).numel()


def test_layer_norm_last_two_dims_and_description():
    r = probe(nn.LayerNorm([3, 4]), NLP)
    assert r.reduced_dims == (1, 2)
    assert str(r) == "mean and variance over (seq, dim): one pair per batch element, 2 in all"
    assert r.describe(("b", "t", "d")).startswith("mean and variance over (t, d)")


@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (3, 2, 2, 5), (4, 3, 5)])
def test_batch_norm_train_shares_over_batch_and_space(shape):
    bn = nn.BatchNorm2d(shape[1]) if len(shape) == 4 else nn.BatchNorm1d(shape[1])
    r = probe(bn.train(), shape)
    assert r.reduced_dims == (0,) + tuple(range(2, len(shape)))
    assert r.group_size[1] == 1
    assert "one pair per C element" in str(r) or "one pair per seq element" in str(r)


def test_batch_norm_eval_shares_nothing_and_module_is_untouched():
    bn = nn.BatchNorm2d(4)
    before = bn.running_mean.clone()
    probe(bn.train(), VISION)
    torch.testing.assert_close(bn.running_mean, before)  # probe worked on a copy
    r = probe(bn.eval(), VISION)
    assert r.statistics == "none"
    assert r.reduced_dims == ()
    assert r.group_size == (1, 1, 1, 1)
    assert r.n_groups == 2 * 4 * 3 * 3
    assert str(r).startswith("no statistics shared")


@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (3, 2, 5, 2)])
def test_instance_norm(shape):
    r = probe(nn.InstanceNorm2d(shape[1]), shape)
    assert r.reduced_dims == (2, 3)
    assert r.group_size == (1, 1, shape[2], shape[3])


@pytest.mark.parametrize("groups, channels", [(2, 4), (3, 6), (2, 6), (1, 4), (4, 4)])
def test_group_norm(groups, channels):
    r = probe(nn.GroupNorm(groups, channels), (2, channels, 2, 3))
    per = channels // groups
    assert r.group_size == (1, per, 2, 3)
    assert r.n_groups == 2 * groups
    if groups == 1:
        assert r.reduced_dims == (1, 2, 3)
    elif per == 1:
        assert r.reduced_dims == (2, 3)
    else:
        assert r.grouped_dims == (1,)
        assert f"C in groups of {per}" in str(r)


def test_group_norm_one_group_is_layer_norm_statistics():
    a = probe(nn.GroupNorm(1, 4), VISION)
    b = probe(nn.LayerNorm([4, 3, 3]), VISION)
    assert a == b  # the dataclass compares shape, names, reduced_dims, group_size, statistics
    assert torch.equal(a.groups, b.groups)


def test_channels_first_layer_norm_via_permute():
    def channels_first(x):
        return F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],)).permute(0, 3, 1, 2)

    r = probe(channels_first, VISION)
    assert r.reduced_dims == (1,)
    assert r.n_groups == 2 * 3 * 3


def test_rms_norm_is_scale_only():
    r = probe(nn.RMSNorm(4), NLP)
    assert r.statistics == "root mean square"
    assert r.reduced_dims == (2,)
    assert "one value per" in str(r)


def test_affine_parameters_do_not_change_the_verdict():
    ln = nn.LayerNorm(4)
    with torch.no_grad():
        ln.weight.uniform_(0.5, 2.0)
        ln.bias.normal_()
    assert probe(ln, NLP).reduced_dims == (2,)


@pytest.mark.parametrize("shape", [(2, 2), (2, 3, 2), (2, 2, 2, 2)])
def test_groups_of_two(shape):
    # With two elements, (x - mean) / std is +-1 whatever x is: gradients see nothing here.
    assert probe(nn.LayerNorm(2), shape).reduced_dims == (len(shape) - 1,)
    assert probe(nn.BatchNorm1d(shape[1]), shape[:3]).reduced_dims[0] == 0


def test_non_differentiable_callable():
    def numpy_layer_norm(x):
        a = x.numpy()
        return torch.from_numpy((a - a.mean(-1, keepdims=True)) / a.std(-1, keepdims=True))

    assert probe(numpy_layer_norm, (2, 3, 4)).reduced_dims == (2,)


def test_float64_modules():
    r = probe(nn.LayerNorm(4).double(), NLP, dtype=torch.float64)
    assert r.reduced_dims == (2,)


def test_groups_tensor_marks_one_token_per_group():
    r = probe(nn.LayerNorm(4), NLP)
    assert r.groups.shape == NLP
    assert r.groups[0, 0].unique().tolist() == [0]
    assert r.groups[1, 2].unique().tolist() == [5]


def test_repr_is_short():
    assert repr(probe(nn.LayerNorm(4), NLP)) == (
        "ProbeResult(shape=(2, 3, 4), reduced_dims=(2,), group_size=(1, 1, 4), "
        "statistics='mean and variance')"
    )
    assert isinstance(probe(nn.LayerNorm(4), NLP), ProbeResult)


@pytest.mark.parametrize(
    "fn, words",
    [
        (nn.ReLU(), "not affine"),
        (nn.Identity(), "unchanged"),
        (lambda x: torch.zeros_like(x), "does not depend"),
        (nn.Linear(4, 4), "scaled"),
        (lambda x: x[..., :2], "input's shape"),
        (lambda x: x.tolist(), "must return a tensor"),
        (lambda x: x.sum(-1, keepdim=True).expand_as(x), "scaled"),
        (lambda x: x / 0, "non-finite"),
    ],
)
def test_not_a_normalization(fn, words):
    with pytest.raises(NotANormalizationError, match=words):
        probe(fn, NLP)


def test_fn_that_raises_is_reported_with_the_shape():
    with pytest.raises(
        NotANormalizationError, match=r"RuntimeError on an input of shape \[2, 3, 4\]"
    ):
        probe(nn.LayerNorm(5), NLP)


@pytest.mark.parametrize(
    "shape, error, words",
    [
        ((2, 1, 4), ValueError, "at least 2"),
        ((), TypeError, "non-empty tuple"),
        ("234", TypeError, "non-empty tuple"),
        ((2, 3.0), TypeError, "must contain ints"),
        ((64, 64, 64), ValueError, f"at most {MAX_NUMEL}"),
    ],
)
def test_bad_shape_is_named(shape, error, words):
    with pytest.raises(error, match=words) as info:
        probe(nn.LayerNorm(4), shape)
    assert "shape" in str(info.value)


def test_bad_names_and_fn_and_dtype():
    with pytest.raises(ValueError, match="names must hold 3"):
        probe(nn.LayerNorm(4), NLP, names=("a", "b"))
    with pytest.raises(TypeError, match="fn must be a module or callable"):
        probe("LayerNorm", NLP)
    with pytest.raises(TypeError, match="dtype must be a floating"):
        probe(nn.LayerNorm(4), NLP, dtype=torch.int64)


def test_global_rng_is_untouched():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    probe(nn.LayerNorm(4), NLP)
    torch.testing.assert_close(torch.rand(3), expected)
