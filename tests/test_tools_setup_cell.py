"""tools/setup_cell.py writes and checks the hidden first cell of every chapter."""

import ast
import re
from unittest import mock

import nbformat
import pytest

from tools import setup_cell, toc
from tools.requirements import pins

CHAPTERS = toc.notebooks()


def test_write_then_check_round_trip(tmp_path):
    (tmp_path / "_config.yml").write_text(
        "repository:\n  url: https://github.com/me/fork\n  branch: course\n"
    )
    path = tmp_path / "ch.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title")]
    nbformat.write(nb, path)
    setup_cell.write(path, {"transformers": "transformers==5.23.0"}, root=tmp_path)
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].metadata["tags"] == ["remove-cell"] and cells[1].source == "# Title"
    assert 'REPO = "https://github.com/me/fork"' in cells[0].source
    assert "git+{REPO}@course" in cells[0].source
    assert setup_cell.extra_needs(cells[0].source) == {"transformers": "transformers==5.23.0"}
    assert setup_cell.problems(path, root=tmp_path) == []
    # Writing again (after a fork changes the URL) replaces the cell and keeps its needs.
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://x.org/a/b\n  branch: main\n")
    assert "differs from the standard one" in setup_cell.problems(path, root=tmp_path)[0]
    setup_cell.write(path, root=tmp_path)
    cells = nbformat.read(path, as_version=4).cells
    assert len(cells) == 2 and setup_cell.problems(path, root=tmp_path) == []
    assert setup_cell.extra_needs(cells[0].source) == {"transformers": "transformers==5.23.0"}


def test_torch_is_never_an_extra_need():
    with pytest.raises(ValueError, match="must not reinstall torch"):
        setup_cell.standard({"torch": "torch==2.13.0"})


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_chapter_starts_with_the_standard_cell(path):
    assert setup_cell.problems(path) == []
    needs = setup_cell.extra_needs(nbformat.read(path, as_version=4).cells[0].source)
    book = pins()
    for requirement in needs.values():
        name, _, version = requirement.partition("==")
        assert book.get(name.lower()) == version, f"{path}: {requirement} is not requirements.txt's"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_the_cell_does_nothing_where_everything_is_installed(path):
    source = nbformat.read(path, as_version=4).cells[0].source
    ast.parse(source)
    with mock.patch("subprocess.run") as run:
        exec(compile(source, f"{path.name} cell 1", "exec"), {})  # noqa: S102
    assert not run.called, f"{path}: the set-up cell tried to install {run.call_args}"


def test_teaching_page_lists_what_each_first_cell_installs():
    """book/teaching.md's table says which packages each chapter's first cell installs."""
    text = (toc.ROOT / "book" / "teaching.md").read_text(encoding="utf8")
    listed = {}
    for chapters, packages in re.findall(r"^\s*\| ([\d, ]+) \| (.+) \|$", text, re.MULTILINE):
        for number in chapters.split(","):
            listed[int(number)] = set(re.findall(r"`([\w.-]+)`", packages))
    needs = {}
    for path in CHAPTERS:
        source = nbformat.read(path, as_version=4).cells[0].source
        extra = {req.split("==")[0] for req in setup_cell.extra_needs(source).values()}
        if extra:
            needs[int(path.name[:2])] = extra
    assert listed == needs
