"""The cheat sheet's checked tables (book/cheatsheet.md) say what the code does.

The tables are read from the page itself (with markdown-it-py, MyST's parser), so the page
cannot drift from this check. Each row is
built with small sizes and run: ``normlab.probe`` finds which axes share statistics (by
experiment); the output, with random ``weight`` and ``bias`` applied along the axes the
"Affine parameters" cell names (passed as ``weight=``, ``bias=`` to the functional rows), is
compared with the formula (biased variance, the cell's ``eps`` inside the square root) once at
unit scale and once at a scale where ``eps`` changes the output; the ``.eval()`` row is first
trained on a batch, and its running estimates are checked against the update rule its cell
states (unbiased batch variance, the cell's momentum) before its output is compared with them.
"""

import functools
import inspect
import re
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
import torch.nn.functional as F
from docutils.parsers.rst.directives.tables import RSTTable
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode
from mdit_py_plugins.colon_fence import colon_fence_plugin
from mdit_py_plugins.myst_role import myst_role_plugin
from myst_parser.parsers.directives import parse_directive_text
from torch import nn

from normlab import probe

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "cheatsheet.md"
BIB = ROOT / "book" / "references.bib"
CHECKED = "PyTorch and Hugging Face (checked by the tests)"
OTHER = "Other libraries (checked by the tests)"
COLUMNS = ["Call, on an input of shape", "Statistics", "Affine parameters", "`eps`"]
# Sizes small enough for probe, and all different, so that a wrong axis cannot pass.
SIZES = {"N": 2, "T": 3, "D": 5, "C": 6, "G": 3, "H": 3, "W": 4}
# The calls the page answers for: each must keep a checked row, so none can leave the page
# unnoticed.
REQUIRED = [
    "nn.LayerNorm(",
    "F.layer_norm(",
    "nn.GroupNorm(",
    "nn.InstanceNorm1d(",
    "nn.InstanceNorm2d(",
    "nn.BatchNorm1d(",
    "nn.BatchNorm2d(",
    "nn.RMSNorm(",
    "BertModel(",
    "GPT2Model(",
    "LlamaModel(",
    "T5EncoderModel(",
]
# The page is read as MyST reads it: CommonMark with tables, {cite:p}`key` as a role (so its
# backticks are not code), and each table in a :::{table} directive (the book's colon_fence).
MARKDOWN = MarkdownIt("commonmark").enable("table").use(myst_role_plugin).use(colon_fence_plugin)


class Cell(NamedTuple):
    text: str  # the cell's Markdown source
    code: tuple[str, ...]  # its code spans, in order
    cited: tuple[str, ...]  # the keys its citations name


class Row(NamedTuple):
    call: Cell
    statistics: Cell
    affine: Cell
    eps: Cell


def cell(inline: SyntaxTreeNode) -> Cell:
    spans = inline.children
    code = tuple(span.content for span in spans if span.type == "code_inline")
    roles = [span.content for span in spans if span.type == "myst_role"]
    cited = tuple(key.strip() for keys in roles for key in keys.split(","))
    return Cell(inline.content, code, cited)


def parse(text):
    return SyntaxTreeNode(MARKDOWN.parse(text)).children


def table(heading):
    """The header and the rows of the ``{table}`` directive under ``## heading`` in the page."""
    under = None
    for node in parse(PAGE.read_text(encoding="utf8")):
        if node.type == "heading" and node.tag == "h2":
            under = node.children[0].content
        elif node.type == "colon_fence" and node.info == "{table}" and under == heading:
            directive = parse_directive_text(RSTTable, "", node.content)
            (grid,) = [n for n in parse("\n".join(directive.body)) if n.type == "table"]
            head, *body = [
                [cell(td.children[0]) for td in tr.children]
                for part in grid.children
                for tr in part.children
            ]
            return [c.text for c in head], [Row(*row) for row in body]
    raise AssertionError(f"book/cheatsheet.md has no {{table}} under '## {heading}'")


