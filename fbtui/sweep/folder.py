"""The sweep folder: its member run folders and sweep.json, and how to read and change it.

```
runs/<name>-sweep-<stamp>/        sweep.json (grid, members, parallel, state, runner pid)
    lr0.064-dropout0.2-s0/        ordinary run folders (config.toml, status.json queued, ...)
    lr0.064-dropout0.5-s0/ ...    queue.log: what the queue runner did
```

sweep.json has several writers (the queue runner's heartbeat, `fbtui queue pause|resume|
cancel`), so every read-modify-write holds an exclusive `flock` on `.sweep.lock` and
replaces the file atomically: no update is ever lost and readers never see a torn file.

Queue states (`state` in sweep.json): `queued` (created, runner not started yet),
`running`, `paused` (start no new members; running ones finish), `cancelled` (running
members were stopped with a checkpoint, queued ones stay queued), `finished` (every member
finished), `failed` (the queue ended with failed or diverged members), `stopped` (it ended
with members stopped by hand, e.g. `fbtui stop`). A
`running` or `paused` queue whose runner process is gone reads as `interrupted`. Any queue
that is not finished can be resumed with `fbtui queue resume`.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fbtui.errors import RunError
from fbtui.runs import layout
from fbtui.runs.status import (
    HEARTBEAT_STALE_S,
    UnreadableStatus,
    effective_state,
    pid_alive,
    read_json,
    read_status,
    write_json_atomic,
)
from fbtui.runs.store import SWEEP

LOCK = ".sweep.lock"
LOG = "queue.log"
QUEUE_STATES = ("queued", "running", "paused", "cancelled", "finished", "failed", "stopped")
#: member states the queue may (re)start: an interrupted member resumes from last.pt
STARTABLE = ("queued", "stopped", "failed (lost)")
BUSY = ("running", "running (stale)", "starting")
DONE = ("finished",)
FAILED = ("failed", "diverged", "failed (lost)")


def is_sweep(path: Path) -> bool:
    return (Path(path) / SWEEP).is_file()


def create_sweep(
    root: Path,
    name: str,
    members: Sequence[tuple[str, Any, dict[str, Any]]],
    meta: dict[str, Any],
) -> Path:
    """Make `root/<name>-sweep-<stamp>/` with one queued run folder per member
    (name, resolved Config, sweep.json member entry) and sweep.json. The configs must be
    validated already: this only writes."""
    from fbtui.config import to_toml

    sweep_dir = layout.new_run_dir(root, f"{name}-sweep")
    now = time.time()
    entries = []
    for member, cfg, entry in members:
        run_dir = sweep_dir / member
        run_dir.mkdir()
        (run_dir / layout.CHECKPOINTS).mkdir()
        (run_dir / layout.CONFIG).write_text(to_toml(cfg), encoding="utf-8")
        # the same queued status.json `fbtui run` writes (fbtui.cli.run_cmd.create_run)
        write_json_atomic(
            run_dir / layout.STATUS,
            {"state": "queued", "epochs": cfg.train.epochs, "epoch": 0, "step": 0, "created": now},
        )
        entries.append({"run": member, **entry})
    write_json_atomic(
        sweep_dir / SWEEP,
        {
            "kind": "sweep",
            "name": name,
            "created": now,
            "host": socket.gethostname(),
            "state": "queued",
            **meta,
            "members": entries,
            "launched": {},
            "runner": {},
        },
    )
    return sweep_dir


def read_sweep(sweep_dir: Path) -> dict[str, Any]:
    """sweep.json as a dict; RunError when missing or unreadable."""
    try:
        data = read_json(Path(sweep_dir) / SWEEP)
    except UnreadableStatus as e:
        raise RunError(str(e)) from None
    if data is None:
        raise RunError(f"{sweep_dir}: no {SWEEP}: not a sweep folder")
    return data


@contextmanager
def locked(sweep_dir: Path) -> Iterator[None]:
    """Hold the sweep's exclusive lock (a read-modify-write of sweep.json)."""
    fd = os.open(Path(sweep_dir) / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def update_sweep(sweep_dir: Path, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """Read sweep.json, let `change` edit the dict in place, write it back atomically,
    all under the lock. Returns the written dict."""
    with locked(sweep_dir):
        data = read_sweep(sweep_dir)
        change(data)
        data["updated"] = time.time()
        write_json_atomic(Path(sweep_dir) / SWEEP, data)
    return data


def runner_alive(data: dict[str, Any], now: float | None = None) -> bool:
    """True when the queue runner recorded in sweep.json is alive: same host, pid exists
    and its heartbeat is recent (another host: the heartbeat alone)."""
    r = data.get("runner") or {}
    pid, beat = r.get("pid"), r.get("heartbeat")
    if r.get("ended") or not isinstance(beat, (int, float)):
        return False
    now = time.time() if now is None else now
    if now - beat > HEARTBEAT_STALE_S:
        return False
    if r.get("host") == socket.gethostname():
        return isinstance(pid, int) and pid_alive(pid)
    return True


def queue_state(data: dict[str, Any], now: float | None = None) -> str:
    """The state to show: a `running`/`paused` queue whose runner is gone is `interrupted`
    (when members are left to run)."""
    state = str(data.get("state", "unknown"))
    if state in ("running",) and not runner_alive(data, now):
        return "interrupted"
    return state


def member_states(sweep_dir: Path, data: dict[str, Any] | None = None) -> dict[str, str]:
    """Each member's effective state from its own status.json (`unreadable` if torn)."""
    sweep_dir = Path(sweep_dir)
    data = data if data is not None else read_sweep(sweep_dir)
    out: dict[str, str] = {}
    for m in data.get("members", []):
        try:
            status = read_status(sweep_dir / m["run"])
        except UnreadableStatus:
            out[m["run"]] = "unreadable"
            continue
        out[m["run"]] = effective_state(status) if status else "missing"
    return out


def count_states(states: Sequence[str]) -> dict[str, int]:
    """queued / running / done / failed / stopped / total counts of member states."""
    c = {"queued": 0, "running": 0, "done": 0, "failed": 0, "stopped": 0, "total": len(states)}
    for s in states:
        if s in DONE:
            c["done"] += 1
        elif s in BUSY:
            c["running"] += 1
        elif s in FAILED or s in ("unreadable", "missing"):
            c["failed"] += 1
        elif s == "stopped":
            c["stopped"] += 1
        else:
            c["queued"] += 1
    return c


def final_state(states: Sequence[str]) -> str:
    """The queue's state once nothing is left to start: `finished` (all members),
    `failed` (some failed or diverged) or `stopped` (some were stopped by hand)."""
    if all(s in DONE for s in states):
        return "finished"
    return "failed" if any(s not in DONE and s != "stopped" for s in states) else "stopped"


def describe_sweep(sweep_dir: Path) -> dict[str, Any]:
    """sweep.json plus live `state` (interrupted when the runner is gone), `counts` and each
    member's `state`: what listings show. Raises RunError when sweep.json is unreadable."""
    data = read_sweep(sweep_dir)
    states = member_states(sweep_dir, data)
    for m in data.get("members", []):
        m["state"] = states.get(m["run"], "missing")
    data["queue_state"] = data.get("state")
    data["state"] = queue_state(data)
    data["counts"] = count_states(list(states.values()))
    data["live"] = runner_alive(data)
    return data


def list_sweeps(root: Path) -> list[Path]:
    """Sweep folders directly under the runs root, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and is_sweep(p)]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name), reverse=True)


def resolve_sweep(arg: str | os.PathLike[str], root: Path) -> Path:
    """A sweep given as a folder, a name under the runs root, or a unique name prefix."""
    p = Path(arg)
    for cand in (p, Path(root) / p):
        if cand.is_dir():
            if not is_sweep(cand):
                raise RunError(f"{cand} is not a sweep folder (no {SWEEP})")
            return cand
    matches = [s for s in list_sweeps(Path(root)) if s.name.startswith(str(arg))]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        names = ", ".join(sorted(m.name for m in matches)[:8])
        raise RunError(f"sweep {arg!r} is ambiguous under {root}: {names}")
    raise RunError(
        f"sweep not found: {arg} (looked for a folder, and under the runs root {root}; "
        "`fbtui queue` lists the sweeps)"
    )
