"""`make bench`: LayerNorm's speed against a copy, on the machine it runs on (chapter 8).

    python -m tools.bench                      # the full run: _build/bench/bench.json and .png
    python -m tools.bench --quick              # a few shapes, for a smoke test (seconds)
    python -m tools.bench --out DIR            # write elsewhere
    python -m tools.bench --store              # also copy the JSON to the book's stored result
    python -m tools.bench --probe              # only probe's goal shapes: _build/bench/probe.json

Measured side by side, for row lengths D from 64 to 16384 on a small (4 MiB float32: more than a
core's level-2 cache, within a server CPU's shared level 3) and a large (64 MiB) tensor, in
float32 and bfloat16, with 1 thread and all of them:

- copy: the limit, one read and one write (`out.copy_(x)`; allocating: `x.clone()`);
- native: `F.layer_norm` (it has no `out=`, so it always allocates);
- composite: the formula of chapter 1 in eager mode (allocates every intermediate);
- compiled: `torch.compile` of that formula (preallocated: it writes into `out` inside the graph);
- own: the book's Numba kernel, loaded from the chapter's cells tagged `kernel`.

Then "the axes' cost": every normalization of chapter 2 on one [N, C, H, W] tensor, and
channels-first LayerNorm three ways. Times are medians of `torch.utils.benchmark`, the methods of
one setting taking turns for ROUNDS rounds, each keeping its best; GB/s count one read of the
input and one write of the output. On a machine with a CUDA GPU the rows run there too, with a
Triton kernel (tools/bench_triton.py). This is a benchmark, not a test: nothing here asserts a
time, only that every method computes the same numbers.

Before the rows, it times `normlab.probe` on its goal shapes (issue 25: `nn.LayerNorm(768)` on
[2, 64, 768] and `nn.GroupNorm(8, 64)` on [2, 64, 28, 28], each in under 5 s on 2 cores): the
first call and the best of ROUNDS, printed and written to `probe.json` (`--probe` runs only
these).

The limit, "% of copy", is the best copy of the same bytes over the whole run: the copy is timed
at the start and at the end of every round, and its best is taken over every round and every D
of one dtype, size and thread count (a contiguous copy does not depend on D). No method can
beat that copy, so a figure above 100 % says that the machine was busy while the copy ran: it is
flagged as noise (`"noise": true`), printed as such, and left out of the headline.

The headline compares the book's kernel with `F.layer_norm` twice, each labelled: like for like
(both allocate their output), and with our output preallocated (which `F.layer_norm` cannot do).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numba  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils import benchmark  # noqa: E402

from normlab import probe  # noqa: E402
from normlab.figures import plot_bandwidth  # noqa: E402
from tools import chapter_code  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "notebooks/08_speed.ipynb"
STORED = ROOT / "src" / "normlab" / "data" / "bench-cpu.json"
DS = (64, 256, 1024, 4096, 16384)
#: Elements per tensor: 1 Mi (4 MiB in float32, within a server CPU's level-3 cache, beyond a
#: core's level 2; `machine()` records the caches) and 16 Mi (64 MiB, beyond every cache).
SIZES = {"small": 1 << 20, "large": 1 << 24}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
EPS = 1e-5


#: Where Linux describes its processors: ``cpu0/cache/index*`` and ``cpu0/topology``.
SYS_CPU = Path("/sys/devices/system/cpu")


def cpu_count(cpu_list: str) -> int:
    """How many processors a Linux CPU list names: ``"0-3,8"`` -> 5."""
    n = 0
    for part in cpu_list.strip().split(","):
        first, _, last = part.partition("-")
        n += int(last or first) - int(first) + 1
    return n


def caches(cpu: int = 0, root: Path = SYS_CPU) -> dict[str, str]:
    """The caches of processor ``cpu`` as Linux describes them: ``{"L2": "1024K", ...}``.

    Read from ``/sys/devices/system/cpu/cpu*/cache`` (``root``); a cache that several processors
    share says which (``"32768K, shared by CPUs 0-1"``). Empty where the system does not say (not
    Linux).
    """
    found: dict[str, str] = {}
    for index in sorted((root / f"cpu{cpu}" / "cache").glob("index*")):
        try:
            level, kind, size, shared = (
                (index / f).read_text().strip()
                for f in ("level", "type", "size", "shared_cpu_list")
            )
        except OSError:
            continue
        name = f"L{level}" + {"Data": "d", "Instruction": "i"}.get(kind, "")
        found[name] = size if shared == str(cpu) else f"{size}, shared by CPUs {shared}"
    return found


def threads_per_core(cpu: int = 0, root: Path = SYS_CPU) -> int | None:
    """How many processors share the core of processor ``cpu`` (2 with hyperthreading), from
    its ``topology/thread_siblings_list``; ``None`` where the system does not say (not Linux).

    A virtual machine reports the topology its host chooses to show: one thread per core there
    does not prove that its processors are separate physical cores.
    """
    try:
        return cpu_count((root / f"cpu{cpu}" / "topology" / "thread_siblings_list").read_text())
    except (OSError, ValueError):
        return None


def machine(root: Path = SYS_CPU) -> dict[str, Any]:
    """What a timing was measured on: processor, cores, threads per core, caches, torch's CPU
    kernels, versions (chapter 8 reads the topology to explain what a second thread gains).

    ``root`` is where Linux describes the processors (``/sys/devices/system/cpu``).
    """
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info: dict[str, Any] = {
        "cpu": model,
        "architecture": platform.machine(),
        "cores": cores,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    if (siblings := threads_per_core(root=root)) is not None:
        info["threads per core"] = siblings
    if found := caches(root=root):
        info["caches"] = ", ".join(f"{name} {size}" for name, size in found.items())
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def formula(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Chapter 1's LayerNorm over the last axis, in float32 whatever x's dtype; x [R, D]."""
    xf = x.float()  # [R, D]
    mean = xf.mean(-1, keepdim=True)  # [R, 1]
    var = ((xf - mean) ** 2).mean(-1, keepdim=True)  # [R, 1]
    return ((xf - mean) / torch.sqrt(var + EPS) * weight + bias).to(x.dtype)  # [R, D]


