"""Find and describe run folders: fbtui runs and plain TensorBoard logdirs."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fbtui.errors import RunError
from fbtui.runs.layout import CONFIG, EVENTS_GLOB, KFOLD, STATUS, SUMMARY
from fbtui.runs.status import (
    UnreadableStatus,
    check_status,
    effective_state,
    read_json,
    read_status,
)

MAX_DEPTH = 3  # runs root / sweep or k-fold parent / run
SWEEP = "sweep.json"  # marks a sweep folder (fbtui.sweep); listed like a k-fold group


@dataclass
class RunInfo:
    """What listings show about one run folder."""

    path: Path
    name: str
    kind: str  # "fbtui" | "logdir" | "group"
    state: str = "unknown"
    status: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    started: float | None = None
    updated: float | None = None

    @property
    def epoch(self) -> int | None:
        return self.status.get("epoch")

    @property
    def epochs(self) -> int | None:
        return self.status.get("epochs")

    @property
    def best(self) -> dict[str, Any]:
        return self.summary.get("best") or self.status.get("best") or {}

    @property
    def duration(self) -> float | None:
        """Training time: a stopped run's idle days before its resume do not count."""
        return self.duration_at(time.time())

    def duration_at(self, now: float) -> float | None:
        """`duration` with the clock given (the dashboard's, fixed in its tests)."""
        if self.kind == "fbtui" and self.status:
            from fbtui.runs.status import active_seconds

            active = active_seconds(self.status, now, self.state)
            if active is not None:
                return active
        if self.started is None:
            return None
        end = self.updated if self.state not in ("running",) else now
        return None if end is None else max(0.0, end - self.started)

    @property
    def pids(self) -> list[int]:
        pids = self.status.get("pids") or [self.status.get("pid")]
        return [p for p in pids if isinstance(p, int)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "kind": self.kind,
            "state": self.state,
            "epoch": self.epoch,
            "epochs": self.epochs,
            "best": self.best,
            "started": self.started,
            "updated": self.updated,
            "duration_s": self.duration,
            "error": self.error or self.status.get("error") or "",
            "summary": self.summary,
        }


_config_checked: dict[Path, tuple[tuple[int, int], str]] = {}


def config_problem(path: Path) -> str:
    """Why a run's config.toml cannot be read ('' when it can, or is missing); each
    version of the file is parsed once (listings repeat every few seconds)."""
    import tomllib

    try:
        st = path.stat()
    except OSError:
        return ""
    key = (st.st_mtime_ns, st.st_size)
    hit = _config_checked.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    try:
        tomllib.loads(path.read_text(encoding="utf-8"))
        why = ""
    except UnicodeDecodeError as e:
        why = f"{path}: not a UTF-8 text file ({e.reason})"
    except tomllib.TOMLDecodeError as e:
        why = f"{path}: not valid TOML ({e})"
    except OSError as e:
        why = f"{path}: cannot read ({e.strerror})"
    if len(_config_checked) > 4096:  # bounded, whatever the size of the runs root
        _config_checked.clear()
    _config_checked[path] = (key, why)
    return why


def _has_events_below(path: Path, depth: int = 2) -> bool:
    try:
        if any(path.glob(EVENTS_GLOB)):
            return True
        if depth > 0:
            return any(_has_events_below(p, depth - 1) for p in path.iterdir() if p.is_dir())
    except OSError:
        return False
    return False


def describe(path: Path, root: Path | None = None) -> RunInfo:
    """Read one folder into a RunInfo; corrupt files make it `unreadable`, never raise."""
    path = Path(path)
    name = str(path.relative_to(root)) if root is not None else path.name
    if (path / STATUS).exists() or (path / CONFIG).exists():
        info = RunInfo(path=path, name=name, kind="fbtui")
        try:
            status = read_status(path) or {}
            summary = read_json(path / SUMMARY) or {}
        except UnreadableStatus as e:
            info.state, info.error = "unreadable", str(e)
            return info
        info.status, info.summary = status, summary
        info.state = effective_state(status) if status else "unknown"
        bad_config = config_problem(path / CONFIG)
        if bad_config:  # a live run keeps its state (it read the file when it started)
            info.error = bad_config
            if info.state != "running":
                info.state = "unreadable"
            return info
        started, updated = status.get("started"), status.get("updated")
        info.started = started if isinstance(started, (int, float)) else None
        info.updated = updated if isinstance(updated, (int, float)) else None
        return info
    if (path / SWEEP).exists():
        from fbtui.sweep.folder import describe_sweep  # plain Python, no torch

        info = RunInfo(path=path, name=name, kind="group")
        try:
            info.summary = describe_sweep(path)  # kind "sweep", live state and counts
        except (RunError, OSError) as e:
            info.state, info.error = "unreadable", str(e)
        else:
            info.state = str(info.summary.get("state", "group"))
            info.started = info.summary.get("created")
        return info
    if (path / KFOLD).exists():
        return _describe_kfold(RunInfo(path=path, name=name, kind="group"))
    info = RunInfo(path=path, name=name, kind="logdir", state="logdir")
    try:
        files = sorted(path.rglob(EVENTS_GLOB))
        if files:
            info.updated = max(f.stat().st_mtime for f in files)
            info.started = min(f.stat().st_mtime for f in files)
    except OSError:
        pass
    return info


