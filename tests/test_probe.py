"""probe() on torch's normalization layers, on look-alikes that are not normalizations, and on
patterns that have no groups: each verdict is right, or probe raises and says why."""

import math
import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from normlab import MAX_NUMEL, NotANormalizationError, normalize, probe
from normlab.checks import check_names
from normlab.probe import _probe

TEXT = (2, 3, 4)  # [N, T, D]
IMAGE = (2, 4, 3, 3)  # [N, C, H, W]


@pytest.mark.parametrize("shape", [(2, 3, 4), (3, 5, 2), (2, 2, 2, 6), (2, 1024)])
def test_layer_norm_last_dim(shape):
    r = probe(nn.LayerNorm(shape[-1]), shape)
    last = len(shape) - 1
    assert r.reduced_dims == (last,)
    assert r.group_size == (1,) * last + (shape[-1],)
    assert r.statistics == "mean and variance"
    assert r.n_groups == torch.Size(shape[:-1]).numel()


def test_layer_norm_last_two_dims_and_description():
    r = probe(nn.LayerNorm([3, 4]), TEXT)
    assert r.reduced_dims == (1, 2)
    assert str(r) == "mean and variance over (T, D): one pair per N element, 2 in all"
    named = probe(nn.LayerNorm([3, 4]), TEXT, names=("b", "t", "d"))
    assert str(named).startswith("mean and variance over (t, d)")


def test_the_one_description_is_str_which_print_shows(capsys):
    r = probe(nn.GroupNorm(2, 4), IMAGE)
    print(r)
    assert capsys.readouterr().out == str(r) + "\n"
    assert str(r) == (
        "mean and variance over (C in groups of 2, H, W): "
        "one pair per (N, C group) position, 4 in all"
    )
    assert f"{r}" == str(r)
    for other in ("describe", "description"):  # one way to say it, not three
        assert not hasattr(r, other)


def test_default_names_follow_the_book_notation():
    assert probe(nn.LayerNorm(4), TEXT).names == ("N", "T", "D")
    assert probe(nn.GroupNorm(2, 4), IMAGE).names == ("N", "C", "H", "W")
    assert probe(nn.BatchNorm1d(3), (2, 3)).names == ("N", "D")


@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (3, 2, 2, 5), (4, 3, 5)])
def test_batch_norm_train_shares_over_batch_and_space(shape):
    bn = nn.BatchNorm2d(shape[1]) if len(shape) == 4 else nn.BatchNorm1d(shape[1])
    r = probe(bn.train(), shape, names=("N", "C", "H", "W")[: len(shape)])
    assert r.reduced_dims == (0,) + tuple(range(2, len(shape)))
    assert r.group_size[1] == 1
    assert "one pair per C element" in str(r)


def test_batch_norm_eval_shares_nothing_and_module_is_untouched():
    bn = nn.BatchNorm2d(4)
    before = bn.running_mean.clone()
    probe(bn.train(), IMAGE)
    torch.testing.assert_close(bn.running_mean, before)  # probe worked on a copy
    r = probe(bn.eval(), IMAGE)
    assert r.statistics == "none"
    assert r.reduced_dims == ()
    assert r.group_size == (1, 1, 1, 1)
    assert r.n_groups == 2 * 4 * 3 * 3
    assert str(r) == (
        "no statistics shared: every element is shifted and scaled on its own, by numbers "
        "that do not depend on the input (as BatchNorm does in eval mode)"
    )


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
    assert r.axis_groups[1] == tuple(tuple(range(k * per, (k + 1) * per)) for k in range(groups))
    if groups == 1:
        assert r.reduced_dims == (1, 2, 3)
    elif per == 1:
        assert r.reduced_dims == (2, 3)
    else:
        assert r.grouped_dims == (1,)
        assert f"C in groups of {per}," in str(r)


def test_group_norm_one_group_is_layer_norm_statistics():
    a = probe(nn.GroupNorm(1, 4), IMAGE)
    b = probe(nn.LayerNorm([4, 3, 3]), IMAGE)
    assert a == b
    assert torch.equal(a.groups, b.groups)


