"""`fbtui compare` through Typer's CliRunner: --plain, --csv, --tag, errors (exit 2)."""

import csv
import io

from compare_fixtures import three_runs, write_logdir
from typer.testing import CliRunner

import fbtui.cli.compare_cmd  # noqa: F401 - registers `compare`
from fbtui.cli.app import app

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, ["compare", *map(str, args)])


def test_plain_is_automatic_off_a_terminal(tmp_path):
    paths = three_runs(tmp_path)
    result = _run(*paths)  # CliRunner's stdout is not a TTY
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Summary" in out and "best mse" in out and "img/s" in out
    assert "Config diff" in out and "train.lr" in out and "train.batch_size" in out
    assert "train.optimizer" not in out  # identical keys are left out
    for tag in ("train/loss", "test/mse", "test/pc", "perf/img_per_s"):
        assert tag in out
    assert "0.3200" in out  # lr-0.01: best mse from summary.json


def test_plain_with_tag_filter_and_logdir(tmp_path):
    paths = [*three_runs(tmp_path)[:1], write_logdir(tmp_path, "plain")]
    result = _run(*paths, "--plain", "--tag", "loss|acc", "--smoothing", "0")
    assert result.exit_code == 0, result.output
    assert "train/loss" in result.output and "acc/val" in result.output
    assert "test/mse" not in result.output.split("runs:")[1]
    assert "needs at least two runs with a config.toml" in result.output


def test_csv_to_stdout(tmp_path):
    paths = three_runs(tmp_path)
    result = _run(*paths, "--csv", "-", "--tag", "^test/mse$")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["run", "tag", "step", "wall_time", "value"]
    assert len(rows) == 1 + 3 * 5
    assert rows[1][:3] == ["lr-0.01", "test/mse", "19"]
    assert float(rows[1][4]) == float(__import__("numpy").float32(0.4))


def test_csv_to_file(tmp_path):
    paths = three_runs(tmp_path)
    out = tmp_path / "all.csv"
    result = _run(*paths, "--csv", out)
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(out.open()))
    assert len(rows) == 1 + 3 * (100 + 5 * 5)


def test_run_names_resolve_under_the_runs_root(tmp_path):
    three_runs(tmp_path)
    result = _run("lr-0.01", "bs-64", "--runs-dir", tmp_path, "--plain")
    assert result.exit_code == 0, result.output
    assert "lr-0.01" in result.output and "bs-64" in result.output


def test_errors_exit_2_with_a_message(tmp_path):
    (tmp_path / "empty").mkdir()
    result = _run(tmp_path / "empty")
    assert result.exit_code == 2
    assert "no TensorBoard event files" in result.output
    assert "Traceback" not in result.output
    result = _run(tmp_path / "missing", "--runs-dir", tmp_path)
    assert result.exit_code == 2 and "not found" in result.output
    result = _run(*three_runs(tmp_path)[:1], "--tag", "(")
    assert result.exit_code == 2 and "regular expression" in result.output
