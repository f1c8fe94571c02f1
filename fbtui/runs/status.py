"""status.json: written atomically by the trainer, read by everyone else."""

from __future__ import annotations

import json
import math
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
    """A run's status.json; None when missing, UnreadableStatus when corrupt or when a
    field has a type the trainer never writes (see `check_status`)."""
    path = Path(run_dir) / STATUS
    data = read_json(path)
    if data is not None:
        check_status(data, path)
    return data


_STR_FIELDS = ("host", "error", "device")
_COUNT_FIELDS = ("epoch", "epochs", "step", "batch", "steps_per_epoch", "world_size")
# active_s is a span, not a date, but the same check fits it (finite, >= 0)
_TIME_FIELDS = ("started", "updated", "created", "session_started", "active_s")
_NUM_FIELDS = ("lr", "img_per_s", "data_wait_frac")
MAX_PID = 2**31  # pid_t; beyond it os.kill raises OverflowError


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _field_problem(key: str, v: Any) -> str | None:
    """Why a status field cannot be trusted, or None. null means not known yet."""
    if key == "state":
        return None if isinstance(v, str) else "expected a string"
    if v is None:
        return None
    if key in _STR_FIELDS and not isinstance(v, str):
        return "expected a string"
    if key == "pid" and not (_is_int(v) and 1 <= v < MAX_PID):
        # 0 and negative pids would signal a process group, or every process, on stop
        return "expected a process id (a positive integer)"
    if key == "pids" and not (
        isinstance(v, list) and all(_is_int(p) and 1 <= p < MAX_PID for p in v)
    ):
        return "expected a list of process ids"
    if key == "ranks" and not (isinstance(v, list) and all(isinstance(r, dict) for r in v)):
        return "expected a list of objects"
    if key in _COUNT_FIELDS and not (_is_int(v) and v >= 0):
        return "expected a count (an integer >= 0)"
    if key in _TIME_FIELDS and not (
        isinstance(v, (int, float))
        and not isinstance(v, bool)
        and math.isfinite(v)
        and 0 <= v < 1e11
    ):
        return "expected a time in seconds since 1970"
    if key in _NUM_FIELDS and not (isinstance(v, (int, float)) and not isinstance(v, bool)):
        return "expected a number"
    if key in ("best", "last") and not isinstance(v, dict):
        return "expected an object"
    return None


def check_status(data: dict[str, Any], path: Path | str = STATUS) -> None:
    """Raise UnreadableStatus when a field that listings, the dashboard or `fbtui stop`
    rely on has the wrong type (a hand-edited or corrupted file): better shown as
    unreadable, naming the field, than crashing a view or signalling a wrong pid."""
    for key, value in data.items():
        why = _field_problem(key, value)
        if why:
            raise UnreadableStatus(f"{path}: field {key!r}: {why}, found {value!r:.60}")


def stopped_by_sigint(run_dir: Path) -> bool:
    """The run recorded a stop by SIGINT (Ctrl-C) in its status.json."""
    try:
        error = str((read_status(run_dir) or {}).get("error") or "")
    except UnreadableStatus:
        return False
    return error.startswith("stopped by SIGINT")


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


def active_before(status: dict) -> float:
    """Seconds a run trained in its earlier sessions, for a session starting now: the
    recorded `active_s` plus the last session's span up to its last heartbeat (a killed
    session counts up to then). Runs written before `session_started` existed count
    from `started`, idle gaps of earlier resumes included."""

    def num(key: str) -> float | None:
        v = status.get(key)
        return float(v) if isinstance(v, (int, float)) else None

    begun, updated = num("session_started") or num("started"), num("updated")
    span = max(0.0, updated - begun) if begun is not None and updated is not None else 0.0
    return (num("active_s") or 0.0) + span


def active_seconds(status: dict, now: float, state: str | None = None) -> float | None:
    """How long a run has trained: the earlier sessions' `active_s` plus this session's
    time to `now` (running) or to its last heartbeat. `state`: the effective state (a
    `running` run whose process is gone is `failed (lost)` and counts to its last
    heartbeat); default the recorded one. None without a start."""
    session = status.get("session_started")
    if not isinstance(session, (int, float)):
        return None
    state = state if state is not None else status.get("state")
    end = now if state == "running" else status.get("updated")
    if not isinstance(end, (int, float)):
        return None
    return float(status.get("active_s") or 0.0) + max(0.0, end - session)