def test_group_norm_on_permuted_channels_is_described_exactly_and_differs():
    perm = torch.tensor([0, 2, 1, 3])  # channels 0 and 2 share, 1 and 3 share
    gn = nn.GroupNorm(2, 4)
    r = probe(lambda x: gn(x[:, perm])[:, perm], IMAGE)
    assert r.axis_groups[1] == ((0, 2), (1, 3))
    assert not r.is_consecutive(1)
    assert "C in groups {0, 2} {1, 3}" in str(r)
    assert r != probe(nn.GroupNorm(2, 4), IMAGE)  # equality compares the groups
    assert r.group_size == probe(nn.GroupNorm(2, 4), IMAGE).group_size


def test_channels_first_layer_norm_via_permute():
    def channels_first(x):
        return F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],)).permute(0, 3, 1, 2)

    r = probe(channels_first, IMAGE)
    assert r.reduced_dims == (1,)
    assert r.n_groups == 2 * 3 * 3


def test_rms_norm_is_scale_only():
    r = probe(nn.RMSNorm(4), TEXT)
    assert r.statistics == "root mean square"
    assert r.reduced_dims == (2,)
    assert str(r) == "root mean square over (D): one value per (N, T) position, 6 in all"


def test_affine_parameters_do_not_change_the_verdict():
    ln = nn.LayerNorm(4)
    with torch.no_grad():
        ln.weight.uniform_(0.5, 2.0)
        ln.bias.normal_()
    assert probe(ln, TEXT) == probe(nn.LayerNorm(4), TEXT)


@pytest.mark.parametrize("shape", [(2, 2), (2, 3, 2), (2, 2, 2, 2)])
def test_groups_of_two(shape):
    # With two elements, (x - mean) / std is +-1 whatever x is: gradients see nothing here.
    assert probe(nn.LayerNorm(2), shape).reduced_dims == (len(shape) - 1,)
    assert probe(nn.BatchNorm1d(shape[1]), shape[:3]).reduced_dims[0] == 0


def test_non_differentiable_callable():
    def numpy_layer_norm(x):
        a = x.numpy()
        return torch.from_numpy((a - a.mean(-1, keepdims=True)) / a.std(-1, keepdims=True))

    assert probe(numpy_layer_norm, TEXT).reduced_dims == (2,)


def test_float64_modules():
    r = probe(nn.LayerNorm(4).double(), TEXT, dtype=torch.float64)
    assert r.reduced_dims == (2,)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_refused_with_a_way_out(dtype):
    with pytest.raises(
        TypeError, match=r"dtype must be torch.float32 or torch.float64.*\.float\(\)"
    ):
        probe(nn.LayerNorm(4).to(dtype), TEXT, dtype=dtype)


def test_groups_tensor_marks_one_token_per_group():
    r = probe(nn.LayerNorm(4), TEXT)
    assert r.groups.shape == TEXT
    assert r.groups[0, 0].unique().tolist() == [0]
    assert r.groups[1, 2].unique().tolist() == [5]


def test_repr_is_short():
    assert repr(probe(nn.LayerNorm(4), TEXT)) == (
        "ProbeResult(shape=(2, 3, 4), reduced_dims=(2,), group_size=(1, 1, 4), "
        "statistics='mean and variance')"
    )


# Layers written differently from torch's that still normalize: recognised for what they are.


class AnnotatedTransformerLayerNorm(nn.Module):
    """The Annotated Transformer's LayerNorm: unbiased std, eps outside the square root."""

    def __init__(self, features, eps=1e-6):
        super().__init__()
        self.a_2, self.b_2, self.eps = (
            nn.Parameter(torch.ones(features)),
            nn.Parameter(torch.zeros(features)),
            eps,
        )

    def forward(self, x):
        mean, std = x.mean(-1, keepdim=True), x.std(-1, keepdim=True)
        return self.a_2 * (x - mean) / (std + self.eps) + self.b_2


