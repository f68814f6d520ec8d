"""Run one function in several processes that talk through ``torch.distributed`` (SPMD).

``run(fn, *args, world_size=2)`` starts ``world_size`` processes on this machine, joins them in
one gloo process group, calls ``fn(rank, world_size, *args)`` in each (single program, multiple
data) and returns the results, rank 0 first::

    def add_ranks(rank, world_size):
        t = torch.tensor([rank + 1.0])
        dist.all_reduce(t)  # sum over the processes: 1 + 2
        return t.item()

    normlab.spmd.run(add_ranks)  # [3.0, 3.0]

On a cluster ``torchrun`` starts the processes and the same ``fn`` runs unchanged; this is the
small launcher a notebook needs instead. ``torch.multiprocessing.start_processes`` starts the
workers and watches them; around it, ``run`` promises:

- **No fixed port.** The workers meet through a ``FileStore`` in a new temporary folder, and
  gloo connects them over the loopback interface on ports the system picks, so a machine with
  only loopback up works.
- **One deadline.** Every worker returns within ``timeout`` seconds of the call, start-up
  included, or all are stopped and ``TimeoutError`` names the ranks that had not returned.
- **The failing rank.** A worker that raises, or dies, stops the launch: ``WorkerError`` names
  the rank whose failure came first and carries its traceback.
- **A failed start is retried.** On a busy machine gloo's connection of the workers now and
  then fails ("Connection closed by peer"). Such a launch has run nothing of ``fn``, so it is
  started again (``START_TRIES`` in all, within the deadline); a failure inside ``fn`` never is.
- **Nothing left behind.** Every worker is ended (SIGTERM, then SIGKILL) and joined, and the
  folder is removed, whether ``run`` returns or raises.
- **Functions from a notebook.** On Linux the workers are forked, so ``fn`` may be defined in a
  notebook cell. Elsewhere they are spawned, which imports ``fn`` by name: a ``fn`` that cannot
  be imported is a ``TypeError`` before anything starts.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

#: The loopback interface's name, for gloo (``GLOO_SOCKET_IFNAME``); None where it has no
#: name we can rely on (Windows), and gloo's own choice stands.
LOOPBACK = {"linux": "lo", "darwin": "lo0"}.get(sys.platform)
#: Seconds the workers get to exit on their own once one has failed, and then to exit after
#: SIGTERM before SIGKILL (a worker may ignore SIGTERM).
STOP_WAIT = 1.0
#: Launches tried in all when the workers fail to join their group, before any ran ``fn``.
START_TRIES = 3


class WorkerError(RuntimeError):
    """A worker raised, or died, before returning its result.

    ``rank`` is the worker whose failure came first (the others then fail too, as their
    collectives lose a peer); ``worker_traceback`` is its traceback, also attached as the
    ``__cause__`` so that Python and Jupyter print it above the error.
    """

    def __init__(
        self, rank: int, summary: str, worker_traceback: str, during_start: bool = False
    ) -> None:
        super().__init__(f"rank {rank} {summary}")
        self.rank = rank
        self.worker_traceback = worker_traceback
        self.during_start = during_start  # no worker had started fn


class RemoteTraceback(Exception):
    """A worker's traceback, as text (printed as the cause of a ``WorkerError``)."""

    def __str__(self) -> str:
        return f"\n{self.args[0]}"


