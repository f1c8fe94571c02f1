"""QA: `fbtui compare` argument errors exit 2 with a message (--csv into a folder, a plain
file as a run), --csv creates a missing folder, a diverged run's summary, '1 run'."""

from __future__ import annotations

import json

from compare_fixtures import three_runs
from typer.testing import CliRunner

import fbtui.cli.compare_cmd  # noqa: F401 - registers `compare`
from fbtui.cli.app import app
from fbtui.tb.compare import open_runs
from fbtui.tb.writer import EventFileWriter, scalar_event
from fbtui.tui.compare.plain import fmt_number, summary_rows
from fbtui.tui.compare_screen import _count

runner = CliRunner()
MSE = 9.577102243086707e62  # beyond float32: inf as an event value
MAE = 2.9747716320848707e31


def _run(*args):
    return runner.invoke(app, ["compare", *map(str, args)])


def test_csv_into_a_missing_folder_creates_it(tmp_path):
    run = three_runs(tmp_path)[0]
    out = tmp_path / "nodir" / "deeper" / "x.csv"
    result = _run(run, "--csv", out)
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("run,tag,step,wall_time,value")
    assert [p.name for p in out.parent.iterdir()] == ["x.csv"]  # no temporary file left


def test_csv_onto_a_folder_is_exit_2_and_writes_nothing(tmp_path):
    run = three_runs(tmp_path)[0]
    folder = tmp_path / "emptydir"
    folder.mkdir()
    result = _run(run, "--csv", folder)
    assert result.exit_code == 2, result.output
    assert "is a folder" in result.output and "Traceback" not in result.output
    assert list(folder.iterdir()) == []


def test_a_plain_file_is_not_a_run(tmp_path):
    cfg = tmp_path / "good.toml"
    cfg.write_text("[train]\nlr = 0.1\n")
    result = _run(cfg, "--plain")
    assert result.exit_code == 2, result.output
    assert "not a run folder or TensorBoard logdir" in result.output
    assert "Summary" not in result.output


def _diverged(root):
    run = root / "diverged-20261128-190839"
    run.mkdir()
    t0 = 1_795_892_919.0
    with EventFileWriter(run / "events.out.tfevents.1795892922.vm", wall_time=t0 + 3) as w:
        w.write_event(scalar_event("train/loss", 2.0e27, 1, t0 + 3.0))
        for metric, value in (("mse", MSE), ("mae", MAE), ("pc", -0.0023)):
            w.write_event(scalar_event(f"test/{metric}", value, 2, t0 + 4.0))
    status = {
        "state": "diverged",
        "epoch": 1,
        "epochs": 3,
        "started": t0,
        "updated": t0 + 500.0,
        "best": {"mse": MSE, "mae": MAE, "pc": -0.0023, "epoch": 1},
        "last": {"mse": MSE, "mae": MAE, "pc": -0.0023},
    }
    (run / "status.json").write_text(json.dumps(status))
    (run / "config.toml").write_text('[experiment]\nname = "diverged"\n')
    return run


def test_diverged_summary_from_status_and_compact(tmp_path):
    (row,) = summary_rows(open_runs([_diverged(tmp_path)]))
    assert row.best["mse"] == MSE and row.last["mse"] == MSE  # not '—' (inf events)
    assert abs(row.last["mae"] - MAE) < MAE * 1e-6  # the float32 event value
    assert row.wall_time_s == 4.0  # from status.json's start, not 0s
    assert fmt_number(MSE) == "9.58e+62"
    assert fmt_number(MAE, "x", 3) == "2.97e+31"


def test_diverged_plain_output(tmp_path):
    ok = three_runs(tmp_path)[0]
    result = _run(_diverged(tmp_path), ok, "--plain")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "9.58e+62" in out and "2.97e+31" in out
    assert "29747716068989162610634400989184" not in out
    assert "wall" in out and " 4s" in out


def test_status_line_counts_in_words():
    assert _count(1, "run") == "1 run" and _count(3, "run") == "3 runs"
    assert _count(0, "tag") == "0 tags"