@pytest.mark.parametrize(
    "fn, statistics",
    [
        (AnnotatedTransformerLayerNorm(4), "mean and variance"),
        (lambda x: F.normalize(x, dim=-1), "root mean square"),
        (nn.LayerNorm(4, eps=1e-3), "mean and variance"),  # Keras's default eps
        (lambda x: normalize(x, (-1,), unbiased=True), "mean and variance"),
    ],
)
def test_other_spellings_of_a_normalization(fn, statistics):
    r = probe(fn, TEXT)
    assert (r.reduced_dims, r.statistics) == ((2,), statistics)


def test_min_max_of_two_elements_really_is_layer_norm():
    # (x - min) / (max - min) of two numbers is (x_hat + 1) / 2: an honest "mean and variance".
    r = probe(
        lambda x: (x - x.amin(-1, keepdim=True)) / (x.amax(-1, True) - x.amin(-1, True)), (3, 2)
    )
    assert (r.reduced_dims, r.statistics) == ((1,), "mean and variance")


# Patterns without groups: one-sided, overlapping, not blocks of the axes.


def causal_norm(x):
    """[N, T, D] -> [N, T, D]: token t normalized over all features of tokens 0..t."""
    return torch.stack([normalize(x[:, : t + 1], (1, 2))[:, t] for t in range(x.shape[1])], 1)


def test_causal_normalization_is_reported_as_one_sided():
    with pytest.raises(NotANormalizationError, match="one-sided") as info:
        probe(causal_norm, TEXT)
    assert "Along T, positions read the positions before them" in str(info.value)
    assert "causal (prefix)" in str(info.value)


def test_suffix_normalization_is_reported_as_anti_causal():
    def suffix_norm(x):
        return causal_norm(x.flip(1)).flip(1)

    with pytest.raises(NotANormalizationError, match="anti-causal"):
        probe(suffix_norm, TEXT)


def test_sliding_window_groups_overlap():
    def sliding(x):  # each feature centred on the mean of itself and its neighbours
        pooled = F.avg_pool1d(x.reshape(-1, 1, 4), 3, 1, 1, count_include_pad=False)
        return x - pooled.reshape(x.shape)

    with pytest.raises(NotANormalizationError, match="groups overlap"):
        probe(sliding, TEXT)


def test_classes_of_different_sizes_are_refused():
    def uneven(x):  # features 0..2 normalized together, feature 3 doubled on its own
        return torch.cat([normalize(x[..., :3], (-1,)), 2 * x[..., 3:]], dim=-1)

    with pytest.raises(NotANormalizationError, match=r"different sizes \(\[\[0, 1, 2\], \[3\]\]\)"):
        probe(uneven, TEXT)


def test_groups_that_are_not_blocks_of_the_axes_are_refused():
    def diagonal(x):  # [N, D] = [2, 2]: elements (0, 0) & (1, 1) share, and (0, 1) & (1, 0)
        flat = x.reshape(-1)[torch.tensor([0, 3, 1, 2])]  # the two pairs side by side
        pairs = normalize(flat.reshape(2, 2), (-1,)).reshape(-1)
        return pairs[torch.argsort(torch.tensor([0, 3, 1, 2]))].reshape(2, 2)

    with pytest.raises(NotANormalizationError, match="not blocks of the axes"):
        probe(diagonal, (2, 2))


# Look-alikes: they mix each group but do not normalize it by mean/variance or RMS.


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: (x - x.amin(-1, keepdim=True)) / (x.amax(-1, True) - x.amin(-1, True)),
        lambda x: x / x.abs().amax(-1, keepdim=True),
        lambda x: torch.softmax(x, -1),
        lambda x: (x - x.median(-1, keepdim=True).values) / x.std(-1, keepdim=True),
        lambda x: torch.tanh(F.layer_norm(x, (4,))),
        nn.Linear(4, 4),
        lambda x: x.sum(-1, keepdim=True).expand_as(x),
    ],
    ids=["min-max", "max-abs", "softmax", "median", "tanh-of-layernorm", "linear", "sum"],
)
def test_look_alikes_are_not_normalizations(fn):
    with pytest.raises(NotANormalizationError, match="not an elementwise affine map") as info:
        probe(fn, TEXT)
    assert "misfit" in str(info.value)