def _describe_kfold(info: RunInfo) -> RunInfo:
    """A k-fold group from kfold.json, read like a run's status.json: its fields checked,
    `started`/`updated` for sorting and durations, and a `running` group whose process is
    gone shown as `failed (lost)`. Its heartbeat is the newest of kfold.json's and its
    folds' (kfold.json itself is only rewritten between folds)."""
    try:
        data = read_json(info.path / KFOLD) or {}
        check_status(data, info.path / KFOLD)  # a bad pid or time: unreadable, never used
    except UnreadableStatus as e:
        info.state, info.error = "unreadable", str(e)
        return info
    info.summary = data
    started = data.get("started") or data.get("created")  # created: a group not begun yet
    info.started = started if isinstance(started, (int, float)) else None
    beats = [data.get("updated")]
    runs = data.get("runs")
    for r in runs if isinstance(runs, list) else []:
        if isinstance(r, dict) and isinstance(r.get("run"), str):
            try:
                beats.append((read_json(info.path / r["run"] / STATUS) or {}).get("updated"))
            except (UnreadableStatus, ValueError):
                pass  # a torn or odd fold: listed as unreadable on its own row
    beats = [b for b in beats if isinstance(b, (int, float)) and not isinstance(b, bool)]
    info.updated = max(beats) if beats else None
    state = data.get("state")
    info.state = (
        effective_state({**data, "updated": info.updated}) if isinstance(state, str) else "group"
    )
    return info


def list_runs(root: Path) -> list[RunInfo]:
    """Every run under the runs root, newest first: fbtui run folders, k-fold/sweep groups
    (and their members), and folders holding only TensorBoard event files."""
    root = Path(root)
    found: list[RunInfo] = []

    def walk(d: Path, depth: int) -> None:
        try:
            children = sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return
        for child in children:
            if (child / STATUS).exists() or (child / CONFIG).exists():
                found.append(describe(child, root))
            elif (child / KFOLD).exists() or (child / SWEEP).exists():
                found.append(describe(child, root))
                if depth < MAX_DEPTH:
                    walk(child, depth + 1)
            elif any(child.glob(EVENTS_GLOB)) or (
                _has_events_below(child, 1) and not _holds_runs(child)
            ):
                found.append(describe(child, root))
            elif depth < MAX_DEPTH:
                walk(child, depth + 1)

    if root.is_dir():
        walk(root, 1)
    found.sort(key=lambda r: (r.started or 0.0, r.name), reverse=True)
    return found


def _holds_runs(d: Path) -> bool:
    try:
        return any(
            (c / STATUS).exists() or (c / CONFIG).exists() for c in d.iterdir() if c.is_dir()
        )
    except OSError:
        return False


def resolve_run(arg: str | os.PathLike[str], root: Path) -> Path:
    """A run given as a path, or as a name (or unique prefix) under the runs root."""
    p = Path(arg)
    if p.is_dir():
        return p
    cand = Path(root) / arg
    if cand.is_dir():
        return cand
    if Path(root).is_dir():
        matches = [r.path for r in list_runs(Path(root)) if r.path.name.startswith(str(arg))]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            names = ", ".join(sorted(m.name for m in matches)[:8])
            raise RunError(f"run {arg!r} is ambiguous under {root}: {names}")
    raise RunError(f"run not found: {arg} (looked for a folder, and under the runs root {root})")


def pid_to_run(runs: list[RunInfo]) -> dict[int, str]:
    """Map the pids of live runs to their names (for the GPU panel's process list)."""
    out: dict[int, str] = {}
    for r in runs:
        if r.kind == "fbtui" and r.state.startswith("running"):
            for pid in r.pids:
                out[pid] = r.name
    return out
