"""normlab.spmd.run: processes joined by gloo that return their results, fail with an error
that names the rank, end at the deadline, and leave no process, socket or file behind."""

import multiprocessing
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from normlab import spmd

LINUX = sys.platform.startswith("linux")
# Other test files import JAX, which warns at every fork because it runs threads; the workers
# forked here never touch JAX.
pytestmark = pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
#: Seconds the launcher may take past the deadline: well under a grace period (STOP_WAIT).
SLACK = 0.5


def children() -> set[int]:
    """The ids of this process's child processes, zombies included (read from /proc on Linux,
    where multiprocessing's own list would miss a zombie it does not know of)."""
    if not LINUX:
        return {p.pid for p in multiprocessing.active_children()}
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (name)"
        except OSError:  # the process ended while we read
            continue
        if int(fields[1]) == os.getpid():  # fields: state, ppid, ...
            found.add(int(stat.parent.name))
    return found


def sockets() -> int:
    """How many sockets this process has open (its file descriptors that are sockets)."""
    if not LINUX:
        return 0
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:  # the descriptor that listed the folder, closed since
            pass
    return count


def temporary_files() -> set[str]:
    """The launcher's folders, and the error files torch's start_processes may leave."""
    tmp = Path(tempfile.gettempdir())
    return {p.name for p in [*tmp.glob("normlab-spmd-*"), *tmp.glob("pytorch-errorfile-*")]}