@pytest.mark.parametrize("shape", [(2, 2), (2, 3, 16), (2, 1024)])
def test_softmax_is_refused_at_every_size(shape):
    with pytest.raises(NotANormalizationError, match="not an elementwise affine map"):
        probe(lambda x: torch.softmax(x, -1), shape)


@pytest.mark.parametrize(
    "fn, words",
    [
        (nn.ReLU(), "not affine"),
        (nn.Identity(), "unchanged"),
        (lambda x: torch.zeros_like(x), "does not depend"),
        (lambda x: x[..., :2], "input's shape"),
        (lambda x: x.tolist(), "must return a tensor"),
        (lambda x: x / 0, "non-finite"),
    ],
)
def test_not_a_normalization(fn, words):
    with pytest.raises(NotANormalizationError, match=words):
        probe(fn, TEXT)


def test_fn_that_raises_is_reported_with_the_shape():
    with pytest.raises(
        NotANormalizationError, match=r"RuntimeError on an input of shape \[2, 3, 4\]"
    ):
        probe(nn.LayerNorm(5), TEXT)


@pytest.mark.parametrize(
    "shape, error, words",
    [
        ((2, 0, 4), ValueError, "at least 1"),
        ((1, 1, 1), ValueError, "one element"),
        ((), TypeError, "non-empty tuple"),
        ("234", TypeError, "non-empty tuple"),
        ((2, 3.0), TypeError, "must contain ints"),
        ((2049, 1024), ValueError, f"at most {MAX_NUMEL}"),
    ],
)
def test_bad_shape_is_named(shape, error, words):
    with pytest.raises(error, match=words) as info:
        probe(nn.LayerNorm(4), shape)
    assert "shape" in str(info.value)


def test_bad_names_and_fn_and_dtype():
    with pytest.raises(ValueError, match="names must hold 3"):
        probe(nn.LayerNorm(4), TEXT, names=("a", "b"))
    with pytest.raises(TypeError, match="fn must be a module or callable"):
        probe("LayerNorm", TEXT)
    with pytest.raises(TypeError, match="dtype must be torch.float32 or torch.float64"):
        probe(nn.LayerNorm(4), TEXT, dtype=torch.int64)


def test_global_rng_is_untouched():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    probe(nn.LayerNorm(4), TEXT)
    torch.testing.assert_close(torch.rand(3), expected)


# --- Issue 23: each error path on its own, each threshold from both sides. ---------------------
# Each test below reaches exactly one branch of probe, with an input that reaches no other, so
# that a bug in that branch (a dropped condition, a constant changed tenfold) fails it.


def coupled_rows(strength):
    """[2, 4] float64 -> [2, 4]: LayerNorm over D, plus a bounded coupling of each element to the
    one in the other row. Outputs stay near 10, and moving an input from -far to +far moves its
    partner's output by 2 * strength: a relative change of about strength / 5."""

    def fn(x):
        return F.layer_norm(x, (4,)) + 10 + strength * torch.tanh(x.flip(0))

    return fn


@pytest.mark.parametrize(
    "strength, seen",
    [(2e-5, True), (2.5e-6, False)],  # relative changes 3.5e-6..4.7e-6, and 4.4e-7..5.8e-7
    ids=["above-a-millionth", "below-a-millionth"],
)
def test_a_dependence_counts_when_it_moves_the_output_by_more_than_a_millionth(strength, seen):
    fn = coupled_rows(strength)
    if seen:  # read across rows, so each row's group overlaps the other row's elements
        with pytest.raises(NotANormalizationError, match="groups overlap"):
            probe(fn, (2, 4), dtype=torch.float64)
    else:  # rounding-sized changes are not dependencies: this is LayerNorm over D
        r = probe(fn, (2, 4), dtype=torch.float64)
        assert (r.reduced_dims, r.statistics) == ((1,), "mean and variance")


