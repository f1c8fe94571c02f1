"""status.json: written atomically by the trainer, read by everyone else."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from fbtui.runs.layout import STATUS

# A heartbeat older than this means the trainer stopped writing (hung, frozen or gone).
HEARTBEAT_STALE_S = 60.0


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to `path` via a temporary file and os.replace: readers never see a torn file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True, default=_jsonable)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _jsonable(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


class UnreadableStatus(Exception):
    """status.json exists but is not a JSON object."""


def read_json(path: Path) -> dict[str, Any] | None:
    """Read a JSON object; None when missing, UnreadableStatus when corrupt."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise UnreadableStatus(f"{path}: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UnreadableStatus(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict):
        raise UnreadableStatus(f"{path}: expected a JSON object")
    return data


def read_status(run_dir: Path) -> dict[str, Any] | None:
    return read_json(Path(run_dir) / STATUS)


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists on this host (zombies count as gone)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited; it only waits for its parent to reap it
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def effective_state(status: dict[str, Any], now: float | None = None) -> str:
    """The state to show: `running` becomes `failed (lost)` when the process is gone
    (same host) or its heartbeat stopped (`running (stale)` on another host)."""
    state = str(status.get("state", "unknown"))
    if state != "running":
        return state
    now = time.time() if now is None else now
    updated = status.get("updated")
    stale = not isinstance(updated, (int, float)) or now - updated > HEARTBEAT_STALE_S
    if status.get("host") == socket.gethostname():
        pids = status.get("pids") or [status.get("pid")]
        if not any(pid_alive(p) for p in pids if isinstance(p, int)):
            return "failed (lost)"
        return "running (stale)" if stale else "running"
    return "running (stale)" if stale else "running"


def is_live(status: dict[str, Any], now: float | None = None) -> bool:
    return effective_state(status, now) == "running"
