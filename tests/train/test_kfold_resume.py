"""`fbtui resume GROUP` on a k-fold group: finished folds are kept, the interrupted fold
resumes from its checkpoint, the next ones run, and mean ± std is recomputed. Two ways
to interrupt a tiny 2-fold group after fold 1: `fbtui stop` (its stop_run) on fold 2 in
epoch 2, and SIGKILL of the group's process stalled after fold 2's epoch-1 checkpoint
(so neither races with a fast machine)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.config import load_config
from fbtui.runs import describe
from fbtui.runs.launch import stop_run
from fbtui.runs.status import pid_alive, read_json, read_status, write_json_atomic
from fbtui.train.kfold import create_group, train_folds
from fbtui.train.trainer import Reporter

load_commands()
runner = CliRunner()
TIMEOUT = 300  # generous: two busy cores shared with other tests


class StopInEpoch2(Reporter):
    """Does what `fbtui stop GROUP/cv2` does, at the first logged step of epoch 2."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir

    def step(self, step, epoch, values):
        if epoch >= 1 and read_status(self.run_dir)["state"] == "running":
            stop_run(self.run_dir)  # SIGTERM to the run's pid (this process)


def snapshot(run: Path) -> dict[str, bytes]:
    return {f: (run / f).read_bytes() for f in ("summary.json", "status.json", "train.log")}


def assert_group_finished(parent: Path, kept: dict[str, bytes]) -> None:
    """Fold 1 untouched, fold 2 resumed at epoch 2 and finished, mean ± std of both."""
    assert snapshot(parent / "cv1") == kept  # byte for byte: fold 1 was not redone
    log = (parent / "cv2" / "train.log").read_text()
    m = re.search(r"resumed from .*cv2.* at epoch (\d+)", log)
    assert m and int(m.group(1)) == 2, log  # from its checkpoint (epochs count from 1)
    data = read_json(parent / "kfold.json")
    assert data["state"] == "finished" and data["n"] == 2, data
    assert [r["state"] for r in data["runs"]] == ["finished", "finished"]
    best = [read_json(parent / f"cv{k}" / "summary.json")["best"]["mse"] for k in (1, 2)]
    assert data["per_fold"]["mse"] == best
    assert abs(data["mean"]["mse"] - sum(best) / 2) < 1e-12
    assert abs(data["std"]["mse"] - abs(best[0] - best[1]) / 2**0.5) < 1e-9  # ddof 1
    for k in (1, 2):
        status = read_status(parent / f"cv{k}")
        assert status["state"] == "finished" and status["epoch"] == status["epochs"] == 2
    assert describe(parent).state == "finished"


def test_stopped_group_resumes_its_unfinished_fold(tmp_path, tiny_toml):
    cfg = load_config(tiny_toml(n=60, epochs=2))
    root = tmp_path / "runs"
    parent, prepared = create_group(cfg, root, 2)
    reporters = iter([Reporter(), StopInEpoch2(parent / "cv2")])
    state = train_folds(parent, reporter_factory=lambda: next(reporters), prepared=prepared)
    assert state == "stopped"
    assert read_status(parent / "cv1")["state"] == "finished"
    cv2 = read_status(parent / "cv2")
    assert cv2["state"] == "stopped" and cv2["epoch"] == 1, cv2  # stopped inside epoch 2
    assert (parent / "cv2" / "checkpoints" / "last.pt").is_file()
    group = read_json(parent / "kfold.json")
    assert group["state"] == "stopped" and group["n"] == 1
    assert describe(parent).state == "stopped"
    kept = snapshot(parent / "cv1")

    res = runner.invoke(app, ["resume", parent.name, "--runs-dir", str(root)])
    assert res.exit_code == 0, res.output
    assert "mean ± std" in res.output
    assert_group_finished(parent, kept)
    assert "resumed from" not in (parent / "cv1" / "train.log").read_text()

    before = (parent / "kfold.json").read_bytes()
    res = runner.invoke(app, ["resume", str(parent)])  # again: nothing left to do
    assert res.exit_code == 0 and "nothing to resume" in res.output, res.output
    assert (parent / "kfold.json").read_bytes() == before  # not even its times rewritten

    # killed after its last fold, before kfold.json was final: resume only recomputes
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    data = {**read_json(parent / "kfold.json"), "state": "running", "pid": dead.pid}
    for key in ("n", "mean", "std", "per_fold"):
        data.pop(key)
    write_json_atomic(parent / "kfold.json", data)
    assert describe(parent).state == "failed (lost)"
    res = runner.invoke(app, ["resume", str(parent)])
    assert res.exit_code == 0 and "nothing to resume" in res.output, res.output
    assert_group_finished(parent, kept)


