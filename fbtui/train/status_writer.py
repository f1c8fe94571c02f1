"""The trainer's side of status.json: an in-memory dict, written by a heartbeat thread."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from fbtui.runs.layout import STATUS
from fbtui.runs.status import read_json, write_json_atomic

HEARTBEAT_S = 2.0


class StatusWriter:
    """Keeps the run's status and writes it atomically every HEARTBEAT_S seconds, and
    immediately on state changes. `enabled=False` (non-zero DDP ranks) writes nothing."""

    def __init__(self, run_dir: Path, enabled: bool = True):
        self.path = Path(run_dir) / STATUS
        self.enabled = enabled
        self._lock = threading.Lock()
        # held across snapshot *and* write, so a heartbeat can never land an older
        # snapshot after a newer state (e.g. `running` over `stopped`)
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        prev = {}
        if enabled:
            try:
                prev = read_json(self.path) or {}
            except Exception:  # noqa: BLE001 - a corrupt status is rewritten from scratch
                prev = {}
        self.data: dict[str, Any] = dict(prev)
        self.data.update(pid=os.getpid(), host=socket.gethostname())

    def update(self, write: bool = False, **fields: Any) -> None:
        with self._lock:
            self.data.update(fields)
        if write:
            self.write()

    def write(self) -> None:
        if not self.enabled:
            return
        with self._write_lock:
            with self._lock:
                self.data["updated"] = time.time()
                snapshot = dict(self.data)
            write_json_atomic(self.path, snapshot)

    def start_heartbeat(self) -> None:
        if not self.enabled or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._beat, name="fbtui-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self.write()
            except OSError:
                pass  # a full disk must not kill training; the next beat retries

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
