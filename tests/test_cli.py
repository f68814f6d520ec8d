"""The ``normlab survey`` command: the zoo by name, a reader's own factory, --json and --figure,
and every kind of bad input, which gets one line on stderr and exit status 2 (main() is called
in-process; one test runs ``python -m normlab`` to see what a shell sees)."""

import json
import subprocess
import sys
import textwrap

import pytest

from normlab.cli import HF_MODELS, main

FACTORY = """
import torch
from torch import nn


def build():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.ReLU())


def broken():
    raise RuntimeError("no weights here")


def not_a_module():
    return 42
"""


@pytest.fixture
def factory(tmp_path, monkeypatch):
    """A module ``readers_models`` in the current directory, as a reader would write it."""
    (tmp_path / "readers_models.py").write_text(textwrap.dedent(FACTORY))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("readers_models", None)


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_hf_model_prints_the_survey(capsys):
    status, out, err = run(capsys, "survey", "--hf", "gpt2")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "survey of GPT2Model: 5 normalization calls"
    assert lines[-1].startswith("not candidates: ")
    assert [line.split()[-1] for line in lines[4:9]] == ["pre-LN"] * 4 + ["final"]


def test_factory_json_and_figure(capsys, factory):
    status, out, err = run(
        capsys, "survey", "readers_models:build", "--input-shape", "2,3,4,4",
        "--json", "out.json", "--figure", "out.png",
    )  # fmt: skip
    assert (status, err) == (0, "")
    assert out.startswith("survey of Sequential: 1 normalization call\n")
    data = json.loads((factory / "out.json").read_text())
    assert [r["sets"] for r in data["rows"]] == ["over (C in groups of 2, H, W)"]
    assert (factory / "out.png").read_bytes()[:4] == b"\x89PNG"


BAD = {
    "unknown model": (
        ["--hf", "resnet9000"],
        f"--hf must name one of {', '.join(HF_MODELS)}; got 'resnet9000'. For another model, "
        f"write a factory and run: normlab survey MODULE:FACTORY --input-shape ...",
    ),
    "no module": (
        ["no_such_module:build", "--input-shape", "2,3"],
        "cannot import 'no_such_module' for no_such_module:build: ModuleNotFoundError: No "
        "module named 'no_such_module'",
    ),
    "no factory": (
        ["readers_models:nothing", "--input-shape", "2,3"],
        "readers_models has no callable 'nothing' (from readers_models:nothing)",
    ),
    "factory fails": (
        ["readers_models:broken", "--input-shape", "2,3"],
        "readers_models:broken() raised RuntimeError: no weights here",
    ),
    "not a module": (
        ["readers_models:not_a_module", "--input-shape", "2,3"],
        "readers_models:not_a_module() must return a torch.nn.Module, got int",
    ),
    "shape does not fit": (
        ["readers_models:build", "--input-shape", "2,5,4,4"],
        "model(*args, **kwargs) raised RuntimeError: ",
    ),
    "bad shape": (
        ["readers_models:build", "--input-shape", "2,x"],
        "--input-shape must be positive integers separated by commas, such as 2,3,32,32; got '2,x'",
    ),
    "no shape": (
        ["readers_models:build"],
        "readers_models:build needs --input-shape, the shape of the random input to call it on, "
        "such as --input-shape 2,3,32,32",
    ),
    "not module:factory": (
        ["readers_models", "--input-shape", "2,3"],
        "the model must be MODULE:FACTORY, such as my_pkg.models:build, or --hf NAME; got "
        "'readers_models'",
    ),
    "both": (
        ["readers_models:build", "--hf", "bert"],
        "give either --hf NAME or MODULE:FACTORY (with --input-shape), not both",
    ),
    "neither": ([], "give either --hf NAME or MODULE:FACTORY (with --input-shape), not both"),
    "shape with --hf": (
        ["--hf", "bert", "--input-shape", "2,3"],
        "--input-shape goes with MODULE:FACTORY; --hf builds its own input",
    ),
    "bad flag": (["--hf", "bert", "--colour"], "unrecognized arguments: --colour"),
    "json not writable": (
        ["readers_models:build", "--input-shape", "2,3,4,4", "--json", "no/such/dir/x.json"],
        "cannot write --json no/such/dir/x.json: No such file or directory",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_status_2(capsys, factory, case):
    argv, message = BAD[case]
    status, _, err = run(capsys, "survey", *argv)
    assert status == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"normlab: error: {message}")


def test_no_command_is_a_usage_error(capsys):
    status, _, err = run(capsys)
    assert status == 2
    assert err == (
        "normlab: error: the following arguments are required: command (see normlab --help)\n"
    )


def test_python_dash_m_in_a_shell():
    result = subprocess.run(
        [sys.executable, "-m", "normlab", "survey", "--hf", "nope"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("normlab: error: --hf must name one of bert, gpt2, ")
    assert result.stderr.count("\n") == 1
