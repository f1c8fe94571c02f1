"""`fbtui stop GROUP` on a k-fold group: the running fold is stopped (it checkpoints, and
a stopped fold ends the group's loop); nothing running is a clear error, exit 2."""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.errors import RunError
from fbtui.runs.launch import stop_run

load_commands()
runner = CliRunner()


def _status(folder: Path, state: str, pid: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    data = {"state": state, "pid": pid, "host": socket.gethostname(), "started": now}
    (folder / "status.json").write_text(json.dumps({**data, "updated": now}))


def _group(tmp_path: Path, fold2_pid: int, group_pid: int) -> Path:
    group = tmp_path / "runs" / "cv5-20261128-120000"
    group.mkdir(parents=True)
    (group / "kfold.json").write_text(
        json.dumps({"state": "running", "pid": group_pid, "runs": ["cv1", "cv2"]})
    )
    _status(group / "cv1", "finished", group_pid)
    _status(group / "cv2", "running", fold2_pid)
    return group


def test_stop_group_signals_its_running_fold(tmp_path):
    # a stand-in for the fold's process: records SIGTERM, as the trainer's handler would
    code = "import signal,sys,time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        time.sleep(0.5)  # its handler is installed
        group = _group(tmp_path, proc.pid, proc.pid)
        res = runner.invoke(app, ["stop", str(group), "--wait", "10"])
        assert res.exit_code == 0, res.output
        assert proc.wait(timeout=10) == 0  # it got SIGTERM, not SIGKILL
        assert "cv2" in res.output and "cv1" not in res.output
    finally:
        proc.kill()


def test_stop_group_with_nothing_running_is_exit_2(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    group = _group(tmp_path, dead.pid, dead.pid)
    (group / "cv2" / "status.json").write_text(
        json.dumps({"state": "stopped", "pid": dead.pid, "host": socket.gethostname()})
    )
    before = sorted(p.relative_to(group) for p in group.rglob("*"))
    with pytest.raises(RunError, match="no fold of this k-fold group is running"):
        stop_run(group)
    res = runner.invoke(app, ["stop", str(group)])
    assert res.exit_code == 2 and "nothing to stop" in res.output
    assert sorted(p.relative_to(group) for p in group.rglob("*")) == before
