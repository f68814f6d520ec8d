"""normlab.survey on the zoo of chapter 10 (small Hugging Face models from configurations) and
on small hand-made networks: every model class, every place in the residual stream, every flag
rule with a case that fires and one that must not, the rejected candidates and their reasons,
and the text, JSON and figure forms."""

import importlib
import json

import pytest
import torch
from torch import nn

import normlab
from normlab.cli import hf_model

survey_module = importlib.import_module("normlab.survey")  # normlab.survey is the function
survey = normlab.survey

#: Per zoo model: per norm call, (class, sets, statistic, eps declared, place).
LN, RMS = "mean and variance", "root mean square"
ZOO = {
    "bert": [("LayerNorm", "over (D)", LN, 1e-12, "embedding")]
    + [("LayerNorm", "over (D)", LN, 1e-12, "post-LN")] * 4,
    "gpt2": [("LayerNorm", "over (D)", LN, 1e-5, "pre-LN")] * 4
    + [("LayerNorm", "over (D)", LN, 1e-5, "final")],
    "llama": [("LlamaRMSNorm", "over (D)", RMS, 1e-6, "pre-LN")] * 4
    + [("LlamaRMSNorm", "over (D)", RMS, 1e-6, "final")],
    "t5": [("T5LayerNorm", "over (D)", RMS, 1e-6, "pre-LN")] * 4
    + [("T5LayerNorm", "over (D)", RMS, 1e-6, "final")],
    "vit": [("LayerNorm", "over (D)", LN, 1e-12, "pre-LN")] * 4
    + [("LayerNorm", "over (D)", LN, 1e-12, "final")],
    "convnext": [
        ("ConvNextLayerNorm", "over (C)", LN, 1e-6, "embedding"),  # channels first
        ("ConvNextLayerNorm", "over (C)", LN, 1e-6, "in branch"),  # [N, H, W, C]
        ("ConvNextLayerNorm", "over (C)", LN, 1e-6, "post-LN"),  # between the stages
        ("ConvNextLayerNorm", "over (C)", LN, 1e-6, "in branch"),
        ("LayerNorm", "over (D)", LN, 1e-12, "final"),  # the pooled features
    ],
    "whisper": [("LayerNorm", "over (D)", LN, 1e-5, "pre-LN")] * 4
    + [("LayerNorm", "over (D)", LN, 1e-5, "final")],
    "clip-text": [("LayerNorm", "over (D)", LN, 1e-5, "pre-LN")] * 4
    + [("LayerNorm", "over (D)", LN, 1e-5, "final")],
    "clip-vision": [("LayerNorm", "over (D)", LN, 1e-5, "embedding")]
    + [("LayerNorm", "over (D)", LN, 1e-5, "pre-LN")] * 4
    + [("LayerNorm", "over (D)", LN, 1e-5, "final")],
}


@pytest.fixture(scope="module")
def zoo():
    """Each zoo model's survey, computed once for the module."""
    found = {}
    for name in ZOO:
        model, args, kwargs = hf_model(name)
        found[name] = survey(model, *args, **kwargs)
    return found


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_rows(zoo, name):
    report = zoo[name]
    got = [(r.kind, r.sets, r.statistic, r.eps_declared, r.place) for r in report.rows]
    assert got == ZOO[name]
    for r in report.rows:
        assert r.compute_dtype == "float32"  # every class here computes in float32
        assert r.dtype == "float32" and r.probe_shape == r.shape
        assert r.eps_check in ("consistent", "consistent, not measurable")
        assert r.result.names == r.names and r.statistic == r.result.statistics
    assert report.flags == []


def test_zoo_details_of_the_rows(zoo):
    bert = zoo["bert"].rows[0]
    assert bert.name == "embeddings.LayerNorm" and bert.shape == (2, 8, 32)
    assert bert.names == ("N", "T", "D") and bert.affine == "weight [32], bias [32]"
    assert bert.eps_measured == 0.0 and bert.eps_check == "consistent, not measurable"
    llama = zoo["llama"].rows[-1]
    assert (llama.name, llama.affine, llama.eps_check) == ("norm", "weight [32]", "consistent")
    assert llama.eps_measured == pytest.approx(1e-6, rel=0.25)
    convnext = zoo["convnext"].rows
    assert [r.names for r in convnext[:2]] == [("N", "C", "H", "W"), ("N", "H", "W", "C")]
    assert convnext[2].name == "encoder.stages.1.downsampling_layer.0"
    assert zoo["clip-vision"].rows[-1].names == ("N", "D")


