"""The bytes each torch operation reads and writes (``traffic``), and the book's stored run.

- ``traffic(fn, *args)``: every torch operation ``fn`` calls, with the bytes of the tensors it
  reads and writes (views move nothing). This is what each operation asks of memory at the
  level of whole tensors; the caches may serve some of it.
- ``stored_run()``: the ``make bench`` run the book stores (``data/bench-cpu.json``), which
  chapter 8 reads; ``normlab.figures.plot_bandwidth`` draws it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import torch
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
        elif _in_place(name):  # copy_, add_, x += y, x[i] = y: it writes its first argument
            self.ops.append(OpTraffic(name, _nbytes(ins), _nbytes(ins[:1])))
        elif outs and all(t.untyped_storage().data_ptr() in shared for t in outs):
            self.ops.append(OpTraffic(name, 0, 0))  # a view of its input: nothing moves
        else:
            self.ops.append(OpTraffic(name, _nbytes(ins), _nbytes(outs)))
        return out


#: Python's operators that write into their left operand (``x += y``, ``x[i] = y``).
IN_PLACE_OPERATORS = {
    f"__i{op}__"
    for op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul")
    + ("and", "or", "xor", "lshift", "rshift")
} | {"__setitem__"}


def _in_place(name: str) -> bool:
    """Whether the torch function ``name`` writes into its first argument: a method named with
    a trailing underscore (``add_``), or an in-place operator. ``__getitem__`` also ends in an
    underscore, and is a view or a copy, never a write."""
    if name.startswith("__"):
        return name in IN_PLACE_OPERATORS
    return name.endswith("_")


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


def stored_run() -> dict[str, Any]:
    """The book's stored ``make bench`` run, parsed from ``normlab/data/bench-cpu.json``.

    Its keys: ``command`` and ``date``; ``machine``; ``rows``, one per method, allocation
    (``alloc``), ``dtype``, ``size``, row length ``D``, ``threads`` and ``device``, each with
    its ``seconds``, ``gbps`` and ``percent_of_copy`` (of the best copy of the same bytes) and
    whether that is ``noise`` (above 100 %); ``axes``, the normalizations of one
    ``[N, C, H, W]`` tensor; ``headline``, what ``make bench`` printed; and ``rederived``,
    where the percentages were recomputed from the stored seconds since.
    """
    return json.loads((files("normlab") / "data" / "bench-cpu.json").read_text())
