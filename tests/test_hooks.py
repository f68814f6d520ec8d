"""normlab.hooks.record on small torch modules and on a tiny Hugging Face BertModel, and
parameter_sets, which groups the recorded calls of a recurrent network by the parameters they
used."""

import collections

import pytest
import torch
from torch import nn

from normlab import normalize
from normlab.hooks import Call, Recording, matching_modules, parameter_sets, record


class Residual(nn.Module):
    """LayerNorm(x + linear(x)), with a keyword argument, like BERT's output blocks."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.dense = nn.Linear(d, d)
        self.LayerNorm = nn.LayerNorm(d)

    def forward(self, h: torch.Tensor, residual: torch.Tensor, *, scale: float = 1.0):
        return self.LayerNorm(scale * self.dense(h) + residual)


def net() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.ReLU(), nn.LayerNorm(4))


def test_records_layer_norm_inputs_and_outputs_in_call_order():
    model = net()
    x = torch.randn(2, 3, 4)
    with record(model, nn.LayerNorm) as calls:
        y = model(x)
    assert isinstance(calls, Recording) and len(calls) == 2
    assert calls.names == ["1", "3"]
    torch.testing.assert_close(calls["1"].input, model[0](x))
    torch.testing.assert_close(calls["1"].output, normalize(calls["1"].input, (-1,)))
    torch.testing.assert_close(calls[-1].output, y)
    assert calls[0].module is model[1]
    assert "Call('1', LayerNorm, args=[[2, 3, 4]], output=[2, 3, 4])" == repr(calls[0])


def test_match_by_class_name_and_tuple():
    model = net()
    with record(model, "ReLU") as calls:
        model(torch.randn(2, 4))
    assert calls.names == ["2"]
    with record(model, (nn.Linear, "ReLU")) as calls:
        model(torch.randn(2, 4))
    assert calls.names == ["0", "2"]
    assert [n for n, _ in matching_modules(model, [nn.LayerNorm])] == ["1", "3"]


def test_subclasses_match_a_class_but_not_its_name():
    class MyNorm(nn.LayerNorm):
        pass

    model = nn.Sequential(MyNorm(4))
    assert [n for n, _ in matching_modules(model, nn.LayerNorm)] == ["0"]
    with pytest.raises(ValueError, match="matched no submodule"):
        matching_modules(model, "LayerNorm")


def test_args_kwargs_and_residual():
    block = Residual(4)
    h, r = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    with record(block, (Residual, nn.Linear, nn.LayerNorm)) as calls:
        block(h, r, scale=0.5)
    assert calls.names == ["dense", "LayerNorm", ""]  # a call is recorded when it returns
    top = calls[""]
    torch.testing.assert_close(top.args[1], r)
    assert top.kwargs == {"scale": 0.5}
    torch.testing.assert_close(calls["LayerNorm"].input, 0.5 * calls["dense"].output + r)


def test_hooks_are_removed_after_the_block_and_after_an_error():
    model = net()
    with record(model, nn.LayerNorm) as calls:
        model(torch.randn(2, 4))
    model(torch.randn(2, 4))  # not recorded any more
    assert len(calls) == 2
    assert all(not m._forward_hooks for m in model.modules())
    with pytest.raises(RuntimeError):
        with record(model, nn.LayerNorm):
            model(torch.randn(2, 5))  # wrong size: Linear raises
    assert all(not m._forward_hooks for m in model.modules())


def test_recorded_tensors_are_snapshots():
    ln = nn.LayerNorm(4)
    x = torch.randn(3, 4)
    with record(ln, nn.LayerNorm) as calls:
        y = ln(x)
    x.zero_()
    y.zero_()
    assert calls[0].input.abs().sum() > 0 and calls[0].output.abs().sum() > 0
    assert not calls[0].output.requires_grad


def test_repeated_calls():
    ln = nn.LayerNorm(4)
    model = nn.Sequential(ln, nn.ReLU(), ln)  # one module, called twice
    with record(model, nn.LayerNorm) as calls:
        model(torch.randn(2, 4))
    assert calls.names == ["0", "0"]
    assert len(calls.calls_of("0")) == 2
    with pytest.raises(ValueError, match="called 2 times"):
        calls["0"]


def test_errors_name_the_argument():
    model = net()
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        matching_modules("not a model", nn.LayerNorm)
    with pytest.raises(TypeError, match="match must be a module class"):
        matching_modules(model, int)
    with pytest.raises(TypeError, match="match must be a module class"):
        matching_modules(model, (nn.LayerNorm, 3))
    with pytest.raises(ValueError, match="at least one"):
        matching_modules(model, ())
    with pytest.raises(ValueError, match=r"matched no submodule of Sequential.*'LayerNorm'"):
        with record(model, nn.GroupNorm):
            pass
    with record(model, nn.LayerNorm) as calls:
        pass
    with pytest.raises(KeyError, match="nothing was recorded"):
        calls["1"]
    with record(model, nn.LayerNorm) as calls:
        model(torch.randn(2, 4))
    with pytest.raises(KeyError, match=r"recorded names: \['1', '3'\]"):
        calls["encoder"]
    with pytest.raises(TypeError, match="index a Recording"):
        calls[1.0]


def test_input_needs_a_positional_tensor():
    call = Call("x", nn.Identity(), (), {"x": torch.ones(1)}, torch.ones(1))
    with pytest.raises(TypeError, match="look at .args and .kwargs"):
        _ = call.input


def test_tiny_bert_layer_norms_are_post_ln_per_token(tiny_bert_config):
    from transformers import BertModel

    model = BertModel(tiny_bert_config(hidden_size=16, num_hidden_layers=1)).eval()
    ids = torch.randint(1, 50, (2, 5))
    with torch.no_grad(), record(model, (nn.LayerNorm, "BertOutput")) as calls:
        out = model(input_ids=ids)
    assert calls.names == [
        "embeddings.LayerNorm",
        "encoder.layer.0.attention.output.LayerNorm",
        "encoder.layer.0.output.LayerNorm",
        "encoder.layer.0.output",  # recorded when it returns, after its LayerNorm
    ]
    for call in calls:
        if isinstance(call.module, nn.LayerNorm):
            assert call.module.eps == 1e-12
            expected = normalize(call.input, (-1,), eps=1e-12) * call.module.weight
            torch.testing.assert_close(call.output, expected + call.module.bias)
    block = calls["encoder.layer.0.output"]
    attention_ln = calls["encoder.layer.0.attention.output.LayerNorm"]
    torch.testing.assert_close(block.args[1], attention_ln.output)  # the residual
    torch.testing.assert_close(block.output, out.last_hidden_state)


def test_every_item_of_match_must_match_and_the_error_lists_what_exists():
    model = net()
    with pytest.raises(ValueError, match=r"'LlamaRMSNorm' in match=.*\['LayerNorm', 'Linear'"):
        matching_modules(model, (nn.LayerNorm, "LlamaRMSNorm"))  # a name that matches nothing
    with pytest.raises(ValueError, match=r"RMSNorm in match=.*matched no submodule of Sequential"):
        matching_modules(model, [nn.LayerNorm, nn.RMSNorm])  # a class that matches nothing
    with pytest.raises(ValueError, match="matched no submodule"):
        with record(model, (nn.Linear, "Relu")):  # a typo: the class is ReLU
            pass
    assert all(not m._forward_hooks for m in model.modules())  # nothing was hooked


class KeywordOnly(nn.Module):
    """A module called with keyword tensors only, as LLaMA calls its attention."""

    def forward(self, *, hidden_states: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return scale * hidden_states


def test_a_module_called_with_keyword_tensors_only():
    model = nn.Sequential()
    model.inner = KeywordOnly()
    x = torch.randn(2, 3, 4)
    with record(model, KeywordOnly) as calls:
        model.inner(hidden_states=x, scale=2.0)
    call = calls["inner"]
    assert call.args == () and call.kwargs["scale"] == 2.0
    torch.testing.assert_close(call.kwargs["hidden_states"], x)
    message = (
        r"got no positional argument; its tensors came as keyword arguments \['hidden_states'\]"
    )
    with pytest.raises(TypeError, match=message):
        _ = call.input
    with pytest.raises(TypeError, match=r"read \.kwargs\['hidden_states'\]"):
        _ = call.input


N_RNN, T_RNN, D_RNN = 2, 4, 3  # [N, T, D] of the recurrent networks below


class SharedNormRNN(nn.Module):
    """h_t = tanh(LayerNorm(h_{t-1} + x_t)) with one LayerNorm for all steps."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(D_RNN)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [N, T, D]
        h = torch.zeros(x.shape[0], D_RNN)  # [N, D]
        for t in range(x.shape[1]):
            h = torch.tanh(self.norm(h + x[:, t]))  # [N, D]
        return h


