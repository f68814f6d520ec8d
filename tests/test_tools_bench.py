"""tools/bench.py (`make bench`): the machine it records, the formula it times, the check that
stops a wrong method, the queries and headline it reports; and the Triton kernel it uses on a
GPU, run by Triton's CPU interpreter where Triton is installed. The timings themselves are never
tested."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tools import bench

ROOT = Path(__file__).resolve().parents[1]


def test_formula_is_layer_norm_in_float32_whatever_the_dtype():
    x, w, b = torch.randn(4, 32), torch.randn(32), torch.randn(32)
    torch.testing.assert_close(bench.formula(x, w, b), F.layer_norm(x, (32,), w, b, bench.EPS))
    y = bench.formula(x.bfloat16(), w, b)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y, F.layer_norm(x.bfloat16().float(), (32,), w, b).bfloat16())


def test_check_stops_a_method_that_computes_something_else():
    x, w, b = torch.randn(4, 32), torch.randn(32), torch.randn(32)
    good = {
        ("copy", "preallocated"): lambda x, w, b, out: out.copy_(x),
        ("native", "allocating"): lambda x, w, b, out: F.layer_norm(x, (32,), w, b),
    }
    bench.check(good, x, w, b)
    wrong = good | {("own", "allocating"): lambda x, w, b, out: F.layer_norm(x, (32,))}
    with pytest.raises(AssertionError, match="own, allocating"):
        bench.check(wrong, x, w, b)


def _row(method, alloc, seconds, D=64, size="large", dtype="float32", threads=1):
    return {
        "method": method,
        "alloc": alloc,
        "seconds": seconds,
        "device": "cpu",
        "dtype": dtype,
        "size": size,
        "D": D,
        "threads": threads,
        "bytes": 1 << 20,
    }


def _result(copy_at_1024=0.5):
    """Two settings per dtype: our kernel 0.5x and 1.2x F.layer_norm's time preallocated, 1.0x
    and 3.0x allocating; the copy takes 0.4 s at D = 64 and ``copy_at_1024`` at D = 1024."""
    rows = []
    for D, own, copy in [(64, 0.5, 0.4), (1024, 1.2, copy_at_1024)]:
        for dtype in bench.DTYPES:
            rows += [
                _row("copy", "preallocated", copy, D, dtype=dtype),
                _row("native", "allocating", 1.0, D, dtype=dtype),
                _row("own", "preallocated", own, D, dtype=dtype),
                _row("own", "allocating", 2.5 * own, D, dtype=dtype),
                _row("composite", "allocating", 8.0, D, dtype=dtype),
                _row("compiled", "allocating", 2.0, D, dtype=dtype),
            ]
    return bench.percents(rows)


def test_percent_of_copy_takes_the_best_copy_over_every_d():
    rows = _result()
    copies = [r for r in rows if r["method"] == "copy" and r["dtype"] == "float32"]
    assert [r["percent_of_copy"] for r in copies] == [100.0, 80.0]  # 0.4 s is the limit
    native = [r for r in rows if r["method"] == "native"]
    assert {r["percent_of_copy"] for r in native} == {40.0}
    assert not any(r["noise"] for r in rows)


def test_a_figure_above_the_copy_is_flagged_as_noise_and_left_out():
    rows = _result()
    for r in rows:  # our preallocated kernel at D = 64 "beats" the copy's 0.4 s
        if (r["method"], r["alloc"], r["D"]) == ("own", "preallocated", 64):
            r["seconds"] = 0.2
    bench.percents(rows)
    noisy = [r for r in rows if r["noise"]]
    assert len(noisy) == 2 and all(r["percent_of_copy"] == 200.0 for r in noisy)
    h = bench.headline(rows)
    assert h["figures above 100 % of copy (noise, left out)"] == "2 of 24"
    assert all("200" not in v for v in h.values())
    prealloc = "own / F.layer_norm time, ours preallocated, F.layer_norm allocating"
    assert h[f"{prealloc}: within 1.1x"] == "0 of 2"  # only the D = 1024 settings are left
    assert h["own (preallocated), float32, large: median % of copy"].startswith("33 %")


def test_headline_compares_like_for_like_and_preallocated_each_labelled():
    h = bench.headline(_result())
    like = "own / F.layer_norm time, like for like (both allocate)"
    prealloc = "own / F.layer_norm time, ours preallocated, F.layer_norm allocating"
    assert h[f"{like}: worst"] == "3.00x (float32, large, D = 1024, 1 thread)"
    assert h[f"{like}: best"].startswith("1.25x (")
    assert h[f"{like}: within 1.1x"] == "0 of 4"
    assert h[f"{prealloc}: worst"] == "1.20x (float32, large, D = 1024, 1 thread)"
    assert h[f"{prealloc}: best"] == "0.50x (float32, large, D = 64, 1 thread)"
    assert h[f"{prealloc}: within 1.1x"] == "2 of 4"
    assert h["figures above 100 % of copy (noise, left out)"] == "0 of 24"
    assert h["native (allocating), bfloat16, large: median % of copy"].startswith("40 %")


def test_percents_refuses_a_row_without_its_copy():
    with pytest.raises(ValueError, match="no copy was timed"):
        bench.percents([_row("native", "allocating", 1.0)])


@pytest.mark.skipif(
    importlib.util.find_spec("triton") is None,
    reason="Triton is not installed (it comes with CUDA builds of torch)",
)
def test_triton_kernel_in_the_interpreter():
    code = (
        "import torch, torch.nn.functional as F\n"
        "from tools import bench_triton\n"
        "for dt in (torch.float32, torch.bfloat16):\n"
        "    x = torch.randn(3, 5, 100).to(dt)\n"
        "    w, b = torch.randn(100).to(dt), torch.randn(100).to(dt)\n"
        "    y = bench_triton.layer_norm(x, w, b)\n"
        "    torch.testing.assert_close(y, F.layer_norm(x, (100,), w, b))\n"
    )
    env = os.environ | {"TRITON_INTERPRET": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr


def test_axes_section_checks_every_channels_first_version_and_records_each_method():
    records = bench.axes_section((2, 8, 3, 3), [1], min_run_time=0.001)
    names = [r["method"] for r in records]
    assert names[0] == "copy" and "channels-first LN, the book's kernel" in names
    assert len(names) == 10 and all(r["percent_of_copy"] > 0 for r in records)
    assert all(isinstance(r["noise"], bool) for r in records)
    assert {r["threads"] for r in records} == {1}


def test_probe_section_records_each_goal_and_what_probe_found():
    goals = {"nn.LayerNorm(4)": ((2, 3, 4), lambda: torch.nn.LayerNorm(4))}
    (row,) = bench.probe_section(goals, rounds=2)
    assert row["found"] == "mean and variance over (D): one pair per (N, T) position, 6 in all"
    assert len(row["runs_s"]) == 2 and row["best_s"] == min(row["runs_s"]) > 0
    assert row["first_s"] == row["runs_s"][0] and row["goal_s"] == bench.PROBE_GOAL_S
    (line,) = bench.probe_lines([row])
    assert line.startswith("probe nn.LayerNorm(4) on [2, 3, 4]: ")
    assert line.endswith(" s (best of 2, first " + f"{row['first_s']:.2f} s; goal under 5 s)")
    assert set(bench.PROBE_GOALS) == {"nn.LayerNorm(768)", "nn.GroupNorm(8, 64)"}


def test_machine_names_what_a_timing_depends_on():
    info = bench.machine()
    assert {"cpu", "cores", "torch_cpu_capability", "torch", "python"} <= info.keys()
    assert info["cores"] >= 1 and info["torch"] == torch.__version__


def test_caches_names_each_level_and_machine_records_them():
    found = bench.caches()
    assert all(name.startswith("L") and size for name, size in found.items())
    if found:  # Linux describes its caches; elsewhere both stay silent
        assert bench.machine()["caches"].startswith(next(iter(found)))


def test_select_and_percents_of_query_the_rows_of_one_method():
    rows = _result()
    assert len(bench.select(rows, "own", "preallocated", dtype="float32")) == 2
    assert bench.percents_of(rows, "copy", "preallocated", dtype="float32") == [80.0, 100.0]


def test_cpu_count_reads_a_linux_cpu_list():
    assert bench.cpu_count("0") == 1
    assert bench.cpu_count("0-1\n") == 2
    assert bench.cpu_count("0-3,8,10-11") == 7


def _fake_sys(root, siblings, cache_levels):
    """A /sys/devices/system/cpu with cpu0's thread siblings and caches
    [(level, type, size, shared_cpu_list), ...]."""
    (root / "cpu0" / "topology").mkdir(parents=True)
    (root / "cpu0" / "topology" / "thread_siblings_list").write_text(siblings + "\n")
    for i, fields in enumerate(cache_levels):
        index = root / "cpu0" / "cache" / f"index{i}"
        index.mkdir(parents=True)
        for name, value in zip(("level", "type", "size", "shared_cpu_list"), fields, strict=True):
            (index / name).write_text(f"{value}\n")
    return root


def test_threads_per_core_and_caches_read_a_hyperthreaded_machine(tmp_path):
    root = _fake_sys(
        tmp_path,
        "0,8",
        [
            ("1", "Data", "48K", "0,8"),
            ("2", "Unified", "2048K", "0,8"),
            ("3", "Unified", "105M", "0-15"),
        ],
    )
    assert bench.threads_per_core(root=root) == 2
    assert bench.caches(root=root) == {
        "L1d": "48K, shared by CPUs 0,8",
        "L2": "2048K, shared by CPUs 0,8",
        "L3": "105M, shared by CPUs 0-15",
    }


def test_topology_is_absent_where_the_system_does_not_describe_it(tmp_path):
    assert bench.threads_per_core(root=tmp_path) is None
    assert bench.caches(root=tmp_path) == {}


def test_machine_records_the_threads_per_core_where_linux_says(tmp_path):
    root = _fake_sys(tmp_path, "0", [("2", "Unified", "1024K", "0")])
    info = bench.machine(root=root)
    assert info["threads per core"] == 1 and info["caches"] == "L2 1024K"
    assert not {"threads per core", "caches"} & bench.machine(root=tmp_path / "absent").keys()
