"""Run one function in several processes that talk through ``torch.distributed`` (SPMD).

``run(fn, *args, world_size=2)`` starts ``world_size`` processes on this machine, joins them in
one gloo process group over the loopback interface, calls ``fn(rank, world_size, *args)`` in
each (SPMD: single program, multiple data) and returns the ``world_size`` results, rank 0 first::

    def add_ranks(rank, world_size):
        t = torch.tensor([rank + 1.0])
        dist.all_reduce(t)  # sum over the processes: 1 + 2
        return t.item()

    normlab.spmd.run(add_ranks)  # [3.0, 3.0]

The same ``fn`` runs unchanged on a cluster under ``torchrun``, which starts the processes and
sets up the process group itself; this module is the small launcher a notebook needs instead.

What it promises, so that a notebook never hangs and leaves nothing behind:

- **Start-up.** On Linux (Jupyter, Colab, CI) workers are forked: they start in milliseconds, do
  not import torch again, and can run a function defined in a notebook cell. Elsewhere (macOS,
  Windows) they are spawned, which needs ``fn`` importable from a module; a function defined in
  a notebook or script raises a ``TypeError`` that says so before anything starts.
- **Rendezvous.** The workers meet through a ``FileStore``, a file in a new temporary folder,
  so no port is fixed in advance and none can be taken. gloo then connects them over the
  loopback interface (``GLOO_SOCKET_IFNAME=lo``, unless it is set) on ports the system picks,
  so a machine with no network, or only loopback up, works.
- **Every wait has a deadline.** All workers must return within ``timeout`` seconds; otherwise
  they are killed and ``TimeoutError`` names the ranks that had not finished. A worker that
  raises, or dies, stops the launch at once: the others are killed and ``WorkerError`` names the
  rank and carries the worker's traceback and output.
- **Start-up failures are retried.** A worker that fails while joining the process group (gloo
  connecting the processes, which on a loaded machine fails now and then) makes ``run`` start
  again with a new rendezvous, ``START_RETRIES`` times at most, within the same ``timeout``.
- **Clean shutdown.** Workers leave the process group and exit; any still alive at the end are
  terminated, then killed, and always joined, and the temporary folder is removed: no process,
  zombie, socket or file remains when ``run`` returns or raises.
- **Quiet.** Workers run with one intra-op thread, and their stdout and stderr (Python's and
  that of C++ libraries such as gloo) go to a temporary file that is shown only when they fail.
"""

from __future__ import annotations

import io
import multiprocessing as mp
import os
import pickle
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from datetime import timedelta
from multiprocessing.connection import Connection, wait
from typing import Any

import torch
import torch.distributed as dist

#: The loopback interface's name, for gloo (``GLOO_SOCKET_IFNAME``); None where it has no name
#: we can rely on (Windows), and gloo's own choice stands.
LOOPBACK = {"linux": "lo", "darwin": "lo0"}.get(sys.platform)
#: Seconds a worker's own waits (rendezvous, collectives) outlast ``timeout``, so that the
#: launcher's deadline, with its clear message, comes first.
GRACE = 5.0
#: How many times a launch whose workers failed to join the process group is started again.
START_RETRIES = 2
#: Seconds the launcher listens to the other workers after a failure, to find which came first.
SETTLE = 0.2
#: Seconds to wait for a worker to exit after SIGTERM before SIGKILL, and after SIGKILL.
STOP_WAIT = 2.0
#: The last characters of a failed worker's output that ``WorkerError`` shows.
OUTPUT_TAIL = 4000


class WorkerError(RuntimeError):
    """A worker raised, or died, before returning its result.

    Attributes:
        rank: the rank of the worker that failed first.
        worker_traceback: the worker's formatted traceback, or a sentence when it died without
            one (killed by a signal, ``os._exit``).
        output: the tail of what the worker printed to stdout and stderr (gloo's messages too).
        during_start: whether it failed while joining the process group, before ``fn`` ran
            (``run`` then starts again, ``START_RETRIES`` times at most).

    ``str(error)`` is one line that names the rank and the worker's exception; the traceback is
    attached as the ``__cause__`` (a ``RemoteTraceback``), so Jupyter and Python print it above
    the error.
    """

    def __init__(
        self,
        rank: int,
        summary: str,
        worker_traceback: str,
        output: str,
        during_start: bool = False,
    ) -> None:
        super().__init__(f"rank {rank} {summary}")
        self.rank = rank
        self.worker_traceback = worker_traceback
        self.output = output
        self.during_start = during_start


