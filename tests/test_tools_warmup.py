"""tools/warmup.py (`make warmup`): the chapter's cells it trains, the warm-up they apply, how it
names a run's end, the JSON it writes, and the stored run chapter 5 reads. Tiny configurations:
one or two layers, a few steps."""

import json
import math

import nbformat
import pytest

from tools import chapter_code, warmup


def test_the_chapter_sets_the_width_the_tool_gives_its_cells():
    nb = nbformat.read(chapter_code.notebook(warmup.CHAPTER), as_version=4)
    lines = [ln for c in nb.cells if c.cell_type == "code" for ln in c.source.splitlines()]
    assert f"D = {warmup.D}  # the hidden size: the D of [N, T, D]" in lines


def test_a_run_is_the_same_twice_and_post_ln_is_not_pre_ln():
    train = warmup.chapter().train
    post = train(1, False, 1e-2, 0, 3)
    assert post == train(1, False, 1e-2, 0, 3)
    pre = train(1, True, 1e-2, 0, 3)
    assert len(post) == len(pre) == 3 and post != pre
    assert all(math.isfinite(v) for v in post + pre)


def test_warm_up_starts_at_lr_over_its_length():
    # the first update of a 4-step warm-up to 1e-2 is a constant 2.5e-3's first update
    train = warmup.chapter().train
    assert train(1, True, 1e-2, 4, 2) == train(1, True, 2.5e-3, 0, 2)
    assert train(1, True, 1e-2, 4, 3) != train(1, True, 2.5e-3, 0, 3)


@pytest.mark.parametrize(
    ("last", "expected"),
    [(2.6, "stalled"), (2.4, "partly"), (0.2, "partly"), (0.05, "trained"), (math.nan, "diverged")],
)
def test_outcome_names_how_a_run_ended(last, expected):
    # ln 16 = 2.77: a uniform guess; STALLED of it is 2.50
    assert warmup.outcome([3.0] * 30 + [last] * 20, 16) == expected


def test_main_writes_every_run_and_stores_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(warmup, "_machine", lambda: {"cpu": "test"})
    monkeypatch.setattr(warmup, "STORED", tmp_path / "stored.json")
    argv = ["--out", str(tmp_path), "--layers", "1,2", "--lrs", "1e-2", "--steps", "2"]
    assert warmup.main([*argv, "--warmup", "2", "--jobs", "1"]) == 0
    result = json.loads((tmp_path / "warmup.json").read_text())
    assert not (tmp_path / "stored.json").exists()
    assert result["config"]["warmups"] == [0, 2] and result["config"]["V"] == 16
    runs = {(r["layers"], r["kind"], r["warmup"]): r for r in result["runs"]}
    assert len(runs) == len(result["runs"]) == 2 * 2 * 2
    assert all(len(r["loss"]) == 2 and r["outcome"] for r in runs.values())
    assert warmup.main([*argv, "--warmup", "2", "--jobs", "1", "--store"]) == 0
    assert (tmp_path / "stored.json").read_text() == (tmp_path / "warmup.json").read_text()


def test_the_stored_run_is_the_full_one_with_every_curve():
    stored = json.loads(warmup.STORED.read_text())
    config = stored["config"]
    assert stored["command"] == "python -m tools.warmup --store"
    assert (config["depths"], config["lrs"]) == (list(warmup.DEPTHS), list(warmup.LRS))
    assert (config["warmups"], config["steps"]) == ([0, warmup.WARMUP], warmup.STEPS)
    assert config["seeds"] == list(warmup.SEEDS) and config["D"] == warmup.D
    expected = warmup.configs(
        warmup.DEPTHS, warmup.LRS, (0, warmup.WARMUP), warmup.STEPS, warmup.SEEDS
    )
    assert [{k: r[k] for k in expected[0]} for r in stored["runs"]] == expected
    for r in stored["runs"]:
        assert len(r["loss"]) == warmup.STEPS
        assert r["outcome"] == warmup.outcome(r["loss"], config["V"])
