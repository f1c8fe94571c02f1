"""Short text for the dashboard: durations, start times, metric figures, ETA."""

from __future__ import annotations

import math
import time
from typing import Any


def duration(seconds: float | None) -> str:
    """'4:05', '1:02:03' or '3d04h'; '' when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return ""
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600:02d}h"
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def duration_coarse(seconds: float | None) -> str:
    """'<1m', '12m', '1h48m', '3d04h': minute steps, so a live run's cell changes rarely."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return ""
    s = int(seconds)
    if s < 60:
        return "<1m"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s < 10 * 86400:
        return f"{s // 86400}d{s % 86400 // 3600:02d}h"
    return f"{s // 86400}d"


def started(ts: float | None) -> str:
    """Start time as 'MM-DD HH:MM' in local time; '' when unknown."""
    if ts is None:
        return ""
    return time.strftime("%m-%d %H:%M", time.localtime(ts))


def timestamp(ts: float | None) -> str:
    """'2025-06-15 14:36:40' in local time; '' when unknown."""
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def started_short(ts: float | None, now: float) -> str:
    """Start time in 5 cells: 'HH:MM' on the same day as `now`, else 'MM-DD'."""
    if ts is None:
        return ""
    if time.localtime(ts)[:3] == time.localtime(now)[:3]:
        return time.strftime("%H:%M", time.localtime(ts))
    return time.strftime("%m-%d", time.localtime(ts))


def metric(value: Any, digits: int = 4) -> str:
    """A metric figure, or '' when missing or not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    if not math.isfinite(value):
        return "nan" if math.isnan(value) else str(value)
    return f"{value:.{digits}f}"


def lr(value: float | None) -> str:
    """A learning rate: '0.003', '1.2e-05'."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.3g}"


def eta(seconds: float | None) -> str:
    """'ETA 23m15s', 'ETA 1h02m', 'ETA 3d04h' (a duration, never read as a clock time),
    or 'ETA ?' when not known yet."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "ETA ?"
    s = int(seconds)
    if s < 60:
        return f"ETA {s}s"
    if s < 3600:
        return f"ETA {s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"ETA {s // 3600}h{s % 3600 // 60:02d}m"
    return f"ETA {s // 86400}d{s % 86400 // 3600:02d}h"
