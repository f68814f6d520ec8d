"""normlab.residual reads a layer's residual path from hooked calls and draws it: the boxes are
the recorded calls in call order; the norm comes after the residual sum (post-LN: BERT) or before
the sublayer, with a final norm after the last layer (pre-LN: GPT-2, LLaMA and T5, whose norms
are RMSNorms)."""

import pytest
import torch
from torch import nn

from normlab.hooks import record
from normlab.residual import GAP, draw_residual_block, residual_steps

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


def test_drawing_is_legible_where_the_book_shows_it(tiny_bert_config):
    """Drawn for the book's 6.7-inch column, shown 1:1: its smallest text is 8 points or more,
    and every box's label fits inside its box."""
    from tools.figure_fonts import smallest_font

    calls, _ = bert_calls(tiny_bert_config)
    ax = draw_residual_block(calls, "encoder.layer.0.")
    fig = ax.figure
    assert fig.get_size_inches()[0] <= 6.7 and smallest_font(fig) >= 8
    renderer = fig.canvas.get_renderer()
    boxes = [p.get_window_extent(renderer) for p in ax.patches if p.get_width() > 1]
    for text in ax.texts:
        if "\n" in text.get_text() or "stream" in text.get_text():
            extent = text.get_window_extent(renderer)
            assert any(
                b.x0 < extent.x0 and extent.x1 < b.x1 and b.y0 < extent.y0 and extent.y1 < b.y1
                for b in boxes
            ), text.get_text()


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
        (PreLN(), (nn.Linear, nn.LayerNorm), "the layer '0' was not recorded"),
        (PreLN(), (nn.LayerNorm, PreLN), "no call of a sublayer was recorded"),
        (PostLN(), nn.Linear, "no LayerNorm was recorded"),
    ]
    for module, match, message in cases:
        model = nn.Sequential(module)
        with record(model, match) as calls:
            model(x)
        with pytest.raises(ValueError, match=message):
            residual_steps(calls, "0.")
    norm_of_double = nn.Sequential(NormOfDouble())
    with record(norm_of_double, nn.LayerNorm) as calls:
        norm_of_double(x)
    with pytest.raises(ValueError, match="does not follow a sublayer .* nor does it read x"):
        residual_steps(calls, "0.", stream=x)  # the norm reads 2 x: neither post- nor pre-LN


class NormOfDouble(nn.Module):
    """LayerNorm(2 x): the norm reads neither the stream nor a residual sum."""

    def __init__(self, d: int = 4) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(2 * x)


class PreRMS(nn.Module):
    """Two pre-LN blocks with nn.RMSNorm, the second sublayer called with a keyword tensor."""

    def __init__(self, d: int = 4) -> None:
        super().__init__()
        self.norm_1, self.norm_2 = nn.RMSNorm(d), nn.RMSNorm(d)
        self.ff_1, self.ff_2 = nn.Linear(d, d), KeywordLinear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ff_1(self.norm_1(x))
        return x + self.ff_2(hidden_states=self.norm_2(x))


class KeywordLinear(nn.Linear):
    def forward(self, *, hidden_states: torch.Tensor) -> torch.Tensor:
        return super().forward(hidden_states)


def test_toy_pre_ln_blocks_and_rms_norm():
    x = torch.randn(2, 3, 4)
    model = nn.Sequential(PreLN())
    with record(model, (nn.Linear, nn.LayerNorm, PreLN)) as calls:
        y = model(x)
    (step,) = residual_steps(calls, "0.")
    assert (step.position, step.norm, step.sublayer, step.block) == (
        "pre-LN",
        "0.norm",
        ("0.ff",),
        "0",
    )
    assert step.labels == ("norm\nLayerNorm", "ff\nLinear")  # the norm first, as drawn
    torch.testing.assert_close(step.stream_out, y)

    model = nn.Sequential(PreRMS())
    with record(model, (nn.RMSNorm, nn.Linear, PreRMS)) as calls:
        y = model(x)
    steps = residual_steps(calls, "0.")
    assert [(s.position, s.norm, s.sublayer) for s in steps] == [
        ("pre-LN", "0.norm_1", ("0.ff_1",)),
        ("pre-LN", "0.norm_2", ("0.ff_2",)),  # read from its keyword argument hidden_states
    ]
    torch.testing.assert_close(steps[1].stream_out, y)


