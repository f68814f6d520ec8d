"""normlab.speed: exact byte counts per operation, and the stored benchmark run."""

import pytest
import torch
import torch.nn.functional as F

from normlab.speed import OpTraffic, stored_run, traffic


def test_traffic_counts_the_tensors_each_operation_reads_and_writes():
    x = torch.randn(8, 16)  # 512 bytes
    ops = traffic(lambda t: (t * 2).sum(-1), x)
    assert ops == [OpTraffic("mul", 512, 512), OpTraffic("sum", 512, 32)]


def test_views_move_nothing_and_a_copy_is_counted():
    x = torch.randn(4, 8)  # 128 bytes
    ops = traffic(lambda t: t.permute(1, 0).contiguous(), x)
    assert ops == [OpTraffic("permute", 0, 0), OpTraffic("contiguous", 128, 128)]
    assert traffic(lambda t: t.contiguous(), x) == [OpTraffic("contiguous", 0, 0)]


def test_in_place_operations_write_their_target():
    x, out = torch.randn(4, 8), torch.empty(4, 8)  # 128 bytes each
    assert traffic(lambda: out.copy_(x)) == [OpTraffic("copy_", 256, 128)]
    assert traffic(lambda: torch.add(x, x, out=out)) == [OpTraffic("add", 256, 128)]


def test_layer_norm_is_one_operation():
    x, w, b = torch.randn(4, 8), torch.ones(8), torch.zeros(8)
    assert traffic(F.layer_norm, x, (8,), w, b) == [OpTraffic("layer_norm", 4 * 48, 4 * 32)]


def test_traffic_refuses_what_it_cannot_call():
    with pytest.raises(TypeError) as caught:
        traffic(torch.randn(2), 1)
    assert str(caught.value) == "fn must be a callable that runs torch operations, got Tensor"


def test_out_into_an_input_is_a_write_not_a_view():
    x, y = torch.randn(4, 8), torch.randn(4, 8)  # 128 bytes each
    expected = x + y
    # the result shares x's storage, as a view would; out= says it was written
    assert traffic(lambda: torch.add(x, y, out=x)) == [OpTraffic("add", 256, 128)]
    torch.testing.assert_close(x, expected)


def test_fn_runs_with_its_keyword_arguments_and_the_operations_with_theirs():
    x, out = torch.randn(4, 8), torch.empty(4, 8)
    ops = traffic(torch.mul, x, 3.0, out=out)  # keywords for fn, passed on to torch
    assert ops == [OpTraffic("mul", 128, 128)]
    torch.testing.assert_close(out, 3.0 * x)  # the operation really wrote into out


def test_stored_run_is_the_books_make_bench_run():
    run = stored_run()
    assert {"command", "machine", "rows", "axes", "headline"} <= run.keys()
    assert {"method", "alloc", "dtype", "size", "D", "threads", "percent_of_copy"} <= set(
        run["rows"][0]
    )


# --- Issue 23: a view is told by its storage, wherever in it the view starts. -------------------


def test_views_at_an_offset_move_nothing():
    x = torch.randn(4, 8)  # 128 bytes; rows 1..3 start 32 bytes into the storage
    ops = traffic(lambda t: t.narrow(0, 1, 3).permute(1, 0), x)
    assert ops == [OpTraffic("narrow", 0, 0), OpTraffic("permute", 0, 0)]
    assert traffic(lambda t: t.unbind(0), x) == [OpTraffic("unbind", 0, 0)]
    # A copy of the offset view is counted: its 96 bytes read and written.
    ops = traffic(lambda t: t.narrow(0, 1, 3).permute(1, 0).contiguous(), x)
    assert ops[-1] == OpTraffic("contiguous", 96, 96)


def test_indexing_is_a_view_not_a_write():
    """``t[1:]`` is a view: nothing moves (``__getitem__`` ends in an underscore, but is no
    in-place method); ``x += 1`` and ``x[0] = 0`` write into ``x``."""
    x = torch.randn(4, 8)  # 128 bytes
    assert [(o.op, o.read, o.written) for o in traffic(lambda t: t[1:].permute(1, 0), x)] == [
        ("__getitem__", 0, 0),
        ("permute", 0, 0),
    ]

    def add_one(t):
        t += 1

    def set_row(t):
        t[0] = 0

    assert [(o.read, o.written) for o in traffic(add_one, x.clone())] == [(128, 128)]
    assert [o.written for o in traffic(set_row, x.clone())] == [128]
