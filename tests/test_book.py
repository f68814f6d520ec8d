"""The book as a whole: the toc, the notebooks' stored outputs and their Colab/Binder set-up cell.

- The toc lists every notebook in notebooks/ and nothing that does not exist.
- Every chapter starts with the standard hidden set-up cell, whose repository URL and branch are
  the ones in _config.yml, and a title.
- Stored outputs come from one fresh top-to-bottom run: execution counts 1, 2, ..., n, no stderr,
  no warnings, no machine paths, no error unless the cell is tagged ``raises-exception``.
- A notebook run alone, from a folder without the repository and in an environment without
  normlab (as in Colab), gets normlab from its first cell and runs top to bottom.
"""

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from unittest import mock

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf8"))

#: The hidden first cell of every notebook (the one /work/tools/nbbuild.py's setup_cell writes),
#: with the repository and branch of _config.yml and any extra needs ("module": "requirement").
SETUP = """\
# Colab / Binder set-up: install what this chapter needs when it is missing.
# Locally and in CI everything is installed already, so this cell does nothing.
import importlib.util
import os
import subprocess
import sys

REPO = "{repo}"
NEEDS = {{
    "normlab": os.environ.get("NORMLAB_SOURCE", f"normlab @ git+{{REPO}}@{branch}"),
{extra}}}
missing = [pkg for mod, pkg in NEEDS.items() if importlib.util.find_spec(mod) is None]
if missing:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)"""
EXTRA_NEED = re.compile(r'^    "(?P<module>[\w.]+)": "(?P<requirement>[^"]+)",$')

#: Text in an output that gives away a warning, a machine path or a figure's repr.
WARNING = re.compile(r"\b\w*Warning\b|warnings\.warn")
MACHINE_PATH = re.compile(r"/home/|/root/|/work/|/tmp/|/usr/|/opt/|site-packages|[A-Z]:\\\\")
FIGURE_REPR = re.compile(r"<Figure size \d")


def toc_files():
    """Every file the toc names, in reading order (without extension)."""
    files = [TOC["root"]]
    for part in TOC.get("parts", []):
        files += [chapter["file"] for chapter in part.get("chapters", [])]
    return files


def toc_notebooks():
    return [f for f in toc_files() if f.startswith("notebooks/")]


def read(docname):
    return nbformat.read(ROOT / f"{docname}.ipynb", as_version=4)


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


def requirements(path="requirements.txt"):
    """``{name: version}`` for the ``name==version`` pins of a requirements file."""
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / path).read_text(), re.M)
    return {name.lower(): version for name, version in pins}


def test_toc_lists_every_notebook_and_only_files_that_exist():
    in_folder = sorted(f"notebooks/{p.stem}" for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(toc_notebooks()) == in_folder, "_toc.yml and notebooks/ must list the same"
    for docname in toc_files():
        found = [s for s in (".md", ".ipynb") if (ROOT / f"{docname}{s}").is_file()]
        assert found, f"_toc.yml names {docname}, which is neither a .md nor an .ipynb file"


def test_binder_pins_agree_with_the_book():
    binder, book = requirements("binder/requirements.txt"), requirements()
    assert binder, "binder/requirements.txt pins nothing"
    assert {name: book.get(name) for name in binder} == binder


def test_config_names_one_repository_for_every_button():
    repo = CONFIG["repository"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", repo["url"]), repo["url"]
    assert repo["branch"] == "main"
    launch = CONFIG["launch_buttons"]
    assert launch["binderhub_url"] and launch["colab_url"], "Binder and Colab buttons must be on"


@pytest.fixture(params=toc_notebooks(), ids=lambda d: Path(d).name)
def notebook(request):
    return request.param, read(request.param)


def test_first_cell_is_the_standard_setup_cell(notebook):
    docname, nb = notebook
    cell = nb.cells[0]
    assert cell.cell_type == "code", f"{docname}: the first cell must be the set-up code cell"
    assert "remove-cell" in tags(cell), f"{docname}: the set-up cell must be tagged remove-cell"
    lines = cell.source.splitlines()
    extra = [line for line in lines if EXTRA_NEED.match(line)]
    expected = SETUP.format(
        repo=CONFIG["repository"]["url"],
        branch=CONFIG["repository"]["branch"],
        extra="".join(f"{line}\n" for line in extra),
    )
    assert cell.source == expected, (
        f"{docname}: the set-up cell differs from the standard one (with REPO and branch "
        f"from _config.yml); see book/teaching.md"
    )
    pins = requirements()
    for line in extra:
        need = EXTRA_NEED.match(line)
        assert need["module"] != "torch", f"{docname}: never reinstall the runtime's torch"
        name, _, version = need["requirement"].partition("==")
        if name.lower() in pins:
            assert version == pins[name.lower()], (
                f"{docname}: installs {need['requirement']}, requirements.txt pins "
                f"{name}=={pins[name.lower()]}"
            )


def test_setup_cell_does_nothing_where_everything_is_installed(notebook):
    docname, nb = notebook
    ast.parse(nb.cells[0].source)
    with mock.patch("subprocess.run") as run:
        exec(compile(nb.cells[0].source, f"{docname} cell 1", "exec"), {})  # noqa: S102
    assert not run.called, f"{docname}: the set-up cell tried to install {run.call_args}"


def test_notebook_starts_with_a_title(notebook):
    docname, nb = notebook
    markdown = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"]
    assert markdown and markdown[0] <= 1, f"{docname}: a Markdown title must open the notebook"
    first_line = nb.cells[markdown[0]].source.splitlines()[0]
    assert re.match(r"# \S", first_line), f"{docname}: the first Markdown cell must be a # title"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", docname


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


def test_a_notebook_run_alone_gets_its_dependencies_from_its_first_cell(tmp_path, monkeypatch):
    """As in Colab: a folder with only the notebook, a Python with torch and Jupyter but without
    normlab. The first cell installs normlab (here from a copy of this repository, through
    NORMLAB_SOURCE, offline) and the notebook runs top to bottom."""
    from nbclient import NotebookClient

    docname = toc_notebooks()[0]
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

    # The package source, copied so that building it leaves nothing in the repository.
    source = tmp_path / "normlab-source"
    source.mkdir()
    for path in [ROOT / "pyproject.toml", ROOT / "README.md", *ROOT.glob("LICENSE*")]:
        shutil.copy2(path, source / path.name)
    shutil.copytree(
        ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )

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
    monkeypatch.setenv("NORMLAB_SOURCE", f"normlab @ {source.as_uri()}")
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
