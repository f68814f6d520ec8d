"""tools/offline.py cuts a command off the network, or says why it cannot; never in silence."""

import os
import shutil
import subprocess
import sys

import pytest

from tools import offline


def run(*args, path=None):
    command = [sys.executable, "-m", "tools.offline", *args]
    env = os.environ if path is None else dict(os.environ, PATH=str(path))
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


def check_isolates_or_says_why(result):
    if result.returncode == offline.UNAVAILABLE:  # e.g. a container without CAP_SYS_ADMIN
        assert "tools/offline.py:" in result.stderr and result.stderr.strip()
    else:
        assert result.returncode == 0, result.stderr
        assert "only loopback works" in result.stdout


def test_check_isolates_or_says_why():
    check_isolates_or_says_why(run("--check"))


def test_loopback_comes_up_without_the_ip_program(tmp_path):
    """Debian's container images have util-linux but not iproute2; loopback must work there."""
    for name in ("unshare", "sh"):
        if shutil.which(name) is None:
            pytest.skip(f"no {name} program here")
        (tmp_path / name).symlink_to(shutil.which(name))
    check_isolates_or_says_why(run("--check", path=tmp_path))


def test_a_command_inside_sees_only_loopback():
    code = "import socket; print(sorted(n for _, n in socket.if_nameindex()))"
    result = run("--", sys.executable, "-c", code)
    if result.returncode != offline.UNAVAILABLE:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "['lo']"


def test_usage_errors():
    assert run().returncode == 2
    assert run("--").returncode == 2
