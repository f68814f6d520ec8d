"""tools/bench.py (`make bench`): the formula it times, the check that stops a wrong method, the
headline it reports; and the Triton kernel it uses on a GPU, run by Triton's CPU interpreter
where Triton is installed. The timings themselves are never tested."""

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


def _row(method, alloc, seconds, percent, D=64, size="large", dtype="float32"):
    return {
        "method": method,
        "alloc": alloc,
        "seconds": seconds,
        "percent_of_copy": percent,
        "device": "cpu",
        "dtype": dtype,
        "size": size,
        "D": D,
        "threads": 1,
    }


def test_headline_takes_the_worst_shape_and_the_medians():
    rows = []
    for D, own in [(64, 0.5), (1024, 1.2)]:
        for dtype in bench.DTYPES:
            rows += [
                _row("native", "allocating", 1.0, 40.0, D, dtype=dtype),
                _row("own", "preallocated", own, 80.0 / own, D, dtype=dtype),
                _row("own", "allocating", 2 * own, 40.0 / own, D, dtype=dtype),
                _row("composite", "allocating", 5.0, 8.0, D, dtype=dtype),
                _row("compiled", "allocating", 1.5, 30.0, D, dtype=dtype),
            ]
    h = bench.headline(rows)
    assert h["own (preallocated) time / native time, worst shape"] == "1.20"
    assert h["own (preallocated) time / native time, best shape"] == "0.50"
    assert h["own (preallocated), float32, large: lowest % of copy"] == "67 %"
    assert h["native, bfloat16, large: median % of copy"] == "40 %"


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
    assert len(names) == 9 and all(r["percent_of_copy"] > 0 for r in records)
    assert {r["threads"] for r in records} == {1}
