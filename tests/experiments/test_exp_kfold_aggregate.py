"""k-fold aggregation: per-fold best metrics -> mean ± std, the group's state, kfold.json."""

import json
import statistics

import pytest

from fbtui.runs import list_runs
from fbtui.train.kfold import aggregate, group_state, refresh


def fold(mse, mae, rmse, pc):
    return {"best": {"mse": mse, "mae": mae, "rmse": rmse, "pc": pc, "epoch": 3}}


def test_mean_and_sample_std():
    runs = [
        fold(0.08, 0.22, 0.283, 0.90),
        fold(0.10, 0.25, 0.316, 0.88),
        fold(0.09, 0.23, 0.3, 0.89),
    ]
    agg = aggregate(runs)
    assert agg["n"] == 3
    assert agg["mean"]["mse"] == pytest.approx(0.09)
    assert agg["std"]["mse"] == pytest.approx(statistics.stdev([0.08, 0.10, 0.09]))
    assert agg["mean"]["pc"] == pytest.approx(0.89)
    assert agg["per_fold"]["mae"] == [0.22, 0.25, 0.23]


def test_unfinished_folds_are_left_out():
    agg = aggregate([fold(0.1, 0.2, 0.3, 0.9), {"best": {}}, {}])
    assert agg["n"] == 1 and agg["std"]["mse"] == 0.0


@pytest.mark.parametrize(
    "states, want",
    [
        (["finished"] * 5, "finished"),
        (["finished", "running", "queued"], "running"),
        (["queued", "queued"], "queued"),
        (["finished", "failed", "queued"], "failed"),
        (["finished", "stopped", "queued"], "stopped"),
        (["finished", "diverged", "finished"], "diverged"),
        (["finished", "diverged", "queued"], "running"),
    ],
)
def test_group_state(states, want):
    assert group_state(states) == want


def _fake_fold(run, state, best=None):
    run.mkdir(parents=True)
    (run / "config.toml").write_text("")
    (run / "status.json").write_text(json.dumps({"state": state, "best": best or {}}))
    if best:
        (run / "summary.json").write_text(json.dumps({"best": best}))


def test_refresh_writes_kfold_json_listed_as_a_group(tmp_path):
    parent = tmp_path / "runs" / "cv5-20250101-000000"
    parent.mkdir(parents=True)
    runs = [{"fold": k, "split": f"cv{k}", "run": f"cv{k}"} for k in (1, 2)]
    (parent / "kfold.json").write_text(json.dumps({"kind": "kfold", "folds": 2, "runs": runs}))
    _fake_fold(parent / "cv1", "finished", {"mse": 0.1, "mae": 0.25, "rmse": 0.316, "pc": 0.9})
    _fake_fold(parent / "cv2", "finished", {"mse": 0.2, "mae": 0.35, "rmse": 0.447, "pc": 0.8})
    data = refresh(parent)
    assert data["state"] == "finished" and data["n"] == 2
    assert data["mean"]["mse"] == pytest.approx(0.15)
    assert data["std"]["pc"] == pytest.approx(statistics.stdev([0.9, 0.8]))
    on_disk = json.loads((parent / "kfold.json").read_text())
    assert on_disk["mean"] == data["mean"]
    listed = {r.name: r for r in list_runs(tmp_path / "runs")}
    group = listed["cv5-20250101-000000"]
    assert group.kind == "group" and group.state == "finished"
    assert group.summary["mean"]["mse"] == pytest.approx(0.15)
    assert "cv5-20250101-000000/cv1" in listed  # the folds are listed too