def star(x):  # [2, 2] flat: element 0 reads 1 and 2, which read only 0; 3 is on its own
    v = x.reshape(-1)
    y = torch.stack([v[0] - (v[1] + v[2]) / 2, v[1] - v[0], v[2] - v[0], 2 * v[3]])
    return y.reshape(x.shape)


def window(x):  # [2, 3]: each feature centred on the mean of itself and its neighbours
    pooled = F.avg_pool1d(x.reshape(-1, 1, 3), 3, 1, 1, count_include_pad=False)
    return x - pooled.reshape(x.shape)


@pytest.mark.parametrize(
    "fn, shape, pair, centre",
    [
        # Symmetric, and nothing outside {0, 1, 2} is read by its members: only the check that
        # every member reads every other member can refuse it.
        (star, (2, 2), "(N=0, D=1) and (N=1, D=0)", "(N=0, D=0)"),
        # 0 and 1 read each other (a clique), but 1 also reads 2: only the check for elements
        # read from outside the group can refuse it at element 0.
        (window, (2, 3), "(N=0, D=0) and (N=0, D=2)", "(N=0, D=1)"),
    ],
    ids=["star, only the missing-member check", "window, only the outside-reader check"],
)
def test_overlapping_groups_are_refused_naming_the_centre(fn, shape, pair, centre):
    with pytest.raises(NotANormalizationError) as info:
        probe(fn, shape)
    assert str(info.value).startswith(
        f"groups overlap: the elements at {pair} both depend on the one at {centre}, "
        "but not on each other"
    )


def test_groups_whose_classes_overlap_along_an_axis_are_refused():
    def pairs(v):  # [4] -> [4]: elements (0, 1) and (2, 3) normalized as pairs
        return normalize(v.reshape(2, 2), -1).reshape(4)

    def shifted(x):  # [2, 4]: row 0 pairs D (0, 1) (2, 3); row 1 pairs (1, 2) (3, 0)
        return torch.stack([pairs(x[0]), pairs(x[1].roll(-1)).roll(1)])

    # Disjoint cliques of one size and blocks of the axes, but along D the classes {0, 1} and
    # {0, 3} share position 0: there is no one split of D to describe.
    with pytest.raises(NotANormalizationError) as info:
        probe(shifted, (2, 4))
    assert str(info.value).startswith(
        "along axis 1 (D) the groups of shared statistics do not split the positions into "
        "separate classes: position 0 is in a group spanning positions [0, 1] and in one "
        "spanning [0, 3]"
    )


@pytest.mark.parametrize("eps", [1.5e-2, 2.5e-2, 0.5, 10.0])
def test_an_eps_that_changes_the_output_is_measured_not_refused(eps):
    # Before issue 25 the reconstruction assumed eps = 0, and these missed it (from 2.5e-2 on).
    r = probe(nn.LayerNorm(4, eps=eps), TEXT)
    assert r.statistics == "mean and variance"
    assert r.eps == pytest.approx(eps, rel=1e-4)
    assert str(r).endswith(f"; eps {eps:.2g} measured")


@pytest.mark.parametrize(
    "bend, accepted",
    [(8e-4, True), (1.5e-3, False)],  # misfits 1.4e-3 and 2.5e-3 against a tolerance of 2e-3
)
def test_a_per_element_map_within_the_tolerance_of_affine_is_accepted(bend, accepted):
    def nearly_affine(x):  # nothing shared; a fixed shift and scale, bent by bend * x^2
        return 2 * x + 1 + bend * x**2

    if accepted:
        assert probe(nearly_affine, TEXT, dtype=torch.float64).statistics == "none"
    else:
        with pytest.raises(
            NotANormalizationError, match=r"not affine in its input: misfit 2\.5e-03"
        ):
            probe(nearly_affine, TEXT, dtype=torch.float64)


# --- Issue 23: each refusal's message whole, and one set for the whole tensor. -----------------


def test_one_set_for_the_whole_tensor():
    r = probe(lambda x: normalize(x, (0, 1, 2)), TEXT)
    assert str(r) == "mean and variance over (N, T, D): one pair for the whole tensor"


