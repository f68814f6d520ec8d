"""What chapter 8 says about the book's stored `make bench` run, one test per sentence.

The chapter prints the run's numbers (`normlab.speed.stored_run()`); these tests hold the
sentences it writes about them. A new stored run (`python -m tools.bench --store`) that says
otherwise fails here, and the chapter's text needs rewording.
"""

import pytest

from normlab.speed import stored_run
from tools.bench import percents_of, select, versus_native

RUN = stored_run()
ROWS = [r for r in RUN["rows"] if r["device"] == "cpu"]
THREADS = RUN["machine"]["threads measured"]
LARGE = {"dtype": "float32", "size": "large"}
BF16 = {"dtype": "bfloat16", "size": "large"}
ALLOCATING = ["copy", "own", "native", "compiled"]
KERNEL = "channels-first LN, the book's kernel"
#: Every normalization of the axes' section but the copy and the book's kernel (both ways).
OTHER_NORMS = [
    r["method"]
    for r in RUN["axes"]
    if r["threads"] == 1 and r["method"] != "copy" and not r["method"].startswith(KERNEL)
]


def median(method, alloc, **where):
    """The middle value (the upper of two) of the row's % of copy, as the chapter prints it."""
    p = percents_of(ROWS, method, alloc, **where)
    return p[len(p) // 2]


def axes(method, threads):
    return next(
        r["percent_of_copy"]
        for r in RUN["axes"]
        if (r["method"], r["threads"]) == (method, threads)
    )


def test_the_stored_run_has_no_figure_above_100_percent_of_copy_no_noise():
    rows = ROWS + RUN["axes"]
    assert not any(r["noise"] for r in rows)
    assert max(r["percent_of_copy"] for r in rows) <= 100


def test_like_for_like_our_kernel_is_within_1_1x_on_most_settings_and_slower_on_the_rest():
    like = list(versus_native(ROWS, "allocating").values())
    assert sum(ratio <= 1.1 for ratio in like) > len(like) / 2
    assert sum(ratio > 1.1 for ratio in like) >= 5
    assert max(like) > 3  # "more than three times slower on the worst" (the summary)


def test_at_the_worst_like_for_like_setting_f_layer_norm_ran_faster_than_x_clone():
    ratios = versus_native(ROWS, "allocating")
    device, dtype, size, D, threads = max(ratios, key=ratios.get)
    at = {"dtype": dtype, "size": size, "D": D, "threads": threads}
    (native,) = select(ROWS, "native", "allocating", **at)
    (clone,) = select(ROWS, "copy", "allocating", **at)
    assert native["seconds"] < clone["seconds"]


def test_preallocated_our_kernel_took_at_most_1_1x_f_layer_norms_time_on_every_setting():
    prealloc = versus_native(ROWS, "preallocated")
    assert len(prealloc) == len(select(ROWS, "native", "allocating"))
    assert all(ratio <= 1.1 for ratio in prealloc.values())


def test_every_method_that_allocates_ran_at_about_a_quarter_of_a_copy_on_large_tensors():
    assert all(15 < median(m, "allocating", **LARGE) < 35 for m in ALLOCATING)


def test_writing_into_a_preallocated_output_runs_about_twice_as_fast_or_more():
    assert median("own", "preallocated", **LARGE) > 55
    assert median("compiled", "preallocated", **LARGE) > 45
    fastest_allocating = max(median(m, "allocating", **LARGE) for m in ALLOCATING)
    assert median("compiled", "preallocated", **LARGE) > 1.9 * fastest_allocating


def test_the_eager_formula_is_the_slowest_method_on_every_setting():
    assert max(percents_of(ROWS, "composite", "allocating", dtype="float32")) < 20
    settings = {(r["dtype"], r["size"], r["D"], r["threads"]) for r in ROWS}
    for dtype, size, D, threads in settings:
        at = select(ROWS, "composite", "allocating", dtype=dtype, size=size, D=D, threads=threads)
        others = [
            r
            for r in ROWS
            if (r["dtype"], r["size"], r["D"], r["threads"]) == (dtype, size, D, threads)
        ]
        assert max(others, key=lambda r: r["seconds"]) is at[0]


def test_with_one_thread_our_kernel_stays_above_60_percent_of_copy_on_every_large_tensor():
    assert percents_of(ROWS, "own", "preallocated", threads=1, **LARGE)[0] > 60


def test_with_two_threads_our_kernel_ends_under_70_percent_everywhere():
    assert percents_of(ROWS, "own", "preallocated", threads=2, **LARGE)[-1] < 70


def test_in_bfloat16_our_kernel_beats_f_layer_norm_but_stays_far_from_the_copy():
    assert median("own", "preallocated", **BF16) > median("native", "allocating", **BF16)
    assert max(percents_of(ROWS, "own", "preallocated", **BF16)) < 35
    assert all(max(percents_of(ROWS, m, "allocating", **BF16)) < 35 for m in ALLOCATING)


def _numbers_per_ns(method, alloc, dtype, threads):
    """The median over D of the numbers handled per ns on the large tensors."""
    per_ns = sorted(
        r["bytes"] / 2 / (4 if dtype == "float32" else 2) / r["seconds"] / 1e9
        for r in select(ROWS, method, alloc, dtype=dtype, size="large", threads=threads)
    )
    return per_ns[len(per_ns) // 2]


@pytest.mark.parametrize("threads", THREADS)
def test_a_bfloat16_copy_handles_over_3x_the_numbers_layer_norm_only_1_1_to_1_5x(threads):
    def gain(method, alloc):
        return _numbers_per_ns(method, alloc, "bfloat16", threads) / _numbers_per_ns(
            method, alloc, "float32", threads
        )

    assert gain("copy", "preallocated") > 3
    assert 1.1 < gain("own", "preallocated") < 1.5
    assert 1.1 < gain("native", "allocating") < 1.5


@pytest.mark.parametrize("threads", THREADS)
def test_the_channels_first_kernel_ran_over_twice_as_fast_as_every_other_normalization(threads):
    assert OTHER_NORMS
    assert all(axes(KERNEL, threads) > 2 * axes(n, threads) for n in OTHER_NORMS)


@pytest.mark.parametrize("threads", THREADS)
def test_no_other_normalization_ran_faster_than_x_clone_on_the_large_tensors(threads):
    clone = max(percents_of(ROWS, "copy", "allocating", threads=threads, **LARGE))
    assert all(axes(n, threads) <= clone for n in OTHER_NORMS)


# ---- Why a second thread does not double the speed (sec-speed-threads) ----
DS = sorted({r["D"] for r in ROWS})
ONE, TWO = THREADS


def ms_per_16mi(method, size, D, threads):
    """The float32 time of ``method`` (preallocated) in ms per 16 Mi numbers, as printed."""
    (r,) = select(ROWS, method, "preallocated", dtype="float32", size=size, D=D, threads=threads)
    return r["seconds"] * 2**24 / (r["R"] * r["D"]) * 1e3


def gain(method, size, D):
    return ms_per_16mi(method, size, D, ONE) / ms_per_16mi(method, size, D, TWO)


def test_a_second_thread_made_a_plain_copy_of_the_large_tensors_more_than_twice_as_fast():
    assert all(gain("copy", "large", D) > 2 for D in DS)


def test_at_two_threads_our_kernel_moved_far_fewer_bytes_per_second_than_the_copy():
    def gbps(method, D):
        return 8 * 2**24 / (ms_per_16mi(method, "large", D, TWO) / 1e3) / 1e9

    assert max(gbps("own", D) for D in DS) < 0.7 * min(gbps("copy", D) for D in DS)


def test_the_caches_hold_the_small_tensors_where_our_kernel_took_over_1_5x_a_copys_time():
    for D in DS:
        small_copy = ms_per_16mi("copy", "small", D, ONE)
        assert ms_per_16mi("copy", "large", D, ONE) > 1.5 * small_copy
        assert ms_per_16mi("own", "small", D, ONE) > 1.5 * small_copy


def test_at_two_threads_the_work_took_longer_than_memory_and_more_so_than_at_one():
    def work_over_memory(D, t):
        return ms_per_16mi("own", "small", D, t) / ms_per_16mi("copy", "large", D, t)

    assert all(work_over_memory(D, TWO) > 1 for D in DS)
    assert all(work_over_memory(D, ONE) < work_over_memory(D, TWO) for D in DS)


def test_a_second_thread_sped_the_work_less_than_twice_and_our_kernel_less_than_the_copy():
    assert all(gain("own", "small", D) < 2 for D in DS)
    assert all(gain("own", "large", D) < gain("copy", "large", D) for D in DS)


def test_every_stored_tensor_splits_into_two_equal_halves_of_rows():
    assert all(r["R"] % 2 == 0 for r in RUN["rows"])


def test_even_the_copy_of_the_small_tensors_gained_at_most_2_0_times():
    assert all(gain("copy", "small", D) < 2.05 for D in DS)