def namespace(tiny_bert_config):
    """The names the rows use: torch's, the sizes, and tiny Hugging Face models' classes and
    configurations (hidden size D, one head, random weights, nothing downloaded)."""
    import transformers

    config = tiny_bert_config(hidden_size=SIZES["D"], num_attention_heads=1, num_hidden_layers=2)
    d, small = SIZES["D"], {"vocab_size": 50, "num_hidden_layers": 2}
    hf = {
        "config": config,
        "gpt2_config": transformers.GPT2Config(n_embd=d, n_head=1, **small),
        "llama_config": transformers.LlamaConfig(
            hidden_size=d, intermediate_size=2 * d, num_attention_heads=1, head_dim=2, **small
        ),
        "t5_config": transformers.T5Config(d_model=d, d_kv=d, d_ff=2 * d, num_heads=1, **small),
    }
    for name in ("BertModel", "GPT2Model", "LlamaModel", "T5EncoderModel"):
        hf[name] = getattr(transformers, name)
    return {"nn": nn, "F": F, "torch": torch, **hf, **SIZES}


def default_eps(fn, call):
    """A module's ``eps``, or the default ``eps`` of the ``F.<function>`` a call uses."""
    if isinstance(fn, nn.Module):  # Hugging Face's RMSNorms call it variance_epsilon
        return fn.variance_epsilon if hasattr(fn, "variance_epsilon") else fn.eps
    (name,) = set(re.findall(r"\bF\.(\w+)\(", call))
    return inspect.signature(getattr(F, name)).parameters["eps"].default


@pytest.fixture(scope="module")
def ns(tiny_bert_config):
    return namespace(tiny_bert_config)


def test_checked_table_has_the_columns_and_the_calls_the_book_promises():
    header, body = table(CHECKED)
    assert header == COLUMNS
    calls = [row.call.code[0] for row in body]
    for required in REQUIRED:
        assert any(c.startswith(required) for c in calls), f"no row for {required}..."
    assert len(set(calls)) == len(calls), "a call is listed twice"


def shape_names(text):
    """The letters of a shape written as ``[N, T, D]``."""
    return tuple(n.strip() for n in text.strip("[]").split(","))


def affine_cell(cell):
    """The parameter names and the letters of their shape in an "Affine parameters" cell.

    "`weight`, `bias`: `[D]`" and "none (pass `weight=`, `bias=`: `[D]`)" both give
    ``(["weight", "bias"], ("D",))``; a cell that names no shape, "none (`affine=False`)", gives
    ``([], ())``.
    """
    if not cell.code or not cell.code[-1].startswith("["):
        return [], ()
    *params, shape = cell.code
    return [n.rstrip("=") for n in params], shape_names(shape)


def along(values, names, axes):
    """``values`` (shape of the axes ``axes``) viewed to broadcast along those axes of an input
    whose axes are ``names``, in float64: a ``[C]`` weight on ``[N, C, H, W]`` is ``[1, C, 1, 1]``.
    """
    k = len(axes)
    (start,) = [i for i in range(len(names) - k + 1) if names[i : i + k] == axes]
    view = [1] * len(names)
    view[start : start + k] = values.shape
    return values.detach().double().reshape(view)


def formula(x, result, eps):
    """Each group that ``result`` found, normalized by its own statistics (float64): the mean and
    the biased variance, or the root mean square, with ``eps`` inside the square root."""
    groups = result.groups.reshape(-1)
    flat = x.reshape(-1).double()
    count = torch.bincount(groups).double()
    if result.statistics == "mean and variance":
        mean = torch.bincount(groups, flat) / count
        var = torch.bincount(groups, (flat - mean[groups]) ** 2) / count  # biased
        out = (flat - mean[groups]) / torch.sqrt(var[groups] + eps)
    else:
        assert result.statistics == "root mean square", result
        out = flat / torch.sqrt(torch.bincount(groups, flat**2)[groups] / count[groups] + eps)
    return out.reshape(x.shape)


