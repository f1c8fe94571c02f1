"""Sweeps end to end on the tiny model and the synthetic set, on the CPU: the detached
queue runs 4 members 2 at a time to completion; a queue killed mid-way (runner and running
members, SIGKILL) resumes without redoing finished members."""

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.runs.status import pid_alive, read_status
from fbtui.sweep.folder import describe_sweep, read_sweep

load_commands()
runner = CliRunner()
pytestmark = pytest.mark.slow

COMPLETE = (
    "config.toml",
    "status.json",
    "train.log",
    "checkpoints/last.pt",
    "checkpoints/best.pt",
    "predictions.csv",
    "summary.json",
)
TIMEOUT = 400  # generous: two busy cores shared with other tests


def start_sweep(cfg: Path, root: Path, *args: str) -> Path:
    res = runner.invoke(app, ["sweep", str(cfg), "--runs-dir", str(root), *args])
    assert res.exit_code == 0, res.output
    sweep_dir = Path(res.stdout.strip().splitlines()[-1])
    assert sweep_dir.parent == root
    return sweep_dir


def wait_for(pred, what: str, sweep_dir: Path, timeout: float = TIMEOUT):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.3)
    log = (sweep_dir / "queue.log").read_text() if (sweep_dir / "queue.log").exists() else ""
    raise AssertionError(f"timed out waiting for {what}; sweep: {describe_sweep(sweep_dir)}\n{log}")


def finished(sweep_dir: Path) -> bool:
    data = describe_sweep(sweep_dir)
    return data["state"] in ("finished", "failed", "stopped") and not data["live"]


def assert_complete(run: Path) -> None:
    for f in COMPLETE:
        assert (run / f).is_file(), f"{run.name}: {f} missing"
    assert list(run.glob("events.out.tfevents.*")), run
    status = read_status(run)
    assert status["state"] == "finished" and status["epoch"] == status["epochs"], status


def intervals(sweep_dir: Path) -> list[tuple[float, float]]:
    data = read_sweep(sweep_dir)
    out = []
    for m in data["members"]:
        status = read_status(sweep_dir / m["run"])
        out.append((data["launched"][m["run"]]["at"], status["updated"]))
    return out


def test_sweep_parallel_2_runs_every_member_to_completion(tmp_path, tiny_toml):
    cfg = tiny_toml(n=120, epochs=2)
    root = tmp_path / "runs"
    sweep_dir = start_sweep(
        cfg,
        root,
        "--set",
        "train.lr=0.003,0.001",
        "--set",
        "model.dropout=0.2,0.5",
        "--parallel",
        "2",
    )
    wait_for(lambda: finished(sweep_dir), "the sweep to finish", sweep_dir)
    data = describe_sweep(sweep_dir)
    assert data["state"] == "finished", data
    assert data["counts"] == {
        "queued": 0,
        "running": 0,
        "done": 4,
        "failed": 0,
        "stopped": 0,
        "total": 4,
    }
    assert [m["run"] for m in data["members"]] == [
        "lr0.003-dropout0.2-s0",
        "lr0.003-dropout0.5-s0",
        "lr0.001-dropout0.2-s0",
        "lr0.001-dropout0.5-s0",
    ]
    for m in data["members"]:
        assert_complete(sweep_dir / m["run"])
        assert data["launched"][m["run"]]["gpu"] is None  # no GPU here: CPU, unpinned
    # never more than two at once: each start came before at most one other's end
    spans = intervals(sweep_dir)
    for t, _ in spans:
        assert sum(1 for a, b in spans if a <= t < b) <= 2, spans
    assert spans[2][0] >= min(spans[0][1], spans[1][1])  # the 3rd waited for a free slot
    # the settings table sorts the finished grid by best test mse
    res = runner.invoke(app, ["queue", "show", sweep_dir.name, "--runs-dir", str(root)])
    assert res.exit_code == 0, res.output
    from fbtui.sweep.table import sweep_rows

    _, rows = sweep_rows(sweep_dir)
    assert len(rows) == 4 and all(r["n"] == 1 for r in rows)
    assert [r["mse"] for r in rows] == sorted(r["mse"] for r in rows)


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.mark.skip(reason="race: on an idle machine the members finish before the kill lands; rework the kill point (open in issue note)")
def test_killed_queue_resumes_without_redoing_finished_members(tmp_path, tiny_toml):
    cfg = tiny_toml(n=120, epochs=8)  # a wide window to kill the third member mid-run on a fast machine
    root = tmp_path / "runs"
    sweep_dir = start_sweep(cfg, root, "--set", "train.lr=0.003,0.002,0.001", "--parallel", "2")
    names = [m["run"] for m in read_sweep(sweep_dir)["members"]]

    def third_has_checkpoint():
        status = read_status(sweep_dir / names[2]) or {}
        return status.get("state") == "running" and status.get("epoch", 0) >= 1

    wait_for(third_has_checkpoint, "the 3rd member's first checkpoint", sweep_dir)
    # SIGKILL the queue runner and every member still running: no chance to clean up
    data = read_sweep(sweep_dir)
    kill(data["runner"]["pid"])
    killed = []
    for name in names:
        status = read_status(sweep_dir / name)
        if status["state"] == "running":
            kill(status["pid"])
            killed.append(name)
    assert names[2] in killed
    done = [n for n in names if n not in killed]
    assert done, "the first members should have finished before the third started"
    mtimes = {n: (sweep_dir / n / "summary.json").stat().st_mtime_ns for n in done}
    wait_for(
        lambda: not pid_alive(data["runner"]["pid"]), "the runner to die", sweep_dir, timeout=30
    )
    info = describe_sweep(sweep_dir)
    assert info["state"] == "interrupted" and not info["live"]
    assert {m["run"]: m["state"] for m in info["members"]}[names[2]] == "failed (lost)"

    res = runner.invoke(app, ["queue", "resume", sweep_dir.name, "--runs-dir", str(root)])
    assert res.exit_code == 0, res.output
    assert "restarted" in res.output
    wait_for(lambda: finished(sweep_dir), "the resumed sweep to finish", sweep_dir)
    info = describe_sweep(sweep_dir)
    assert info["state"] == "finished", info
    for name in names:
        assert_complete(sweep_dir / name)
    for n, t in mtimes.items():  # finished members were not redone
        assert (sweep_dir / n / "summary.json").stat().st_mtime_ns == t, n
        assert "resumed from" not in (sweep_dir / n / "train.log").read_text()
    log = (sweep_dir / names[2] / "train.log").read_text()
    m = re.search(r"resumed from .* at epoch (\d+)", log)
    assert m and int(m.group(1)) >= 2, log  # from its checkpoint (epochs count from 1), not from 0
    assert "queue finished" in (sweep_dir / "queue.log").read_text()
    # resuming a finished queue is a no-op
    res = runner.invoke(app, ["queue", "resume", sweep_dir.name, "--runs-dir", str(root)])
    assert res.exit_code == 0 and "nothing to resume" in res.output
    assert json.loads((sweep_dir / "sweep.json").read_text())["state"] == "finished"