@pytest.mark.parametrize(
    "fn, pattern",  # regular expressions, each matching from the message's start
    [
        (
            nn.Identity(),
            r"fn returned its input unchanged, so there is nothing to probe: it is "
            r"not a normalization$",
        ),
        (
            lambda x: torch.zeros_like(x),
            r"fn's output does not depend on its input, so it is not a normalization$",
        ),
        (
            nn.ReLU(),
            r"fn treats every element on its own, but not as a fixed shift and scale "
            r"\(its output is not affine in its input: misfit \S+\), so it is not a "
            r"normalization$",
        ),
        (lambda x: x.tolist(), r"fn must return a tensor, got list \(for a Hugging Face"),
    ],
)
def test_each_refusal_says_what_fn_did(fn, pattern):
    with pytest.raises(NotANormalizationError) as caught:
        probe(fn, TEXT)
    assert re.match(pattern, str(caught.value)), str(caught.value)


# --- Issue 25: real shapes, by slices; eps measured; axes of length 1; one thread. -------------


def test_the_goal_shapes_are_probed_by_slices():
    # Timed in `make bench` (tools/bench.py), not here: here only the verdicts.
    r = probe(nn.LayerNorm(768), (2, 64, 768))
    assert str(r) == "mean and variance over (D): one pair per (N, T) position, 128 in all"
    assert r.eps == pytest.approx(1e-5, rel=1e-3)
    r = probe(nn.GroupNorm(8, 64), (2, 64, 28, 28))
    assert str(r) == (
        "mean and variance over (C in groups of 8, H, W): one pair per (N, C group) position, "
        "16 in all"
    )


@st.composite
def norm_cases(draw):
    """A hypothesis strategy: a random torch normalization and a small shape it is meant for,
    axes of length 1 included (at least two elements in all)."""
    sizes, eps = st.integers(1, 3), st.sampled_from([1e-5, 1e-3, 0.5])
    kind = draw(st.sampled_from(["layer", "rms", "group", "instance", "batch", "batch eval"]))
    if kind in ("layer", "rms"):
        shape = tuple(draw(st.lists(sizes, min_size=2, max_size=4)))
        assume(math.prod(shape) > 1)
        last = shape[-draw(st.integers(1, len(shape))) :]
        return (nn.LayerNorm if kind == "layer" else nn.RMSNorm)(last, eps=draw(eps)), shape
    n, per, groups = draw(sizes), draw(sizes), draw(st.integers(1, 3))
    space = tuple(draw(st.lists(sizes, min_size=1, max_size=2)))
    shape = (n, per * groups, *space)
    assume(math.prod(shape) > 1)
    if kind == "group":
        return nn.GroupNorm(groups, per * groups, eps=draw(eps)), shape
    if kind == "instance":
        return (nn.InstanceNorm1d, nn.InstanceNorm2d)[len(space) - 1](
            shape[1], eps=draw(eps)
        ), shape
    bn = (nn.BatchNorm1d, nn.BatchNorm2d)[len(space) - 1](shape[1], eps=draw(eps))
    return bn.train(kind == "batch"), shape


def outcome(path, fn, shape):
    """What one path of probe says: its result, sentence and eps, or its error and message."""
    try:
        r = path(fn, shape)
    except NotANormalizationError as err:
        return "refused", str(err)
    return r, str(r), r.eps, r.eps_resolution, r.undetermined_dims


@settings(max_examples=30, deadline=None)
@given(case=norm_cases(), seed=st.integers(0, 2**16))
def test_slices_and_the_exhaustive_method_say_the_same(case, seed):
    module, shape = case
    torch.manual_seed(seed)
    with torch.no_grad():  # random affine parameters, the scales kept away from 0
        for name, p in module.named_parameters():
            p.copy_(torch.rand_like(p) + 0.5 if name == "weight" else torch.randn_like(p))
    names = check_names(None, len(shape))
    fast = outcome(lambda fn, s: probe(fn, s, seed=seed), module, shape)
    every = outcome(lambda fn, s: _probe(fn, s, names, torch.float32, seed, True), module, shape)
    assert fast == every


