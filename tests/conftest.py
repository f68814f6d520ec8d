"""Shared pytest set-up: a non-interactive matplotlib backend, fixed seeds, hypothesis examples
that are random locally (to explore) but fixed in CI (to be reproducible), and the tiny Hugging
Face BERT that several test files build (random weights, nothing downloaded)."""

import os
import shutil
from pathlib import Path

import matplotlib
import pytest
import torch
from hypothesis import settings

matplotlib.use("Agg")
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="session")
def tiny_bert_config():
    """A function ``(hidden_size, num_attention_heads, num_hidden_layers) -> BertConfig`` of a
    BERT small enough to run in milliseconds: vocabulary of 50 ids, 16 positions."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # building from a config downloads nothing; make sure
    import transformers

    transformers.logging.set_verbosity_error()

    def make(hidden_size=16, num_attention_heads=2, num_hidden_layers=1):
        return transformers.BertConfig(
            vocab_size=50,
            hidden_size=hidden_size,
            num_hidden_layers=num_hidden_layers,
            num_attention_heads=num_attention_heads,
            intermediate_size=2 * hidden_size,
            max_position_embeddings=16,
        )

    return make


@pytest.fixture
def normlab_source(tmp_path):
    """A copy of what ``pip install`` builds the package from (pyproject.toml, README, licences,
    src/), outside the repository, so that building it leaves nothing behind."""
    root, source = Path(__file__).resolve().parents[1], tmp_path / "normlab-source"
    source.mkdir()
    for path in [root / "pyproject.toml", root / "README.md", *root.glob("LICENSE*")]:
        shutil.copy2(path, source / path.name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(root / "src", source / "src", ignore=ignore)
    return source


@pytest.fixture
def write_notebook(tmp_path):
    """A function ``(cells, name="nb.ipynb") -> Path`` that writes a notebook of ``cells``
    (nbformat v4 cells) into the test's temporary folder."""
    import nbformat

    def write(cells, name="nb.ipynb"):
        nb = nbformat.v4.new_notebook()
        nb.cells = cells
        path = tmp_path / name
        nbformat.write(nb, path)
        return path

    return write


@pytest.fixture
def block_outside():
    """A function ``(context, base, on_block=None) -> list``: every request of a playwright
    browser context whose URL is not under ``base`` is aborted (never waited for), its URL
    recorded in the returned list and passed to ``on_block``; the others go through."""

    def install(context, base, on_block=None):
        outside = []

        def route(r):
            if r.request.url.startswith(base):
                r.continue_()
            else:
                outside.append(r.request.url)
                if on_block:
                    on_block(r.request.url)
                r.abort()

        context.route("**/*", route)
        return outside

    return install