@pytest.fixture
def no_leftovers(tmp_path, monkeypatch):
    """Fail a test that leaves a child process, a socket or a temporary file behind. Spawning
    starts multiprocessing's resource tracker, one helper per Python process that ends with
    it: it is not a worker. The test gets a temporary folder of its own, so that other
    programs' launches (a notebook beside the tests) are not counted."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = children(), sockets(), temporary_files()
    yield
    tracker = multiprocessing.resource_tracker._resource_tracker._pid
    assert children() - before[0] - {tracker} == set(), "a worker process was left behind"
    assert multiprocessing.active_children() == []
    assert (sockets(), temporary_files()) == before[1:]


@pytest.fixture
def clock():
    """``clock()``: the seconds since the test started."""
    start = time.perf_counter()
    return lambda: time.perf_counter() - start


# The workers: module-level, so that the "spawn" start method can import them too.


def add_ranks(rank, world_size):
    t = torch.tensor([rank + 1.0])
    dist.all_reduce(t)  # 1 + 2 + ... + world_size
    return rank, world_size, t.item()


def gather_ranks(rank, world_size, offset):
    parts = [torch.empty(1) for _ in range(world_size)]
    dist.all_gather(parts, torch.tensor([rank + offset]))
    return torch.cat(parts)


def raises_after_start_up(rank, world_size):
    dist.barrier()  # both have joined the group
    if rank == 1:
        raise ValueError("rank 1 cannot go on")
    dist.barrier()  # rank 0 waits for rank 1, which never comes: gloo then raises here too


def raises_beside_a_stubborn_rank(rank, world_size):
    if rank == 1:
        raise ValueError("rank 1 cannot go on")
    ignores_sigterm(rank, world_size)  # rank 0 waits in no collective, and ignores SIGTERM


def hangs(rank, world_size):
    time.sleep(600)


def ignores_sigterm(rank, world_size):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(600)


def dies_silently(rank, world_size):
    dist.barrier()
    if rank == 1:
        os._exit(3)  # no exception, no traceback
    dist.barrier()


def killed(rank, world_size):
    if rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    dist.barrier()


def environment(rank, world_size):
    return os.environ.get("GLOO_SOCKET_IFNAME"), torch.get_num_threads()


def unpicklable_result(rank, world_size):
    return lambda: rank


def test_returns_one_result_per_rank_in_rank_order(no_leftovers):
    assert spmd.run(add_ranks) == [(0, 2, 3.0), (1, 2, 3.0)]
    assert spmd.run(add_ranks, world_size=3) == [(0, 3, 6.0), (1, 3, 6.0), (2, 3, 6.0)]
    assert spmd.run(add_ranks, world_size=1) == [(0, 1, 1.0)]


def test_passes_args_and_returns_tensors(no_leftovers):
    results = spmd.run(gather_ranks, 10.0, world_size=3)
    for result in results:
        torch.testing.assert_close(result, torch.tensor([10.0, 11.0, 12.0]))


def test_runs_a_function_defined_in_a_test_or_notebook_with_fork(no_leftovers):
    if spmd.default_start_method() != "fork":
        pytest.skip("fork is the default start method on Linux only")

    def local(rank, world_size):  # a nested function: only fork can run it
        return rank * 10

    assert spmd.run(local) == [0, 10]


def test_workers_talk_over_loopback_with_one_thread_each(no_leftovers):
    (ifname, threads), _ = spmd.run(environment)
    if LINUX and "GLOO_SOCKET_IFNAME" not in os.environ:
        assert ifname == "lo"
    assert threads == 1  # the processes share the machine's cores


def test_launch_is_fast(no_leftovers, clock):
    spmd.run(add_ranks)
    assert clock() < 5  # forked workers start in milliseconds; spawned ones import torch


def test_a_worker_that_raises_names_its_rank_and_traceback(no_leftovers, clock):
    with pytest.raises(spmd.WorkerError) as caught:
        spmd.run(raises_after_start_up, timeout=60)
    assert clock() < spmd.STOP_WAIT  # rank 0 fails at once too: none had to be stopped
    error = caught.value
    assert str(error) == "rank 1 raised ValueError: rank 1 cannot go on"
    assert error.rank == 1
    assert "in raises_after_start_up" in error.worker_traceback
    assert isinstance(error.__cause__, spmd.RemoteTraceback)
    assert "ValueError: rank 1 cannot go on" in str(error.__cause__)


def test_the_first_failure_is_blamed_not_the_failures_it_causes(no_leftovers):
    for _ in range(5):  # rank 0 fails too, a moment later, as its barrier loses rank 1
        with pytest.raises(spmd.WorkerError, match="^rank 1 raised ValueError"):
            spmd.run(raises_after_start_up)


def test_a_worker_that_ignores_sigterm_is_killed(no_leftovers, clock):
    with pytest.raises(spmd.WorkerError, match="^rank 1 raised ValueError"):
        spmd.run(raises_beside_a_stubborn_rank, timeout=60)
    # torch waits STOP_WAIT for rank 0 to exit, SIGTERMs it, waits STOP_WAIT, SIGKILLs it
    assert clock() < 2 * spmd.STOP_WAIT + SLACK


def test_a_worker_that_hangs_is_killed_at_the_timeout(no_leftovers, clock):
    with pytest.raises(TimeoutError, match=r"^ranks 0, 1 did not return within timeout=1 s"):
        spmd.run(hangs, timeout=1)
    assert 1 <= clock() < 1 + SLACK


def test_a_hanging_worker_that_ignores_sigterm_is_killed_after_stop_wait(no_leftovers, clock):
    with pytest.raises(TimeoutError, match=r"^ranks 0, 1 did not return within timeout=1 s"):
        spmd.run(ignores_sigterm, timeout=1)
    assert 1 + spmd.STOP_WAIT <= clock() < 1 + spmd.STOP_WAIT + SLACK


def test_a_worker_that_dies_silently_is_named(no_leftovers):
    for _ in range(3):  # rank 0 raises a moment later: the death is blamed, not the raise
        start = time.perf_counter()
        with pytest.raises(spmd.WorkerError, match=r"^rank 1 died \(exit code 3\)"):
            spmd.run(dies_silently, timeout=60)
        assert time.perf_counter() - start < spmd.STOP_WAIT


def test_a_worker_killed_by_a_signal_is_named(no_leftovers):
    with pytest.raises(spmd.WorkerError, match=r"^rank 1 died \(signal SIGKILL\)"):
        spmd.run(killed)


def test_stopping_workers_logs_and_prints_nothing(capfd, caplog, no_leftovers):
    with pytest.raises(spmd.WorkerError):
        spmd.run(raises_beside_a_stubborn_rank)  # torch would log each SIGTERM and SIGKILL
    assert caplog.records == []
    assert "SIGTERM" not in capfd.readouterr().err


def counted(rank, world_size, folder, fail):
    """Count this call in ``folder``; raise when ``fail``."""
    Path(folder, f"{rank}.{time.monotonic_ns()}").touch()
    if fail:
        raise ValueError("inside fn")
    return rank


@pytest.mark.skipif(not LINUX, reason="the patched join must reach forked workers")
def test_a_failed_start_is_retried_and_fn_runs_once(no_leftovers, monkeypatch, tmp_path):
    """gloo's connection of the workers sometimes fails on a busy machine: the first launch's
    group fails to form here, and the second runs fn once in each rank."""
    join = dist.init_process_group

    def flaky(*args, rank, **kwargs):
        marker = tmp_path / f"failed-once-{rank}"
        if not marker.exists():
            marker.touch()
            raise RuntimeError("[gloo] connectFullMesh: Connection closed by peer")
        return join(*args, rank=rank, **kwargs)

    monkeypatch.setattr(spmd.dist, "init_process_group", flaky)
    calls = tmp_path / "calls"
    calls.mkdir()
    assert spmd.run(counted, str(calls), False) == [0, 1]
    assert sorted(p.name.split(".")[0] for p in calls.iterdir()) == ["0", "1"]


@pytest.mark.skipif(not LINUX, reason="the patched join must reach forked workers")
def test_a_start_that_always_fails_is_tried_start_tries_times(no_leftovers, monkeypatch):
    tries = multiprocessing.Value("i", 0)

    def broken(*args, rank, **kwargs):
        with tries.get_lock():
            tries.value += 1
        raise RuntimeError("no group")

    monkeypatch.setattr(spmd.dist, "init_process_group", broken)
    with pytest.raises(spmd.WorkerError, match="no group") as caught:
        spmd.run(counted, "unused", False)
    assert caught.value.during_start
    assert tries.value == spmd.START_TRIES * 2  # two ranks, each attempt


def test_a_failure_inside_fn_is_never_retried(no_leftovers, tmp_path):
    with pytest.raises(spmd.WorkerError, match="inside fn") as caught:
        spmd.run(counted, str(tmp_path), True)
    assert not caught.value.during_start
    assert sorted(p.name.split(".")[0] for p in tmp_path.iterdir()) == ["0", "1"]


def test_an_unpicklable_result_is_a_clear_error(no_leftovers):
    with pytest.raises(spmd.WorkerError, match="result must be picklable"):
        spmd.run(unpicklable_result)


def test_spawn_runs_an_importable_function(no_leftovers):
    assert spmd.run(add_ranks, start_method="spawn", timeout=120) == [(0, 2, 3.0), (1, 2, 3.0)]


def test_spawn_refuses_a_function_it_cannot_import():
    def nested(rank, world_size):
        return rank

    with pytest.raises(TypeError, match=r"importable.*'spawn'.*inside another function"):
        spmd.run(nested, start_method="spawn")
    nested.__module__, nested.__qualname__ = "__main__", "nested"  # as in a notebook cell
    with pytest.raises(TypeError, match=r"in __main__ \(a notebook cell.*\.py file"):
        spmd.run(nested, start_method="spawn")


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"fn": 3}, TypeError, "fn must be a function"),
        ({"world_size": 0}, ValueError, "world_size must be an int >= 1"),
        ({"world_size": 2.0}, ValueError, "world_size must be an int >= 1"),
        ({"timeout": 0}, ValueError, "timeout must be a positive number"),
        ({"start_method": "thread"}, ValueError, "start_method must be one of"),
    ],
)
def test_argument_errors_name_the_argument(kwargs, error, message):
    kwargs = dict(kwargs)  # a copy: pytest hands every run of the test the same dict
    fn = kwargs.pop("fn", add_ranks)
    with pytest.raises(error, match=message):
        spmd.run(fn, **kwargs)