def test_zoo_rejected_candidates_and_their_reasons(zoo):
    rejected = {(r.kind, r.reason.split(" (")[0]) for r in zoo["bert"].rejected}
    assert rejected == {
        ("Dropout", "returns its input unchanged"),
        ("Linear", "is an affine map that mixes elements"),
        ("GELUActivation", "applies one nonlinear function to each element on its own"),
        ("Tanh", "applies one nonlinear function to each element on its own"),
    }
    names = [r.name for r in zoo["bert"].rejected]
    assert "encoder.layer.0.attention.self.query" in names and "pooler.activation" in names
    assert {r.kind for r in zoo["convnext"].rejected} == {"Conv2d", "GELUActivation", "Identity"}


class ChannelsFirstLayerNorm(nn.Module):
    """LayerNorm over the channels of [N, C, H, W], written by hand (no torch.nn class)."""

    def __init__(self, c: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)  # [N, 1, H, W]
        var = (x - mean).pow(2).mean(1, keepdim=True)  # [N, 1, H, W]
        x_hat = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x_hat + self.bias[:, None, None]


class Block(nn.Module):
    """x + conv(norm(x)): a pre-norm residual block over images."""

    def __init__(self, c: int, norm: nn.Module) -> None:
        super().__init__()
        self.norm, self.conv = norm, nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(self.norm(x))


def test_a_hand_written_channels_first_norm_is_found_by_behaviour():
    model = nn.Sequential(nn.Conv2d(3, 6, 1), nn.ReLU(), Block(6, ChannelsFirstLayerNorm(6)))
    report = survey(model.eval(), torch.randn(2, 3, 4, 5))
    (row,) = report.rows
    assert (row.name, row.kind, row.sets, row.place) == (
        "2.norm", "ChannelsFirstLayerNorm", "over (C)", "pre-LN",
    )  # fmt: skip
    assert row.names == ("N", "C", "H", "W") and row.compute_dtype == "input"
    assert row.eps_declared == 1e-6 and row.eps_check == "consistent"
    assert [(r.name, r.kind) for r in report.rejected] == [("1", "ReLU"), ("2.conv", "Conv2d")]
    assert report.skipped == 1  # the first convolution changes the shape


def test_batch_norm_in_eval_mode_is_a_row_with_its_training_sets():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.GroupNorm(2, 4)).eval()
    report = survey(model, torch.randn(2, 3, 3, 5))
    bn, gn = report.rows
    assert (bn.statistic, bn.sets, bn.compute_dtype) == (
        "none", "none; training: over (N, H, W)", "n/a",
    )  # fmt: skip
    assert bn.eps_measured is None and bn.eps_check == ""
    assert gn.sets == "over (C in groups of 2, H, W)" and gn.place == "final"
    assert report.flags == []  # eval mode, no padding


def test_a_fixed_scale_is_rejected_with_its_reason():
    class LayerScale(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gamma = nn.Parameter(torch.linspace(0.5, 1.5, 4))

        def forward(self, x):
            return self.gamma * x

    report = survey(nn.Sequential(LayerScale(), nn.Dropout(0.5)).train(), torch.randn(2, 3, 4))
    assert report.rows == []
    scale, dropout = report.rejected
    assert scale.reason.startswith("shifts and scales every element on its own by fixed numbers")
    assert dropout.reason == (
        "returns different outputs for the same input (random, as Dropout in training mode): "
        "not a normalization"
    )


def test_a_look_alike_gets_probes_reason_and_structure_is_reported():
    class Softmax(nn.Module):
        def forward(self, x):
            return x.softmax(-1)

    class TwoInputs(nn.Module):
        def forward(self, x, y):
            return x + y

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.soft, self.add = Softmax(), TwoInputs()

        def forward(self, x):
            return self.add(self.soft(x), x)

    report = survey(Model(), torch.randn(2, 3, 4))
    soft, add = report.rejected
    assert soft.reason.startswith("fn mixes the elements of each group it found")  # probe's
    assert add.reason == (
        "takes 2 tensors; the survey probes calls of one floating tensor in, one tensor of its "
        "shape out"
    )


def test_a_large_eps_is_measured_and_a_batch_of_one_is_undetermined():
    model = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8, eps=0.5))
    (row,) = survey(model, torch.randn(1, 6, 8)).rows
    assert row.sets == "over (D); N undetermined" and row.result.undetermined_dims == (0,)
    assert row.eps_measured == pytest.approx(0.5, rel=1e-3) and row.eps_check == "consistent"
    model[1].eps = 0.1  # declares another eps than it computes with
    model[1].forward = lambda x: nn.functional.layer_norm(x, (8,), eps=0.5)
    report = survey(model, torch.randn(2, 6, 8))
    assert report.rows[0].eps_check == "differs"
    assert "- 1: declares eps 0.1, but behaves as eps 0.5" in str(report).splitlines()


