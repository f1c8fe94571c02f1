"""Pause, resume and cancel a sweep's queue (what `fbtui queue` and the dashboard call).

* pause: the runner starts no new members; running ones finish, then it exits `paused`.
* resume: continue a paused, cancelled, interrupted or failed queue: wakes the live runner,
  or starts a new one. Finished members are never redone; stopped or lost members resume
  from their checkpoint; `retry_failed` also restarts members that failed with an error.
* cancel: stop the running members now (SIGTERM: each saves a checkpoint and becomes
  `stopped`) and end the queue as `cancelled`. Queued members stay `queued` run folders:
  nothing is deleted, and `resume` picks the sweep up again.

No torch here; safe to call from the dashboard's threads.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from fbtui.errors import RunError
from fbtui.runs.launch import stop_run
from fbtui.runs.status import pid_alive
from fbtui.sweep.folder import (
    BUSY,
    describe_sweep,
    member_states,
    read_sweep,
    runner_alive,
    update_sweep,
)

RESUMABLE = ("queued", "running", "paused", "cancelled", "failed", "stopped", "interrupted")


def pause(sweep_dir: Path) -> str:
    """Ask the queue to start no new members. Returns the new queue state."""

    def change(data: dict) -> None:
        if data.get("state") in ("finished", "cancelled"):
            raise RunError(f"{Path(sweep_dir).name} is {data['state']}: nothing to pause")
        data["state"] = "paused"

    update_sweep(sweep_dir, change)
    return "paused"


def resume(
    sweep_dir: Path,
    retry_failed: bool = False,
    parallel: int | None = None,
    spawn: bool = True,
) -> str:
    """Continue the queue. Returns what happened: `resumed` (the live runner continues),
    `started` (a new runner was spawned, or is to be run by the caller when spawn=False)
    or `finished` (nothing left to do)."""
    sweep_dir = Path(sweep_dir)
    if parallel is not None and parallel < 0:
        raise RunError(f"--parallel {parallel}: must be 0 (one per GPU) or more")
    info = describe_sweep(sweep_dir)
    states = [m["state"] for m in info.get("members", [])]
    if states and all(s == "finished" for s in states):
        update_sweep(sweep_dir, lambda d: d.update(state="finished"))
        return "finished"
    live = runner_alive(info)

    def change(data: dict) -> None:
        data["state"] = "running"
        if parallel is not None:
            data["parallel"] = parallel

    if live:
        if retry_failed or parallel is not None:
            raise RunError(
                f"{sweep_dir.name}: its queue runner is live (pid {info['runner'].get('pid')}); "
                "--retry-failed and --parallel apply when it is started: pause it, wait for it "
                "to end, then resume"
            )
        if info.get("queue_state") == "running":
            return "running"
        update_sweep(sweep_dir, change)
        return "resumed"
    update_sweep(sweep_dir, change)
    if spawn:
        from fbtui.sweep.runner import spawn_runner

        spawn_runner(sweep_dir, retry_failed=retry_failed)
    return "started"


def _worker_of(pid: int, run_dir: Path) -> bool:
    """True when `pid` is still this member's worker (guards against pid reuse)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return pid_alive(pid)
    return "fbtui.train.worker" in cmd and run_dir.name in cmd


def cancel(sweep_dir: Path, wait: float = 30.0) -> dict[str, str]:
    """Mark the queue cancelled and stop its running members; waits up to `wait` seconds
    for their checkpoints. Returns each member's state afterwards."""
    sweep_dir = Path(sweep_dir)

    def change(data: dict) -> None:
        if data.get("state") == "finished":
            raise RunError(f"{sweep_dir.name} is finished: nothing to cancel")
        data["state"] = "cancelled"

    data = update_sweep(sweep_dir, change)
    pids: list[int] = []
    for name, state in member_states(sweep_dir, data).items():
        run_dir = sweep_dir / name
        if state in ("running", "running (stale)"):
            try:
                stop_run(run_dir)
            except RunError:
                pass  # it ended in between
        launched = (data.get("launched") or {}).get(name) or {}
        pid = launched.get("pid")
        if isinstance(pid, int) and pid_alive(pid) and _worker_of(pid, run_dir):
            pids.append(pid)
            if state not in BUSY:  # launched but not up yet: it has nothing to save
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
    deadline = time.time() + wait
    while time.time() < deadline:
        states = member_states(sweep_dir)
        if not any(s in BUSY for s in states.values()) and not any(pid_alive(p) for p in pids):
            break
        time.sleep(0.2)
    return member_states(sweep_dir, read_sweep(sweep_dir))
