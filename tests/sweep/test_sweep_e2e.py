"""Sweeps end to end on the tiny model and the synthetic set, on the CPU: the detached
queue runs 4 members 2 at a time to completion; a queue killed mid-way (runner and running
member, SIGKILL) resumes without redoing finished members. The kill test stalls a member
at a chosen point through the runner's test hook (stall_worker.py), so it never races."""

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


def kill_group(pid: int) -> None:
    """SIGKILL a process group: the runner and each member lead their own session."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


STALL_WORKER = Path(__file__).with_name("stall_worker.py")


def test_killed_queue_resumes_without_redoing_finished_members(tmp_path, tiny_toml, monkeypatch):
    """Member 1 (1 epoch) finishes, member 2 (2 epochs) stalls right after its epoch-1
    checkpoint (stall_worker.py): the kill always lands mid-run, however fast or loaded
    the machine. (Two members only: each worker start costs ~5-15 s of imports.)"""
    cfg = tiny_toml(n=60, epochs=1)
    root = tmp_path / "runs"
    marker = tmp_path / "stalled"
    names = ["epochs1-s0", "epochs2-s0"]
    monkeypatch.setenv("FBTUI_TEST_SWEEP_WORKER", str(STALL_WORKER))
    monkeypatch.setenv("STALL_RUN", names[1])
    monkeypatch.setenv("STALL_MARKER", str(marker))
    sweep_dir = start_sweep(cfg, root, "--set", "train.epochs=1,2", "--parallel", "1")
    assert [m["run"] for m in read_sweep(sweep_dir)["members"]] == names
    first, second = (sweep_dir / n for n in names)

    def state(run: Path) -> str:
        return (read_status(run) or {}).get("state", "")

    def second_stalled_mid_run() -> bool:
        return (
            marker.exists()
            and state(first) == "finished"
            and state(second) == "running"
            and (second / "checkpoints" / "last.pt").is_file()
        )

    wait_for(second_stalled_mid_run, "member 2 to stall after its first checkpoint", sweep_dir)
    # SIGKILL the queue runner's and the running member's process groups: no clean-up
    runner_pid = read_sweep(sweep_dir)["runner"]["pid"]
    member_pid = read_status(second)["pid"]
    kill_group(runner_pid)
    kill_group(member_pid)
    wait_for(
        lambda: not pid_alive(runner_pid) and not pid_alive(member_pid),
        "the runner and member 2 to die",
        sweep_dir,
        timeout=30,
    )
    kept = {f: (first / f).read_bytes() for f in ("summary.json", "status.json", "train.log")}
    mtime = (first / "summary.json").stat().st_mtime_ns
    info = describe_sweep(sweep_dir)
    assert info["state"] == "interrupted" and not info["live"], info
    assert {m["run"]: m["state"] for m in info["members"]} == {
        names[0]: "finished",
        names[1]: "failed (lost)",
    }

    res = runner.invoke(app, ["queue", "resume", sweep_dir.name, "--runs-dir", str(root)])
    assert res.exit_code == 0, res.output
    assert "restarted" in res.output
    wait_for(lambda: finished(sweep_dir), "the resumed sweep to finish", sweep_dir)
    info = describe_sweep(sweep_dir)
    assert info["state"] == "finished", info
    for run in (first, second):
        assert_complete(run)
    # member 1 was not redone: its files are byte for byte what they were before the kill
    assert (first / "summary.json").stat().st_mtime_ns == mtime
    assert {f: (first / f).read_bytes() for f in kept} == kept
    queue_log = (sweep_dir / "queue.log").read_text()
    assert queue_log.count(f"{names[0]}: started") == 1, queue_log
    assert f"kept 1 finished member(s), not redone: {names[0]}" in queue_log
    assert queue_log.count(f"{names[1]}: started") == 2, queue_log
    # member 2 resumed from its epoch-1 checkpoint (the log counts epochs from 1), not from 0
    log = (second / "train.log").read_text()
    m = re.search(r"resumed from .* at epoch (\d+)", log)
    assert m and int(m.group(1)) == 2, log
    assert "queue finished" in queue_log
    # resuming a finished queue is a no-op
    res = runner.invoke(app, ["queue", "resume", sweep_dir.name, "--runs-dir", str(root)])
    assert res.exit_code == 0 and "nothing to resume" in res.output
    assert json.loads((sweep_dir / "sweep.json").read_text())["state"] == "finished"