def test_second_call_of_a_module_is_its_own_row():
    norm = nn.LayerNorm(4)
    model = nn.Sequential(norm, nn.Linear(4, 4), norm)
    names = [r.name for r in survey(model, torch.randn(2, 3, 4)).rows]
    assert names == ["0", "0#2"]


# ---- the flags, each a rule with a case that fires and one that must not ----


def test_w_equals_c_flag():
    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.LayerNorm(8))  # meant for C, gets W
    report = survey(model, torch.randn(2, 3, 4, 8))  # W == C == 8
    (flag,) = report.flags
    assert (flag.rule, flag.name) == ("W == C", "1")
    assert flag.message.startswith(
        "normalizes [2, 8, 4, 8] over its last axis only, whose length 8 is also axis 1's: if "
        "this is [N, C, H, W], it normalizes over W, not over the channels C"
    )
    assert report.rows[0].sets == "over (W)"
    with pytest.raises(ValueError, match="normalized_shape=\\[8\\]"):
        survey(model, torch.randn(2, 3, 8, 4))  # W != C: an error, not a silent mistake


def test_w_equals_c_flag_spares_a_channels_last_view():
    class ChannelsLast(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.norm = nn.Conv2d(3, 8, 1), nn.LayerNorm(8)

        def forward(self, x):
            return self.norm(self.conv(x).permute(0, 2, 3, 1))  # [N, H, W, C]

    report = survey(ChannelsLast(), torch.randn(2, 3, 8, 4))  # [N, H=8, W=4, C=8]
    assert report.flags == [] and report.rows[0].sets == "over (C)"
    assert report.rows[0].names == ("N", "H", "W", "C")


class Tokens(nn.Module):
    """Token embeddings [N, T, D] -> BatchNorm1d over [N, D, T] -> [N, T, D]."""

    def __init__(self) -> None:
        super().__init__()
        self.emb, self.bn = nn.Embedding(10, 8), nn.BatchNorm1d(8)

    def forward(self, ids, attention_mask=None):
        return self.bn(self.emb(ids).transpose(1, 2)).transpose(1, 2)


def test_padded_batch_norm_flag():
    ids = torch.randint(0, 10, (2, 5))
    mask = torch.ones(2, 5)
    mask[1, 3:] = 0  # the second sequence is padded
    report = survey(Tokens().eval(), ids, attention_mask=mask)
    (flag,) = report.flags
    assert (flag.rule, flag.name) == ("padded BatchNorm", "bn")
    assert flag.message.startswith(
        "its statistics span the batch axis N in training mode (none; training: over (N, T)), "
        "and this batch is padded"
    )
    padding = mask == 0
    assert [f.rule for f in survey(Tokens().eval(), ids, padded=padding).flags] == [
        "padded BatchNorm"
    ]
    assert survey(Tokens().eval(), ids, attention_mask=torch.ones(2, 5)).flags == []
    model = nn.Sequential(nn.Embedding(10, 8), nn.LayerNorm(8))  # per token: fine
    assert survey(model, ids, padded=True).flags == []


def test_batch_statistics_in_eval_flag():
    model = Tokens().eval()
    model.bn.train()  # left in training mode
    ids = torch.randint(0, 10, (2, 5))
    report = survey(model, ids)
    (flag,) = report.flags
    assert (flag.rule, flag.name) == ("batch statistics in eval", "bn")
    assert report.rows[0].sets == "over (N, T)" and report.rows[0].names == ("N", "C", "T")
    assert survey(model.train(), ids).flags == []  # in training mode that is what BN does


class HandLayerNorm(nn.Module):
    """LayerNorm over D, written by hand in the input's dtype."""

    def __init__(self, d: int, eps: float, upcast: bool = False) -> None:
        super().__init__()
        self.weight, self.eps, self.upcast = nn.Parameter(torch.ones(d)), eps, upcast

    def forward(self, x):
        h = x.float() if self.upcast else x
        mean = h.mean(-1, keepdim=True)  # [N, T, 1]
        var = (h - mean).pow(2).mean(-1, keepdim=True)  # [N, T, 1]
        return self.weight * ((h - mean) / torch.sqrt(var + self.eps)).to(x.dtype)


def test_eps_below_resolution_flag():
    x = torch.randn(2, 3, 8).half()
    report = survey(HandLayerNorm(8, eps=1e-12).half(), x)
    (flag,) = report.flags
    assert (flag.rule, flag.name) == ("eps below resolution", "(model)")
    assert flag.message.startswith(
        "HandLayerNorm computes its statistics in its input's dtype (float16), where its eps "
        "1e-12 rounds to 0"
    )
    row = report.rows[0]
    assert (row.dtype, row.compute_dtype, row.probe_shape) == ("float16", "input", (2, 3, 8))
    assert survey(HandLayerNorm(8, eps=1e-12, upcast=True).half(), x).flags == []
    assert survey(HandLayerNorm(8, eps=1e-3).half(), x).flags == []
    assert survey(nn.LayerNorm(8, eps=1e-12).half(), x).flags == []  # a torch.nn kernel


def test_half_precision_model_is_probed_as_a_float32_copy():
    model, args, kwargs = hf_model("llama")
    report = survey(model.to(torch.bfloat16), *args, **kwargs)
    assert [r.place for r in report.rows] == ["pre-LN"] * 4 + ["final"]
    assert {(r.dtype, r.compute_dtype, r.statistic) for r in report.rows} == {
        ("bfloat16", "float32", RMS)
    }
    assert next(model.parameters()).dtype == torch.bfloat16  # left as it was


def test_the_model_and_inputs_are_left_as_they_were():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5)).train()
    x = torch.randn(6, 4)
    before_x, before_buffers = x.clone(), [b.clone() for b in model.buffers()]
    state = torch.random.get_rng_state()
    report = survey(model, x)
    assert [r.sets for r in report.rows] == ["over (N)"]
    assert torch.equal(x, before_x) and model.training and model[1].training
    assert all(torch.equal(a, b) for a, b in zip(model.buffers(), before_buffers, strict=True))
    assert torch.equal(torch.random.get_rng_state(), state)


