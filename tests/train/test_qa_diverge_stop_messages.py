"""QA: a run diverging in epoch 1 does not claim a checkpoint; resuming it says it starts
from scratch; the stop line in train.log counts epochs as `fbtui runs` does."""

import json
import os
import signal

from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.cli.run_cmd import create_run
from fbtui.config import load_config
from fbtui.train.trainer import Reporter, train_run

load_commands()
runner = CliRunner()


def test_diverged_in_epoch_1_has_no_checkpoint_and_resume_says_so(tmp_path, tiny_toml, monkeypatch):
    import torch

    import fbtui.model as model_mod

    real = model_mod.head_loss

    def poisoned(*a, **k):
        return real(*a, **k) * torch.nan

    monkeypatch.setattr(model_mod, "head_loss", poisoned)
    cfg = tiny_toml(n=60, epochs=2)
    res = runner.invoke(app, ["run", str(cfg), "--runs-dir", str(tmp_path)])
    assert res.exit_code == 1, res.output
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "diverged"
    assert "no checkpoint yet (diverged in epoch 1)" in status["error"], status["error"]
    assert "last good checkpoint" not in status["error"]
    assert "last good checkpoint" not in res.output
    assert not (run / "checkpoints" / "last.pt").exists()

    monkeypatch.setattr(model_mod, "head_loss", real)
    res = runner.invoke(app, ["resume", str(run)])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "has no checkpoint (it diverged in epoch 1, before its first one)" in out, out
    assert "starts it from scratch" in out
    assert "training from the start (epoch 1, step 0)" in (run / "train.log").read_text()
    assert json.loads((run / "status.json").read_text())["state"] == "finished"


class StopInEpoch2(Reporter):
    """SIGTERM to this process (what `fbtui stop` sends) at the first step of epoch 2."""

    def step(self, step, epoch, values):
        if epoch >= 1:
            os.kill(os.getpid(), signal.SIGTERM)


def test_stop_line_counts_epochs_as_runs_does(tmp_path, tiny_toml):
    run = create_run(load_config(tiny_toml(n=60, epochs=3)), tmp_path)
    assert train_run(run, StopInEpoch2()) == "stopped"
    status = json.loads((run / "status.json").read_text())
    assert status["epoch"] == 1  # `fbtui runs` shows 1/3
    log = (run / "train.log").read_text()
    assert f"stopped by SIGTERM in epoch 2 (1 completed), step {status['step']}" in log, log
