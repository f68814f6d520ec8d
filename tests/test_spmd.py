"""normlab.spmd.run: processes joined by gloo that return their results, fail with clear errors,
never hang, and leave no process or listening port behind."""

import multiprocessing
import os
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
# forked here never touch JAX (the chapter's kernels never import it).
pytestmark = pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")


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


def rendezvous_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("normlab-spmd-*")}


@pytest.fixture
def no_leftovers():
    """Fail a test that leaves a child process behind. Spawning starts multiprocessing's
    resource tracker, one helper per Python process that ends with it: it is not a worker."""
    before = children()
    yield
    tracker = multiprocessing.resource_tracker._resource_tracker._pid
    assert children() - before - {tracker} == set(), "a worker process was left behind"
    assert multiprocessing.active_children() == []


# The workers: module-level, so that the "spawn" start method can import them too.


def add_ranks(rank, world_size):
    t = torch.tensor([rank + 1.0])
    dist.all_reduce(t)  # 1 + 2 + ... + world_size
    return rank, world_size, t.item()


def gather_ranks(rank, world_size, offset):
    parts = [torch.empty(1) for _ in range(world_size)]
    dist.all_gather(parts, torch.tensor([rank + offset]))
    return torch.cat(parts)


def fails_on_rank_1(rank, world_size):
    if rank == 1:
        print("rank 1 about to fail")
        raise ValueError("rank 1 cannot go on")
    dist.barrier()  # rank 0 waits for rank 1, which never comes


def hangs_on_rank_1(rank, world_size):
    if rank == 1:
        time.sleep(600)
    return rank


def dies_on_rank_1(rank, world_size):
    if rank == 1:
        os._exit(3)
    dist.barrier()


def noisy(rank, world_size):
    print("printed by a worker")
    os.write(2, b"written to file descriptor 2 by a worker\n")
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


def test_launch_is_fast(no_leftovers):
    spmd.run(add_ranks)  # warm
    start = time.perf_counter()
    spmd.run(add_ranks)
    assert time.perf_counter() - start < 5  # about 0.05 s on Linux with fork


def test_no_process_socket_or_file_remains(no_leftovers):
    before = (sockets(), rendezvous_folders())
    for _ in range(3):
        assert spmd.run(add_ranks) == [(0, 2, 3.0), (1, 2, 3.0)]
    with pytest.raises(spmd.WorkerError):
        spmd.run(fails_on_rank_1)
    with pytest.raises(TimeoutError):
        spmd.run(hangs_on_rank_1, timeout=0.5)
    assert (sockets(), rendezvous_folders()) == before


def test_a_worker_that_raises_stops_the_launch_quickly(no_leftovers):
    start = time.perf_counter()
    with pytest.raises(spmd.WorkerError, match="^rank 1 raised ValueError: rank 1 cannot go on$"):
        spmd.run(fails_on_rank_1, timeout=60)
    assert time.perf_counter() - start < 10  # not the 60 s of the timeout
    try:
        spmd.run(fails_on_rank_1, timeout=60)
    except spmd.WorkerError as error:
        assert error.rank == 1
        assert "in fails_on_rank_1" in error.worker_traceback
        assert "rank 1 about to fail" in error.output
        assert isinstance(error.__cause__, spmd.RemoteTraceback)
        assert "ValueError: rank 1 cannot go on" in str(error.__cause__)


def test_a_worker_that_hangs_is_killed_at_the_timeout(no_leftovers):
    start = time.perf_counter()
    with pytest.raises(TimeoutError, match=r"rank 1 did not return within timeout=1 s"):
        spmd.run(hangs_on_rank_1, timeout=1)
    elapsed = time.perf_counter() - start
    assert 1 <= elapsed < 1 + 2 * spmd.STOP_WAIT + 3


def test_a_worker_that_dies_is_named(no_leftovers):
    with pytest.raises(spmd.WorkerError, match="rank 1 died with exit code 3"):
        spmd.run(dies_on_rank_1, timeout=30)


def test_worker_output_stays_out_of_sight(capfd, no_leftovers):
    results = spmd.run(noisy)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    if LINUX and "GLOO_SOCKET_IFNAME" not in os.environ:
        assert results[0][0] == "lo"  # gloo talks over loopback
    assert results[0][1] == 1  # one intra-op thread per worker


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
    fn = kwargs.pop("fn", add_ranks)
    with pytest.raises(error, match=message):
        spmd.run(fn, **kwargs)


def test_a_failed_start_is_retried_and_then_reported(tmp_path, monkeypatch, no_leftovers):
    if spmd.default_start_method() != "fork":
        pytest.skip("the workers see this process's patch only when forked")
    real = dist.init_process_group
    attempts = tmp_path / "attempts"

    def flaky(*args, **kwargs):  # fails in the first launch's rank 1 only
        with attempts.open("a") as log:
            log.write(f"{kwargs['rank']}\n")
        if attempts.read_text().count("1") == 1 and kwargs["rank"] == 1:
            raise RuntimeError("Gloo connectFullMesh failed (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(dist, "init_process_group", flaky)
    assert spmd.run(add_ranks) == [(0, 2, 3.0), (1, 2, 3.0)]
    assert attempts.read_text().count("1") == 2  # rank 1 joined at the second attempt

    def broken(*args, **kwargs):
        raise RuntimeError("Gloo connectFullMesh failed (simulated, every time)")

    monkeypatch.setattr(dist, "init_process_group", broken)
    with pytest.raises(spmd.WorkerError, match="connectFullMesh failed") as caught:
        spmd.run(add_ranks)
    assert caught.value.during_start
