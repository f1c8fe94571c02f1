"""The trainer end to end on the tiny model: the run folder, resume, NaN policy, stop."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands

load_commands()
runner = CliRunner()


def only_run(root: Path) -> Path:
    runs = [p for p in root.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def tb_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Read the run with stock TensorBoard's EventAccumulator (purge semantics included)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def test_run_writes_complete_folder(tmp_path, tiny_toml):
    cfg = tiny_toml(n=120, epochs=2)
    res = runner.invoke(app, ["run", str(cfg), "--runs-dir", str(tmp_path / "runs")])
    assert res.exit_code == 0, res.output
    run = only_run(tmp_path / "runs")
    assert run.name.startswith("tiny-")
    for f in (
        "config.toml",
        "status.json",
        "train.log",
        "checkpoints/last.pt",
        "checkpoints/best.pt",
        "predictions.csv",
        "summary.json",
    ):
        assert (run / f).is_file(), f
    assert list(run.glob("events.out.tfevents.*"))
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "finished" and status["epoch"] == 2
    summary = json.loads((run / "summary.json").read_text())
    assert {"mse", "mae", "rmse", "pc", "epoch"} <= set(summary["best"])
    rows = list(csv.DictReader(open(run / "predictions.csv")))
    assert rows and set(rows[0]) >= {"filename", "target", "prediction"}
    # the resolved config holds every default
    text = (run / "config.toml").read_text()
    assert "[schedule]" in text and "nan_policy" in text
    scalars = tb_scalars(run)
    for tag in (
        "train/loss",
        "train/mse",
        "test/mse",
        "test/mae",
        "test/rmse",
        "test/pc",
        "lr",
        "perf/img_per_s",
        "perf/data_wait_frac",
    ):
        assert tag in scalars, tag
    assert any(t.startswith("test_A") for t in scalars)  # per-subgroup metrics
    steps = [s for s, _ in scalars["train/loss"]]
    assert steps == sorted(set(steps))


def test_runs_lists_it(tmp_path, tiny_toml):
    runner.invoke(app, ["run", str(tiny_toml(n=60, epochs=1)), "--runs-dir", str(tmp_path)])
    res = runner.invoke(app, ["runs", "--runs-dir", str(tmp_path), "--json"])
    assert res.exit_code == 0
    data = json.loads(res.output)
    assert data[0]["state"] == "finished" and data[0]["best"]["mse"] > 0
    res = runner.invoke(app, ["runs", "--runs-dir", str(tmp_path)])
    assert "finished" in res.output


def test_nan_stop_marks_diverged_and_keeps_checkpoint(tmp_path, tiny_toml, monkeypatch):
    import torch

    import fbtui.model as model_mod

    real = model_mod.head_loss
    calls = {"n": 0}

    def poisoned(*a, **k):
        calls["n"] += 1
        loss = real(*a, **k)
        return loss * torch.nan if calls["n"] > 9 else loss

    monkeypatch.setattr(model_mod, "head_loss", poisoned)
    res = runner.invoke(app, ["run", str(tiny_toml(n=120, epochs=3)), "--runs-dir", str(tmp_path)])
    assert res.exit_code == 1, res.output
    run = only_run(tmp_path)
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "diverged" and "last good checkpoint" in status["error"]
    assert (run / "checkpoints/last.pt").is_file()  # from the epoch before the NaN


def test_nan_skip_counts(tmp_path, tiny_toml, monkeypatch):
    import torch

    import fbtui.model as model_mod

    real = model_mod.head_loss
    calls = {"n": 0}

    def poisoned(*a, **k):
        calls["n"] += 1
        loss = real(*a, **k)
        return loss * torch.inf if calls["n"] in (2, 3) else loss

    monkeypatch.setattr(model_mod, "head_loss", poisoned)
    cfg = tiny_toml(n=120, epochs=1)
    res = runner.invoke(
        app, ["run", str(cfg), "--runs-dir", str(tmp_path), "--set", "train.nan_policy=skip"]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((only_run(tmp_path) / "summary.json").read_text())
    assert summary["skipped_nan"] == 2


def _wait_for(pred, timeout=120.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.2)
    return False


def _status(run):
    try:
        return json.loads((run / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def test_kill9_then_resume_has_each_step_once(tmp_path, tiny_toml):
    cfg = tiny_toml(n=160, epochs=8)  # room for the poll to catch it mid-run on a fast machine
    env = {**os.environ, "FBTUI_RUNS": str(tmp_path / "runs")}
    out = subprocess.run(
        [sys.executable, "-m", "fbtui", "run", str(cfg), "--detach"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    run = Path(out.stdout.strip().splitlines()[-1])
    # kill after two epochs have been checkpointed. Waiting for a batch number too raced:
    # tiny batches are faster than the heartbeat, so "batch >= 2" was often never seen.
    assert _wait_for(lambda: _status(run).get("epoch", 0) >= 2)
    assert _status(run).get("state") == "running", "the run finished before the kill"
    os.kill(_status(run)["pid"], signal.SIGKILL)
    assert _wait_for(lambda: _status(run).get("state") == "running")
    time.sleep(0.3)
    res = runner.invoke(app, ["runs", "--runs-dir", str(tmp_path / "runs"), "--json"])
    assert json.loads(res.output)[0]["state"] == "failed (lost)"
    res = runner.invoke(app, ["resume", str(run)])
    assert res.exit_code == 0, res.output
    assert _status(run)["state"] == "finished"
    scalars = tb_scalars(run)
    for tag in ("train/loss", "test/mse", "lr"):
        steps = [s for s, _ in scalars[tag]]
        assert steps == sorted(set(steps)), (tag, steps)
    assert len(scalars["test/mse"]) == 8
    assert [s for s, _ in scalars["lr"]][-1] == 8 * _status(run)["steps_per_epoch"]


def test_stop_by_sigterm_then_resume(tmp_path, tiny_toml):
    cfg = tiny_toml(n=160, epochs=3)
    env = {**os.environ, "FBTUI_RUNS": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "fbtui", "run", str(cfg), "--detach"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    run = Path(out.stdout.strip().splitlines()[-1])
    assert _wait_for(lambda: _status(run).get("step", 0) >= 5)
    res = runner.invoke(app, ["stop", str(run), "--wait", "60"])
    assert res.exit_code == 0 and "stopped" in res.output, res.output
    assert _status(run)["state"] == "stopped"
    res = runner.invoke(app, ["stop", str(run)])
    assert res.exit_code == 2 and "not running" in res.output
    res = runner.invoke(app, ["resume", str(run)])
    assert res.exit_code == 0, res.output
    assert _status(run)["state"] == "finished"
    steps = [s for s, _ in tb_scalars(run)["train/loss"]]
    assert steps == sorted(set(steps))


@pytest.mark.parametrize(
    "override, needle",
    [
        ("train.learning_rate=0.1", "train.learning_rate"),
        ("train.epochs=many", "train.epochs"),
        ("data.root=/nonexistent/scut", "/nonexistent/scut"),
    ],
)
def test_bad_input_exit_2_and_no_run_folder(tmp_path, tiny_toml, override, needle):
    res = runner.invoke(
        app, ["run", str(tiny_toml()), "--runs-dir", str(tmp_path / "runs"), "--set", override]
    )
    assert res.exit_code == 2, res.output
    assert needle in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
