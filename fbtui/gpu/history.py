"""A short rolling history of each device's figures, for sparklines."""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable

from fbtui.gpu.sample import GpuSample

#: The figures kept per device (GpuSample attribute names).
METRICS = ("util_pct", "sm_active_pct", "sm_occupancy_pct", "mem_used", "temp_c", "power_w")


class History:
    """The last `maxlen` values of every metric per device index; None is kept as NaN.

    Thread-safe: a poll thread may `add` while the UI thread reads `series`.
    """

    def __init__(self, maxlen: int = 120) -> None:
        self.maxlen = maxlen
        self._data: dict[tuple[int, str], deque[float]] = {}
        self._lock = threading.Lock()

    def add(self, samples: Iterable[GpuSample]) -> None:
        """Append one poll's samples."""
        with self._lock:
            for s in samples:
                for metric in METRICS:
                    value = getattr(s, metric)
                    q = self._data.setdefault((s.index, metric), deque(maxlen=self.maxlen))
                    q.append(math.nan if value is None else float(value))

    def series(self, index: int, metric: str) -> list[float]:
        """A copy of one device's metric history, oldest first (NaN where unknown)."""
        if metric not in METRICS:
            raise KeyError(f"unknown GPU metric {metric!r}; one of {METRICS}")
        with self._lock:
            return list(self._data.get((index, metric), ()))

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
