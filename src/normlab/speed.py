"""Chapter 8's instruments: bytes moved per operation, the machine, and the benchmark's plot.

- ``traffic(fn, *args)``: every torch operation ``fn`` calls, with the bytes of the tensors it
  reads and writes (views move nothing). This is what each operation asks of memory at the
  level of whole tensors; the caches may serve some of it.
- ``machine()``: what the numbers were measured on (processor, cores, caches, library versions);
  ``caches()`` the sizes of the processor's caches.
- ``plot_bandwidth(result)``: a ``make bench`` result drawn as GB/s and % of copy against the
  row length D.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves


@dataclass(frozen=True)
class OpTraffic:
    """One torch operation and the bytes of the tensors it read and wrote."""

    op: str
    read: int
    written: int


def _nbytes(tensors: list[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


class _Recorder(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: list[OpTraffic] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", str(func))
        targets = [t for t in tree_leaves(kwargs.get("out")) if isinstance(t, torch.Tensor)]
        rest = {k: v for k, v in kwargs.items() if k != "out"}
        ins = [t for t in tree_leaves((args, rest)) if isinstance(t, torch.Tensor)]
        outs = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        shared = {t.untyped_storage().data_ptr() for t in ins}
        if targets:  # out=: it reads its inputs and writes into the given tensors
            self.ops.append(OpTraffic(name, _nbytes(ins), _nbytes(targets)))
        elif name.endswith("_"):  # in place (copy_, add_): it writes its first argument
            self.ops.append(OpTraffic(name, _nbytes(ins), _nbytes(ins[:1])))
        elif outs and all(t.untyped_storage().data_ptr() in shared for t in outs):
            self.ops.append(OpTraffic(name, 0, 0))  # a view of its input: nothing moves
        else:
            self.ops.append(OpTraffic(name, _nbytes(ins), _nbytes(outs)))
        return out


def traffic(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> list[OpTraffic]:
    """Run ``fn(*args, **kwargs)`` and return each torch operation it called, in order, with bytes.

    ``read`` is the size of every tensor the operation takes (a broadcast ``[D]`` weight counts
    ``D`` elements, once), ``written`` the size of every tensor it returns; an in-place
    operation (``copy_``) writes its first argument, and one given ``out=`` writes that. An
    operation whose outputs share memory with its inputs (``permute``, ``view``, ``contiguous``
    of a contiguous tensor) moves nothing. Only the operations ``fn`` calls are seen, not what
    they call inside (the copy that ``F.layer_norm`` makes of a non-contiguous input happens
    inside it). The result is exact and the same on every machine: it counts tensors, not cache
    lines.

    Raises:
        TypeError: ``fn`` is not callable.
    """
    if not callable(fn):
        raise TypeError(
            f"fn must be a callable that runs torch operations, got {type(fn).__name__}"
        )
    with _Recorder() as recorder:
        fn(*args, **kwargs)
    return recorder.ops


def machine() -> dict[str, Any]:
    """What a timing was measured on: processor, cores, torch's CPU kernels, library versions."""
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
    if caches():
        info["caches"] = ", ".join(f"{name} {size}" for name, size in caches().items())
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def caches(cpu: int = 0) -> dict[str, str]:
    """The caches of processor ``cpu`` as Linux describes them: ``{"L2": "1024K", ...}``.

    Read from ``/sys/devices/system/cpu/cpu*/cache``; a cache that several processors share says
    which (``"32768K, shared by CPUs 0-1"``). Empty where the system does not say (not Linux).
    """
    found: dict[str, str] = {}
    for index in sorted(Path(f"/sys/devices/system/cpu/cpu{cpu}/cache").glob("index*")):
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


#: How ``plot_bandwidth`` draws each method: colour and label.
METHOD_STYLE = {
    "copy": ("black", "copy (the limit)"),
    "native": ("tab:blue", "F.layer_norm"),
    "composite": ("tab:red", "composite formula, eager"),
    "compiled": ("tab:purple", "torch.compile(formula)"),
    "own": ("tab:green", "the book's kernel"),
}


def plot_bandwidth(
    result: dict[str, Any], size: str = "large", threads: int = 1, device: str = "cpu"
) -> Figure:
    """GB/s (top) and % of copy (bottom) against D, one column per dtype, from ``make bench``.

    ``result`` is the JSON that ``make bench`` writes; ``size`` picks its "small" (cache) or
    "large" (memory) tensors; ``threads`` one of the thread counts it ran. Solid lines write
    into a preallocated output, dashed ones allocate their output on every call.

    Raises:
        ValueError: ``size`` or ``threads`` names nothing in ``result``.
    """
    rows = [
        r
        for r in result["rows"]
        if (r["size"], r["threads"], r.get("device", "cpu")) == (size, threads, device)
    ]
    if not rows:
        have = sorted({(r["size"], r["threads"], r.get("device", "cpu")) for r in result["rows"]})
        raise ValueError(
            f"no rows with size={size!r}, threads={threads}, device={device!r}; the result has "
            f"(size, threads, device) {have}"
        )
    dtypes = sorted({r["dtype"] for r in rows}, key=lambda d: d != "float32")
    fig, axes = plt.subplots(2, len(dtypes), figsize=(5 * len(dtypes), 7), squeeze=False)
    for col, dtype in enumerate(dtypes):
        for (method, alloc), line in _lines(rows, dtype).items():
            colour, label = METHOD_STYLE.get(method, ("grey", method))
            style = "-" if alloc == "preallocated" else "--"
            ds, gbps, pct = zip(*line, strict=True)
            axes[0, col].plot(ds, gbps, style, color=colour, marker="o", label=f"{label}, {alloc}")
            axes[1, col].plot(ds, pct, style, color=colour, marker="o")
        where = f"{threads} thread(s)" if device == "cpu" else device
        axes[0, col].set_title(f"{dtype}, {size} tensors, {where}")
        axes[0, col].set_ylabel("GB/s (one read + one write)")
        axes[1, col].set_ylabel("% of copy")
        axes[1, col].axhline(100, color="black", linewidth=0.8)
        for ax in axes[:, col]:
            ax.set_xscale("log", base=2)
            ax.set_xlabel("D, the length of the normalized row")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.09, 1, 1))  # room below for the legend
    return fig


def _lines(rows: list[dict[str, Any]], dtype: str) -> dict[tuple[str, str], list[tuple]]:
    lines: dict[tuple[str, str], list[tuple]] = {}
    for r in sorted(rows, key=lambda r: r["D"]):
        if r["dtype"] == dtype:
            lines.setdefault((r["method"], r["alloc"]), []).append(
                (r["D"], r["gbps"], r["percent_of_copy"])
            )
    return lines
