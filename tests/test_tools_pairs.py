"""tools/pairs.py: every chapter's MyST text pair says what its notebook says."""

import shutil

import nbformat
import pytest

from tools import pairs, toc


@pytest.mark.parametrize("notebook", toc.notebooks(), ids=lambda p: p.name)
def test_every_chapter_has_a_text_pair_in_sync(notebook):
    assert pairs.problems(notebook) == []


def test_an_edit_shows_as_a_readable_diff_and_sync_mends_it(tmp_path):
    notebook = tmp_path / "01.ipynb"
    shutil.copy(toc.notebooks()[0], notebook)
    assert "missing" in pairs.problems(notebook)[0]
    assert pairs.sync(notebook) and not pairs.sync(notebook)  # written once, then up to date
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[1].source += "\n\nA new sentence."
    nbformat.write(nb, notebook)
    (problem,) = pairs.problems(notebook)
    assert "+A new sentence." in problem and "make sync" in problem
    pairs.sync(notebook)
    assert pairs.problems(notebook) == []
    assert "A new sentence." in pairs.text_path(notebook).read_text()
