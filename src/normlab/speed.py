"""Chapter 8's instruments: bytes moved per operation, the machine, and the benchmark's plot.

- ``traffic(fn, *args)``: every torch operation ``fn`` calls, with the bytes of the tensors it
  reads and writes (views move nothing). This is what each operation asks of memory at the
  level of whole tensors; the caches may serve some of it.
- ``machine()``: what the numbers were measured on (processor, cores, caches, library versions);
  ``caches()`` the sizes of the processor's caches.
- ``plot_bandwidth(result)``: a ``make bench`` result drawn as % of copy against the row
  length D, one panel per dtype and thread count.
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


#: The series ``plot_bandwidth`` draws, in legend order: (method, allocation) -> colour, marker,
#: label. The copy that writes into a preallocated output is the limit, the 100 % line itself.
SERIES = {
    ("own", "preallocated"): ("tab:green", "o", "ours, preallocated"),
    ("compiled", "preallocated"): ("tab:purple", "s", "torch.compile, preallocated"),
    ("copy", "allocating"): ("0.45", "", "x.clone(): a copy that allocates"),
    ("own", "allocating"): ("tab:orange", "^", "ours, allocating"),
    ("native", "allocating"): ("tab:blue", "D", "F.layer_norm (always allocates)"),
    ("composite", "allocating"): ("tab:red", "v", "eager formula (allocates)"),
}
#: Text sizes in points: at 100 dpi, and shown at most 672 px wide, 9 pt is 12 px on screen.
_TEXT_PT = 9


def _where(threads: int, device: str) -> str:
    if device != "cpu":
        return device
    return f"{threads} thread" if threads == 1 else f"{threads} threads"


def plot_bandwidth(
    result: dict[str, Any],
    size: str = "large",
    threads: int | list[int] | None = None,
    device: str = "cpu",
) -> Figure:
    """% of copy against D from ``make bench``: one panel per dtype (rows) and thread count
    (columns), the copy the 100 % line.

    ``result`` is the JSON that ``make bench`` writes; ``size`` picks its "small" (cache) or
    "large" (memory) tensors; ``threads`` one thread count or a list of them (default: every
    count the result holds). Each panel draws the methods of ``SERIES`` as a percentage of the
    best copy of the same bytes (the row's ``percent_of_copy``), and names that copy's GB/s in
    its title. Rows flagged ``noise`` (faster than the copy) are not drawn; a panel that had
    some says how many it left out.

    Raises:
        ValueError: ``size``, ``threads`` or ``device`` names nothing in ``result``.
    """
    wanted = [threads] if isinstance(threads, int) else threads
    rows = [
        r
        for r in result["rows"]
        if (r["size"], r.get("device", "cpu")) == (size, device)
        and (wanted is None or r["threads"] in wanted)
    ]
    if not rows:
        have = sorted({(r["size"], r["threads"], r.get("device", "cpu")) for r in result["rows"]})
        raise ValueError(
            f"no rows with size={size!r}, threads={threads}, device={device!r}; the result has "
            f"(size, threads, device) {have}"
        )
    dtypes = sorted({r["dtype"] for r in rows}, key=lambda d: d != "float32")
    counts = sorted({r["threads"] for r in rows})
    fig, axes = plt.subplots(
        len(dtypes),
        len(counts),
        figsize=(3.3 * len(counts), 2.5 * len(dtypes) + 1.0),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    for i, dtype in enumerate(dtypes):
        for j, count in enumerate(counts):
            panel = [r for r in rows if (r["dtype"], r["threads"]) == (dtype, count)]
            _panel(axes[i, j], panel, f"{dtype}, {_where(count, device)}")
    for ax in axes[-1, :]:
        ax.set_xlabel("D, the length of a row", fontsize=_TEXT_PT)
    for ax in axes[:, 0]:
        ax.set_ylabel("% of copy", fontsize=_TEXT_PT)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=_TEXT_PT, frameon=False)
    legend_inches = 0.2 * ((len(labels) + 1) // 2) + 0.1  # two entries a line
    fig.tight_layout(rect=(0, legend_inches / fig.get_figheight(), 1, 1))
    return fig


def _panel(ax: Any, rows: list[dict[str, Any]], title: str) -> None:
    """One dtype and thread count: each series of ``SERIES`` as % of copy against D."""
    ax.axhline(100, color="black", linewidth=1.5, label="copy, preallocated: the limit, 100 %")
    noise = sum(bool(r.get("noise")) for r in rows)
    for key, (colour, marker, label) in SERIES.items():
        line = sorted(
            (r["D"], r["percent_of_copy"])
            for r in rows
            if (r["method"], r["alloc"]) == key and not r.get("noise")
        )
        if line:
            ds, pct = zip(*line, strict=True)
            dotted = ":" if key[0] == "copy" else "-"
            ax.plot(ds, pct, dotted, color=colour, marker=marker, markersize=4, label=label)
    copies = [r["gbps"] for r in rows if (r["method"], r["alloc"]) == ("copy", "preallocated")]
    limit = f": copy {max(copies):.0f} GB/s" if copies else ""
    ax.set_title(f"{title}{limit}", fontsize=_TEXT_PT + 1)
    if noise:
        ax.text(
            0.98,
            0.9,
            f"{noise} above 100 % (noise)\nnot drawn",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=_TEXT_PT - 1,
        )
    ax.set_xscale("log", base=2)
    ds = sorted({r["D"] for r in rows})
    ax.set_xticks(ds, [str(d) for d in ds])
    ax.minorticks_off()
    ax.set_ylim(-3, 108)  # a line at 1 % stays clear of the axis
    ax.set_yticks([0, 25, 50, 75, 100])
    ax.tick_params(labelsize=_TEXT_PT)
    ax.grid(axis="y", color="0.9")