class RemoteTraceback(Exception):
    """The text of a worker's traceback (and output), shown as the cause of a ``WorkerError``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def default_start_method() -> str:
    """``"fork"`` on Linux, where it is fast and runs functions defined in a notebook; else
    ``"spawn"`` (Windows has no fork, and macOS's system libraries are not safe to fork)."""
    if sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods():
        return "fork"
    return "spawn"


def run(
    fn: Callable[..., Any],
    *args: Any,
    world_size: int = 2,
    timeout: float = 30.0,
    start_method: str | None = None,
) -> list[Any]:
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` processes joined by gloo.

    Args:
        fn: the function every process runs; it may call ``torch.distributed`` collectives
            (``dist.all_reduce``, ``dist.all_gather``, ...) on the default process group. Its
            return value must be picklable (tensors, numbers, tuples, dicts of them).
        *args: passed to ``fn`` after ``rank`` and ``world_size``; the same in every process.
            Each process gets its own copy, so changing one in place changes nothing here.
        world_size: the number of processes, ``>= 1``.
        timeout: seconds for the whole launch, start-up included; workers still running then
            are killed.
        start_method: ``"fork"``, ``"spawn"`` or ``"forkserver"``; default
            ``default_start_method()``. Only ``"fork"`` runs a function defined in a notebook.

    Returns:
        ``[result of rank 0, result of rank 1, ...]``, ``world_size`` entries.

    Raises:
        TypeError: ``fn`` is not callable, or cannot reach spawned workers (defined in
            ``__main__``, a notebook cell, a lambda or a nested function).
        ValueError: ``world_size``, ``timeout`` or ``start_method`` is out of range.
        WorkerError: a worker raised or died; the others were stopped.
        TimeoutError: not every worker returned within ``timeout`` seconds; all were stopped.
    """
    method = _check_arguments(fn, world_size, timeout, start_method)
    ctx = mp.get_context(method)
    deadline = time.monotonic() + timeout
    for attempt in range(1 + START_RETRIES):
        try:
            return _launch(ctx, fn, args, world_size, deadline, timeout)
        except WorkerError as error:
            # Joining the group can fail for reasons of the moment (gloo's connections between
            # the processes, rarely, on a loaded machine): start again, with a new rendezvous.
            if not error.during_start or attempt == START_RETRIES or time.monotonic() > deadline:
                raise
    raise AssertionError("unreachable")  # the loop returns or raises


def _launch(
    ctx: Any,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    world_size: int,
    deadline: float,
    timeout: float,
) -> list[Any]:
    """Start the workers, collect their results, and always stop them (one attempt of ``run``)."""
    # The rendezvous is a file, not a TCPStore on a port: no port to pick or find taken, and
    # (on torch 2.13 here) no TCPStore client connection that stalls for 5 s now and then.
    folder = tempfile.mkdtemp(prefix="normlab-spmd-")
    store_file = os.path.join(folder, "store")  # the FileStore's file; the workers create it
    procs: list[mp.process.BaseProcess] = []
    receivers: list[Connection] = []
    try:
        for rank in range(world_size):
            receiver, sender = ctx.Pipe(duplex=False)
            receivers.append(receiver)
            proc = ctx.Process(
                target=_worker,
                args=(rank, world_size, store_file, timeout + GRACE, fn, args, sender),
                name=f"normlab.spmd rank {rank}",
                daemon=True,  # ended by multiprocessing if this process exits first
            )
            with warnings.catch_warnings():
                # Python >= 3.12 warns that forking a multi-threaded process (a Jupyter kernel
                # is one) may deadlock the child. The child only runs fn: torch re-creates its
                # thread pools after a fork, as its DataLoader workers rely on.
                warnings.filterwarnings("ignore", r".*multi-threaded.*fork", DeprecationWarning)
                try:
                    proc.start()
                finally:
                    sender.close()  # the worker holds the only writing end now
            procs.append(proc)
        results = _collect(procs, receivers, deadline, timeout)
        for proc in procs:  # they return, leave the group and exit: give them the time left
            proc.join(max(0.0, deadline - time.monotonic()))
        return results
    finally:
        _stop(procs)
        for receiver in receivers:
            receiver.close()
        shutil.rmtree(folder, ignore_errors=True)


def _check_arguments(fn: Any, world_size: Any, timeout: Any, start_method: str | None) -> str:
    """Validate ``run``'s arguments; return the start method to use."""
    if not callable(fn):
        raise TypeError(f"fn must be a function fn(rank, world_size, *args), got {fn!r}")
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be an int >= 1 (processes), got {world_size!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    method = default_start_method() if start_method is None else start_method
    if method not in mp.get_all_start_methods():
        raise ValueError(
            f"start_method must be one of {mp.get_all_start_methods()} on this system, "
            f"got {start_method!r}"
        )
    if method != "fork":
        _check_importable(fn, method)
    return method


def _check_importable(fn: Callable[..., Any], method: str) -> None:
    """Raise a TypeError that explains why a spawned worker cannot find ``fn``, if it cannot."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", repr(fn))
    if module == "__main__" or "<" in qualname:  # a notebook cell or script; <lambda>, <locals>
        where = "as a lambda or inside another function"
        if module == "__main__":
            where = "in __main__ (a notebook cell or the script itself)"
        raise TypeError(
            f"fn must be importable for the {method!r} start method, which starts a fresh Python "
            f"that imports fn by name; got {qualname!r} defined {where}. Move it into a .py file "
            "next to the notebook and import it from there, or use start_method='fork' on Linux."
        )
    try:
        pickle.dumps(fn)
    except Exception as error:
        raise TypeError(
            f"fn must be picklable for the {method!r} start method, got {qualname!r}: {error}"
        ) from error


def _collect(
    procs: Sequence[mp.process.BaseProcess],
    receivers: Sequence[Connection],
    deadline: float,
    timeout: float,
) -> list[Any]:
    """Wait for one message per worker until ``deadline``; raise on the first failure."""
    results: list[Any] = [None] * len(procs)
    pending = set(range(len(procs)))
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            late, done = sorted(pending), sorted(set(range(len(procs))) - pending)
            raise TimeoutError(
                f"{'ranks' if len(late) > 1 else 'rank'} {', '.join(map(str, late))} did not "
                f"return within timeout={timeout:g} s (finished: {done if done else 'none'}); all "
                "workers were stopped. A rank waits forever when another never makes the "
                "matching call (a collective it skips, a recv without its send): check that "
                "every rank makes the same calls in the same order, or give a longer timeout."
            )
        waiting = {receivers[r]: r for r in pending} | {procs[r].sentinel: r for r in pending}
        for ready in wait(list(waiting), timeout=left):
            rank = waiting[ready]
            if rank not in pending:  # its message and its exit arrived together
                continue
            message = _receive(receivers[rank])
            if message is None:  # exited, or closed the pipe, without a message
                raise _died(rank, procs[rank])
            status, value = message
            if status != "ok":
                raise _first_failure(rank, value, procs, receivers, pending)
            results[rank] = value
            pending.discard(rank)
    return results


def _first_failure(
    rank: int,
    value: Any,
    procs: Sequence[mp.process.BaseProcess],
    receivers: Sequence[Connection],
    pending: set[int],
) -> WorkerError:
    """The ``WorkerError`` of the failure that caused the others.

    A failure makes the other ranks fail too, a moment later: their collectives lose a peer. So
    the launcher listens ``SETTLE`` seconds more to the other pending ranks, then blames a rank
    that died without a word (a crash, a signal, ``os._exit``), else the one that raised first.
    """
    failures = {rank: value}  # rank -> (failed_at, summary, traceback, output, during_start)
    others = set(pending) - {rank}
    settle = time.monotonic() + SETTLE
    while others and (left := settle - time.monotonic()) > 0:
        waiting = {receivers[r]: r for r in others} | {procs[r].sentinel: r for r in others}
        ready = wait(list(waiting), timeout=left)
        if not ready:
            break
        for other in {waiting[obj] for obj in ready}:
            message = _receive(receivers[other])
            if message is None:
                return _died(other, procs[other])
            if message[0] != "ok":
                failures[other] = message[1]
            others.discard(other)
    rank = min(failures, key=lambda r: (failures[r][0], r))
    _, summary, worker_traceback, output, during_start = failures[rank]
    error = WorkerError(rank, summary, worker_traceback, output, during_start)
    tail = f"\n--- output of rank {rank} ---\n{output}" if output.strip() else ""
    error.__cause__ = RemoteTraceback(f"\n{worker_traceback}{tail}")
    return error


def _died(rank: int, proc: mp.process.BaseProcess) -> WorkerError:
    """The ``WorkerError`` of a worker that ended without sending a result or a traceback."""
    proc.join(STOP_WAIT)
    code = proc.exitcode
    signal = f", killed by signal {-code}" if code is not None and code < 0 else ""
    return WorkerError(
        rank,
        f"died with exit code {code} before returning a result",
        f"the worker process ended with exit code {code}{signal}, and sent no traceback",
        "",
    )


def _receive(receiver: Connection) -> tuple[str, Any] | None:
    """The worker's ``(status, value)`` message, or None if it exited without sending one."""
    try:
        if not receiver.poll():
            return None
        return pickle.loads(receiver.recv_bytes())
    except (EOFError, OSError):
        return None


def _stop(procs: Sequence[mp.process.BaseProcess]) -> None:
    """Terminate, then kill, every worker still alive; join all, so no zombie remains."""
    for proc in procs:
        if proc.is_alive():
            proc.terminate()  # SIGTERM
    for proc in procs:
        proc.join(STOP_WAIT)
        if proc.is_alive():
            proc.kill()  # SIGKILL
            proc.join(STOP_WAIT)
        proc.close()


def _worker(
    rank: int,
    world_size: int,
    store_file: str,
    timeout: float,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    sender: Connection,
) -> None:
    """One process: join the group, run ``fn``, send ``("ok", result)`` or ``("error", ...)``."""
    log = _capture_output()
    starting = True
    try:
        if LOOPBACK is not None:
            os.environ.setdefault("GLOO_SOCKET_IFNAME", LOOPBACK)
        torch.set_num_threads(1)  # the processes share the machine's cores
        waits = timedelta(seconds=timeout)
        store = dist.FileStore(store_file, world_size)
        store.set_timeout(waits)
        dist.init_process_group(
            "gloo", store=store, rank=rank, world_size=world_size, timeout=waits
        )
        starting = False
        result = fn(rank, world_size, *args)
        dist.destroy_process_group()
        try:
            message = pickle.dumps(("ok", result), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:
            raise TypeError(
                f"fn's result must be picklable to reach the launcher (tensors, numbers, lists, "
                f"dicts of them), got {type(result).__name__}: {error}"
            ) from error
    except BaseException as error:  # KeyboardInterrupt and SystemExit included
        failed_at = time.monotonic()  # one clock for every process of the machine
        summary = f"raised {type(error).__name__}: {error}"
        details = (failed_at, summary, traceback.format_exc(), _read(log), starting)
        message = pickle.dumps(("error", details))
    try:
        sender.send_bytes(message)
    except OSError:  # the launcher is gone; nothing is waiting for this message
        pass
    sender.close()


def _capture_output() -> io.TextIOWrapper:
    """Send this process's stdout and stderr (file descriptors 1 and 2, so C++ output too) to a
    temporary file, so that nothing reaches the notebook unless the worker fails."""
    # The inherited sys.stdout and sys.stderr are not flushed: after a fork they may hold the
    # parent's unwritten text (a Jupyter kernel's streams do), which would then appear twice.
    log = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = io.TextIOWrapper(
        os.fdopen(os.dup(1), "wb"), encoding="utf-8", errors="replace", line_buffering=True
    )
    return log


def _read(log: io.TextIOWrapper) -> str:
    """The last ``OUTPUT_TAIL`` characters written to the captured output."""
    try:
        sys.stdout.flush()
        log.seek(0)
        return log.read()[-OUTPUT_TAIL:]
    except (OSError, ValueError):
        return ""
