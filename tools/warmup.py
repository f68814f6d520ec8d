"""`make warmup`: post-LN and pre-LN stacks trained with and without warm-up (chapter 5).

    python -m tools.warmup                 # the full run: _build/warmup/warmup.json
    python -m tools.warmup --store         # also copy it to the book's stored result
    python -m tools.warmup --layers 1,2 --lrs 1e-2 --steps 3 --warmup 2   # a tiny run

Xiong et al. (2020) ask why post-LN needs a learning-rate warm-up and pre-LN does not. Chapter 5
trains its own stacks of `nn.TransformerEncoderLayer` (width D = 32, two heads, MLP width 64,
float64) on a synthetic task, reversing 8 tokens from a vocabulary of 16, with Adam: each depth,
each kind, each learning rate, with a constant learning rate and with a linear warm-up, from the
same seeds. The model and the training loop are the chapter's cells tagged ``warmup``
(`tools/chapter_code.py` reads them), so what runs here is what the chapter shows. The chapter
plots the stored run, `src/normlab/data/warmup.json`, and re-runs its first steps of one
configuration to check that they match.

Each run is one process's work on one thread; the runs are spread over the machine's cores
(``--jobs``). Every run seeds its own weights and batches, so the losses do not depend on the
number of jobs or on their order.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import shutil
import sys
import time
import types
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tools import chapter_code

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "notebooks/05_transformer.ipynb"
TAG = "warmup"
STORED = ROOT / "src" / "normlab" / "data" / "warmup.json"
#: The chapter's hidden size (its cell "Four models, built small" sets ``D = 32``); the tagged
#: cells use it, with ``torch`` and ``nn``, as globals of the chapter.
D = 32
DEPTHS = (6, 12, 24)
LRS = (1e-3, 3e-3, 1e-2)
WARMUP = 100
STEPS = 200
SEEDS = (0,)
KINDS = {"post-LN": False, "pre-LN": True}
#: A run whose last 20 steps average above this fraction of ln V has learned nothing: stalled.
STALLED = 0.9
#: A run whose last 20 steps average below this has learned the task: trained.
TRAINED = 0.1


@functools.cache
def chapter() -> types.SimpleNamespace:
    """The chapter's cells tagged ``warmup`` (``encoder``, ``Reverser``, ``train``), run once."""
    namespace: dict[str, Any] = {"torch": torch, "nn": nn, "D": D, "__name__": "chapter_05"}
    text = chapter_code.source(CHAPTER, TAG)
    exec(compile(text, f"<{CHAPTER} cells tagged {TAG}>", "exec"), namespace)  # noqa: S102
    return types.SimpleNamespace(**namespace)


def run_one(config: dict[str, Any]) -> dict[str, Any]:
    """Train one configuration (``layers``, ``kind``, ``lr``, ``warmup``, ``steps``, ``seed``)
    on one thread; the config with its ``loss`` per step, each to 6 significant digits."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    losses = chapter().train(
        config["layers"],
        KINDS[config["kind"]],
        config["lr"],
        config["warmup"],
        config["steps"],
        seed=config["seed"],
    )
    return config | {
        "loss": [float(f"{v:.6g}") for v in losses],
        "seconds": round(time.perf_counter() - start, 1),
    }


def final(loss: list[float]) -> float:
    """The mean loss of the last 20 steps (of all of them, in a shorter run)."""
    return sum(loss[-20:]) / len(loss[-20:])


def outcome(loss: list[float], vocabulary: int) -> str:
    """How a run ended: "diverged" (a loss that is not finite), "stalled" (its last 20 steps
    average above STALLED of ln V, a uniform guess), "trained" (below TRAINED), or "partly"."""
    if not all(math.isfinite(v) for v in loss):
        return "diverged"
    last = final(loss)
    if last > STALLED * math.log(vocabulary):
        return "stalled"
    return "trained" if last < TRAINED else "partly"


def configs(depths, lrs, warmups, steps, seeds) -> list[dict[str, Any]]:
    """Every run, the deepest first (so the longest runs do not start last)."""
    return [
        {"layers": L, "kind": kind, "lr": lr, "warmup": w, "steps": steps, "seed": seed}
        for L in sorted(depths, reverse=True)
        for lr in lrs
        for w in warmups
        for kind in KINDS
        for seed in seeds
    ]


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "warmup")
    parser.add_argument("--store", action="store_true", help=f"copy the JSON to {STORED.name}")
    parser.add_argument("--layers", type=_ints, default=DEPTHS, help="depths, comma-separated")
    parser.add_argument("--lrs", type=_floats, default=LRS, help="peak learning rates")
    parser.add_argument("--warmup", type=int, default=WARMUP, help="warm-up steps")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--seeds", type=_ints, default=SEEDS)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parser.add_argument("--jobs", type=int, default=cores, help="processes (default: cores)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    todo = configs(args.layers, args.lrs, (0, args.warmup), args.steps, args.seeds)
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            runs = list(pool.map(run_one, todo))
    else:
        runs = [run_one(c) for c in todo]
    tagged = chapter()
    result: dict[str, Any] = {
        "command": "python -m tools.warmup " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": time.strftime("%Y-%m-%d"),
        "machine": _machine() | {"jobs": args.jobs},
        "seconds": round(time.perf_counter() - start),
        "config": {
            "task": f"reverse {tagged.LENGTH} tokens drawn uniformly"
            f" from a vocabulary of {tagged.VOCAB}",
            "V": tagged.VOCAB,
            "T": tagged.LENGTH,
            "D": D,
            "heads": 2,
            "mlp": 64,
            "batch": 32,
            "dtype": "float64",
            "optimizer": "torch.optim.Adam, default betas (0.9, 0.999) and eps 1e-8",
            "warm-up": "linear from lr / warmup to lr over the first warmup steps; 0: none",
            "depths": list(args.layers),
            "lrs": list(args.lrs),
            "warmups": [0, args.warmup],
            "steps": args.steps,
            "seeds": list(args.seeds),
            "chapter": CHAPTER,
            "cells tagged": TAG,
        },
        "runs": [r | {"outcome": outcome(r["loss"], tagged.VOCAB)} for r in runs],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "warmup.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    if args.store:
        shutil.copyfile(path, STORED)
    for r in result["runs"]:
        print(
            f"{r['layers']:3d} layers  {r['kind']:7s}  lr {r['lr']:.0e}  warm-up {r['warmup']:4d}"
            f"  seed {r['seed']}  final {final(r['loss']):.3f}  {r['outcome']}"
        )
    stored = f" and {STORED}" if args.store else ""
    print(f"wrote {path}{stored} in {result['seconds']} s")
    return 0


def _machine() -> dict[str, Any]:
    """tools.bench's record of the machine (processor, cores, caches, versions)."""
    from tools.bench import machine  # noqa: PLC0415 - numba and matplotlib, only when run

    return machine()


if __name__ == "__main__":
    sys.exit(main())
