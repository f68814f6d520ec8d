"""tools/lab.py starts JupyterLab from this environment, at notebooks/, without calls home.

The browser test tests/test_jupyterlab.py runs a chapter in the JupyterLab it starts.
"""

import os
import sys

import pytest

from tools import lab


def test_command_runs_this_pythons_jupyterlab_on_the_book_offline():
    argv = lab.command()
    assert argv[:3] == [sys.executable, "-m", "jupyterlab"]
    assert "--ServerApp.root_dir=." in argv  # where jupytext.toml is: saving writes the pair
    assert "--FileContentsManager.preferred_dir=notebooks" in argv
    assert "--ServerApp.ip=localhost" in argv
    assert set(lab.OFFLINE) <= set(argv)
    assert "--KernelManager.transport_encryption=auto" in argv  # no "TCP without encryption"
    assert not any(
        a.startswith(("--ServerApp.port", "--IdentityProvider", "--ServerApp.open")) for a in argv
    )


def test_command_with_port_token_and_no_browser():
    argv = lab.command("/book", ip="127.0.0.1", port=8899, token="t0k", open_browser=False)
    assert "--ServerApp.root_dir=/book" in argv
    assert {
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port=8899",
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=t0k",
        "--ServerApp.open_browser=False",
    } <= set(argv)
    assert lab.command(extra=["--x=1"])[-1] == "--x=1"


def test_environment_puts_this_pythons_kernels_first():
    data = os.path.join(sys.prefix, "share", "jupyter")
    env = lab.environment({"JUPYTER_PATH": os.pathsep.join(["/mine", data])})
    assert env["JUPYTER_PATH"].split(os.pathsep) == [data, "/mine"]
    assert lab.environment({})["JUPYTER_PATH"] == data


def test_main_replaces_itself_with_jupyterlab(monkeypatch, tmp_path, capsys):
    (tmp_path / "notebooks").mkdir()
    called = {}

    def execve(path, argv, env):
        called.update(path=path, argv=argv, env=env)
        raise SystemExit(0)

    monkeypatch.setattr(os, "execve", execve)
    with pytest.raises(SystemExit):
        lab.main(["--root", str(tmp_path), "--port", "8899", "--no-browser"])
    assert called["path"] == sys.executable
    assert "--ServerApp.port=8899" in called["argv"]
    assert "--ServerApp.open_browser=False" in called["argv"]
    assert called["env"]["JUPYTER_PATH"].startswith(os.path.join(sys.prefix, "share", "jupyter"))
    assert "open the URL it prints" in capsys.readouterr().out


def test_main_refuses_a_missing_folder(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        lab.main(["--root", str(tmp_path)])
    assert info.value.code == 2
    assert "notebooks is not a folder" in capsys.readouterr().err
