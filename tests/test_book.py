"""The book as a whole: the toc, the notebooks' stored outputs, and a chapter run alone.

- The toc lists every notebook in notebooks/ (tools/toc.py also fails on a name that is not a
  file); binder's pins are the book's; one repository URL serves every button.
- Every chapter opens with a title (its set-up cell is checked in test_tools_setup_cell.py).
- Stored outputs come from one fresh top-to-bottom run: execution counts 1, 2, ..., n, no stderr,
  no warnings, no machine paths, no error unless the cell is tagged ``raises-exception``.
- A notebook run alone, from a folder without the repository and in an environment without
  normlab (as in Colab), gets normlab from its first cell and runs top to bottom.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest
import yaml

from tools import fork, setup_cell, toc
from tools.requirements import pins

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))
CHAPTERS = [path.relative_to(ROOT) for path in toc.notebooks()]

#: Text in an output that gives away a warning, a machine path or a figure's repr.
WARNING = re.compile(r"\b\w*Warning\b|warnings\.warn")
MACHINE_PATH = re.compile(r"/home/|/root/|/work/|/tmp/|/usr/|/opt/|site-packages|[A-Z]:\\\\")
FIGURE_REPR = re.compile(r"<Figure size \d")


def tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def output_text(output):
    if output["output_type"] == "stream":
        return output["text"]
    if output["output_type"] == "error":
        return "\n".join(output["traceback"])
    return "\n".join(
        "".join(value) if isinstance(value, list) else str(value)
        for key, value in output.get("data", {}).items()
        if key.startswith("text/")
    )


def test_toc_lists_every_notebook_in_the_folder():
    in_folder = sorted(p.relative_to(ROOT) for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(CHAPTERS) == in_folder, "_toc.yml and notebooks/ must list the same notebooks"


def test_binder_pins_agree_with_the_book():
    binder, book = pins(ROOT / "binder" / "requirements.txt"), pins()
    assert binder, "binder/requirements.txt pins nothing"
    assert {name: book.get(name) for name in binder} == binder


def test_config_names_one_repository_for_every_button():
    """The URL is a GitHub repository's, the branch is the config's own (a fork may have
    another: `make fork`), and the workflows run on that branch (tools/fork.py)."""
    repo = CONFIG["repository"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", repo["url"]), repo["url"]
    assert fork.problems(ROOT) == []
    launch = CONFIG["launch_buttons"]
    assert launch["binderhub_url"] and launch["colab_url"], "Binder and Colab buttons must be on"


@pytest.fixture(params=CHAPTERS, ids=lambda path: path.name)
def notebook(request):
    return request.param, nbformat.read(ROOT / request.param, as_version=4)


def test_notebook_starts_with_a_title(notebook):
    docname, nb = notebook
    markdown = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"]
    assert markdown and markdown[0] <= 1, f"{docname}: a Markdown title must open the notebook"
    first_line = nb.cells[markdown[0]].source.splitlines()[0]
    assert re.match(r"# \S", first_line), f"{docname}: the first Markdown cell must be a # title"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", docname


#: What every chapter may import without its set-up cell installing it: normlab and what it
#: depends on (pyproject.toml), and what Jupyter itself brings.
PREINSTALLED = {"normlab", "torch", "numpy", "matplotlib", "IPython"}
IMPORT = re.compile(r"^\s*(?:from|import)\s+(\w+)", re.MULTILINE)


def test_the_first_cell_installs_what_the_chapter_imports(notebook):
    """book/teaching.md's table lists the set-up cells' extra needs; they are exactly what the
    chapter's code (solutions included) imports beyond the preinstalled packages."""
    docname, nb = notebook
    code = "\n".join(c.source for c in nb.cells[1:] if c.cell_type == "code")
    imported = set(IMPORT.findall(code)) - set(sys.stdlib_module_names) - PREINSTALLED
    assert set(setup_cell.extra_needs(nb.cells[0].source)) == imported, docname


def test_outputs_come_from_one_fresh_run(notebook):
    docname, nb = notebook
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{docname}: execution counts {counts}; refresh the outputs with `make notebooks`"
    )