def test_a_large_call_is_probed_shrunk_along_independent_axes(monkeypatch):
    monkeypatch.setattr(importlib.import_module("normlab.probe"), "MAX_NUMEL", 256)
    model = nn.Sequential(nn.Linear(16, 16), nn.LayerNorm(16))
    (row,) = survey(model, torch.randn(4, 10, 16)).rows  # 640 elements
    assert row.shape == (4, 10, 16) and row.probe_shape == (4, 4, 16)
    assert row.sets == "over (D)"
    report = survey(nn.LayerNorm((16, 20)), torch.randn(2, 16, 20))  # reduced: cannot shrink
    assert report.rows == [] and report.rejected[0].reason.startswith("too large to probe")


def test_errors_name_the_argument():
    with pytest.raises(TypeError, match="^model must be a torch.nn.Module, got function$"):
        survey(lambda x: x, torch.randn(2, 3))
    with pytest.raises(TypeError, match="^padded must be None, a bool, or a mask tensor"):
        survey(nn.LayerNorm(3), torch.randn(2, 3), padded="yes")
    with pytest.raises(ValueError) as err:
        survey(nn.LayerNorm(3), torch.randn(2, 4))
    assert str(err.value).startswith("model(*args, **kwargs) raised RuntimeError: ")
    assert str(err.value).endswith("check the inputs' shapes and dtypes against the model")


# ---- the text, JSON and figure forms ----


def test_str_is_two_tables_within_80_columns(zoo):
    text = str(zoo["bert"])
    lines = text.splitlines()
    assert lines[0] == "survey of BertModel: 5 normalization calls"
    assert lines[2].split() == ["#", "norm", "input", "sets", "statistic", "place"]
    assert lines[4].split() == ["1", "embeddings.LayerNorm", "N=2", "T=8", "D=32", "over",
                                "(D)", "mean,", "var", "embedding"]  # fmt: skip
    assert "#  kind       eps    measured  stats in  affine" in lines
    assert "rejected (checked, not normalizations):" in lines
    for name in ZOO:
        assert max(map(len, str(zoo[name]).splitlines())) <= 80, name


def test_to_json_holds_every_row(zoo):
    data = json.loads(zoo["convnext"].to_json())
    assert data["model"] == "ConvNextModel" and len(data["rows"]) == 5
    row = data["rows"][1]
    assert row["names"] == ["N", "H", "W", "C"] and row["place"] == "in branch"
    assert row["result"]["reduced_dims"] == [3] and row["result"]["statistics"] == LN
    assert {r["kind"] for r in data["rejected"]} == {"Conv2d", "GELUActivation", "Identity"}


def test_draw_one_panel_per_kind(zoo):
    assert [k[:2] for k, _ in survey_module.kinds(zoo["convnext"])] == [
        (LN, "over (C)"), (LN, "over (D)"),
    ]  # fmt: skip
    fig = zoo["convnext"].draw()
    assert len(fig.axes) == 2
    assert fig.axes[0].get_title().startswith("ConvNextLayerNorm (4 calls): mean and")
    labels = {t.get_text() for t in fig.axes[1].texts}
    assert "D = 32, 4 drawn" in labels
    empty = survey(nn.ReLU(), torch.randn(2, 3))
    with pytest.raises(ValueError, match="found no normalization call"):
        empty.draw()
