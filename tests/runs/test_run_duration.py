"""A run's duration is its training time: a resume a week later does not add the week
(it used to be `updated - started`, idle gaps included)."""

from __future__ import annotations

import json

from fbtui.runs import describe
from fbtui.runs.status import active_before, active_seconds


def test_active_before_a_new_session():
    # a stopped run: 20 s in earlier sessions, then a session of 10 s (to its heartbeat)
    assert active_before({"active_s": 20, "session_started": 100, "updated": 110}) == 30
    # written before session_started existed: from `started`
    assert active_before({"started": 50, "updated": 80}) == 30
    assert active_before({"state": "queued", "updated": 80}) == 0  # never started
    assert active_before({}) == 0


def test_active_seconds():
    st = {"state": "stopped", "active_s": 20, "session_started": 1000, "updated": 1010}
    assert active_seconds(st, now=5000) == 30
    assert active_seconds({**st, "state": "running"}, now=1100) == 120
    assert active_seconds({"state": "stopped", "started": 1, "updated": 9}, now=5) is None


def test_describe_uses_training_time(tmp_path):
    run = tmp_path / "r-20261128-100000"
    run.mkdir()
    (run / "config.toml").write_text("")
    week = 7 * 86400
    status = {"state": "stopped", "started": 0.0, "session_started": week, "active_s": 5.0}
    (run / "status.json").write_text(json.dumps({**status, "updated": week + 4.0}))
    assert describe(run).duration == 9.0
    legacy = {"state": "stopped", "started": 0.0, "updated": 12.0}
    (run / "status.json").write_text(json.dumps(legacy))
    assert describe(run).duration == 12.0


def test_a_resumed_run_counts_its_sessions(tmp_path, tiny_toml):
    from typer.testing import CliRunner

    from fbtui.cli.main import app, load_commands

    load_commands()
    runner = CliRunner()
    res = runner.invoke(app, ["run", str(tiny_toml(n=40, epochs=2)), "--runs-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    run = next(tmp_path.iterdir())
    st = json.loads((run / "status.json").read_text())
    first = st["updated"] - st["session_started"]
    # as if it had been stopped after epoch 1 an hour before this resume
    ck = run / "checkpoints" / "last.pt"
    import torch

    state = torch.load(ck, weights_only=True)
    state.update(epoch=1, step=state["step"] // 2)
    torch.save(state, ck)
    hour_ago = {"state": "stopped", "started": st["started"] - 3600,
                "session_started": st["session_started"] - 3600, "updated": st["updated"] - 3600}  # fmt: skip
    (run / "status.json").write_text(json.dumps({**st, **hour_ago, "active_s": 0}))
    res = runner.invoke(app, ["resume", str(run)])
    assert res.exit_code == 0, res.output
    dur = describe(run).duration
    summary = json.loads((run / "summary.json").read_text())
    assert first < dur < 3600 and abs(summary["wall_time_s"] - dur) < 2


def test_a_bad_active_s_is_unreadable_not_a_crash(tmp_path):
    run = tmp_path / "r-20261128-100000"
    run.mkdir()
    (run / "config.toml").write_text("")
    st = {"state": "stopped", "started": 0.0, "session_started": 5.0, "updated": 9.0}
    (run / "status.json").write_text(json.dumps({**st, "active_s": "ten"}))
    info = describe(run)
    assert info.state == "unreadable" and "active_s" in info.error
    assert info.duration is None or info.duration >= 0


def test_a_lost_run_counts_to_its_last_heartbeat(tmp_path):
    """`running` in status.json but its process is gone (failed (lost)): the duration stops
    at the last heartbeat instead of growing with the clock."""
    import subprocess
    import time

    gone = subprocess.Popen(["true"])
    gone.wait()
    run = tmp_path / "r-20261128-100000"
    run.mkdir()
    (run / "config.toml").write_text("")
    now = time.time()
    import socket

    st = {"state": "running", "pid": gone.pid, "pids": [gone.pid], "host": socket.gethostname(),
          "started": now - 7200,
          "session_started": now - 7200, "active_s": 0.0, "updated": now - 3600}  # fmt: skip
    (run / "status.json").write_text(json.dumps(st))
    info = describe(run)
    assert info.state == "failed (lost)"
    assert abs(info.duration - 3600) < 5


def test_a_resume_that_fails_at_once_adds_no_idle_time(tmp_path, tiny_toml):
    """A stopped run whose last.pt is torn: the resume fails before training, and its
    recorded outcome must not count the days since the last session."""
    import time

    from typer.testing import CliRunner

    from fbtui.cli.main import app, load_commands

    load_commands()
    runner = CliRunner()
    res = runner.invoke(app, ["run", str(tiny_toml(n=40, epochs=1)), "--runs-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    run = next(tmp_path.iterdir())
    st = json.loads((run / "status.json").read_text())
    days = 3 * 86400
    old = {"state": "stopped", "started": time.time() - days, "active_s": 0.0,
           "session_started": time.time() - days, "updated": time.time() - days + 100}  # fmt: skip
    (run / "status.json").write_text(json.dumps({**st, **old}))
    (run / "checkpoints" / "last.pt").write_bytes(b"torn")
    res = runner.invoke(app, ["resume", str(run)])
    assert res.exit_code == 2, res.output
    assert "unreadable checkpoint" in res.output and "Traceback" not in res.output
    assert describe(run).duration < 200