class Passing:
    """``F`` with the given keyword arguments passed to every function called through it."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def __getattr__(self, name):
        return functools.partial(getattr(F, name), **self.kwargs)


def check_running_estimates(layer, statistics, shape, names, axes):
    """Train ``layer`` on one batch and check its running estimates against the rule the
    "Statistics" cell states: "`running_var` averages the unbiased batch variance, momentum m".
    Returns the estimates, viewed along ``axes`` (the channels)."""
    momentum = float(re.search(r"momentum ([0-9.]+)", statistics).group(1))
    assert "running_var` averages the unbiased batch variance" in statistics, statistics
    reduced = tuple(i for i, n in enumerate(names) if n not in axes)
    batch = torch.randn(shape) * 2 + 1  # mean 1, variance 4: far from a fresh layer's 0 and 1
    old_mean, old_var = layer.running_mean.double(), layer.running_var.double()
    layer.train()
    with torch.no_grad():
        layer(batch)
    layer.eval()
    b = batch.double()
    mean = (1 - momentum) * old_mean + momentum * b.mean(reduced)
    unbiased = (1 - momentum) * old_var + momentum * b.var(reduced, correction=1)
    biased = (1 - momentum) * old_var + momentum * b.var(reduced, correction=0)
    torch.testing.assert_close(layer.running_mean.double(), mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(layer.running_var.double(), unbiased, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(layer.running_var.double(), biased, rtol=1e-4, atol=1e-5)
    return along(layer.running_mean, names, axes), along(layer.running_var, names, axes)


@pytest.mark.parametrize("row", table(CHECKED)[1], ids=lambda row: row.call.code[0])
def test_checked_row(row, ns):
    torch.manual_seed(0)
    call, shape_text = row.call.code
    names = shape_names(shape_text)
    shape = tuple(SIZES[n] for n in names)
    uses_x = "x" in compile(call, "<cell>", "eval").co_names
    source = f"lambda x: {call}" if uses_x else call
    fn = eval(source, dict(ns))  # noqa: S307 (our own page)

    # Which axes share statistics, found by experiment.
    result = probe(fn, shape, names)
    statistics = row.statistics.text
    if result.statistics == "none":
        assert statistics.startswith("none"), f"{call}: nothing is shared, the page: {statistics!r}"
    else:
        statistic, _, over = statistics.partition(" over ")
        assert statistic == result.statistics, (
            f"{call}: the page says {statistic!r}, probe finds {result.statistics!r}"
        )
        items = re.findall(r"`(\w+)`(?: in groups of `([^`]+)`)?", over)
        said = {name: (eval(expr, dict(ns)) if expr else None) for name, expr in items}  # noqa: S307
        found = {names[a]: None for a in result.reduced_dims}
        found |= {names[a]: result.group_size[a] for a in result.grouped_dims}
        assert said == found, f"{call}: the page says {over!r}, probe finds {result}"

    # Affine parameters: a module's names and shapes; a function's weight= and bias=.
    params = dict(fn.named_parameters()) if isinstance(fn, nn.Module) else {}
    affine = row.affine.text
    param_names, axes = affine_cell(row.affine)
    values = {name: torch.randn(tuple(SIZES[a] for a in axes)) for name in param_names}
    plain = None  # a function row called without weight= and bias=
    if affine.startswith("none"):
        assert params == {}, f"{call}: the page says no affine parameters, found {list(params)}"
        if param_names:  # "none (pass `weight=`, `bias=`: ...)": call it again, passing them
            assert not isinstance(fn, nn.Module), f"{call}: only a function takes weight="
            plain = fn
            fn = eval(source, dict(ns, F=Passing(**values)))  # noqa: S307
    else:
        assert sorted(params) == sorted(param_names), f"{call}: parameters {list(params)}"
        for name, p in params.items():
            assert p.shape == values[name].shape, (
                f"{call}: {name} has shape {tuple(p.shape)}, the page says {axes}"
            )
            with torch.no_grad():
                p.copy_(values[name])
    weight = along(values["weight"], names, axes) if "weight" in values else 1.0
    bias = along(values["bias"], names, axes) if "bias" in values else 0.0

    # Default eps: the first value in backticks; RMSNorm's None is the dtype's machine epsilon.
    said_eps = eval(row.eps.code[0])  # noqa: S307
    actual = default_eps(fn, call)
    assert said_eps == actual, f"{call}: the page says eps={said_eps!r}, the default is {actual!r}"
    eps = torch.finfo(torch.float32).eps if said_eps is None else said_eps

    # The formula, with the page's eps: at unit scale, then at a scale where the variance is
    # about eps, so that a wrong eps (or eps outside the square root) fails.
    if result.statistics == "none":  # the .eval() row: train on a batch first
        assert "running estimates" in statistics, f"{call}: {statistics!r}"
        trained = check_running_estimates(fn, statistics, shape, names, axes)
    for scale in (1.0, eps**0.5):
        x = (torch.randn(shape) + 0.5) * scale
        if result.statistics == "none":
            mean, var = trained[0] * scale, trained[1] * scale**2
            with torch.no_grad():  # the stored estimates of a layer trained at this scale
                fn.running_mean.copy_(mean.reshape(-1))
                fn.running_var.copy_(var.reshape(-1))
            normalized = (x.double() - mean) / torch.sqrt(var + eps)
            without_eps = (x.double() - mean) / torch.sqrt(var)
        else:
            normalized = formula(x, result, eps)
            without_eps = formula(x, result, 0.0)
        if scale != 1.0:
            assert (normalized - without_eps).abs().max() > 0.1, f"{call}: eps changes nothing"
        with torch.no_grad():
            torch.testing.assert_close(
                fn(x).double(), normalized * weight + bias, rtol=1e-4, atol=1e-5
            )
            if plain is not None:
                torch.testing.assert_close(plain(x).double(), normalized, rtol=1e-4, atol=1e-5)


def test_every_layernorm_in_bert_is_the_one_in_the_table(ns):
    config = ns["config"]
    model = ns["BertModel"](config)
    norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    # One after the embeddings and two in each layer, as the page says.
    assert len(norms) == 1 + 2 * config.num_hidden_layers
    for m in norms:
        assert m.normalized_shape == (config.hidden_size,)
        assert m.eps == config.layer_norm_eps == 1e-12


def test_every_norm_of_the_pre_ln_models_is_the_one_in_the_table(ns):
    """GPT-2's, LLaMA's and T5's norms: two per layer and the final one, all alike."""
    for model, eps in [
        (ns["GPT2Model"](ns["gpt2_config"]), 1e-5),
        (ns["LlamaModel"](ns["llama_config"]), 1e-6),
        (ns["T5EncoderModel"](ns["t5_config"]), 1e-6),
    ]:
        norms = [m for m in model.modules() if type(m).__name__.endswith(("LayerNorm", "RMSNorm"))]
        assert len(norms) == 2 * 2 + 1, type(model).__name__
        for m in norms:
            assert default_eps(m, "") == eps and m.weight.shape == (SIZES["D"],)


