"""The sweep table: settings against best test MSE/PC, mean ± std over seeds, best on top."""

import math

import pytest

from fbtui.runs.status import write_json_atomic
from fbtui.sweep.table import rows_from_members, sweep_rows, sweep_table


def fake_sweep(tmp_path, results):
    """A sweep folder whose members have summary.json best metrics (None: not finished)."""
    d = tmp_path / "demo-sweep-20250101-000000"
    d.mkdir()
    members = []
    for (lr, k), best in results.items():
        name = f"lr{lr}-s{k}"
        (d / name).mkdir()
        write_json_atomic(d / name / "status.json", {"state": "finished" if best else "queued"})
        if best:
            write_json_atomic(d / name / "summary.json", {"best": best})
        members.append({"run": name, "params": {"train.lr": lr}, "k": k})
    write_json_atomic(
        d / "sweep.json",
        {
            "kind": "sweep",
            "grid": {"train.lr": [0.1, 0.01, 0.001]},
            "repeat": 2,
            "members": members,
        },
    )
    return d


def test_rows_sorted_best_mse_first_with_mean_std(tmp_path):
    d = fake_sweep(
        tmp_path,
        {
            (0.1, 0): {"mse": 0.30, "pc": 0.70},
            (0.01, 0): {"mse": 0.10, "pc": 0.90},
            (0.001, 0): None,
            (0.1, 1): {"mse": 0.34, "pc": 0.66},
            (0.01, 1): {"mse": 0.14, "pc": 0.86},
            (0.001, 1): None,
        },
    )
    keys, rows = sweep_rows(d)
    assert keys == ["train.lr"]
    assert [r["params"]["train.lr"] for r in rows] == [0.01, 0.1, 0.001]
    best = rows[0]
    assert best["n"] == 2 and best["runs"] == ["lr0.01-s0", "lr0.01-s1"]
    assert best["mse"] == pytest.approx(0.12)
    assert best["mse_std"] == pytest.approx(math.sqrt(0.0008))  # sample std of 0.10, 0.14
    assert best["pc"] == pytest.approx(0.88)
    assert rows[-1]["n"] == 0 and math.isnan(rows[-1]["mse"])  # no result: last
    # sorted by correlation: higher is better
    _, by_pc = sweep_rows(d, by="pc")
    assert [r["params"]["train.lr"] for r in by_pc] == [0.01, 0.1, 0.001]
    table = sweep_table(d)
    assert table.row_count == 3 and [c.header for c in table.columns][0] == "train.lr"
    assert "0.1200 ± 0.0283" in list(table.columns[2].cells)


def test_order_is_by_the_metric_not_the_grid():
    members = [
        {"run": "a", "params": {"x": 1, "y": "p"}, "best": {"mse": 0.5, "pc": 0.9}},
        {"run": "b", "params": {"x": 2, "y": "p"}, "best": {"mse": 0.2, "pc": 0.1}},
        {"run": "c", "params": {"x": 1, "y": "q"}, "best": {"mse": float("nan")}},
        {"run": "d", "params": {"x": 2, "y": "q"}, "best": {"mse": 0.3, "pc": 0.5}},
    ]
    rows = rows_from_members(members, ["x", "y"])
    assert [r["runs"] for r in rows] == [["b"], ["d"], ["a"], ["c"]]
    rows = rows_from_members(members, ["x", "y"], by="pc")
    assert [r["runs"] for r in rows] == [["a"], ["d"], ["b"], ["c"]]


def test_compare_on_a_sweep_prints_its_table(tmp_path):
    from typer.testing import CliRunner

    from fbtui.cli.main import app, load_commands

    load_commands()
    d = fake_sweep(
        tmp_path, {(0.1, 0): {"mse": 0.30, "pc": 0.70}, (0.01, 0): {"mse": 0.10, "pc": 0.90}}
    )
    from fbtui.tb.writer import write_scalar_log

    for m in ("lr0.1-s0", "lr0.01-s0"):  # members need an event file to be comparable
        write_scalar_log(d / m / "events.out.tfevents.1700000000.test", ["test/mse"], 3)
    res = CliRunner().invoke(app, ["compare", str(d), "--plain"])
    assert "train.lr" in res.output and "0.1000" in res.output, res.output
    lines = [ln for ln in res.output.splitlines() if "0.1000" in ln or "0.3000" in ln]
    assert "0.1000" in lines[0]  # best on top
