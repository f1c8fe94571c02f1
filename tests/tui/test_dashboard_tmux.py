"""End to end over a real terminal: start the dashboard in tmux, press `n` to launch a tiny
experiment, kill the tmux session as a dropped ssh connection would, check the run keeps
training and finishes, and see it from a new dashboard.

Marked slow: it trains a real (tiny) model and starts the dashboard twice.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import TINY_TOML

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux"),
]


class Tmux:
    """One private tmux server (its own socket), so nothing else's sessions are touched."""

    def __init__(self, name: str) -> None:
        self.socket = f"fbtui-test-{os.getpid()}-{name}"

    def run(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        if check and out.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {out.stderr}")
        return out.stdout

    def start(self, command: str) -> None:
        self.run("new-session", "-d", "-s", "dash", "-x", "120", "-y", "40", command)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "dash", check=False)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "dash", *keys)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.25)
        raise AssertionError(f"{text!r} not on screen after {timeout:.0f} s:\n{screen}")

    def kill(self) -> None:
        self.run("kill-server", check=False)


def _status(runs: Path) -> tuple[Path, dict] | None:
    for f in runs.glob("*/status.json"):
        try:
            return f.parent, json.loads(f.read_text())
        except (OSError, ValueError):
            return None  # mid-write: ask again
    return None


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_run_survives_a_dropped_session(tmp_path):
    runs, exp = tmp_path / "runs", tmp_path / "experiments"
    exp.mkdir()
    (exp / "tiny.toml").write_text(TINY_TOML.format(n=120, epochs=12))
    nogpu = tmp_path / "nogpu.json"
    nogpu.write_text(json.dumps({"no_gpu": "no NVIDIA GPU (NVML not found)"}))
    env = {
        "FBTUI_RUNS": str(runs),
        "FBTUI_FAKE_GPU": str(nogpu),
        "FBTUI_CACHE": os.environ.get("FBTUI_CACHE", str(tmp_path / "cache")),
        "FBTUI_NO_DOWNLOAD": "1",
        "TERM": "xterm",  # what many ssh sessions have: 16 colours
    }
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    # COLUMNS/LINES from the test runner would override the tmux window's real size
    command = (
        f"cd {tmp_path} && env -u COLUMNS -u LINES {exports} "
        f"{sys.executable} -m fbtui dashboard --experiments {exp}"
    )
    first, second = Tmux("first"), Tmux("second")
    pid = None
    try:
        first.start(command)
        first.wait_for("no runs yet")
        first.keys("n")
        first.wait_for("tiny.toml")
        first.keys("Enter")
        first.wait_for("experiment: tiny.toml")
        first.keys("Enter")
        run_dir, status = _wait(
            lambda: (s := _status(runs)) and s[1].get("state") == "running" and s,
            300,
            "the launched run to be running",
        )
        pid = status["pid"]
        first.wait_for("running", timeout=30)  # the dashboard lists it live

        first.kill()  # as a dropped ssh connection: SIGHUP to the dashboard
        step0 = status.get("step", 0)
        _wait(
            lambda: (s := _status(runs)) and s[1].get("step", 0) > step0,
            120,
            "the run to keep training after the dashboard was killed",
        )
        os.kill(pid, 0)  # still alive

        second.start(command)
        screen = second.wait_for(run_dir.name, timeout=60)
        assert "running" in screen or "finished" in screen
        _wait(
            lambda: (s := _status(runs)) and s[1].get("state") == "finished",
            300,
            "the run to finish",
        )
        second.wait_for("finished", timeout=30)  # the live listing picks the change up
        assert (run_dir / "summary.json").is_file()
    finally:
        first.kill()
        second.kill()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