OTHER_CALLS = [
    "keras.layers.LayerNormalization(axis=-1)",
    "jax.nn.standardize(x, axis=-1)",
    "flax.linen.LayerNorm(reduction_axes=-1)",
    "layer_norm(x)",
]
# tf.contrib.layers.layer_norm (TensorFlow 1, removed in TensorFlow 2) cannot be installed: its
# row is checked against this emulation of its source, which hard-codes variance_epsilon=1e-12:
# moments over the axes from begin_norm_axis on, then nn.batch_normalization(x, mean, variance,
# offset=beta, scale=gamma, variance_epsilon=1e-12).
TF1_EPS = 1e-12


def other_layer(call, shape):
    """``(fn, params, eps)`` for a row of the other libraries' table: ``fn`` takes and returns
    torch tensors, ``params`` maps each parameter's name to ``(shape, set_value)``, ``eps`` is the
    call's default."""
    import os

    os.environ["KERAS_BACKEND"] = "torch"  # before Keras is imported
    import flax.linen
    import jax
    import jax.numpy as jnp
    import keras
    import numpy as np

    def from_jax(f):
        return lambda x: torch.tensor(np.array(f(jnp.asarray(x.detach().numpy()))))

    if call.startswith("keras."):
        layer = eval(call, {"keras": keras})  # noqa: S307 (our own page)
        layer.build(shape)
        params = {w.path.split("/")[-1]: (tuple(w.shape), w.assign) for w in layer.weights}
        return layer, params, layer.epsilon
    if call.startswith("jax."):
        fn = eval(f"lambda x: {call}", {"jax": jax})  # noqa: S307
        eps = inspect.signature(jax.nn.standardize).parameters["epsilon"].default
        return from_jax(fn), {}, eps
    if call.startswith("flax."):
        module = eval(call, {"flax": flax})  # noqa: S307
        variables = {"params": dict(module.init(jax.random.key(0), jnp.zeros(shape))["params"])}

        def setter(name):
            return lambda value: variables["params"].__setitem__(name, jnp.asarray(value.numpy()))

        params = {k: (tuple(v.shape), setter(k)) for k, v in variables["params"].items()}
        return from_jax(lambda a: module.apply(variables, a)), params, module.epsilon
    assert call == "layer_norm(x)", call
    values = {"gamma": torch.ones(shape[-1]), "beta": torch.zeros(shape[-1])}

    def tf1_layer_norm(x):  # begin_norm_axis=-1, begin_params_axis=-1
        mean = x.mean(-1, keepdim=True)
        variance = x.var(-1, correction=0, keepdim=True)
        return (x - mean) / torch.sqrt(variance + TF1_EPS) * values["gamma"] + values["beta"]

    def setter_tf1(name):
        return lambda value: values[name].copy_(torch.as_tensor(value))

    params = {k: (tuple(v.shape), setter_tf1(k)) for k, v in values.items()}
    return tf1_layer_norm, params, TF1_EPS