@pytest.mark.parametrize(
    "fn, shape",
    [
        (nn.LayerNorm(4, eps=0.5), TEXT),
        (nn.GroupNorm(2, 4, eps=0.5), IMAGE),
        (nn.InstanceNorm2d(4, eps=0.5), IMAGE),
        (nn.BatchNorm2d(4, eps=0.5).train(), IMAGE),
        (nn.RMSNorm(4, eps=0.5), TEXT),
    ],
    ids=["layer", "group", "instance", "batch", "rms"],
)
def test_a_layer_with_eps_half_is_recognised_and_its_eps_measured(fn, shape):
    # Test suites use eps = 0.5; before issue 25 probe called these "not an elementwise affine map".
    r = probe(fn, shape)
    assert r.eps == pytest.approx(0.5, rel=1e-4)
    assert r.eps_resolution < 1e-6
    assert str(r).endswith("; eps 0.5 measured")
    eps = fn.eps
    fn.eps = 1e-5  # the same layer with torch's default: the same sentence, without the clause
    assert str(r) == str(probe(fn, shape)) + "; eps 0.5 measured"
    fn.eps = eps


def test_eps_below_what_the_call_can_resolve_is_reported_as_zero():
    r = probe(nn.LayerNorm(4), TEXT)  # torch's default 1e-5 changes a group of variance 1e-4
    assert r.eps == pytest.approx(1e-5, rel=1e-3)
    assert 0 < r.eps_resolution < 1e-7
    tiny = probe(lambda x: F.layer_norm(x, (4,), eps=1e-12), TEXT)
    assert tiny.eps == 0.0 and tiny.eps_resolution > 1e-12
    assert str(tiny) == str(r)  # eps below EPS_SHOWN is not in the sentence
    assert probe(lambda x: F.normalize(x, dim=-1), TEXT).eps == 0.0  # eps 1e-12 on the norm
    double = probe(nn.LayerNorm(4, eps=1e-12).double(), TEXT, dtype=torch.float64)
    assert double.eps == pytest.approx(1e-12, rel=1e-2)  # float64 resolves far smaller ones
    bn = probe(nn.BatchNorm2d(4).eval(), IMAGE)
    assert (bn.eps, bn.eps_resolution) == (None, None)


def test_a_negative_eps_is_refused():
    def negative(x):  # divides by sqrt(variance - 1e-5)
        centred = x - x.mean(-1, keepdim=True)
        return centred / (centred.pow(2).mean(-1, keepdim=True) - 1e-5).sqrt()

    with pytest.raises(NotANormalizationError) as info:
        probe(negative, TEXT)
    assert re.fullmatch(
        r"fn normalizes each group by its mean and variance, but with a negative eps \(about "
        r"-1\.0e-05, where the smallest it can tell from 0 is \de-\d\d\): its output is larger "
        r"than the group divided by sqrt\(variance\), which only eps < 0 explains\. A "
        r"normalization adds eps >= 0 inside the square root; check the sign of fn's eps",
        str(info.value),
    ), str(info.value)


def test_an_axis_of_length_one_is_undetermined():
    r = probe(nn.LayerNorm(4), (1, 3, 4))
    assert (r.undetermined_dims, r.reduced_dims, r.independent_dims) == ((0,), (2,), (1,))
    assert r.grouped_dims == ()
    assert str(r) == (
        "mean and variance over (D): one pair per T element, 3 in all; N undetermined (length 1)"
    )
    bn = probe(nn.BatchNorm2d(3).train(), (2, 3, 1, 4))
    assert (bn.undetermined_dims, bn.reduced_dims, bn.independent_dims) == ((2,), (0, 3), (1,))
    assert str(bn).endswith("; H undetermined (length 1)")
    both = probe(nn.LayerNorm(4, eps=0.5), (1, 1, 4))
    assert str(both) == (
        "mean and variance over (D): one pair for the whole tensor; eps 0.5 measured; "
        "N, T undetermined (length 1)"
    )