def tiny(kind):
    """A tiny Hugging Face model (random weights, nothing downloaded), what to record, the last
    layer's prefix and the final norm."""
    import transformers

    transformers.logging.set_verbosity_error()
    d = {"vocab_size": 50}
    if kind == "gpt2":
        config = transformers.GPT2Config(n_embd=16, n_layer=2, n_head=2, n_positions=16, **d)
        match = (nn.LayerNorm, "GPT2Attention", "GPT2MLP", "GPT2Block")
        return transformers.GPT2Model(config), match, "h.1.", "ln_f"
    if kind == "llama":
        config = transformers.LlamaConfig(
            hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=2, max_position_embeddings=16, **d,
        )  # fmt: skip
        match = ("LlamaRMSNorm", "LlamaAttention", "LlamaMLP", "LlamaDecoderLayer")
        return transformers.LlamaModel(config), match, "layers.1.", "norm"
    config = transformers.T5Config(d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2, **d)
    match = ("T5LayerNorm", "T5Attention", "T5DenseActDense", "T5Block")
    return (
        transformers.T5EncoderModel(config),
        match,
        "encoder.block.1.",
        "encoder.final_layer_norm",
    )


@pytest.mark.parametrize("kind", ["gpt2", "llama", "t5"])
def test_hugging_face_pre_ln_layers_and_their_final_norm(kind, tiny_bert_config):
    model, match, prefix, final = tiny(kind)
    with torch.no_grad(), record(model.eval(), match) as calls:
        out = model(input_ids=torch.randint(1, 50, (2, 5)))
    steps = residual_steps(calls, prefix)
    assert [s.position for s in steps] == ["pre-LN", "pre-LN"]
    torch.testing.assert_close(steps[0].stream_out, steps[1].stream_in)
    torch.testing.assert_close(calls[final].input, steps[1].stream_out)
    torch.testing.assert_close(calls[final].output, out.last_hidden_state)
    ax = draw_residual_block(calls, prefix, final=final)
    texts = column_texts(ax, GAP)  # the second column, with the final norm under it
    assert texts[1].endswith(steps[1].labels[0]) and texts[2:4] == [steps[1].labels[1], "+"]
    assert texts[-2] == f"{final}\nfinal {type(calls[final].module).__name__}"
    assert texts[-1] == "model output"
    assert "pre-LN" in ax.get_title() and final in ax.get_title()
    first = prefix.replace("1.", "0.")
    with pytest.raises(ValueError, match="is the layer drawn the model's last one"):
        draw_residual_block(calls, first, final=final)


@pytest.mark.parametrize("pre_ln", [True, False])
def test_opt_switches_between_pre_ln_and_post_ln(pre_ln, tiny_bert_config):
    """OPT's layer adds x back itself (no block call) and runs its MLP on [N * T, D]."""
    import transformers

    config = transformers.OPTConfig(
        vocab_size=50, hidden_size=16, ffn_dim=32, num_hidden_layers=2, num_attention_heads=2,
        word_embed_proj_dim=16, max_position_embeddings=16, do_layer_norm_before=pre_ln,
    )  # fmt: skip
    model = transformers.OPTModel(config).eval()
    match = (nn.LayerNorm, "OPTAttention", nn.Linear, "OPTDecoderLayer")
    with torch.no_grad(), record(model, match) as calls:
        out = model(input_ids=torch.randint(1, 50, (2, 5)))
    p = "decoder.layers.1."
    steps = residual_steps(calls, p)
    position = "pre-LN" if pre_ln else "post-LN"
    assert [(s.position, s.norm, s.block) for s in steps] == [
        (position, p + "self_attn_layer_norm", p.rstrip(".")),
        (position, p + "final_layer_norm", p.rstrip(".")),  # the MLP's norm, despite its name
    ]
    assert steps[1].sublayer == (p + "fc1", p + "fc2")
    final = "decoder.final_layer_norm" if pre_ln else None  # post-LN OPT has no final norm
    last = calls[final].output if pre_ln else steps[1].stream_out
    torch.testing.assert_close(last, out.last_hidden_state)
    draw_residual_block(calls, p, final=final)
