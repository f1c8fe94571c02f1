"""QA: huge/tiny metrics (a diverged run) written compactly and never cut into plausible
numbers; whole-step axis ticks; runs with one stem told apart; k-fold final-epoch means."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from textual.app import App, ComposeResult

from fbtui.runs import RunInfo
from fbtui.tui import fmt
from fbtui.tui.screens.run_details import mean_std_text, summary_table
from fbtui.tui.widgets.chart import CompactFormatter, StepFormatter, step_limits
from fbtui.tui.widgets.run_table import (
    RunTable,
    _best,
    colliding_names,
    display_name,
    sort_key,
)

DIVERGED_MSE = 9.577102243086707e62


def test_metric_usual_range_unchanged():
    assert fmt.metric(0.37599) == "0.3760"
    assert fmt.metric(0.376, 3) == "0.376"
    assert fmt.metric(-0.0023) == "-0.0023"
    assert fmt.metric(0.0) == "0.0000"
    assert fmt.metric(None) == "" and fmt.metric(True) == "" and fmt.metric("x") == ""
    assert fmt.metric(float("nan")) == "nan" and fmt.metric(float("-inf")) == "-inf"


def test_metric_huge_and_tiny_in_scientific_notation():
    assert fmt.metric(DIVERGED_MSE) == "9.58e+62"
    assert fmt.metric(2.0108612723049571e27) == "2.01e+27"  # was 28 digits
    assert fmt.metric(2.89e-07) == "2.89e-07"  # the tag picker's 'lr 0.0000'
    assert fmt.metric(123456.0) == "1.23e+05"


def test_compact_fits_the_width_and_never_reads_as_a_plain_number():
    assert fmt.compact(DIVERGED_MSE, 7) == "9.6e+62"
    assert fmt.compact(DIVERGED_MSE, 6) == "1e+63"  # not '957710' / '95771'
    assert fmt.compact(12.3456, 6) == "12.346"
    assert fmt.compact(0.376, 5) == "0.376"
    for v in (DIVERGED_MSE, -DIVERGED_MSE, 2.9e31, 2.89e-7, 0.5, -0.5, 95771.02, 1e-300):
        for width in (6, 7, 8, 10):
            text = fmt.compact(v, width)
            assert len(text) <= width, (v, width, text)
            assert abs(float(text) - v) <= abs(v) * 0.5 + 1e-3, (v, width, text)


def test_axis_labels_fit_and_stay_apart():
    labels = fmt.axis_labels([0, 5e26, 1e27, 1.5e27, 2e27], 6)
    assert labels == ["0", "5.0e26", "1.0e27", "1.5e27", "2.0e27"]
    assert fmt.axis_labels([1e-7, 2e-7, 3e-7], 6) == ["1e-7", "2e-7", "3e-7"]
    assert fmt.axis_labels([0, 0.25, 0.5], 6) == ["0.00", "0.25", "0.50"]
    assert fmt.axis_labels([1, 2, 3], 6) == ["1", "2", "3"]
    assert fmt.axis_labels([-0.5, 0, 0.5], 6) == ["-0.5", "0.0", "0.5"]  # never '-0.0'


def test_compact_formatter_on_a_diverged_loss():
    f = CompactFormatter(width=6)
    ticks, labels = f.get_ticks_and_labels(1.4e27, 3.1e27)
    assert ticks and all(len(x) <= 6 for x in labels)
    assert len(set(labels)) == len(labels)
    assert all("e27" in x for x in labels)  # not '299999 / 249999 / 200000'


def test_step_ticks_are_whole_steps():
    ticks = StepFormatter().get_ticks(2, 4)
    assert ticks == [2.0, 3.0, 4.0]  # not 2 2.5 3 3.5 4
    assert all(float(t).is_integer() for t in StepFormatter(max_ticks=3).get_ticks(0, 7))
    assert StepFormatter().get_ticks(0, 1000) == [0.0, 400.0, 800.0]  # as before


def test_a_single_step_gets_a_real_x_range():
    assert step_limits([np.array([2.0])]) == (0.0, 4.0)
    assert step_limits([np.array([0.0, 0.0])]) == (-1.0, 1.0)
    assert step_limits([np.array([1.0, 5.0])]) == (None, None)  # autoscale
    assert step_limits([]) == (None, None)


# -- the runs table --------------------------------------------------------------------


def _run(name: str, path: str, **kw) -> RunInfo:
    return RunInfo(path=Path(path), name=name, kind=kw.pop("kind", "fbtui"), **kw)


def _diverged() -> RunInfo:
    return _run(
        "diverged-20261128-190839",
        "/r/diverged",
        state="diverged",
        status={
            "epoch": 1,
            "epochs": 3,
            "best": {"mse": DIVERGED_MSE, "pc": -0.0022546702620888986, "epoch": 1},
        },
    )


class TableApp(App):
    def __init__(self, runs: list[RunInfo]) -> None:
        super().__init__()
        self.runs = runs

    def compose(self) -> ComposeResult:
        yield RunTable(clock=lambda: 1_795_900_000.0, id="t")

    def on_mount(self) -> None:
        self.query_one(RunTable).show_runs(self.runs)


def _rows(table: RunTable) -> list[list[str]]:
    return [[str(getattr(c, "plain", c)) for c in table.get_row(key)] for key in table._order]


async def _table_rows(runs, size):
    app = TableApp(runs)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        table = app.query_one(RunTable)
        widths = {c.key.value: c.width for c in table.columns.values()}
        return _rows(table), widths


async def test_diverged_figures_fit_their_columns():
    for size, mse in (((80, 24), "1e+63"), ((120, 30), "1e+63")):
        rows, widths = await _table_rows([_diverged()], size)
        (row,) = rows
        assert row[4] == mse, row
        assert widths["mse"] >= len(mse)  # widened, never cut
        assert row[5] in ("-0.002", "-0.0023")
        assert widths["pc"] >= len(row[5])


async def test_same_stem_runs_are_told_apart():
    runs = [
        _run(f"goodrun-20261128-19{m}", f"/r/g{m}", state="failed", started=1_795_892_000.0 + i)
        for i, m in enumerate(("1735", "1948", "1958"))
    ]
    runs.append(_run("demo-20261128-191116", "/r/demo", state="finished", started=1.0))
    rows, _ = await _table_rows(runs, (80, 24))
    names = [r[1] for r in rows]
    assert len(set(names)) == len(names), names
    assert "demo" in names  # a unique stem still loses its timestamp
    assert {"goodrun-191735", "goodrun-191948", "goodrun-191958"} <= set(names)


def test_colliding_names_fall_back_to_the_whole_stamp():
    got = colliding_names(
        ["a-20250101-100000", "a-20250102-100000", "a-20250102-110000", "b-20250101-100000"]
    )
    assert got == {
        "a-20250101-100000": "whole",
        "a-20250102-100000": "whole",
        "a-20250102-110000": "time",
    }
    assert display_name("good-20261128-191948", 9, strip=True, keep_time=True) == "g…-191948"


def _kfold(final: bool) -> RunInfo:
    summary = {
        "kind": "kfold",
        "n": 5,
        "mean": {"mse": 0.30, "pc": 0.90},  # best epoch (selected on the test fold)
        "std": {"mse": 0.01, "pc": 0.02},
    }
    if final:
        summary["final_epoch"] = {
            "n": 5,
            "mean": {"mse": 0.32, "mae": 0.44, "pc": 0.88},
            "std": {"mse": 0.015, "mae": 0.01, "pc": 0.01},
            "count": {"mse": 5, "pc": 5},
        }
    return _run("kf-20261128-100000", "/r/kf", kind="group", state="finished", summary=summary)


def test_kfold_row_shows_the_final_epoch_mean():
    assert _best(_kfold(True), "mse") == 0.32 and _best(_kfold(True), "pc") == 0.88
    assert _best(_kfold(False), "mse") == 0.30  # older kfold.json: the best-epoch mean
    order = sorted([_kfold(False), _kfold(True)], key=lambda r: sort_key(r, "mse"))
    assert "final_epoch" not in order[0].summary


def test_details_show_kfold_final_and_best_means():
    assert mean_std_text(_kfold(True).summary["final_epoch"]) == (
        "mse 0.3200±0.0150  mae 0.4400±0.0100  pc 0.8800±0.0100  (5 folds)"
    )
    table = summary_table(_kfold(True))
    keys = [str(c) for c in table.columns[0]._cells]
    assert "final epoch (mean ± std)" in keys and "best epoch (mean ± std)" in keys
    assert keys.index("final epoch (mean ± std)") < keys.index("best epoch (mean ± std)")
    old = [str(c) for c in summary_table(_kfold(False)).columns[0]._cells]
    assert "final epoch (mean ± std)" not in old and "best epoch (mean ± std)" in old


def test_details_write_a_diverged_mse_compactly():
    table = summary_table(_diverged())
    text = " ".join(str(c) for c in table.columns[1]._cells)
    assert "9.58e+62" in text and "957710" not in text