def formula_into(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, out: torch.Tensor):
    """``formula`` written into ``out``: compiled, the store lands in out directly."""
    return out.copy_(formula(x, weight, bias))


#: Each method is timed in this many rounds, taking turns with the others, and keeps its best
#: round: a machine shared with other work (a VM, a laptop) slows whole stretches of time, and
#: taking turns spreads those over every method instead of one.
ROUNDS = 3


def seconds(fn: Callable[[], Any], threads: int, min_run_time: float) -> float:
    """Median seconds of one call of ``fn()`` at ``threads`` threads (torch's and Numba's)."""
    numba.set_num_threads(threads)
    timer = benchmark.Timer("fn()", globals={"fn": fn}, num_threads=threads)
    return timer.blocked_autorange(min_run_time=min_run_time).median


def best_of_rounds(fns: dict, threads: int, min_run_time: float, limit=None) -> dict:
    """``{key: seconds}`` for every function of ``fns``: ROUNDS turns each, the best kept.

    ``limit``, a key of ``fns`` (the copy), is timed at the start and at the end of every round,
    so that it gets twice the chances of the others to meet a quiet machine.
    """
    times: dict = {}
    order = list(fns) if limit is None else [limit, *(k for k in fns if k != limit), limit]
    for _ in range(ROUNDS):
        for key in order:
            t = seconds(fns[key], threads, min_run_time / ROUNDS)
            times[key] = min(times.get(key, t), t)
    return times


#: The fields that make one limit: a copy of the same bytes, on the same device and threads.
LIMIT_KEY = ("device", "dtype", "bytes", "threads")
#: The fields that make one setting, at which every method is timed.
SETTING = ("device", "dtype", "size", "D", "threads")


def percents(rows: list[dict]) -> list[dict]:
    """Fill in each row's ``percent_of_copy`` and ``noise``, in place; return ``rows``.

    The limit of a row is the best (shortest) time of ``copy, preallocated`` over every row with
    the same device, dtype, bytes and threads, whatever its D: the copy of a contiguous tensor
    is the same memory traffic at every D, so its spread over D is the machine's noise, and its
    best is the most robust measure of the limit. A row above 100 % is ``noise``: the limit was
    measured on a busy machine, or the row was. Raises ``ValueError`` for a row without a copy.
    """
    best: dict[tuple, float] = {}
    for r in rows:
        if (r["method"], r["alloc"]) == ("copy", "preallocated"):
            k = tuple(r[f] for f in LIMIT_KEY)
            best[k] = min(best.get(k, r["seconds"]), r["seconds"])
    for r in rows:
        k = tuple(r[f] for f in LIMIT_KEY)
        if k not in best:
            raise ValueError(f"no copy was timed for {dict(zip(LIMIT_KEY, k, strict=True))}")
        r["percent_of_copy"] = round(100 * best[k] / r["seconds"], 1)
        r["noise"] = r["percent_of_copy"] > 100
    return rows


