"""tools/setup_cell.py writes and checks the hidden first cell of every chapter."""

import ast
import importlib.util
import os
import re
import subprocess
from unittest import mock

import nbformat
import pytest

from tools import setup_cell, toc
from tools.requirements import pins

CHAPTERS = toc.notebooks()


def book(root, url="https://github.com/me/fork", version="0.3.1"):
    """A book's two files the set-up cell is written from, in the folder ``root``."""
    (root / "_config.yml").write_text(f"repository:\n  url: {url}\n  branch: course\n")
    (root / "pyproject.toml").write_text(f'[project]\nname = "normlab"\nversion = "{version}"\n')
    return root


def test_write_then_check_round_trip(tmp_path):
    book(tmp_path)
    path = tmp_path / "ch.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title")]
    nbformat.write(nb, path)
    setup_cell.write(path, {"transformers": "transformers==5.23.0"}, root=tmp_path)
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].metadata["tags"] == ["remove-cell"] and cells[1].source == "# Title"
    assert 'REPO = "https://github.com/me/fork"' in cells[0].source
    assert 'RELEASE = "v0.3.1"' in cells[0].source and "git+{REPO}@{RELEASE}" in cells[0].source
    assert setup_cell.extra_needs(cells[0].source) == {"transformers": "transformers==5.23.0"}
    assert setup_cell.problems(path, root=tmp_path) == []
    # Writing again (after a fork changes the URL) replaces the cell and keeps its needs.
    book(tmp_path, url="https://x.org/a/b")
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


def test_the_release_is_the_version_as_a_tag(tmp_path):
    """The tag the cells install is the package's version: pyproject.toml and
    ``normlab.__version__`` must agree, or a release would install another normlab."""
    import normlab

    assert setup_cell.release(book(tmp_path, version="1.2.0")) == "v1.2.0"
    assert setup_cell.release() == f"v{normlab.__version__}"


def test_a_release_needs_a_version(tmp_path):
    book(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "normlab"\n')
    with pytest.raises(ValueError) as err:
        setup_cell.release(tmp_path)
    assert str(err.value) == (
        f'{tmp_path / "pyproject.toml"}: no `version = "..."` in [project], from which the '
        f'set-up cells\' release tag is made (v + version); add one, e.g. version = "0.1.0"'
    )


def test_write_keeps_the_cells_id_and_count(tmp_path):
    """Rewriting the cell (a fork, a release) leaves the rest of the notebook as one fresh run."""
    book(tmp_path)
    path = tmp_path / "ch.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title")]
    nbformat.write(nb, path)
    setup_cell.write(path, {}, root=tmp_path)
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].execution_count, cell_id = 1, nb.cells[0].id
    nbformat.write(nb, path)
    book(tmp_path, version="0.4.0")
    setup_cell.write(path, root=tmp_path)
    cell = nbformat.read(path, as_version=4).cells[0]
    assert (cell.id, cell.execution_count) == (cell_id, 1)
    assert 'RELEASE = "v0.4.0"' in cell.source


def failed_setup(source, missing):
    """Run a set-up cell's ``source`` as if ``missing`` were not installed; return what it
    raised (None if nothing)."""
    real = importlib.util.find_spec
    hidden = mock.patch(
        "importlib.util.find_spec", lambda name, *a: None if name == missing else real(name, *a)
    )
    with hidden:
        try:
            exec(compile(source, "set-up cell", "exec"), {})  # noqa: S102
        except Exception as err:  # noqa: BLE001 (the test looks at what it is)
            return err
    return None


@pytest.fixture
def offline_pip(monkeypatch):
    """pip without an index or a configuration: nothing downloaded, whatever the machine."""
    for name in list(os.environ):
        if name.startswith("PIP_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("NORMLAB_SOURCE", raising=False)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")


def test_a_missing_tag_is_one_clear_line(tmp_path, offline_pip):
    """A fork that has not pushed the release's tag: pip's reason and what to check, in one
    line (Jupyter shows an exception's ``_render_traceback_`` instead of a traceback)."""
    fork = tmp_path / "fork"
    fork.mkdir()
    git = ["git", "-C", str(fork), "-c", "user.name=n", "-c", "user.email=n@example.org"]
    subprocess.run(["git", "init", "-q", str(fork)], check=True)
    (fork / "README.md").write_text("a fork without tags\n")
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-qm", "start"], check=True)
    url = f"file://localhost{fork}"
    source = setup_cell.standard({}, book(tmp_path, url=url))
    err = failed_setup(source, "normlab")
    assert type(err).__name__ == "SetupFailed", f"the cell raised {err!r}"
    (line,) = err._render_traceback_()
    assert line.startswith(f"SetupFailed: pip could not install normlab @ git+{url}@v0.3.1: "), line
    assert "v0.3.1" in line.split(": ", 2)[2], f"pip's reason does not name the tag: {line}"
    assert line.endswith(f"(is {url} public, with the tag v0.3.1, and is there a network?)")
    assert "\n" not in line


def test_in_jupyter_a_failed_install_shows_one_line(offline_pip):
    """The same in a real kernel, as Colab shows it: one line of error output, no traceback."""
    from nbclient import NotebookClient
    from traitlets.config import Config

    source = setup_cell.standard({"no_such_module": "no-such-package==1.0"})
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    encrypted = Config({"KernelManager": {"transport_encryption": "auto"}})  # as make lab's
    NotebookClient(
        nb, timeout=60, kernel_name="python3", allow_errors=True, config=encrypted
    ).execute()
    (output,) = nb.cells[0].outputs
    assert output.output_type == "error" and output.ename == "SetupFailed"
    assert output.traceback == [
        "SetupFailed: pip could not install no-such-package==1.0: ERROR: Could not find a "
        "version that satisfies the requirement no-such-package==1.0 (from versions: none) "
        f"(is {setup_cell.repository()[0]} public, with the tag {setup_cell.release()}, and is "
        "there a network?)"
    ]
