"""tools/nbval_matrix.py: which CPU settings `make nbval` runs, and that each one takes."""

import pytest

from tools.nbval_matrix import (
    Pass,
    Setting,
    chunks,
    env_value,
    ladder,
    matrix,
    merge,
    settings_not_applied,
)


@pytest.mark.parametrize(
    "best, expected",
    [
        ("AVX512", ["default", "avx2", "avx512"]),
        ("AVX2", ["default", "avx2"]),
        ("DEFAULT", ["default"]),
        ("SVE256", ["default", "sve256"]),
    ],
)
def test_the_ladder_goes_up_to_the_machines_best_and_never_above(best, expected):
    assert ladder(best) == expected


def test_each_capability_once_the_best_at_two_threads():
    settings = matrix(["default", "avx2", "avx512"])
    assert [(s.capability, s.threads) for s in settings] == [
        ("default", 1),
        ("avx2", 1),
        ("avx512", 2),
    ]
    # MKL and oneDNN are held to the capability below the top; the top keeps the machine's own.
    assert dict(settings[0].blas)["MKL_ENABLE_INSTRUCTIONS"] == "SSE4_2"
    assert dict(settings[1].blas)["MKL_ENABLE_INSTRUCTIONS"] == "AVX2"
    assert settings[2].blas == ()


def test_full_runs_every_capability_at_both_thread_counts():
    pairs = [(s.capability, s.threads) for s in matrix(["default", "avx2"], full=True)]
    assert pairs == [("default", 1), ("default", 2), ("avx2", 1), ("avx2", 2)]


def test_a_setting_pins_its_environment(monkeypatch):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx512")
    env = Setting("default", 2).env()
    assert env["ATEN_CPU_CAPABILITY"] == "default" and env["OMP_NUM_THREADS"] == "2"
    assert env_value("Z VECTOR") == "zvector"


def test_torch_really_runs_the_settings_asked_for():
    assert settings_not_applied([Setting("default", 2)]) == []


def test_chunks_balance_the_notebooks_and_keep_their_order(tmp_path):
    sizes = {"a": 900, "b": 100, "c": 500, "d": 450}
    paths = []
    for name, size in sizes.items():
        path = tmp_path / f"{name}.ipynb"
        path.write_bytes(b"x" * size)
        paths.append(str(path))
    groups = chunks(paths, 2)
    assert sorted(p for g in groups for p in g) == sorted(paths)  # each notebook once
    assert [[p[-7] for p in g] for g in groups] == [["a", "b"], ["c", "d"]]
    assert chunks(paths[:1], 2) == [paths[:1]]  # never an empty chunk


def test_a_setting_over_its_chunks_reads_as_one_pass():
    parts = [
        Pass(Setting("avx2", 1), "isolated", 0, 10.0, 9.0, "===== 40 passed in 9.1s ====="),
        Pass(Setting("avx2", 1), "isolated", 1, 12.0, 11.0, "== 1 failed, 30 passed in 11s =="),
    ]
    merged = merge(parts)
    assert merged.returncode == 1 and merged.seconds == 22.0
    assert "1 failed, 70 passed" in merged.line() or "70 passed, 1 failed" in merged.line()