def test_probe_runs_fn_in_one_thread_and_restores_the_callers_setting():
    before = torch.get_num_threads()
    seen = set()

    def layer_norm(x):
        seen.add(torch.get_num_threads())
        return F.layer_norm(x, (4,))

    try:
        torch.set_num_threads(2)
        probe(layer_norm, TEXT)
        assert seen == {1} and torch.get_num_threads() == 2
        with pytest.raises(NotANormalizationError, match="not an elementwise affine map"):
            probe(lambda x: torch.softmax(x, -1), TEXT)
        assert torch.get_num_threads() == 2  # restored on error too
    finally:
        torch.set_num_threads(before)


# Above EXHAUSTIVE_NUMEL elements, what the slices find is said in their own words.
LARGE = (2, 40, 30)  # [N, T, D], 2400 elements


def checkerboard(x):
    """[N, T, D]: per N, the elements with t + d even share statistics, and the odd ones."""
    t, d = torch.meshgrid(torch.arange(x.shape[1]), torch.arange(x.shape[2]), indexing="ij")
    even = (t + d) % 2 == 0  # [T, D]
    y = torch.empty_like(x)
    y[:, even], y[:, ~even] = normalize(x[:, even], (1,)), normalize(x[:, ~even], (1,))
    return y


def reads_across(x):
    """[N, T, D]: LayerNorm over D, and the output at (1, 0, 0) also reads the input (0, 0, 0)."""
    y = F.layer_norm(x, x.shape[-1:])
    y[1, 0, 0] += torch.tanh(x[0, 0, 0])
    return y


@pytest.mark.parametrize(
    "fn, start",
    [
        (
            causal_norm,
            "the dependence is one-sided: the outputs at T=1 change when the inputs at T=0 move, "
            "but the outputs at T=0 do not change when the inputs at T=1 move. Along T, positions "
            "read the positions before them and not those after them: a causal (prefix) pattern",
        ),
        (
            lambda x: causal_norm(x.flip(1)).flip(1),
            "the dependence is one-sided: the outputs at T=0 change when the inputs at T=1 move, "
            "but the outputs at T=1 do not change when the inputs at T=0 move. Along T, positions "
            "read the positions after them and not those before them: an anti-causal (suffix)",
        ),
        (
            lambda x: x - F.avg_pool1d(x.reshape(-1, 1, 30), 3, 1, 1).reshape(x.shape),
            "groups overlap: the outputs at D=0 and D=2 both depend on the inputs at D=1, but not "
            "on each other (a sliding window does this)",
        ),
        (
            lambda x: torch.cat([normalize(x[..., :20], (-1,)), 2 * x[..., 20:]], dim=-1),
            "along D the classes of positions that share statistics have different sizes",
        ),
        (
            reads_across,
            "the outputs that change when the inputs at N=0 move are not whole slices: the output "
            "at (N=1, T=0, D=0) changes, the one at (N=1, T=0, D=1) does not. Groups that take one "
            "class of positions per axis, as torch's normalization layers have, change whole "
            "slices, so probe cannot describe fn by axes",
        ),
    ],
    ids=["causal", "anti-causal", "sliding window", "different sizes", "not whole slices"],
)
def test_on_a_large_shape_the_slices_say_what_is_not_a_block(fn, start):
    with pytest.raises(NotANormalizationError) as info:
        probe(fn, LARGE)
    assert str(info.value).startswith(start), str(info.value)


def test_on_a_large_shape_single_elements_catch_groups_that_are_not_blocks():
    # Every slice meets both classes of each N, so the slices alone see one group per N.
    with pytest.raises(NotANormalizationError) as info:
        probe(checkerboard, LARGE)
    assert re.fullmatch(
        r"moving the input at \(N=\d, T=\d+, D=\d+\) alone does not change the output at "
        r"\(N=\d, T=\d+, D=\d+\), inside the group that moving whole slices found for it: the "
        r"groups of shared statistics are not blocks of the axes, so probe cannot describe them "
        r"by axes",
        str(info.value),
    ), str(info.value)
    with pytest.raises(NotANormalizationError, match="not blocks of the axes"):
        probe(checkerboard, TEXT)  # small: every element moved, in the exhaustive words