def test_outputs_are_clean(notebook):
    docname, nb = notebook
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        where = f"{docname}, cell {index + 1}"
        errors = [o for o in cell.outputs if o["output_type"] == "error"]
        if "raises-exception" in tags(cell):
            assert errors, f"{where} is tagged raises-exception but stored no error"
        else:
            assert not errors, f"{where} stored an error: {errors[0]['ename']}"
        for output in cell.outputs:
            assert output.get("name") != "stderr", f"{where} wrote to stderr: {output['text']!r}"
            text = output_text(output)
            if output["output_type"] != "error":
                assert not WARNING.search(text), f"{where} shows a warning: {text[:300]!r}"
            assert not MACHINE_PATH.search(text), f"{where} shows a machine path: {text[:300]!r}"
            image = any(key.startswith("image/") for key in output.get("data", {}))
            assert image or not FIGURE_REPR.search(text), (
                f"{where} stores a <Figure> repr; end with plt.show()"
            )


def test_a_notebook_run_alone_gets_its_dependencies_from_its_first_cell(
    tmp_path, monkeypatch, normlab_source
):
    """As in Colab: a folder with only the notebook, a Python with torch and Jupyter but without
    normlab. The first cell installs normlab (here from a copy of this repository, through
    NORMLAB_SOURCE, offline) and the notebook runs top to bottom."""
    from nbclient import NotebookClient

    docname = CHAPTERS[0].with_suffix("")  # e.g. notebooks/01_nlp
    # The hosted runtime: a fresh venv that sees this environment's packages except normlab.
    runtime = tmp_path / "runtime"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(runtime)], check=True)
    python = runtime / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    preinstalled = tmp_path / "preinstalled"
    preinstalled.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if "normlab" not in entry.name.lower():
            (preinstalled / entry.name).symlink_to(entry)
    (site / "preinstalled.pth").write_text(f"{preinstalled}\n")

    def where(module):
        code = f"import importlib.util as u; s = u.find_spec({module!r}); print(s and s.origin)"
        result = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True)
        return result.stdout.strip()

    assert where("normlab") == "None", "normlab must not be importable before the first cell"
    assert where("torch").startswith(str(preinstalled))

    # A kernel of that runtime, and an environment that cannot download anything.
    kernels = tmp_path / "jupyter" / "kernels" / "runtime"
    kernels.mkdir(parents=True)
    spec = {
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "runtime",
        "language": "python",
    }
    (kernels / "kernel.json").write_text(json.dumps(spec))
    for name in list(os.environ):
        if name.startswith("PIP_") or name in ("PYTHONPATH", "VIRTUAL_ENV"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("NORMLAB_SOURCE", f"normlab @ {normlab_source.as_uri()}")
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # nothing from an index: all offline
    monkeypatch.setenv("PIP_NO_BUILD_ISOLATION", "0")  # i.e. --no-build-isolation
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_ROOT_USER_ACTION", "ignore")
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    session = tmp_path / "session"
    session.mkdir()
    shutil.copy2(ROOT / f"{docname}.ipynb", session / "chapter.ipynb")
    nb = nbformat.read(session / "chapter.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    NotebookClient(
        nb, timeout=120, kernel_name="runtime", resources={"metadata": {"path": str(session)}}
    ).execute()

    assert where("normlab").startswith(str(site)), "the first cell did not install normlab"
    assert where("torch").startswith(str(preinstalled)), "the runtime's torch was replaced"
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), "the notebook did not run top to bottom"


def test_nbval_checks_every_chapter_the_toc_lists():
    """`make nbval` hands tools/nbval_matrix.py no list of its own: it takes tools/toc.py's,
    which fails loudly on a toc entry it cannot read (tests/test_tools_toc.py)."""
    env = {**os.environ, "NOTEBOOKS": ""}
    dry = subprocess.run(["make", "-n", "nbval"], cwd=ROOT, env=env, capture_output=True, text=True)
    (line,) = [line for line in dry.stdout.splitlines() if "tools.nbval_matrix" in line]
    assert ".ipynb" not in line, f"make nbval names its own notebooks: {line}"


def test_torch_index_reaches_pip_only_when_asked():
    """`make ... TORCH_INDEX=URL` (PyTorch's CPU wheels on Linux) is passed to pip; by default
    pip keeps the index it is configured with."""

    def install_commands(*args):
        out = subprocess.run(
            ["make", "-n", "-B", ".venv/.installed", *args],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout.replace("\\\n", " ")  # fmt: skip
        return [line for line in out.splitlines() if "pip install" in line]

    url = "https://download.pytorch.org/whl/cpu"
    asked = install_commands(f"TORCH_INDEX={url}")
    assert any(f"--extra-index-url {url}" in line for line in asked), asked
    default = install_commands()
    assert default and not any("--extra-index-url" in line for line in default), default
