"""fbtui.tb.compare: opening runs, summaries, config diff, CSV, thinning."""

import csv
import io

import numpy as np
import pytest
from compare_fixtures import metrics_at, three_runs, write_logdir

from fbtui.errors import UserError
from fbtui.tb.compare import (
    MISSING,
    NoEventFilesError,
    RunNotFoundError,
    all_tags,
    best_in_columns,
    compile_tag_filter,
    config_diff,
    display_names,
    open_runs,
    summary_row,
    thin,
    write_csv,
    x_values,
)


def test_open_runs_and_tags(tmp_path):
    runs = open_runs([*three_runs(tmp_path), write_logdir(tmp_path, "plain")])
    assert [r.name for r in runs] == ["lr-0.01", "lr-0.02", "bs-64", "plain"]
    assert [r.kind for r in runs] == ["fbtui", "fbtui", "fbtui", "logdir"]
    assert "acc/val" in all_tags(runs)
    assert all_tags(runs, "^test/") == ["test/mae", "test/mse", "test/pc", "test/rmse"]
    assert all_tags(runs, compile_tag_filter("/(mse|pc)$")) == ["test/mse", "test/pc"]


def test_errors_are_user_errors(tmp_path):
    with pytest.raises(RunNotFoundError, match="no such run folder"):
        open_runs([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.toml").write_text("x = 1\n")
    with pytest.raises(NoEventFilesError, match="no TensorBoard event files"):
        open_runs([tmp_path / "empty"])
    with pytest.raises(UserError, match="not a valid regular expression"):
        compile_tag_filter("(")
    assert issubclass(NoEventFilesError, UserError)


def test_summary_from_summary_json_and_from_scalars(tmp_path):
    runs = open_runs(three_runs(tmp_path))
    done, _, running = (summary_row(r) for r in runs)
    assert done.source == "summary.json"
    assert done.best == pytest.approx(metrics_at(4, 0.01))
    assert (done.epochs, done.wall_time_s, done.img_per_s) == (5, 600.0, 132.0)
    # no summary.json: best = test metrics at the step with the lowest test/mse
    assert running.source == "scalars"
    assert running.best == pytest.approx(metrics_at(4, 0.01))
    assert running.last == pytest.approx(metrics_at(4, 0.01))
    assert running.epochs == 5
    assert running.wall_time_s == pytest.approx(99 * 6.0)
    assert running.img_per_s == pytest.approx(164.0)


def test_best_per_column(tmp_path):
    rows = [summary_row(r) for r in open_runs(three_runs(tmp_path))]
    best = best_in_columns(rows)
    assert best["best mse"] == 1 and best["best pc"] == 1  # lr 0.02 learns fastest
    assert best["img/s"] == 2  # batch 64
    assert "epochs" not in best and "wall" not in best


def test_config_diff_shows_only_differing_keys(tmp_path):
    runs = open_runs([*three_runs(tmp_path), write_logdir(tmp_path, "plain")])
    diff = dict(config_diff(runs))
    assert diff == {
        "experiment.name": ["lr-0.01", "lr-0.02", "bs-64"],
        "train.batch_size": [32, 32, 64],
        "train.lr": [0.01, 0.02, 0.01],
    }
    runs[0].config["extra"] = {"only": True}
    assert dict(config_diff(runs))["extra.only"] == [True, MISSING, MISSING]
    assert config_diff(runs[:1]) == []


def test_csv_is_raw_and_exact(tmp_path):
    runs = open_runs(three_runs(tmp_path)[:2])
    out = io.StringIO()
    n = write_csv(runs, ["train/loss", "test/mse"], out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert n == len(rows) == 2 * (100 + 5)
    assert list(rows[0]) == ["run", "tag", "step", "wall_time", "value"]
    first = runs[0].scalars("train/loss")
    got = [float(r["value"]) for r in rows if r["run"] == "lr-0.01" and r["tag"] == "train/loss"]
    np.testing.assert_array_equal(got, first.values)  # no smoothing, exact round trip
    walls = [
        float(r["wall_time"]) for r in rows if r["run"] == "lr-0.01" and r["tag"] == "train/loss"
    ]
    np.testing.assert_array_equal(walls, first.wall_times)


def test_display_names_disambiguate(tmp_path):
    a, b = tmp_path / "x" / "run", tmp_path / "y" / "run"
    assert display_names([a, b]) == ["x/run", "y/run"]
    assert display_names([a]) == ["run"]


def test_same_folder_twice_is_compared_once(tmp_path):
    (run,) = three_runs(tmp_path)[:1]
    assert len(open_runs([run, run / ".", str(run)])) == 1


def test_thin_keeps_extremes_and_ends():
    x = np.arange(10_000, dtype=float)
    y = np.sin(x / 100.0)
    y[5000] = 50.0
    tx, ty = thin(x, y, 300)
    assert len(tx) <= 320 and tx[0] == 0 and tx[-1] == 9999
    assert 50.0 in ty and np.all(np.diff(tx) > 0)
    assert thin(x[:10], y[:10], 300)[0] is x[:10] or len(thin(x[:10], y[:10], 300)[0]) == 10


def test_x_axes(tmp_path):
    run = open_runs(three_runs(tmp_path)[:1])[0]
    s = run.scalars("train/loss")
    assert x_values(s, "step")[3] == 3.0
    assert x_values(s, "relative")[3] == pytest.approx(18.0)
    assert x_values(s, "wall")[0] == pytest.approx(1_750_000_000.0)
    with pytest.raises(ValueError):
        x_values(s, "epoch")


def test_a_folder_of_runs_stands_for_its_runs(tmp_path):
    three_runs(tmp_path / "sweep")
    runs = open_runs([tmp_path / "sweep"])
    assert [r.name for r in runs] == ["bs-64", "lr-0.01", "lr-0.02"]
    # a plain logdir with sub-runs stays one run (its subfolders become tag suffixes)
    logdir = write_logdir(tmp_path, "plain")
    assert [r.name for r in open_runs([logdir])] == ["plain"]
