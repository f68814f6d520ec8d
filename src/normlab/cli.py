"""The ``normlab`` command: ``normlab survey`` audits a model's normalizations from the shell.

::

    normlab survey --hf vit                      # a small ViT from a config, random weights
    normlab survey my_pkg.models:build --input-shape 2,3,32,32
    normlab survey --hf bert --json bert.json --figure bert.png

``--hf NAME`` builds one of ``HF_MODELS`` from a small configuration of Hugging Face
``transformers`` (random weights; nothing is downloaded) and calls it on a small random input.
``MODULE:FACTORY`` imports ``MODULE`` (from the current directory too), calls ``FACTORY()`` for
an ``nn.Module``, and calls that on a standard-normal float tensor of ``--input-shape``. The
survey's text goes to stdout; bad input (an unknown name, a factory that fails, a shape that
does not fit, a bad option) gets one line on stderr and exit status 2, never a traceback.

``hf_model(name)`` is the same zoo for Python: ``(model, args, kwargs)`` ready for
``normlab.survey(model, *args, **kwargs)``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import torch
from torch import nn

#: The hidden size of every model of the zoo: the D of [N, T, D], the C of the last stage.
D = 32
#: Batch and sequence length of the text models' random token ids, and the images' side.
BATCH, TOKENS, IMAGE = 2, 8, 32


class UsageError(Exception):
    """Bad input on the command line; its message is the one line ``main`` prints."""


def _transformers():
    """The ``transformers`` package, imported on first use (it is needed only for ``--hf``),
    with downloads switched off: every model here is built from a configuration."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        transformers = importlib.import_module("transformers")
    except ImportError as err:
        raise UsageError(
            f"--hf needs the transformers package ({err}); install it with "
            f"'pip install transformers', or survey your own model with MODULE:FACTORY"
        ) from None
    transformers.logging.set_verbosity_error()
    return transformers


def _text_inputs(vocab: int = 100) -> tuple[tuple, dict]:
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab, (BATCH, TOKENS), generator=gen)  # [N, T]
    return (ids,), {}


def _pixels(channels: int = 3, side: int = IMAGE) -> tuple[tuple, dict]:
    gen = torch.Generator().manual_seed(0)
    return (torch.randn(BATCH, channels, side, side, generator=gen),), {}  # [N, C, H, W]


def _bert(t):
    config = t.BertConfig(
        vocab_size=100, hidden_size=D, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=2 * D, max_position_embeddings=64,
    )  # fmt: skip
    return t.BertModel(config), *_text_inputs()


def _gpt2(t):
    config = t.GPT2Config(vocab_size=100, n_embd=D, n_layer=2, n_head=2, n_inner=2 * D)
    return t.GPT2Model(config), *_text_inputs()


def _llama(t):
    config = t.LlamaConfig(
        vocab_size=100, hidden_size=D, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, intermediate_size=2 * D,
    )  # fmt: skip
    return t.LlamaModel(config), *_text_inputs()


def _mistral(t):
    config = t.MistralConfig(
        vocab_size=100, hidden_size=D, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, intermediate_size=2 * D,
    )  # fmt: skip
    return t.MistralModel(config), *_text_inputs()


def _qwen2(t):
    config = t.Qwen2Config(
        vocab_size=100, hidden_size=D, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, intermediate_size=2 * D,
    )  # fmt: skip
    return t.Qwen2Model(config), *_text_inputs()


def _t5(t):
    config = t.T5Config(
        vocab_size=100, d_model=D, num_layers=2, num_heads=2, d_kv=D // 2, d_ff=2 * D
    )
    return t.T5EncoderModel(config), *_text_inputs()


def _vit(t):
    config = t.ViTConfig(
        hidden_size=D, num_hidden_layers=2, num_attention_heads=2, intermediate_size=2 * D,
        image_size=IMAGE, patch_size=8,
    )  # fmt: skip
    return t.ViTModel(config), *_pixels()


