"""tools/nbval_matrix.py: which CPU settings `make nbval` runs, and that each one takes."""

import pytest

from tools.nbval_matrix import Setting, env_value, ladder, matrix, settings_not_applied


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