class Methods:
    """Every method, as (name, allocation) -> a function of (x, weight, bias, out)."""

    def __init__(self, device: str) -> None:
        self.device = device
        compile_opts = {"dynamic": True, "fullgraph": True}
        self.compiled = torch.compile(formula, **compile_opts)
        self.compiled_into = torch.compile(formula_into, **compile_opts)
        if device == "cpu":
            self.own = chapter_code.load(CHAPTER, "kernel").layer_norm
        else:
            from tools import bench_triton

            self.own = bench_triton.layer_norm

    def table(self) -> dict[tuple[str, str], Callable]:
        own = self.own
        return {
            ("copy", "preallocated"): lambda x, w, b, out: out.copy_(x),
            ("copy", "allocating"): lambda x, w, b, out: x.clone(),
            ("native", "allocating"): lambda x, w, b, out: F.layer_norm(
                x, x.shape[-1:], w.to(x.dtype), b.to(x.dtype), EPS
            ),
            ("composite", "allocating"): lambda x, w, b, out: formula(x, w, b),
            ("compiled", "preallocated"): lambda x, w, b, out: self.compiled_into(x, w, b, out),
            ("compiled", "allocating"): lambda x, w, b, out: self.compiled(x, w, b),
            ("own", "preallocated"): lambda x, w, b, out: own(x, w, b, EPS, out=out),
            ("own", "allocating"): lambda x, w, b, out: own(x, w, b, EPS),
        }


