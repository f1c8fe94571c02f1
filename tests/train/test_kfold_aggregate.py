"""k-fold aggregate: final-epoch (the protocol figure) beside best-epoch (selected on the
test fold: optimistic) mean ± std, and per-metric counts that show a dropped NaN."""

import io
import json
import math
import statistics

import pytest
from rich.console import Console

from fbtui.train import kfold
from fbtui.train.kfold import aggregate, print_group, refresh


def fold(k, best, final, state="finished"):
    """A fold entry as refresh() writes it: best and final metrics (mse, mae, rmse, pc)."""
    names = ("mse", "mae", "rmse", "pc")
    return {
        "fold": k,
        "run": f"cv{k}",
        "state": state,
        "best": {**dict(zip(names, best, strict=True)), "epoch": 1},
        "final": {**dict(zip(names, final, strict=True)), "epoch": 2},
    }


FOLDS = [
    fold(1, (0.30, 0.40, 0.548, 0.80), (0.45, 0.50, 0.671, 0.78)),
    fold(2, (0.35, 0.45, 0.592, 0.82), (0.40, 0.48, 0.632, 0.81)),
    fold(3, (0.32, 0.42, 0.566, 0.85), (0.50, 0.55, 0.707, 0.83)),
]


def test_final_and_best_are_aggregated_separately():
    agg = aggregate(FOLDS)
    # the legacy top-level keys stay the best epoch (readers of old kfold.json keep working)
    assert agg["n"] == 3 and agg["per_fold"]["mse"] == [0.30, 0.35, 0.32]
    assert agg["mean"]["mse"] == pytest.approx(statistics.mean([0.30, 0.35, 0.32]))
    assert agg["std"]["mse"] == pytest.approx(statistics.stdev([0.30, 0.35, 0.32]))
    fin = agg["final_epoch"]
    assert fin["n"] == 3 and fin["fold_names"] == ["cv1", "cv2", "cv3"]
    assert fin["per_fold"]["mse"] == [0.45, 0.40, 0.50]
    assert fin["mean"]["mse"] == pytest.approx(0.45)
    assert fin["std"]["mse"] == pytest.approx(statistics.stdev([0.45, 0.40, 0.50]))  # ddof 1
    assert fin["mean"]["pc"] == pytest.approx(statistics.mean([0.78, 0.81, 0.83]))
    assert fin["count"] == {"mse": 3, "mae": 3, "rmse": 3, "pc": 3} and fin["dropped"] == {}
    assert fin["mean"]["mse"] > agg["mean"]["mse"]  # best-on-test is the optimistic one


def test_nan_pc_is_counted_and_named_not_silently_dropped():
    runs = [*FOLDS, fold(4, (0.40, 0.5, 0.63, math.nan), (0.60, 0.6, 0.77, math.nan))]
    agg = aggregate(runs)
    for block in (agg, agg["final_epoch"]):
        assert block["n"] == 4
        assert block["count"]["pc"] == 3 and block["count"]["mse"] == 4
        assert block["dropped"] == {"pc": {"cv4": "NaN"}}
        assert math.isfinite(block["mean"]["pc"])
    assert agg["final_epoch"]["mean"]["pc"] == pytest.approx(statistics.mean([0.78, 0.81, 0.83]))
    assert kfold.dropped_notes(agg["final_epoch"]) == ["pc: 3 of 4 folds (cv4: NaN)"]
    line = kfold.summary_line(agg["final_epoch"], kfold.FINAL_LABEL)
    assert line.endswith("; pc: 3 of 4 folds (cv4: NaN)")


def test_every_pc_nan_leaves_no_mean():
    runs = [fold(1, (0.3, 0.4, 0.5, math.nan), (0.3, 0.4, 0.5, math.nan))]
    fin = aggregate(runs)["final_epoch"]
    assert "pc" not in fin["mean"] and fin["count"]["pc"] == 0 and fin["mean"]["mse"] == 0.3


def test_unfinished_folds_and_folds_without_a_final_are_left_out():
    running = fold(4, (0.1, 0.1, 0.1, 0.9), (0.1, 0.1, 0.1, 0.9), state="running")
    no_final = {**fold(5, (0.3, 0.4, 0.5, 0.8), (0, 0, 0, 0)), "final": {}}
    agg = aggregate([*FOLDS, running, no_final])
    assert agg["n"] == 4 and agg["final_epoch"]["n"] == 3
    assert agg["final_epoch"]["fold_names"] == ["cv1", "cv2", "cv3"]


def _fake_fold(run, best, final, epochs=2):
    run.mkdir(parents=True)
    (run / "config.toml").write_text("")
    status = {"state": "finished", "best": best, "last": final, "epoch": epochs}
    (run / "status.json").write_text(json.dumps(status))
    (run / "summary.json").write_text(json.dumps({"best": best, "final": final, "epochs": epochs}))


def _group(tmp_path):
    parent = tmp_path / "runs" / "cv5-20250101-000000"
    parent.mkdir(parents=True)
    runs = [{"fold": k, "split": f"cv{k}", "run": f"cv{k}"} for k in (1, 2)]
    (parent / "kfold.json").write_text(json.dumps({"kind": "kfold", "folds": 2, "runs": runs}))
    m = ("mse", "mae", "rmse", "pc")
    _fake_fold(
        parent / "cv1",
        {**dict(zip(m, (0.2, 0.3, 0.45, 0.9), strict=True)), "epoch": 1},
        dict(zip(m, (0.4, 0.5, 0.63, 0.85), strict=True)),
    )
    _fake_fold(
        parent / "cv2",
        {**dict(zip(m, (0.3, 0.4, 0.55, 0.8), strict=True)), "epoch": 2},
        dict(zip(m, (0.3, 0.4, 0.55, math.nan), strict=True)),
    )
    return parent


def test_refresh_writes_final_beside_best(tmp_path):
    parent = _group(tmp_path)
    data = refresh(parent)
    assert data["mean"]["mse"] == pytest.approx(0.25)  # best epoch, the legacy keys
    assert data["final_epoch"]["mean"]["mse"] == pytest.approx(0.35)
    assert data["final_epoch"]["dropped"] == {"pc": {"cv2": "NaN"}}
    assert data["runs"][0]["final"]["epoch"] == 2 and data["runs"][0]["best"]["epoch"] == 1
    on_disk = json.loads((parent / "kfold.json").read_text())
    assert on_disk["final_epoch"]["mean"] == data["final_epoch"]["mean"]


def test_table_shows_final_epoch_first_then_best_labelled_optimistic(tmp_path):
    parent = _group(tmp_path)
    refresh(parent)
    buf = io.StringIO()
    print_group(parent, Console(file=buf, width=80, color_system=None))
    out = buf.getvalue()
    assert all(len(line) <= 80 for line in out.splitlines() if "mean ± std" not in line)
    final_at = out.index("final epoch (the protocol figure)")
    best_at = out.index("best epoch (selected on the test fold: optimistic)")
    assert final_at < best_at
    means = [line for line in out.splitlines() if "│ mean" in line]
    assert "0.3500" in means[0] and "0.2500" in means[1]  # final table first
    assert "pc: 1 of 2 folds (cv2: NaN)" in out
    summary = [line for line in out.splitlines() if line.startswith("k-fold finished:")]
    assert summary[0].startswith("k-fold finished: final epoch (the protocol figure)")
    assert "mse 0.3500±" in summary[0] and "mse 0.2500±" in summary[1]
