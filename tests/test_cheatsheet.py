"""The cheat sheet's checked table (book/cheatsheet.md) says what the code does.

The table is read from the page itself, so the page cannot drift from this check: each row is
built with small sizes, ``normlab.probe`` finds which axes share statistics (by experiment), the
output is compared with the formula (biased variance, eps inside the square root), and the
parameter shapes and default eps are compared with the cells.
"""

import inspect
import os
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from normlab import probe

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "cheatsheet.md"
BIB = ROOT / "book" / "references.bib"
CHECKED = "## PyTorch and Hugging Face (checked by the tests)"
DOCUMENTED = "## Other libraries (from their documentation)"
COLUMNS = ["Call, on an input of shape", "Statistics", "Affine parameters", "`eps`"]
# Sizes small enough for probe, and all different, so that a wrong axis cannot pass.
SIZES = {"N": 2, "L": 3, "D": 5, "C": 6, "G": 3, "H": 3, "W": 4}
# Every call the issue asks the page to cover (checked rows).
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
]


def table(heading):
    """The Markdown table under ``heading`` in the page, as a header and a list of row dicts."""
    lines = PAGE.read_text(encoding="utf8").splitlines()
    assert heading in lines, f"book/cheatsheet.md must have the heading {heading!r}"
    rows = []
    for line in lines[lines.index(heading) + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    assert len(rows) > 2, f"no table under {heading!r}"
    header, body = rows[0], rows[2:]
    for row in body:
        assert len(row) == len(header), f"row {row} does not have {len(header)} cells"
    return header, [dict(zip(header, row, strict=True)) for row in body]


def code(cell):
    """The texts in backticks in a cell, in order."""
    return re.findall(r"`([^`]+)`", cell)


def namespace():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers
    from transformers import BertConfig, BertModel

    transformers.logging.set_verbosity_error()
    config = BertConfig(
        hidden_size=SIZES["D"],
        num_hidden_layers=2,
        num_attention_heads=1,
        intermediate_size=8,
        vocab_size=16,
        max_position_embeddings=8,
    )
    return {"nn": nn, "F": F, "torch": torch, "BertModel": BertModel, "config": config, **SIZES}


def default_eps(fn, call):
    """A module's ``eps``, or the default ``eps`` of the ``F.<function>`` a call uses."""
    if isinstance(fn, nn.Module):
        return fn.eps
    (name,) = set(re.findall(r"\bF\.(\w+)\(", call))
    return inspect.signature(getattr(F, name)).parameters["eps"].default


def rows():
    return table(CHECKED)[1]


@pytest.fixture(scope="module")
def ns():
    return namespace()


def test_checked_table_has_the_columns_and_the_calls_the_book_promises():
    header, body = table(CHECKED)
    assert header == COLUMNS
    calls = [code(row[COLUMNS[0]])[0] for row in body]
    for required in REQUIRED:
        assert any(c.startswith(required) for c in calls), f"no row for {required}..."
    assert len(set(calls)) == len(calls), "a call is listed twice"


@pytest.mark.parametrize("row", rows(), ids=lambda row: code(row[COLUMNS[0]])[0])
def test_checked_row(row, ns):
    torch.manual_seed(0)
    call, shape_text = code(row[COLUMNS[0]])
    names = tuple(n.strip() for n in shape_text.strip("[]").split(","))
    shape = tuple(SIZES[n] for n in names)
    uses_x = "x" in compile(call, "<cell>", "eval").co_names
    fn = eval(f"lambda x: {call}" if uses_x else call, dict(ns))  # noqa: S307 (our own page)

    # Which axes share statistics, found by experiment.
    result = probe(fn, shape, names)
    statistics = row["Statistics"]
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

    # The formula: every group is shifted and scaled by its own statistics, eps inside the root.
    x = torch.randn(shape)
    eps = default_eps(fn, call)
    if isinstance(fn, nn.RMSNorm) and eps is None:
        eps = torch.finfo(x.dtype).eps
    groups = result.groups.reshape(-1)
    flat = x.reshape(-1).double()
    count = torch.bincount(groups).double()
    if result.statistics == "mean and variance":
        mean = torch.bincount(groups, flat) / count
        var = torch.bincount(groups, (flat - mean[groups]) ** 2) / count  # biased
        expected = (flat - mean[groups]) / torch.sqrt(var[groups] + eps)
    elif result.statistics == "root mean square":
        expected = flat / torch.sqrt(torch.bincount(groups, flat**2)[groups] / count[groups] + eps)
    else:  # stored statistics: a fresh layer's running mean 0 and running variance 1
        expected = flat / torch.sqrt(torch.tensor(1.0 + eps, dtype=torch.float64))
    with torch.no_grad():
        torch.testing.assert_close(fn(x).reshape(-1).double(), expected, rtol=1e-4, atol=1e-5)

    # Affine parameters: names and shape.
    params = dict(fn.named_parameters()) if isinstance(fn, nn.Module) else {}
    affine = row["Affine parameters"]
    if affine.startswith("none"):
        assert params == {}, f"{call}: the page says no affine parameters, found {list(params)}"
    else:
        *param_names, shape_text = code(affine.split(":")[0]) + code(affine.split(":")[1])
        expected_shape = tuple(SIZES[n.strip()] for n in shape_text.strip("[]").split(","))
        assert sorted(params) == sorted(param_names), f"{call}: parameters {list(params)}"
        for name, p in params.items():
            assert tuple(p.shape) == expected_shape, f"{call}: {name} has shape {tuple(p.shape)}"

    # Default eps: the first value in backticks.
    said_eps = eval(code(row["`eps`"])[0])  # noqa: S307
    actual = default_eps(fn, call)
    assert said_eps == actual, f"{call}: the page says eps={said_eps!r}, the default is {actual!r}"


def test_every_layernorm_in_bert_is_the_one_in_the_table(ns):
    config = ns["config"]
    model = ns["BertModel"](config)
    norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    # One after the embeddings and two in each layer, as the page says.
    assert len(norms) == 1 + 2 * config.num_hidden_layers
    for m in norms:
        assert m.normalized_shape == (config.hidden_size,)
        assert m.eps == config.layer_norm_eps == 1e-12


def test_documented_rows_cite_a_source_that_exists():
    header, body = table(DOCUMENTED)
    assert header == ["Call, on an input of shape `[N, L, D]`", *COLUMNS[1:]]
    keys = set(re.findall(r"^@\w+\{([^,]+),", BIB.read_text(encoding="utf8"), re.MULTILINE))
    text = " ".join(row[header[0]] for row in body)
    for call in (
        "LayerNormalization(axis=-1)",
        "LayerNorm(reduction_axes=-1)",
        "begin_norm_axis=-1",
    ):
        assert call in text, f"no documented row for {call}"
    for row in body:
        cited = re.findall(r"\{cite:[pt]\}`([^`]+)`", row[header[0]])
        assert cited, f"{row[header[0]]}: no citation"
        for key in ",".join(cited).split(","):
            assert key.strip() in keys, f"{key} is not in book/references.bib"
