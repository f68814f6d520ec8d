"""tools/chapter_code.py: the code cells of a chapter that carry a tag, loaded as one module."""

import nbformat
import pytest

from tools import chapter_code


def tagged(source, *tags):
    return nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)})


@pytest.fixture
def chapters(tmp_path, monkeypatch, write_notebook):
    """A notebooks folder holding chapter 99, ``99_demo``, with cells under two tags."""
    monkeypatch.setattr(chapter_code, "NOTEBOOKS", tmp_path)
    return write_notebook([
        tagged("A = 1", "lesson"),
        nbformat.v4.new_code_cell("raise RuntimeError('not tagged')"),
        nbformat.v4.new_markdown_cell("B = 0", metadata={"tags": ["lesson"]}),
        tagged("B = A + 1", "lesson"),
        tagged("C = 3", "lesson", "other"),
    ], "99_demo.ipynb")  # fmt: skip


@pytest.mark.parametrize("chapter", [99, "99_demo", "PATH"])
def test_a_chapter_is_named_by_number_name_or_path(chapters, chapter):
    module = chapter_code.load(chapters if chapter == "PATH" else chapter, "lesson")
    assert (module.A, module.B) == (1, 2)
    assert module.__name__ == "chapter_99_demo_lesson"


def test_any_tag_loads_its_own_code_cells_and_nothing_else(chapters):
    # the untagged cell would raise, and the Markdown cell would set B = 0
    lesson = chapter_code.load(99, "lesson")
    assert (lesson.A, lesson.B, lesson.C) == (1, 2, 3)
    other = chapter_code.load(99, "other")  # a cell may carry several tags
    assert other.C == 3 and not hasattr(other, "A")


def test_the_cells_run_in_order_in_one_module_namespace(tmp_path, monkeypatch, write_notebook):
    monkeypatch.setattr(chapter_code, "NOTEBOOKS", tmp_path)
    write_notebook([
        tagged("def total():\n    return FIRST + LATER", "t"),
        tagged("FIRST = 1", "t"),
        tagged("order = [FIRST]", "t"),
        tagged("LATER = 2\norder.append(LATER)", "t"),
    ], "98_order.ipynb")  # fmt: skip
    module = chapter_code.load(98, "t")
    assert module.order == [1, 2]  # each cell sees what the cells above it defined
    assert module.total() == 3  # a function reads the module's globals, as in the notebook


def test_tracebacks_show_the_cells_lines(tmp_path, monkeypatch, write_notebook):
    monkeypatch.setattr(chapter_code, "NOTEBOOKS", tmp_path)
    write_notebook([tagged("def f():\n    return 1 / 0", "kernel")], "99_demo.ipynb")
    module = chapter_code.load(99, "kernel")
    with pytest.raises(ZeroDivisionError) as info:
        module.f()
    assert "return 1 / 0" in str(info.getrepr())


def test_a_missing_tag_names_the_chapter_and_the_tag(chapters):
    with pytest.raises(LookupError, match="chapter 99_demo has no code cell tagged 'missing'"):
        chapter_code.load(99, "missing")


def test_a_missing_chapter_is_named(tmp_path, chapters):
    with pytest.raises(FileNotFoundError, match="chapter 42 must be one notebook 42_"):
        chapter_code.load(42, "lesson")
    with pytest.raises(FileNotFoundError, match="got '42_nope'"):
        chapter_code.load("42_nope", "lesson")
    with pytest.raises(FileNotFoundError, match="nope.ipynb"):
        chapter_code.load(tmp_path / "nope.ipynb", "lesson")


def test_the_speed_chapter_tags_its_kernels():
    text = chapter_code.source(8, "kernel")
    for name in (
        "def normalize_row",
        "def layer_norm_rows",
        "def layer_norm(",
        "def layer_norm_rows_bf16",
        "def layer_norm_channels",
    ):
        assert name in text
