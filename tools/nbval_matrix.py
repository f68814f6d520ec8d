"""Strict nbval over the toc's notebooks, once per CPU setting a reader may have (`make nbval`).

    python -m tools.nbval_matrix [--full] [--jobs N] [NOTEBOOK ...]

Which settings, why, and how the passes share the cores and are cut off the network:
CONTRIBUTING.md, "The nbval matrix". The exit status is 1 when any pass failed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
if not __package__:  # run as a file (python tools/nbval_matrix.py), not with -m
    sys.path.insert(0, str(TOOLS.parent))

from tools import toc  # noqa: E402

#: x86 capabilities, weakest first: torch runs any of them on a CPU at or above it.
X86_LADDER = ("default", "avx2", "avx512")
#: MKL's and oneDNN's instruction sets on a CPU of that capability. ATEN_CPU_CAPABILITY does not
#: reach them, and their products differ in the last bits (MKL's AVX-only level prints a
#: deprecation warning, so "default" stands for SSE4.2). The top rung keeps the machine's own.
BLAS = {
    "default": {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "ONEDNN_MAX_CPU_ISA": "SSE41"},
    "avx2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}
THREADS = (1, 2)
#: tools/nbval_kernel.py: nbval's kernels talk over encrypted sockets, as make lab's do.
PYTEST = ("-m", "pytest", "-q", "--nbval", "--nbval-current-env", "-p", "no:cacheprovider")
PYTEST += ("-p", "tools.nbval_kernel")
REPORT = "import torch; print(torch.backends.cpu.get_cpu_capability(), torch.get_num_threads())"
#: Idle OpenMP threads sleep instead of spinning, so passes can share cores; how threads wait
#: does not change how work is split between them, nor any number.
WAIT = {"OMP_WAIT_POLICY": "PASSIVE"}
PINNED = ("ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS", *BLAS["default"], *WAIT)


@dataclass(frozen=True)
class Setting:
    capability: str  # an ATEN_CPU_CAPABILITY value: default, avx2, avx512, sve256, ...
    threads: int  # OMP_NUM_THREADS
    blas: tuple[tuple[str, str], ...] = ()  # MKL/oneDNN variables; none: the machine's own

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in PINNED}
        env.update(self.blas, ATEN_CPU_CAPABILITY=self.capability, **WAIT)
        env["OMP_NUM_THREADS"] = str(self.threads)
        return env

    def __str__(self) -> str:
        blas = dict(self.blas).get("MKL_ENABLE_INSTRUCTIONS", "native")
        return (
            f"ATEN_CPU_CAPABILITY={self.capability:<7} MKL/oneDNN {blas:<6} "
            f"OMP_NUM_THREADS={self.threads}"
        )


def env_value(reported: str) -> str:
    """torch's name for a capability ("AVX512", "SVE256", "Z VECTOR") as ATEN_CPU_CAPABILITY."""
    value = reported.strip().lower().replace(" ", "")
    return "default" if value in ("default", "noavx") else value


def ladder(best: str) -> list[str]:
    """The ATEN_CPU_CAPABILITY values to test, "default" first, up to the best one.

    best: torch.backends.cpu.get_cpu_capability() on this machine, with ATEN_CPU_CAPABILITY
    unset: "AVX512" gives default, avx2, avx512; "SVE256" gives default, sve256.
    """
    value = env_value(best)
    if value in X86_LADDER:
        return list(X86_LADDER[: X86_LADDER.index(value) + 1])
    return ["default", value]


def matrix(capabilities: list[str], full: bool = False) -> list[Setting]:
    """Each capability once, the best at 2 threads and the others at 1 (full: all at both)."""
    pairs = [(cap, 1) for cap in capabilities[:-1]] + [(capabilities[-1], 2)]
    if full:
        pairs = [(cap, threads) for cap in capabilities for threads in THREADS]
    top, x86 = capabilities[-1], capabilities[-1] in X86_LADDER
    return [
        Setting(cap, threads, tuple(BLAS.get(cap, {}).items()) if x86 and cap != top else ())
        for cap, threads in pairs
    ]


def torch_reports(env: dict[str, str]) -> tuple[str, int]:
    """The capability and the thread count torch uses under env (in a fresh interpreter)."""
    out = subprocess.run(
        [sys.executable, "-c", REPORT], env=env, capture_output=True, text=True, check=True
    )
    capability, threads = out.stdout.strip().rsplit(" ", 1)
    return capability, int(threads)


def best_capability() -> str:
    env = {key: value for key, value in os.environ.items() if key != "ATEN_CPU_CAPABILITY"}
    return torch_reports(env)[0]


def settings_not_applied(settings: list[Setting]) -> list[str]:
    """Run torch under each capability (side by side); say where a setting did not take."""
    settings = list({setting.capability: setting for setting in settings}.values())
    with ThreadPoolExecutor(max_workers=len(settings)) as pool:
        reports = list(pool.map(lambda setting: torch_reports(setting.env()), settings))
    wrong = []
    for setting, (capability, threads) in zip(settings, reports, strict=True):
        if env_value(capability) != setting.capability or threads != setting.threads:
            wrong.append(f"{setting}: torch uses {capability} with {threads} threads")
    return wrong


def isolation() -> tuple[list[str], str, str]:
    """The command prefix that cuts a pass off the network, a word and a line for the report.

    Where the namespace cannot be made: no prefix, and the line is "network isolation skipped:
    <reason>". Raises SystemExit when it is made but the network is still reachable.
    """
    offline = [sys.executable, str(TOOLS / "offline.py")]
    done = subprocess.run([*offline, "--check"], capture_output=True, text=True)
    if done.returncode == 0:
        return [*offline, "--"], "isolated", f"network: {done.stdout.strip()}"
    if done.returncode == 3:
        reason = (done.stderr.strip().splitlines() or ["no reason given"])[-1]
        reason = reason.removeprefix("tools/offline.py: ")
        return [], "NOT ISOLATED", f"network isolation skipped: {reason}"
    raise SystemExit(f"network isolation failed:\n{done.stderr.strip() or done.stdout.strip()}")


