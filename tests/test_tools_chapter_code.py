"""tools/chapter_code.py: a chapter's tagged code cells, loaded as a module, with clear errors."""

import nbformat
import pytest

from tools import chapter_code


def test_loads_the_tagged_cells_in_order_and_nothing_else(write_notebook):
    path = write_notebook([
        nbformat.v4.new_code_cell("A = 1", metadata={"tags": ["kernel"]}),
        nbformat.v4.new_code_cell("raise RuntimeError('not tagged')"),
        nbformat.v4.new_markdown_cell("B = 0", metadata={"tags": ["kernel"]}),
        nbformat.v4.new_code_cell("B = A + 1", metadata={"tags": ["kernel", "other"]}),
    ], "99_demo.ipynb")  # fmt: skip
    module = chapter_code.load(path, "kernel")
    assert (module.A, module.B) == (1, 2)
    assert module.__name__ == "chapter_99_demo_kernel"


def test_tracebacks_show_the_cells_lines(write_notebook):
    path = write_notebook([
        nbformat.v4.new_code_cell("def f():\n    return 1 / 0", metadata={"tags": ["kernel"]}),
    ], "99_demo.ipynb")  # fmt: skip
    module = chapter_code.load(path, "kernel")
    with pytest.raises(ZeroDivisionError) as info:
        module.f()
    assert "return 1 / 0" in str(info.getrepr())


def test_errors_name_what_is_missing(tmp_path, write_notebook):
    with pytest.raises(FileNotFoundError, match="notebook must be an existing"):
        chapter_code.load(tmp_path / "nope.ipynb", "kernel")
    path = write_notebook([nbformat.v4.new_code_cell("x = 1")], "99_demo.ipynb")
    with pytest.raises(LookupError, match="no code cell of 99_demo.ipynb is tagged 'kernel'"):
        chapter_code.load(path, "kernel")


def test_the_speed_chapter_tags_its_kernels():
    text = chapter_code.source("notebooks/08_speed.ipynb", "kernel")
    for name in (
        "def normalize_row",
        "def layer_norm_rows",
        "def layer_norm(",
        "def layer_norm_rows_bf16",
        "def layer_norm_channels",
    ):
        assert name in text