class PerStepNormRNN(SharedNormRNN):
    """The same with a LayerNorm of its own at every step."""

    def __init__(self) -> None:
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(D_RNN) for _ in range(T_RNN))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.zeros(x.shape[0], D_RNN)  # [N, D]
        for t in range(x.shape[1]):
            h = torch.tanh(self.norms[t](h + x[:, t]))  # [N, D]
        return h


def recorded(model: nn.Module) -> Recording:
    with record(model, nn.LayerNorm) as calls:
        model(torch.randn(N_RNN, T_RNN, D_RNN))
    return calls


def test_parameter_sets_group_the_steps_by_storage():
    assert parameter_sets(recorded(SharedNormRNN())) == [[0, 1, 2, 3]]
    assert parameter_sets(recorded(PerStepNormRNN())) == [[0], [1], [2], [3]]


def test_equal_values_in_other_storage_are_another_set():
    model = PerStepNormRNN()  # every LayerNorm starts at weight 1, bias 0: equal, not shared
    assert all(torch.equal(m.weight, model.norms[0].weight) for m in model.norms)
    assert len(parameter_sets(recorded(model))) == T_RNN


def test_a_module_without_parameters_belongs_to_no_set():
    model = nn.Sequential(nn.LayerNorm(D_RNN, elementwise_affine=False))
    with record(model, nn.LayerNorm) as calls:
        model(torch.randn(N_RNN, D_RNN))
    assert parameter_sets(calls) == []