def default_start_method() -> str:
    """``"fork"`` on Linux (fast, and runs functions defined in a notebook), else
    ``"spawn"``: Windows has no fork, and macOS's system libraries are not safe to fork."""
    if sys.platform.startswith("linux"):
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
        fn: the function every process runs; it may call ``torch.distributed`` collectives on
            the default process group. Its result must be picklable (tensors, numbers, tuples,
            dicts of them).
        *args: passed to ``fn`` after ``rank`` and ``world_size``; each process gets a copy.
        world_size: the number of processes, ``>= 1``.
        timeout: seconds for the whole launch, start-up included.
        start_method: ``"fork"``, ``"spawn"`` or ``"forkserver"``; default
            ``default_start_method()``. Only ``"fork"`` runs a function defined in a notebook.

    Returns:
        ``[result of rank 0, result of rank 1, ...]``.

    Raises:
        TypeError: ``fn`` is not callable, or spawned workers cannot import it.
        ValueError: ``world_size``, ``timeout`` or ``start_method`` is out of range.
        WorkerError: a worker raised or died; the others were stopped.
        TimeoutError: not every worker returned within ``timeout``; all were stopped.
    """
    method = _check_arguments(fn, world_size, timeout, start_method)
    deadline = time.monotonic() + timeout
    folder = tempfile.mkdtemp(prefix="normlab-spmd-")
    try:
        for attempt in range(1, START_TRIES + 1):
            try:
                launch = tempfile.mkdtemp(dir=folder)  # a fresh store for every attempt
                return _launch(fn, args, world_size, timeout, method, deadline, launch)
            except WorkerError as error:
                if not error.during_start or attempt == START_TRIES:
                    raise
                if time.monotonic() >= deadline:
                    raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    raise AssertionError("unreachable")  # every attempt returns or raises


def _launch(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    world_size: int,
    timeout: float,
    method: str,
    deadline: float,
    folder: str,
) -> list[Any]:
    """One launch of ``run``: start the workers, wait for them, stop them."""
    # A forked worker inherits unwritten text in these buffers (a Jupyter kernel's streams
    # hold some) and would write it a second time when it exits.
    sys.stdout.flush()
    sys.stderr.flush()
    # torch logs, with process ids, each worker it stops; the error raised here says it all.
    spawn_log = logging.getLogger("torch.multiprocessing.spawn")
    spawn_log.addFilter(_drop)
    context = None
    try:
        with warnings.catch_warnings():
            # Python >= 3.12 warns that forking a multi-threaded process (a Jupyter kernel
            # is one) may deadlock the child; the child only runs fn, and torch re-creates
            # its thread pools after a fork, as its DataLoader workers rely on.
            warnings.filterwarnings("ignore", ".*multi-threaded.*fork", DeprecationWarning)
            context = mp.start_processes(
                _worker,
                args=(world_size, fn, args, folder, timeout),
                nprocs=world_size,
                join=False,
                daemon=True,  # ended by multiprocessing if this process exits first
                start_method=method,
            )
        while not context.join(max(0.0, deadline - time.monotonic()), grace_period=STOP_WAIT):
            if time.monotonic() >= deadline:
                late = sorted(context.sentinels.values())
                raise TimeoutError(
                    f"{'ranks' if len(late) > 1 else 'rank'} "
                    f"{', '.join(map(str, late))} did not return within "
                    f"timeout={timeout:g} s\n(a rank waits forever for a collective or a recv "
                    "that another rank skips)"
                )
        return [_read(folder, rank, "result") for rank in range(world_size)]
    except (mp.ProcessRaisedException, mp.ProcessExitedException) as error:
        # ProcessContext.join has stopped every worker
        failure = _first_failure(folder, context, error.error_index)
        raise failure from RemoteTraceback(failure.worker_traceback)
    finally:
        if context is not None:
            _stop(context.processes)
        spawn_log.removeFilter(_drop)


def _worker(
    rank: int,
    world_size: int,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    folder: str,
    timeout: float,
) -> None:
    """One process: join the group, run ``fn``, write its result (or the failure) to
    ``folder``."""
    started = False
    try:
        if LOOPBACK is not None:
            os.environ.setdefault("GLOO_SOCKET_IFNAME", LOOPBACK)
        torch.set_num_threads(1)  # the processes share the machine's cores
        # The worker's own waits start after the launch did: the launcher's deadline is first.
        waits = timedelta(seconds=timeout)
        store = dist.FileStore(os.path.join(folder, "store"), world_size)
        store.set_timeout(waits)
        dist.init_process_group(
            "gloo", store=store, rank=rank, world_size=world_size, timeout=waits
        )
        # Every rank has connected before any runs fn: a rank that ran fn and left the group
        # would break the connection a slower rank is still making.
        dist.barrier()
        _write(folder, rank, "started", True)
        started = True
        result = fn(rank, world_size, *args)
        try:  # before leaving the group: this failure comes first, not the others' it causes
            payload = pickle.dumps(result)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            raise TypeError(
                f"fn's result must be picklable (tensors, numbers, tuples, dicts of them), "
                f"got {type(result).__name__}: {error}"
            ) from error
        dist.barrier()  # no rank leaves the group while another may still use it
        dist.destroy_process_group()
        _write(folder, rank, "result", payload, pickled=True)
    except BaseException as error:  # KeyboardInterrupt and SystemExit included
        # When, on one clock for the whole machine: a failure makes the other ranks fail a
        # moment later, and the launcher blames the first.
        failed_at = time.monotonic()
        summary = f"raised {type(error).__name__}: {error}"
        record = (failed_at, summary, traceback.format_exc(), not started)
        _write(folder, rank, "error", record)
        sys.exit(1)


def _first_failure(folder: str, context: Any, observed: int) -> WorkerError:
    """The ``WorkerError`` of the failure that caused the others, once all have stopped.

    A rank that died without a word (``os._exit``, a crash, a signal other than the
    launcher's) comes first; else the rank that raised first.
    """
    errors = {}
    for rank in range(len(context.processes)):
        if os.path.exists(os.path.join(folder, f"{rank}.error")):
            errors[rank] = _read(folder, rank, "error")
    # The rank torch saw end first, if it left no error, died before any was stopped.
    stopped = {0, -signal.SIGTERM, -getattr(signal, "SIGKILL", signal.SIGTERM)}
    silent = [observed] if observed not in errors else []
    silent += [
        rank
        for rank, process in enumerate(context.processes)
        if rank not in errors and process.exitcode not in stopped
    ]
    if silent:
        rank = silent[0]
        code = context.processes[rank].exitcode
        how = f"exit code {code}"
        if code < 0:
            how = f"signal {signal.Signals(-code).name}"
        return WorkerError(
            rank,
            f"died ({how}) before returning a result",
            f"the worker ended with {how} and sent no traceback",
        )
    rank = min(errors, key=lambda r: (errors[r][0], r))
    _, summary, worker_traceback, in_start = errors[rank]
    anyone_started = any(
        os.path.exists(os.path.join(folder, f"{r}.started")) for r in range(len(context.processes))
    )
    return WorkerError(rank, summary, worker_traceback, in_start and not anyone_started)


def _stop(processes: list[multiprocessing.process.BaseProcess]) -> None:
    """Terminate, then kill, every worker still alive, and join all (no zombie remains)."""
    for process in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM
    end = time.monotonic() + STOP_WAIT
    for process in processes:
        process.join(max(0.0, end - time.monotonic()))
        if process.is_alive():
            process.kill()  # SIGKILL, which cannot be ignored
            process.join()


def _write(folder: str, rank: int, kind: str, value: Any, pickled: bool = False) -> None:
    """Store ``value`` (or, when ``pickled``, the bytes of an already pickled value) as
    ``folder/<rank>.<kind>``, whole or not at all (a worker may be killed while it writes)."""
    path = os.path.join(folder, f"{rank}.{kind}")
    with open(path + ".part", "wb") as file:
        file.write(value if pickled else pickle.dumps(value))
    os.replace(path + ".part", path)


def _read(folder: str, rank: int, kind: str) -> Any:
    """The value a worker stored with ``_write``; a missing result is a ``WorkerError``."""
    try:
        with open(os.path.join(folder, f"{rank}.{kind}"), "rb") as file:
            return pickle.load(file)
    except FileNotFoundError:
        raise WorkerError(
            rank, "exited before returning a result", "the worker sent no traceback"
        ) from None


def _drop(record: logging.LogRecord) -> bool:
    """A logging filter that drops every record."""
    return False


def _check_arguments(fn: Any, world_size: Any, timeout: Any, start_method: str | None) -> str:
    """Validate ``run``'s arguments; return the start method to use."""
    if not callable(fn):
        raise TypeError(f"fn must be a function fn(rank, world_size, *args), got {fn!r}")
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be an int >= 1 (processes), got {world_size!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    method = start_method or default_start_method()
    if method not in multiprocessing.get_all_start_methods():
        raise ValueError(
            f"start_method must be one of {multiprocessing.get_all_start_methods()} here, "
            f"got {start_method!r}"
        )
    if method == "fork":
        return method
    # A spawned worker is a fresh Python that imports fn by its module and name.
    module = getattr(fn, "__module__", None)
    name = getattr(fn, "__qualname__", repr(fn))
    if module == "__main__" or "<" in name:  # a notebook cell or script; <lambda>, <locals>
        where = "as a lambda or inside another function"
        if module == "__main__":
            where = "in __main__ (a notebook cell or the script itself)"
        raise TypeError(
            f"fn must be importable for the {method!r} start method; got {name!r} defined "
            f"{where}. Move it into a .py file and import it, or use start_method='fork'."
        )
    return method