def _convnext(t):
    # two stages, so that one downsampling norm sits between them; 6 x 6 positions after the
    # stem, not 8, so that no axis of the blocks' [N, H, W, C] has the channels' length
    config = t.ConvNextConfig(
        num_channels=3, num_stages=2, hidden_sizes=[D // 2, D], depths=[1, 1], patch_size=4,
        image_size=24,
    )  # fmt: skip
    return t.ConvNextModel(config), *_pixels(side=24)


def _whisper(t):
    config = t.WhisperConfig(
        vocab_size=100, d_model=D, encoder_layers=2, encoder_attention_heads=2,
        decoder_layers=1, decoder_attention_heads=2, encoder_ffn_dim=2 * D, decoder_ffn_dim=2 * D,
        num_mel_bins=8, max_source_positions=8, max_target_positions=8, pad_token_id=1,
        bos_token_id=0, eos_token_id=2, decoder_start_token_id=0,
    )  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    features = torch.randn(BATCH, 8, 16, generator=gen)  # [N, mel bins, 2 * positions]
    return t.WhisperModel(config).get_encoder(), (features,), {}


def _clip_text(t):
    config = t.CLIPTextConfig(
        vocab_size=100, hidden_size=D, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=2 * D, max_position_embeddings=16,
    )  # fmt: skip
    return t.CLIPTextModel(config), *_text_inputs()


def _clip_vision(t):
    config = t.CLIPVisionConfig(
        hidden_size=D, num_hidden_layers=2, num_attention_heads=2, intermediate_size=2 * D,
        image_size=IMAGE, patch_size=8,
    )  # fmt: skip
    return t.CLIPVisionModel(config), *_pixels()


def _swin(t):
    config = t.SwinConfig(
        image_size=IMAGE, patch_size=4, embed_dim=D // 2, depths=[1, 1], num_heads=[2, 2],
        window_size=4,
    )  # fmt: skip
    return t.SwinModel(config), *_pixels()


def _wav2vec2(t):
    config = t.Wav2Vec2Config(
        hidden_size=D, num_hidden_layers=2, num_attention_heads=2, intermediate_size=2 * D,
        conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2, feat_extract_norm="group",
    )  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    return t.Wav2Vec2Model(config), (torch.randn(BATCH, 400, generator=gen),), {}  # [N, samples]


def _olmo2(t):
    config = t.Olmo2Config(
        vocab_size=100, hidden_size=D, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, intermediate_size=2 * D,
    )  # fmt: skip
    return t.Olmo2Model(config), *_text_inputs()


def _resnet(t):
    config = t.ResNetConfig(embedding_size=8, hidden_sizes=[8, D // 2], depths=[1, 1])
    return t.ResNetModel(config), *_pixels()


#: ``--hf`` names and their builders: ``builder(transformers) -> (model, args, kwargs)``.
HF_MODELS: dict[str, Callable[[Any], tuple[nn.Module, tuple, dict]]] = {
    "bert": _bert,
    "gpt2": _gpt2,
    "llama": _llama,
    "t5": _t5,
    "vit": _vit,
    "convnext": _convnext,
    "whisper": _whisper,
    "clip-text": _clip_text,
    "clip-vision": _clip_vision,
    "mistral": _mistral,
    "qwen2": _qwen2,
    "swin": _swin,
    "wav2vec2": _wav2vec2,
    "olmo2": _olmo2,
    "resnet": _resnet,
}


def hf_model(name: str) -> tuple[nn.Module, tuple, dict]:
    """A small model of ``HF_MODELS`` with random weights, in eval mode, and its input.

    Args:
        name: a key of ``HF_MODELS``, e.g. ``"bert"`` or ``"clip-vision"``.

    Returns:
        ``(model, args, kwargs)``: ``normlab.survey(model, *args, **kwargs)`` audits it.

    Raises:
        UsageError: ``name`` is not in ``HF_MODELS``, or transformers is missing.
    """
    if name not in HF_MODELS:
        raise UsageError(
            f"--hf must name one of {', '.join(HF_MODELS)}; got {name!r}. For another model, "
            f"write a factory and run: normlab survey MODULE:FACTORY --input-shape ..."
        )
    t = _transformers()
    with torch.random.fork_rng(devices=[]):  # the same weights each time; the caller's RNG kept
        torch.manual_seed(0)
        model, args, kwargs = HF_MODELS[name](t)
    return model.eval(), args, kwargs


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(s < 1 for s in shape):
        raise UsageError(
            f"--input-shape must be positive integers separated by commas, such as 2,3,32,32; "
            f"got {text!r}"
        )
    return shape


def _factory_model(spec: str, shape_text: str | None) -> tuple[nn.Module, tuple, dict]:
    """``MODULE:FACTORY`` imported and called, and a random input of ``--input-shape``."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise UsageError(
            f"the model must be MODULE:FACTORY, such as my_pkg.models:build, or --hf NAME; "
            f"got {spec!r}"
        )
    if shape_text is None:
        raise UsageError(
            f"{spec} needs --input-shape, the shape of the random input to call it on, "
            f"such as --input-shape 2,3,32,32"
        )
    shape = _parse_shape(shape_text)
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as err:
        raise UsageError(
            f"cannot import {module_name!r} for {spec}: {type(err).__name__}: {err}"
        ) from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise UsageError(f"{module_name} has no callable {attribute!r} (from {spec})")
    try:
        model = factory()
    except Exception as err:
        raise UsageError(f"{spec}() raised {type(err).__name__}: {err}") from None
    if not isinstance(model, nn.Module):
        raise UsageError(f"{spec}() must return a torch.nn.Module, got {type(model).__name__}")
    gen = torch.Generator().manual_seed(0)
    return model, (torch.randn(shape, generator=gen),), {}


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors raised as ``UsageError`` (one line, no usage block)."""

    def error(self, message: str) -> NoReturn:
        command = "normlab survey" if "survey" in self.prog else "normlab"
        raise UsageError(f"{message} (see {command} --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="normlab", description="Where does each norm of a model normalize?")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    audit = commands.add_parser(
        "survey",
        help="find every normalization of a model by behaviour",
        description="Run the model once and print, for every normalization it calls, which "
        "elements share statistics, eps, the affine parameters, the dtype of the statistics "
        "and the place in the residual stream.",
    )
    audit.add_argument("model", nargs="?", help="MODULE:FACTORY returning an nn.Module")
    audit.add_argument("--hf", metavar="NAME", help=f"a small HF model: {', '.join(HF_MODELS)}")
    audit.add_argument("--input-shape", metavar="SHAPE", help="e.g. 2,3,32,32 (with a factory)")
    audit.add_argument("--json", metavar="PATH", help="also write the survey as JSON")
    audit.add_argument("--figure", metavar="PATH", help="also draw its kinds of sets (png, svg)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``normlab`` with ``argv`` (default: the command line); return the exit status."""
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except UsageError as err:
        print(f"normlab: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `normlab survey ... | head`: the reader has seen enough
        sys.stdout = open(os.devnull, "w")  # Python flushes it at exit
        return 0


def _main(argv: list[str]) -> int:
    parser = _parser()
    options = parser.parse_args(argv)
    if (options.hf is None) == (options.model is None):
        raise UsageError("give either --hf NAME or MODULE:FACTORY (with --input-shape), not both")
    if options.hf is not None:
        if options.input_shape is not None:
            raise UsageError("--input-shape goes with MODULE:FACTORY; --hf builds its own input")
        model, args, kwargs = hf_model(options.hf)
    else:
        model, args, kwargs = _factory_model(options.model, options.input_shape)
    from .survey import survey

    try:
        report = survey(model, *args, **kwargs)
    except ValueError as err:
        raise UsageError(str(err)) from None
    print(report)
    if options.json is not None:
        _write(options.json, report.to_json())
    if options.figure is not None:
        figure = report.draw() if report.rows else None
        if figure is None:
            raise UsageError(f"--figure {options.figure}: the survey found no normalization")
        try:
            figure.savefig(options.figure, dpi=100, bbox_inches="tight")
        except (OSError, ValueError) as err:
            raise UsageError(f"cannot write --figure {options.figure}: {err}") from None
    return 0


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    except OSError as err:
        raise UsageError(f"cannot write --json {path}: {err.strerror}") from None
