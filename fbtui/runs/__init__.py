"""Run folders: layout, status.json and listing. Plain Python (no torch, no textual)."""

from fbtui.runs.layout import new_run_dir
from fbtui.runs.status import effective_state, read_status, write_json_atomic
from fbtui.runs.store import RunInfo, describe, list_runs, pid_to_run, resolve_run

__all__ = [
    "RunInfo",
    "describe",
    "effective_state",
    "list_runs",
    "new_run_dir",
    "pid_to_run",
    "read_status",
    "resolve_run",
    "write_json_atomic",
]
