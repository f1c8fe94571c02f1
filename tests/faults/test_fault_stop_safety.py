"""`fbtui stop` on a run folder whose status.json is corrupt or hand-edited: a clear
refusal (exit 2), and never a signal to a pid it cannot trust. A pid of -1 in `pids`
would otherwise SIGTERM every process of the user, 0 the caller's own process group."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import pytest
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands

load_commands()
runner = CliRunner()


@pytest.fixture
def live_child():
    proc = subprocess.Popen(["sleep", "120"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def signals(monkeypatch):
    """Record every real signal fbtui tries to send; liveness probes (signal 0) go through."""
    sent: list[tuple[int, int]] = []
    real_kill = os.kill

    def kill(pid, sig):
        if sig == 0:
            return real_kill(pid, sig)
        sent.append((pid, sig))

    monkeypatch.setattr(os, "kill", kill)
    return sent


def _run(tmp_path, status) -> str:
    run = tmp_path / "runs" / "x-20250615-120000"
    run.mkdir(parents=True)
    (run / "config.toml").write_text('[experiment]\nname = "x"\n')
    if isinstance(status, (bytes, str)):
        (run / "status.json").write_bytes(status if isinstance(status, bytes) else status.encode())
    else:
        (run / "status.json").write_text(json.dumps(status))
    return str(run)


@pytest.mark.parametrize("bad", [-1, 0, 2**40, True, "123"])
def test_stop_never_signals_an_untrusted_pid(tmp_path, live_child, signals, bad):
    run = _run(
        tmp_path,
        {
            "state": "running",
            "host": socket.gethostname(),
            "pid": live_child,
            "pids": [live_child, bad],
            "updated": time.time(),
        },
    )
    res = runner.invoke(app, ["stop", run, "--wait", "0"])
    assert res.exit_code == 2, (res.output, res.exception)
    assert "pids" in res.output and "Traceback" not in res.output
    assert signals == []


@pytest.mark.parametrize(
    "content", [b"", b"{", b"\xff\xfe", "[1, 2]", '{"state": "running", "pid": -1}']
)
def test_stop_on_corrupt_status_is_a_clear_error(tmp_path, signals, content):
    res = runner.invoke(app, ["stop", _run(tmp_path, content), "--wait", "0"])
    assert res.exit_code == 2, (res.output, res.exception)
    assert "status.json" in res.output and "Traceback" not in res.output
    assert signals == []


def test_stop_still_signals_a_sound_run(tmp_path, live_child, signals):
    run = _run(
        tmp_path,
        {
            "state": "running",
            "host": socket.gethostname(),
            "pid": live_child,
            "updated": time.time(),
        },
    )
    runner.invoke(app, ["stop", run, "--wait", "0"])
    assert signals == [(live_child, signal.SIGTERM)]