def test_parameter_sets_bad_calls():
    calls = recorded(SharedNormRNN())
    assert parameter_sets(list(calls)) == parameter_sets(calls)  # a list of Calls will do
    # each message whole: the argument, what was expected, what came in
    with pytest.raises(TypeError) as caught:
        parameter_sets(calls[0])
    assert str(caught.value) == (
        "calls must be a Recording from normlab.hooks.record or a list of Call objects, got Call"
    )
    with pytest.raises(ValueError) as caught:
        parameter_sets([])
    assert str(caught.value) == (
        "calls must hold at least one Call, got none (was the model called inside the "
        "record block?)"
    )
    with pytest.raises(TypeError) as caught:
        parameter_sets([calls[0], "step"])
    assert str(caught.value) == "calls[1] must be a normlab.hooks.Call, got str"


def test_a_call_shows_the_shapes_of_its_tensors_and_the_types_of_the_rest():
    call = Call("gate", nn.Identity(), (torch.ones(2, 3), 0.5), {}, (torch.ones(1),))
    assert repr(call) == "Call('gate', Identity, args=[[2, 3], 'float'], output=tuple)"


# --- Issue 23: each error message whole; snapshots of every kind of output. -------------------


def message(error_type, call):
    """The message of the error ``call()`` raises."""
    with pytest.raises(error_type) as caught:
        call()
    return caught.value.args[0] if error_type is KeyError else str(caught.value)


def test_each_error_of_record_names_the_argument_and_what_came_in():
    model = net()
    assert message(TypeError, lambda: matching_modules(3, nn.LayerNorm)) == (
        "model must be a torch.nn.Module, got int"
    )
    assert message(ValueError, lambda: matching_modules(model, [])) == (
        "match must name at least one module class or class name, got an empty list"
    )
    assert message(TypeError, lambda: matching_modules(model, ("",))) == (
        "match must be a module class (such as nn.LayerNorm), a class name (such as "
        "'BertOutput'), or a tuple of those; got '' in match=('',)"
    )
    with record(model, nn.LayerNorm) as calls:
        pass
    assert message(KeyError, lambda: calls["1"]) == (
        "no call of a submodule named '1' was recorded (nothing was recorded: was the model "
        "called inside the with block?); recorded names: []"
    )
    with record(model, nn.LayerNorm) as calls:
        model(torch.randn(2, 4))
    assert message(KeyError, lambda: calls["x"]) == (
        "no call of a submodule named 'x' was recorded; recorded names: ['1', '3']"
    )
    assert message(TypeError, lambda: calls[True]).endswith("got bool True")


Pair = collections.namedtuple("Pair", "first second")


class Outputs(nn.Module):
    """A module whose output nests tensors in named tuples, a list and a dict."""

    def forward(self, x):
        best = torch.return_types.max((x, x.argmax(-1)))  # a struct sequence: .values, .indices
        return best, Pair(x, -x), [x, 2 * x], {"y": x + 1, "n": 3}


def test_snapshots_keep_named_tuples_lists_and_dicts_and_copy_their_tensors():
    model, x = Outputs(), torch.zeros(2, 3)
    with record(model, Outputs) as calls:
        model(x)
    best, pair, pieces, named = calls[0].output
    assert type(best) is torch.return_types.max and best.values.shape == (2, 3)
    assert type(pair) is Pair and pair.second.shape == (2, 3)
    assert type(pieces) is list and len(pieces) == 2 and type(named) is dict
    assert named["n"] == 3
    x += 5  # the recorded tensors are copies, not the live ones
    assert best.values.abs().max() == 0 and pieces[1].abs().max() == 0
    assert named["y"].eq(1).all()
