"""Start and stop run processes, detached from the terminal. No torch here: the dashboard
uses this to launch runs without importing the trainer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fbtui.errors import RunError
from fbtui.runs.layout import LOG
from fbtui.runs.status import effective_state, pid_alive, read_status


def spawn_worker(run_dir: Path, args: list[str] | None = None) -> int:
    """Start `python -m fbtui.train.worker RUN_DIR` in its own session (setsid), so closing
    the terminal or losing ssh never stops it; its stdout/stderr go to train.log."""
    run_dir = Path(run_dir)
    cmd = [sys.executable, "-m", "fbtui.train.worker", str(run_dir), *(args or [])]
    with open(run_dir / LOG, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return proc.pid


def run_cli_detached(
    argv: list[str], cwd: Path | None = None, timeout: float = 600
) -> tuple[int, str]:
    """Run `fbtui ARGV` (which must use --detach) and return (exit code, combined output).
    Used by the dashboard, from a worker thread, to start runs exactly as the CLI does."""
    proc = subprocess.run(
        [sys.executable, "-m", "fbtui", *argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        start_new_session=True,
    )
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def stop_run(run_dir: Path, wait: float = 0.0) -> str:
    """Ask a live run to stop (SIGTERM to every rank: it saves a checkpoint and becomes
    `stopped`). Returns the state after waiting up to `wait` seconds."""
    status = read_status(run_dir)
    if not status:
        raise RunError(f"{run_dir}: no status.json, not an fbtui run")
    state = effective_state(status)
    if state != "running" and state != "running (stale)":
        raise RunError(f"{run_dir.name} is {state}, not running: nothing to stop")
    pids = [p for p in (status.get("pids") or [status.get("pid")]) if isinstance(p, int)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + wait
    while time.time() < deadline:
        status = read_status(run_dir) or {}
        if status.get("state") != "running" or not any(pid_alive(p) for p in pids):
            break
        time.sleep(0.2)
    return effective_state(read_status(run_dir) or {})
