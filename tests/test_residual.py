"""normlab.residual reads a post-LN layer's residual path from hooked calls and draws it: the
boxes are the recorded calls in call order, and the LayerNorm comes after the residual sum."""

import pytest
import torch
from torch import nn

from normlab.hooks import record
from normlab.residual import draw_residual_block, residual_steps

BERT_BLOCKS = ("BertSelfAttention", "BertSelfOutput", "BertIntermediate", "BertOutput")


class Block(nn.Module):
    """LayerNorm(dense(h) + scale * x), like BERT's output blocks when scale is 1."""

    def __init__(self, d: int, scale: float = 1.0) -> None:
        super().__init__()
        self.dense = nn.Linear(d, d)
        self.LayerNorm = nn.LayerNorm(d)
        self.scale = scale

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(h) + self.scale * x)


class PostLN(nn.Module):
    """One post-LN block: x -> inner -> out.dense -> (+ x) -> out.LayerNorm."""

    def __init__(self, d: int = 4, scale: float = 1.0) -> None:
        super().__init__()
        self.inner = nn.Linear(d, d)
        self.out = Block(d, scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.inner(x), x)


class PreLN(nn.Module):
    """x + ff(LayerNorm(x)): the LayerNorm comes first."""

    def __init__(self, d: int = 4) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.ff = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.ff(self.norm(x))


def bert_calls(tiny_bert_config):
    from transformers import BertModel

    model = BertModel(tiny_bert_config(num_hidden_layers=2)).eval()
    with torch.no_grad(), record(model, (nn.LayerNorm, nn.Linear, nn.Dropout, *BERT_BLOCKS)) as c:
        out = model(input_ids=torch.randint(1, 50, (2, 5)))
    return c, out


def test_bert_layer_has_two_blocks_in_call_order(tiny_bert_config):
    calls, out = bert_calls(tiny_bert_config)
    p = "encoder.layer.1."
    steps = residual_steps(calls, p)
    assert [s.sublayer for s in steps] == [
        (p + "attention.self", p + "attention.output.dense", p + "attention.output.dropout"),
        (p + "intermediate", p + "output.dense", p + "output.dropout"),
    ]
    assert [s.block for s in steps] == [p + "attention.output", p + "output"]
    assert [s.norm for s in steps] == [p + "attention.output.LayerNorm", p + "output.LayerNorm"]
    for step in steps:  # the calls are in the order the recording holds them, the norm last
        order = [calls.names.index(n) for n in (*step.sublayer, step.norm)]
        assert order == sorted(order)
    torch.testing.assert_close(steps[0].stream_out, steps[1].stream_in)
    torch.testing.assert_close(steps[1].stream_out, out.last_hidden_state)
    assert steps[1].labels[0] == "intermediate\nBertIntermediate"


def column_texts(ax, x: float) -> list[str]:
    """The texts drawn at horizontal position x, top to bottom."""
    texts = [t for t in ax.texts if t.get_text() and abs(t.get_position()[0] - x) < 1e-9]
    return [t.get_text() for t in sorted(texts, key=lambda t: -t.get_position()[1])]


def test_drawing_shows_the_calls_in_order_and_the_norm_after_the_add(tiny_bert_config):
    calls, _ = bert_calls(tiny_bert_config)
    ax = draw_residual_block(calls, "encoder.layer.0.")
    first = column_texts(ax, 0.0)
    assert first == [
        "x₀: residual stream",
        "attention.self\nBertSelfAttention",
        "attention.output.dense\nLinear",
        "attention.output.dropout\nDropout",
        "+",
        "attention.output.LayerNorm\nLayerNorm",
        "x₁: residual stream",
    ]
    assert "post-LN" in ax.get_title()
    second_x = max(t.get_position()[0] for t in ax.texts if t.get_text() == "+")
    assert column_texts(ax, second_x)[4:6] == ["+", "output.LayerNorm\nLayerNorm"]


def test_toy_post_ln_block_and_a_given_stream():
    model = nn.Sequential(PostLN())
    x = torch.randn(2, 3, 4)
    with record(model, (nn.Linear, nn.LayerNorm, Block)) as calls:
        y = model(x)
    (step,) = residual_steps(calls, "0.", stream=x)
    assert step.sublayer == ("0.inner", "0.out.dense") and step.norm == "0.out.LayerNorm"
    torch.testing.assert_close(step.stream_out, y)
    with pytest.raises(ValueError, match="reads the stream x"):
        residual_steps(calls, "0.", stream=x + 1)


def test_errors_name_the_argument_and_the_failed_check():
    x = torch.randn(2, 3, 4)
    with record(nn.Sequential(PostLN()), (nn.Linear, nn.LayerNorm, Block)) as calls:
        calls_model = calls
    with pytest.raises(TypeError, match="calls must be a Recording"):
        residual_steps(list(calls_model), "0.")
    with pytest.raises(TypeError, match="prefix must be a str"):
        residual_steps(calls_model, 0)
    with pytest.raises(ValueError, match="prefix '0.' matches no recorded call"):
        residual_steps(calls_model, "0.")  # nothing was run inside the with block

    cases = [  # (model, what to record, message)
        (PostLN(scale=2.0), (nn.Linear, nn.LayerNorm, Block), r"does not receive x \+ sublayer"),
        (PostLN(), (nn.Linear, nn.LayerNorm), "the block '0.out' .* was not recorded"),
        (PreLN(), (nn.Linear, nn.LayerNorm), "does not follow a sublayer"),
        (PostLN(), nn.Linear, "no LayerNorm was recorded"),
    ]
    for module, match, message in cases:
        model = nn.Sequential(module)
        with record(model, match) as calls:
            model(x)
        with pytest.raises(ValueError, match=message):
            residual_steps(calls, "0.")