def test_other_table_cites_a_source_that_exists_for_each_row():
    header, body = table(OTHER)
    assert header == ["Call, on an input of shape `[N, T, D]`", *COLUMNS[1:]]
    keys = set(re.findall(r"^@\w+\{([^,]+),", BIB.read_text(encoding="utf8"), re.MULTILINE))
    assert [row.call.code[0] for row in body] == OTHER_CALLS
    for row in body:
        assert row.call.cited, f"{row.call.text}: no citation"
        for key in row.call.cited:
            assert key in keys, f"{key} is not in book/references.bib"
    tf1 = body[-1].call
    assert "emulated" in tf1.text and "tf.contrib.layers.layer_norm(" in tf1.code[1]


# Keras's own copy of a layer (probe copies it) converts a torch Parameter with np.array(x), which
# NumPy 2 flags; the warning is Keras's, not this page's.
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
@pytest.mark.parametrize("row", table(OTHER)[1], ids=lambda row: row.call.code[0])
def test_other_row(row):
    torch.manual_seed(0)
    call = row.call.code[0]
    names = ("N", "T", "D")
    shape = tuple(SIZES[n] for n in names)
    fn, params, eps = other_layer(call, shape)

    result = probe(fn, shape, names)
    statistic, _, over = row.statistics.text.partition(" over ")
    assert statistic == result.statistics, f"{call}: probe finds {result}"
    said = set(row.statistics.code)
    assert said == {names[a] for a in result.reduced_dims} and not result.grouped_dims, result

    param_names, axes = affine_cell(row.affine)
    assert sorted(params) == sorted(param_names), f"{call}: parameters {list(params)}"
    values = {name: torch.randn(tuple(SIZES[a] for a in axes)) for name in param_names}
    for name, (param_shape, set_value) in params.items():
        assert param_shape == values[name].shape, f"{call}: {name} has shape {param_shape}"
        set_value(values[name])
    scale_name, shift_name = (param_names + [None, None])[:2]
    weight = along(values[scale_name], names, axes) if scale_name else 1.0
    bias = along(values[shift_name], names, axes) if shift_name else 0.0

    said_eps = eval(row.eps.code[0])  # noqa: S307
    assert said_eps == eps, f"{call}: the page says eps={said_eps!r}, the default is {eps!r}"
    for scale in (1.0, eps**0.5):
        x = (torch.randn(shape) + 0.5) * scale
        normalized = formula(x, result, eps)
        if scale != 1.0:
            assert (normalized - formula(x, result, 0.0)).abs().max() > 0.1, call
        with torch.no_grad():
            torch.testing.assert_close(
                fn(x).double(), normalized * weight + bias, rtol=1e-4, atol=1e-5
            )
