"""tools/offline.py cuts a command off the network, or says why it cannot; never in silence."""

import subprocess
import sys

from tools import offline


def run(*args):
    command = [sys.executable, "-m", "tools.offline", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_check_isolates_or_says_why():
    result = run("--check")
    if result.returncode == offline.UNAVAILABLE:  # e.g. a container without CAP_SYS_ADMIN
        assert "tools/offline.py:" in result.stderr and result.stderr.strip()
    else:
        assert result.returncode == 0, result.stderr
        assert "only loopback works" in result.stdout


def test_a_command_inside_sees_only_loopback():
    code = "import socket; print(sorted(n for _, n in socket.if_nameindex()))"
    result = run("--", sys.executable, "-c", code)
    if result.returncode != offline.UNAVAILABLE:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "['lo']"


def test_usage_errors():
    assert run().returncode == 2
    assert run("--").returncode == 2
