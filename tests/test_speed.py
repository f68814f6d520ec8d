"""normlab.speed: exact byte counts per operation, the machine's description, the bench plot."""

import pytest
import torch
import torch.nn.functional as F

from normlab.speed import OpTraffic, caches, machine, plot_bandwidth, traffic


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
    with pytest.raises(TypeError, match="fn must be a callable"):
        traffic(torch.randn(2), 1)


def test_machine_names_what_a_timing_depends_on():
    info = machine()
    assert {"cpu", "cores", "torch_cpu_capability", "torch", "python"} <= info.keys()
    assert info["cores"] >= 1 and info["torch"] == torch.__version__


def _result():
    rows = []
    for method, alloc in [
        ("copy", "preallocated"),
        ("native", "allocating"),
        ("own", "preallocated"),
    ]:
        for dtype in ("float32", "bfloat16"):
            for D in (64, 1024):
                rows.append(
                    {
                        "method": method,
                        "alloc": alloc,
                        "dtype": dtype,
                        "size": "large",
                        "threads": 1,
                        "D": D,
                        "gbps": 10.0,
                        "percent_of_copy": 50.0,
                    }
                )
    return {"rows": rows}


def test_plot_bandwidth_draws_one_line_per_method_and_allocation():
    fig = plot_bandwidth(_result())
    top_left = fig.axes[0]
    assert len(top_left.lines) == 3 and "float32" in top_left.get_title()
    assert fig.axes[1].get_title().startswith("bfloat16")


def test_plot_bandwidth_names_what_the_result_holds():
    with pytest.raises(
        ValueError, match=r"size='small', threads=1, device='cpu'; .* \[\('large', 1, 'cpu'\)\]"
    ):
        plot_bandwidth(_result(), size="small")


def test_caches_names_each_level_and_machine_records_them():
    found = caches()
    assert all(name.startswith("L") and size for name, size in found.items())
    if found:  # Linux describes its caches; elsewhere both stay silent
        assert machine()["caches"].startswith(next(iter(found)))
