"""Re-listing the runs root every couple of seconds, cheaply.

`fbtui.runs.list_runs` reads every run's JSON files; with dozens of past runs that is most
of an idle dashboard's CPU. Between full listings `RunLister` stats each known run's files
and describes again only the runs that changed on disk, plus the ones whose state can
change by itself (a live run's pid or heartbeat, a group's members). A full listing runs
when the root folder changes (a run appeared or went) and every `full_every_s` anyway.

`prefetch()` starts the first listing in a thread as soon as the dashboard is asked for,
so it runs while Textual is still importing and the first frame can already show the runs.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from fbtui.runs import RunInfo, describe, list_runs
from fbtui.runs.layout import CONFIG, STATUS, SUMMARY

#: States that change without their files changing (pid gone, heartbeat too old).
LIVE_STATES = frozenset({"running", "running (stale)", "queued", "unknown"})


def _mtime(path: Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def signature(run_dir: Path) -> tuple[int | None, ...]:
    """What changes when a run's state, summary or config does (three stats)."""
    return (_mtime(run_dir / STATUS), _mtime(run_dir / SUMMARY), _mtime(run_dir / CONFIG))


class RunLister:
    """`list()` returns what `list_runs(root)` would, re-reading only what changed.
    Thread-safe: the dashboard calls it from a worker."""

    def __init__(self, root: Path, full_every_s: float = 30.0) -> None:
        self.root = Path(root)
        self.full_every_s = full_every_s
        self.full_listings = 0  # for tests and benchmarks
        self._runs: list[RunInfo] | None = None
        self._sigs: dict[Path, tuple[int | None, ...]] = {}
        self._root_mtime: int | None = None
        self._full_at = 0.0
        self._lock = threading.Lock()
        self._prefetch: threading.Thread | None = None
        self._prefetched: list[RunInfo] | None = None

    def prefetch(self) -> None:
        """Start the first listing now, in a daemon thread; `take_prefetched` collects it."""
        if self._prefetch is None:
            self._prefetch = threading.Thread(
                target=self._run_prefetch, name="fbtui-list-prefetch", daemon=True
            )
            self._prefetch.start()

    def _run_prefetch(self) -> None:
        try:
            self._prefetched = self.list()
        except OSError:  # the dashboard's listing worker reports it
            pass

    def take_prefetched(self, timeout: float) -> list[RunInfo] | None:
        """The prefetched listing if it is done within `timeout` s (once); else None, and
        the dashboard lists in its worker as usual."""
        thread, self._prefetch = self._prefetch, None
        if thread is None:
            return None
        thread.join(timeout)
        runs, self._prefetched = self._prefetched, None
        return None if thread.is_alive() else runs

    def list(self) -> list[RunInfo]:
        with self._lock:
            root_mtime = _mtime(self.root)
            now = time.monotonic()
            if (
                self._runs is None
                or root_mtime != self._root_mtime
                or now - self._full_at >= self.full_every_s
            ):
                return self._full(root_mtime, now)
            out = []
            for run in self._runs:
                sig = signature(run.path) if run.kind == "fbtui" else None
                if run.kind == "fbtui" and sig == (None, None, None):
                    return self._full(root_mtime, now)  # the folder went: list afresh
                if (
                    run.kind == "group"
                    or run.state in LIVE_STATES
                    or sig != self._sigs.get(run.path)
                ):
                    run = describe(run.path, self.root)
                    if sig is not None:
                        self._sigs[run.path] = sig
                out.append(run)
            self._runs = out
            return list(out)

    def invalidate(self) -> None:
        """Make the next `list()` a full listing (after starting or stopping a run)."""
        with self._lock:
            self._runs = None

    def _full(self, root_mtime: int | None, now: float) -> list[RunInfo]:
        runs = list_runs(self.root)
        self.full_listings += 1
        self._runs = runs
        self._sigs = {r.path: signature(r.path) for r in runs if r.kind == "fbtui"}
        self._root_mtime = root_mtime
        self._full_at = now
        return list(runs)
