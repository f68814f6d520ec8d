"""The reader's install (requirements/, ``make lab``) against the book's (requirements.txt).

- requirements.txt includes the reader's files, so ``make book`` and ``make test`` install what
  ``make lab`` does and more, and tools/requirements.py reads every pin through the includes;
- the reader's files pin what every chapter imports (its set-up cell's needs, normlab's own
  dependencies, JupyterLab), and nothing they pull in, at any depth, is a build or test tool;
- ``make lab`` installs the reader's files only, or keeps a .venv that has everything.
"""

import os
import re
import subprocess
from importlib import metadata

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tools import requirements, setup_cell, toc
from tools.requirements import READER, ROOT, files, pins

READER_FILES = [ROOT / "requirements" / f"{name}.txt" for name in READER]


def reader_pins():
    return {name: version for path in READER_FILES for name, version in pins(path).items()}


def own_pins():
    """What requirements.txt pins in its own lines: the build and test tools."""
    text = (ROOT / "requirements.txt").read_text(encoding="utf8")
    return {name.lower() for name, _ in requirements.PIN.findall(text)}


def closure(names):
    """Every installed distribution that ``names`` need, at any depth (extras followed)."""
    seen, todo = set(), [(canonicalize_name(name), frozenset()) for name in names]
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for line in metadata.distribution(name).requires or []:
            need = Requirement(line)
            wanted = [{"extra": extra} for extra in {"", *extras}]
            if need.marker is None or any(need.marker.evaluate(env) for env in wanted):
                todo.append((canonicalize_name(need.name), frozenset(need.extras)))
    return {name for name, _ in seen}


def test_requirements_txt_includes_the_readers_files():
    assert files() == [ROOT / "requirements.txt", *READER_FILES]
    assert set(reader_pins()) <= set(pins()), "pins() must follow requirements.txt's -r lines"


def test_a_missing_include_is_named_with_the_file_that_includes_it(tmp_path):
    (tmp_path / "a.txt").write_text("-r sub/b.txt\nnumpy==2.4.6\n")
    with pytest.raises(FileNotFoundError) as err:
        pins(tmp_path / "a.txt")
    assert str(err.value) == f"no requirements file {tmp_path / 'sub/b.txt'} (included by " + (
        f"{tmp_path / 'a.txt'})"
    )


def test_the_reader_pins_what_every_chapter_imports():
    """Each set-up cell's extra needs, at requirements.txt's versions, and normlab's own
    dependencies (pyproject.toml) and JupyterLab with its kernel in reader.txt itself."""
    reader, core = reader_pins(), pins(READER_FILES[0])
    for path in toc.notebooks():
        source = nbformat.read(path, as_version=4).cells[0].source
        for requirement in setup_cell.extra_needs(source).values():
            name, _, version = requirement.partition("==")
            assert reader.get(name.lower()) == version, f"{path.name}: {requirement} unpinned"
    for name in ("torch", "numpy", "matplotlib", "ipykernel", "jupyterlab", "jupyterlab-myst"):
        assert name in core, f"requirements/reader.txt does not pin {name}"
    assert "-e ." in READER_FILES[0].read_text(encoding="utf8").splitlines()


def test_no_build_or_test_tool_in_the_readers_install():
    """Nothing a reader installs (the reader's pins and normlab, and all they need) is one of
    the tools requirements.txt adds; each tool is pinned once, in one file."""
    tools = {canonicalize_name(name) for name in own_pins()}
    assert not tools & {canonicalize_name(name) for name in reader_pins()}
    pulled = closure([*reader_pins(), "normlab"]) & tools
    assert not pulled, f"the reader's install pulls in build or test tools: {sorted(pulled)}"


def test_binder_installs_only_what_a_reader_does():
    binder = pins(ROOT / "binder" / "requirements.txt")
    assert set(binder) <= set(reader_pins()), set(binder) - set(reader_pins())


def make_dry(*args, venv):
    """The commands ``make -n ARGS VENV=venv`` would run, continuation lines joined."""
    out = subprocess.run(
        ["make", "-n", *args, f"VENV={venv}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "MAKEFLAGS": ""},
    ).stdout.replace("\\\n", " ")
    return [line for line in out.splitlines() if "-m pip install" in line]


def test_make_lab_installs_the_readers_files(tmp_path):
    every = "-r requirements/reader.txt -r requirements/frameworks.txt -r requirements/kernels.txt"
    (install,) = make_dry("lab", venv=tmp_path / "new")
    assert re.search(rf"--no-compile +{every}$", install), install
    (install,) = make_dry("lab", "LAB_EXTRAS=", venv=tmp_path / "new")
    assert install.endswith("--no-compile  -r requirements/reader.txt"), install


def test_make_lab_keeps_a_venv_that_has_everything(tmp_path):
    venv = tmp_path / "full"
    venv.mkdir()
    (venv / ".installed").touch()  # newer than every requirements file
    assert make_dry("lab", venv=venv) == []