@dataclass
class Pass:
    setting: Setting
    network: str
    returncode: int
    seconds: float
    cpu_seconds: float  # user + system time of pytest and its kernels
    output: str

    def failures(self) -> list[str]:
        return re.findall(r"^(?:FAILED|ERROR) (\S+)", self.output, re.MULTILINE)

    def line(self) -> str:
        totals: dict[str, int] = {}
        for text in self.output.splitlines():  # one summary line per chunk of notebooks
            text = re.sub(r"\x1b\[[0-9;]*m", "", text)
            if re.match(r"^=* ?\d+ (passed|failed|errors?)", text.strip()):
                for number, word in re.findall(r"(\d+) (passed|failed|errors?|skipped)", text):
                    totals[word] = totals.get(word, 0) + int(number)
        counts = ", ".join(f"{n} {word}" for word, n in totals.items()) or "no summary"
        verdict = "ok    " if self.returncode == 0 else "FAILED"
        timing = f"{self.seconds:.1f} s (CPU {self.cpu_seconds:.1f} s)"
        return f"{verdict} {self.setting}  network {self.network}: {counts}, {timing}"


def run_pass(setting: Setting, prefix: list[str], network: str, notebooks: list[str]) -> Pass:
    start = time.monotonic()
    with subprocess.Popen(
        [*prefix, sys.executable, *PYTEST, *notebooks],
        env=setting.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        output = proc.stdout.read()
        # wait4, not wait: its rusage counts the CPU time of pytest and of the kernels it ran.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - start
    cpu = usage.ru_utime + usage.ru_stime
    return Pass(setting, network, proc.returncode, seconds, cpu, output)


def chunks(notebooks: list[str], count: int) -> list[list[str]]:
    """The notebooks in ``count`` groups of about equal size on disk (a proxy for run time)."""
    groups: list[list[str]] = [[] for _ in range(max(1, min(count, len(notebooks))))]
    sizes = [0] * len(groups)
    for notebook in sorted(notebooks, key=lambda nb: -os.path.getsize(nb)):
        smallest = sizes.index(min(sizes))
        groups[smallest].append(notebook)
        sizes[smallest] += os.path.getsize(notebook)
    order = {nb: i for i, nb in enumerate(notebooks)}
    return [sorted(group, key=order.__getitem__) for group in groups]


def merge(parts: list[Pass]) -> Pass:
    """One setting's result from the passes over its chunks of notebooks."""
    return Pass(
        parts[0].setting,
        parts[0].network,
        max((part.returncode for part in parts), key=abs),
        sum(part.seconds for part in parts),
        sum(part.cpu_seconds for part in parts),
        "\n".join(part.output for part in parts),
    )


def run_all(settings: list[Setting], jobs: int, start_pass, notebooks: list[str]) -> list[Pass]:
    """Run every setting over the notebooks, split into ``jobs`` chunks so that the cores stay
    busy to the end, ``jobs`` at a time; report each setting as its last chunk ends."""
    groups = chunks(notebooks, jobs)
    shown: dict[tuple[str, ...], Setting] = {}
    parts: dict[int, list[Pass]] = {i: [] for i in range(len(settings))}
    done = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {
            pool.submit(start_pass, setting, group): i
            for i, setting in enumerate(settings)
            for group in groups
        }
        for future in as_completed(futures):
            i = futures[future]
            parts[i].append(future.result())
            if len(parts[i]) < len(groups):
                continue
            result = done[i] = merge(parts[i])
            failures = tuple(result.failures())
            if result.returncode != 0 and failures in shown:
                print(f"\n(the same cells failed as under {shown[failures]})")
            elif result.returncode != 0:
                shown[failures] = result.setting
                print(f"\n----- nbval, {result.setting} -----\n{result.output}")
            print(f"nbval pass: {result.line()}", flush=True)
    return [done[i] for i in range(len(settings))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="default: the notebooks _toc.yml lists")
    parser.add_argument(
        "--full", action="store_true", help="every capability at 1 and at 2 threads"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(os.cpu_count() or 1, 4),
        help="passes at a time (default: one per core, at most 4)",
    )
    args = parser.parse_args(argv)
    try:
        notebooks = args.notebooks or [str(path) for path in toc.notebooks()]
    except (OSError, toc.TocError) as err:
        sys.exit(f"tools/nbval_matrix.py: {err}")
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=1) as pool:
        network_check = pool.submit(isolation)  # beside torch's start-ups below
        best = best_capability()
        settings = matrix(ladder(best), full=args.full)
        wrong = settings_not_applied(settings)
        count = f"{len(settings)} passes over {len(notebooks)} notebook(s)"
        print(f"nbval matrix: torch finds {best} at best on this CPU; {count}")
        prefix, network, message = network_check.result()
        print(message)
    if wrong:
        sys.exit("tools/nbval_matrix.py: a setting did not take:\n  " + "\n  ".join(wrong))
    jobs = max(1, args.jobs)
    passes = run_all(
        settings, jobs, lambda setting, group: run_pass(setting, prefix, network, group), notebooks
    )
    total = time.monotonic() - start
    print(f"\nnbval matrix, {jobs} jobs at a time, {total:.1f} s in all:")
    for result in passes:
        print(f"  {result.line()}")
    if network != "isolated":
        print("  (network isolation skipped: see above)")
    return 0 if all(result.returncode == 0 for result in passes) else 1


if __name__ == "__main__":
    sys.exit(main())