def check(methods: dict, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> None:
    """Every method's output equals F.layer_norm's (copy excepted), or the run stops."""
    reference = F.layer_norm(x.float(), x.shape[-1:], w, b, EPS).to(x.dtype)
    for (name, alloc), fn in methods.items():
        if name != "copy":
            got = fn(x, w, b, torch.empty_like(x))
            torch.testing.assert_close(
                got, reference, msg=lambda m, n=name, a=alloc: f"{n}, {a}: {m}"
            )


def rows_section(device: str, ds, sizes, threads_list, min_run_time: float) -> list[dict]:
    """Every method on every [R, D] shape, dtype and thread count: one record each."""
    methods = Methods(device).table()
    records = []
    for dtype_name, dtype in DTYPES.items():
        for size_name, numel in sizes.items():
            for D in ds:
                x = torch.randn(numel // D, D, device=device).to(dtype)  # [R, D]
                # [D], [D]: values bfloat16 can hold, so every method gets the same parameters
                w, b = (torch.randn(D, device=device).bfloat16().float() for _ in range(2))
                out = torch.empty_like(x)
                check(methods, x, w, b)
                for threads in threads_list:
                    calls = {k: functools.partial(f, x, w, b, out) for k, f in methods.items()}
                    times = best_of_rounds(calls, threads, min_run_time, ("copy", "preallocated"))
                    for (name, alloc), t in times.items():
                        records.append(
                            {
                                "method": name,
                                "alloc": alloc,
                                "dtype": dtype_name,
                                "size": size_name,
                                "D": D,
                                "R": numel // D,
                                "bytes": 2 * x.nbytes,
                                "threads": threads,
                                "device": device,
                                "seconds": float(f"{t:.4g}"),
                                "gbps": round(2 * x.nbytes / t / 1e9, 2),
                            }
                        )
                print(f"  {device} {dtype_name} {size_name} D={D}: done", flush=True)
    return percents(records)


def axes_section(shape, threads_list, min_run_time: float) -> list[dict]:
    """Every normalization of chapter 2 and channels-first LayerNorm on one [N, C, H, W]."""
    kernels = chapter_code.load(CHAPTER, "kernel")
    N, C, H, W = shape
    x = torch.randn(shape)  # [N, C, H, W]
    x_cl = x.contiguous(memory_format=torch.channels_last)
    w, b = torch.randn(C), torch.randn(C)  # [C], [C]
    out = torch.empty_like(x)

    def permuted(t):
        return F.layer_norm(t.permute(0, 2, 3, 1), (C,), w, b, EPS).permute(0, 3, 1, 2)

    def by_hand(t):
        mean = t.mean(1, keepdim=True)  # [N, 1, H, W]
        var = ((t - mean) ** 2).mean(1, keepdim=True)  # [N, 1, H, W]
        return (t - mean) / torch.sqrt(var + EPS) * w[:, None, None] + b[:, None, None]

    def kernel(t, into):
        kernels.layer_norm_channels(
            t.view(N, C, H * W).numpy(),
            w.numpy(),
            b.numpy(),
            kernels.np.float32(EPS),
            into.view(N, C, H * W).numpy(),
        )
        return into

    layers = {
        "copy": lambda: out.copy_(x),
        "BatchNorm (train)": lambda: F.batch_norm(x, None, None, w, b, training=True),
        "GroupNorm, 8 groups": lambda: F.group_norm(x, 8, w, b),
        "InstanceNorm": lambda: F.instance_norm(x, weight=w, bias=b),
        "LayerNorm over (C, H, W)": lambda: F.layer_norm(x, x.shape[1:]),
        "channels-first LN, permute": lambda: permuted(x),
        "channels-first LN, permute, channels_last": lambda: permuted(x_cl),
        "channels-first LN, by hand over dim=1": lambda: by_hand(x),
        "channels-first LN, the book's kernel": lambda: kernel(x, out),
        "channels-first LN, the book's kernel, allocating": lambda: kernel(x, torch.empty_like(x)),
    }
    reference = permuted(x)
    for name in list(layers)[-4:]:
        torch.testing.assert_close(layers[name](), reference, msg=lambda m, n=name: f"{n}: {m}")
    records = []
    for threads in threads_list:
        times = best_of_rounds(layers, threads, min_run_time, "copy")
        for name, t in times.items():
            records.append(
                {
                    "method": name,
                    "shape": list(shape),
                    "threads": threads,
                    "seconds": float(f"{t:.4g}"),
                    "gbps": round(2 * x.nbytes / t / 1e9, 2),
                    "percent_of_copy": round(100 * times["copy"] / t, 1),
                    "noise": times["copy"] > t,
                }
            )
    return records


#: probe's goal shapes (issue 25): a BERT-sized batch of tokens and a ResNet-sized batch of
#: feature maps, each to be probed in under PROBE_GOAL_S seconds on 2 cores.
PROBE_GOALS = {
    "nn.LayerNorm(768)": ((2, 64, 768), lambda: nn.LayerNorm(768)),
    "nn.GroupNorm(8, 64)": ((2, 64, 28, 28), lambda: nn.GroupNorm(8, 64)),
}
PROBE_GOAL_S = 5.0


def probe_section(goals: dict = PROBE_GOALS, rounds: int = ROUNDS) -> list[dict]:
    """``normlab.probe`` timed on each goal shape, ``rounds`` times: the first call (what a
    reader's first probe costs, one-time costs included) and the best. probe runs its calls in one
    thread whatever the caller's setting, which is recorded as ``threads``."""
    rows = []
    for call, (shape, build) in goals.items():
        runs = []
        for _ in range(rounds):
            start = time.perf_counter()
            found = probe(build(), shape)
            runs.append(time.perf_counter() - start)
        rows.append(
            {
                "call": call,
                "shape": list(shape),
                "found": str(found),
                "first_s": runs[0],
                "best_s": min(runs),
                "runs_s": runs,
                "goal_s": PROBE_GOAL_S,
                "threads": torch.get_num_threads(),
            }
        )
    return rows


def probe_lines(rows: list[dict]) -> list[str]:
    """One printed line per ``probe_section`` row."""
    return [
        f"probe {r['call']} on {r['shape']}: {r['best_s']:.2f} s (best of {len(r['runs_s'])}, "
        f"first {r['first_s']:.2f} s; goal under {r['goal_s']:.0f} s)"
        for r in rows
    ]


def _threads(n: int) -> str:
    return f"{n} thread" if n == 1 else f"{n} threads"


def _setting(r: dict) -> str:
    where = "" if r["device"] == "cpu" else f"{r['device']}, "
    return f"{where}{r['dtype']}, {r['size']}, D = {r['D']}, {_threads(r['threads'])}"


def select(rows: list[dict], method: str, alloc: str, **where: Any) -> list[dict]:
    """The rows of one method and allocation whose fields equal ``where`` (``dtype="float32"``)."""
    return [
        r
        for r in rows
        if (r["method"], r["alloc"]) == (method, alloc) and all(r[k] == v for k, v in where.items())
    ]


def percents_of(rows: list[dict], method: str, alloc: str, **where: Any) -> list[float]:
    """The ``percent_of_copy`` of ``select(rows, method, alloc, **where)``, lowest first."""
    return sorted(r["percent_of_copy"] for r in select(rows, method, alloc, **where))


def versus_native(rows: list[dict], alloc: str) -> dict[tuple, float]:
    """``{setting: own time / F.layer_norm time}`` for our kernel with ``alloc``, noise left out."""
    native = {
        tuple(r[k] for k in SETTING): r for r in rows if r["method"] == "native" and not r["noise"]
    }
    return {
        k: r["seconds"] / native[k]["seconds"]
        for r in rows
        if (r["method"], r["alloc"]) == ("own", alloc) and not r["noise"]
        if (k := tuple(r[f] for f in SETTING)) in native
    }


#: The two comparisons of our kernel with F.layer_norm (which always allocates), as labelled.
COMPARISONS = {
    "allocating": "like for like (both allocate)",
    "preallocated": "ours preallocated, F.layer_norm allocating",
}


def headline(rows: list[dict]) -> dict[str, str]:
    """What the chapter quotes, from rows that ``percents`` has filled in.

    Our kernel against ``F.layer_norm`` twice, each labelled (``COMPARISONS``): the worst and
    best setting and how many are within 1.1x; then each method's % of copy on the largest
    tensors. Rows flagged as noise are counted and left out of everything else.
    """
    noisy = [r for r in rows if r["noise"]]
    out = {"figures above 100 % of copy (noise, left out)": f"{len(noisy)} of {len(rows)}"}
    for device in sorted({r["device"] for r in rows}):
        where = "" if device == "cpu" else f" ({device})"
        for alloc, label in COMPARISONS.items():
            ratios = versus_native([r for r in rows if r["device"] == device], alloc)
            if not ratios:
                continue
            name = f"own / F.layer_norm time{where}, {label}"
            for end, pick in [("worst", max), ("best", min)]:
                k = pick(ratios, key=ratios.get)
                what = _setting(dict(zip(SETTING, k, strict=True)))
                out[f"{name}: {end}"] = f"{ratios[k]:.2f}x ({what})"
            close = sum(ratio <= 1.1 for ratio in ratios.values())
            out[f"{name}: within 1.1x"] = f"{close} of {len(ratios)}"
    cpu = [r for r in rows if r["device"] == "cpu" and not r["noise"]]
    size = "large" if any(r["size"] == "large" for r in cpu) else "small"
    for dtype in DTYPES:
        big = [r for r in cpu if r["size"] == size and r["dtype"] == dtype]
        for name, alloc in [
            ("own", "preallocated"),
            ("own", "allocating"),
            ("native", "allocating"),
            ("compiled", "allocating"),
            ("composite", "allocating"),
        ]:
            pct = sorted(
                r["percent_of_copy"] for r in big if (r["method"], r["alloc"]) == (name, alloc)
            )
            if pct:
                out[f"{name} ({alloc}), {dtype}, {size}: median % of copy"] = (
                    f"{pct[len(pct) // 2]:.0f} % (lowest {pct[0]:.0f} %, highest {pct[-1]:.0f} %)"
                )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "bench")
    parser.add_argument("--quick", action="store_true", help="two shapes, short timings")
    parser.add_argument("--store", action="store_true", help=f"copy the JSON to {STORED.name}")
    parser.add_argument("--probe", action="store_true", help="only probe's goal shapes")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    probe_rows = probe_section(rounds=ROUNDS if not args.quick else 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "probe.json").write_text(
        json.dumps({"date": time.strftime("%Y-%m-%d"), "machine": machine(), "rows": probe_rows})
        + "\n"
    )
    print("\n".join(probe_lines(probe_rows)))
    if args.probe:
        print(f"wrote {args.out / 'probe.json'} in {time.perf_counter() - start:.0f} s")
        return 0
    cores = machine()["cores"]
    threads_list = sorted({1, cores})
    ds, sizes, run_time = (
        (DS, SIZES, 0.2) if not args.quick else ((64, 1024), {"small": 1 << 16}, 0.01)
    )
    shape = (64, 64, 64, 64) if not args.quick else (2, 8, 8, 8)
    result: dict[str, Any] = {
        "command": "make bench" if not args.quick else "python -m tools.bench --quick",
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine() | {"numba": numba.__version__, "threads measured": threads_list},
        "rows": rows_section("cpu", ds, sizes, threads_list, run_time),
        "axes": axes_section(shape, threads_list, run_time),
    }
    if torch.cuda.is_available():
        result["rows"] += rows_section("cuda", ds, sizes, [1], run_time)
    result["headline"] = headline(result["rows"])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(result, indent=1) + "\n")
    plot_bandwidth(result, size="large" if not args.quick else "small").savefig(
        args.out / "bench.png", dpi=100
    )
    if args.store:
        shutil.copyfile(args.out / "bench.json", STORED)
    for r in result["rows"] + result["axes"]:
        if r["noise"]:
            what = _setting(r) if "D" in r else f"{r['shape']}, {_threads(r['threads'])}"
            print(
                f"noise: {r['method']} ({r.get('alloc', 'axes')}), {what} ran faster than the copy"
            )
    for k, v in result["headline"].items():
        print(f"{k}: {v}")
    print(
        f"wrote {args.out / 'bench.json'}, bench.png and probe.json in "
        f"{time.perf_counter() - start:.0f} s"
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
