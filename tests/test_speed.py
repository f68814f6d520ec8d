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


def _result(noise_at=None):
    """Three methods at two D, two dtypes and two thread counts, all at 50 % of copy; the row
    ``(method, dtype, threads, D)`` given as ``noise_at`` at 120 %, flagged as noise."""
    rows = []
    for method, alloc in [
        ("copy", "preallocated"),
        ("native", "allocating"),
        ("own", "preallocated"),
    ]:
        for dtype in ("float32", "bfloat16"):
            for threads in (1, 2):
                for D in (64, 1024):
                    noisy = (method, dtype, threads, D) == noise_at
                    rows.append(
                        {
                            "method": method,
                            "alloc": alloc,
                            "dtype": dtype,
                            "size": "large",
                            "threads": threads,
                            "D": D,
                            "gbps": 10.0 * threads,
                            "percent_of_copy": 120.0 if noisy else 50.0,
                            "noise": noisy,
                        }
                    )
    return {"rows": rows}


def test_plot_bandwidth_draws_a_panel_per_dtype_and_thread_count_against_the_copy():
    fig = plot_bandwidth(_result())
    assert [ax.get_title() for ax in fig.axes] == [
        "float32, 1 thread: copy 10 GB/s",
        "float32, 2 threads: copy 20 GB/s",
        "bfloat16, 1 thread: copy 10 GB/s",
        "bfloat16, 2 threads: copy 20 GB/s",
    ]
    top_left = fig.axes[0]
    # the 100 % line, then one line per method other than the limit: F.layer_norm and ours
    labels = [line.get_label() for line in top_left.lines]
    assert labels == [
        "copy, preallocated: the limit, 100 %",
        "ours, preallocated",
        "F.layer_norm (always allocates)",
    ]
    assert list(top_left.lines[0].get_ydata()) == [100, 100]
    assert list(top_left.lines[1].get_ydata()) == [50.0, 50.0]
    assert top_left.get_ylim()[0] < 0 < 100 < top_left.get_ylim()[1]
    assert len(fig.legends[0].get_texts()) == 3


def test_plot_bandwidth_draws_one_thread_count_when_asked():
    fig = plot_bandwidth(_result(), threads=2)
    assert [ax.get_title() for ax in fig.axes] == [
        "float32, 2 threads: copy 20 GB/s",
        "bfloat16, 2 threads: copy 20 GB/s",
    ]


def test_plot_bandwidth_leaves_noise_out_and_says_so():
    fig = plot_bandwidth(_result(noise_at=("own", "float32", 1, 64)), threads=1)
    ours = fig.axes[0].lines[1]
    assert ours.get_label() == "ours, preallocated" and list(ours.get_xdata()) == [1024]
    assert [t.get_text() for t in fig.axes[0].texts] == ["1 above 100 % (noise)\nnot drawn"]
    assert len(fig.axes[1].texts) == 0


def test_plot_bandwidth_names_what_the_result_holds():
    with pytest.raises(
        ValueError,
        match=r"size='small', threads=1, device='cpu'; .* \[\('large', 1, 'cpu'\), \('large', 2",
    ):
        plot_bandwidth(_result(), size="small", threads=1)


def test_caches_names_each_level_and_machine_records_them():
    found = caches()
    assert all(name.startswith("L") and size for name, size in found.items())
    if found:  # Linux describes its caches; elsewhere both stay silent
        assert machine()["caches"].startswith(next(iter(found)))