STALLED_GROUP = """
import sys, time
from pathlib import Path
import fbtui.train.trainer as trainer
from fbtui.train import kfold

parent, marker = Path(sys.argv[1]), Path(sys.argv[2])
real_save = trainer.save_checkpoint

def save_then_stall(state, path):
    real_save(state, path)
    path = Path(path)
    if path.name == "last.pt" and path.parent.parent.name == "cv2" and state["epoch"] >= 1:
        marker.write_text("stalled")
        while True:  # until SIGKILL
            time.sleep(60)

trainer.save_checkpoint = save_then_stall
sys.exit(kfold.main([str(parent)]))
"""


def wait_for(pred, what: str, parent: Path, timeout: float = TIMEOUT) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.2)
    log = parent / "kfold.log"
    raise AssertionError(f"timed out waiting for {what}\n{log.read_text() if log.exists() else ''}")


def test_killed_group_is_lost_then_resumes_in_the_background(tmp_path, tiny_toml):
    cfg = load_config(tiny_toml(n=60, epochs=2))
    root = tmp_path / "runs"
    parent, _ = create_group(cfg, root, 2)
    marker = tmp_path / "stalled"
    with open(parent / "kfold.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", STALLED_GROUP, str(parent), str(marker)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(marker.exists, "fold 2's first checkpoint", parent)
        assert read_status(parent / "cv1")["state"] == "finished"
        assert describe(parent).state == "running"
        res = runner.invoke(app, ["resume", str(parent)])  # a live group is not resumed twice
        assert res.exit_code == 2 and "still running" in res.output, res.output
        assert "fbtui stop" in res.output and "cv2" in res.output
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not pid_alive(proc.pid)
    assert read_json(parent / "kfold.json")["state"] == "running"  # as the kill left it
    assert describe(parent).state == "failed (lost)"
    assert describe(parent / "cv2").state == "failed (lost)"
    kept = snapshot(parent / "cv1")

    res = runner.invoke(app, ["resume", str(parent), "--detach"])
    assert res.exit_code == 0, res.output
    assert "in the background" in res.output and "cv2" in res.output

    pid = int(re.search(r"pid\s+(\d+)", res.output).group(1))
    wait_for(lambda: not pid_alive(pid), "the resumed group's process to end", parent)
    assert read_json(parent / "kfold.json")["pid"] == pid
    assert_group_finished(parent, kept)
    assert "finished: mse" in (parent / "kfold.log").read_text()
    rows = json.loads(runner.invoke(app, ["runs", "--runs-dir", str(root), "--json"]).output)
    row = next(r for r in rows if r["name"] == parent.name)
    assert row["state"] == "finished" and row["started"] and row["duration_s"] > 0


def test_resume_of_a_sweep_points_to_its_queue(tmp_path, tiny_toml):
    root = tmp_path / "runs"
    args = ["sweep", str(tiny_toml()), "--runs-dir", str(root), "--no-start", "--no-data-check"]
    res = runner.invoke(app, [*args, "--set", "train.lr=0.1,0.2"])
    assert res.exit_code == 0, res.output
    (sweep,) = root.iterdir()
    res = runner.invoke(app, ["resume", str(sweep)])
    assert res.exit_code == 2 and "fbtui queue resume" in res.output, res.output
