"""Short text for the dashboard: durations, start times, metric figures, ETA."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
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


#: Fixed-point figures stop here: a larger one (a diverged run's MSE) reads as a plausible
#: number when cut to a column, so it is written in scientific notation instead.
FIXED_MAX = 1e5


def _significant(text: str) -> int:
    """How many significant digits a formatted figure shows ('0.0020' -> 2, '1e+63' -> 1)."""
    mantissa = text.lower().split("e")[0].lstrip("-+").replace(".", "")
    return len(mantissa.lstrip("0"))


def _sci(v: float, decimals: int) -> str:
    """'9.58e+62'; trailing zeros dropped ('7.50e-04' -> '7.5e-04')."""
    mantissa, exp = f"{v:.{decimals}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{exp}"


def metric(value: Any, digits: int = 4, width: int | None = None) -> str:
    """A metric figure in at most `width` cells (None: no limit); '' when missing or not
    a number.

    `digits` decimals in the usual range ('0.3760'), fewer when `width` needs it
    ('12.346'); scientific notation when a fixed-point figure would be huge or show
    fewer significant digits ('9.6e+62', '2.89e-07'), so a diverged run's figures are
    never cut into plausible-looking ones. When nothing fits `width`, the shortest
    honest text is returned (longer than `width`: callers widen their column)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    v = float(value)
    if not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    limit = width if width is not None else 10**6

    def fits(text: str) -> bool:
        return len(text) <= limit

    fixed = None
    if v == 0 or 10.0**-digits <= abs(v) < FIXED_MAX:
        fixed = next(
            (t for d in range(digits, -1, -1) if fits(t := f"{v:.{d}f}")),
            None,
        )
        if fixed is not None and v != 0 and _significant(fixed) == 0:
            fixed = None
    sci = next((t for p in (2, 1, 0) if fits(t := _sci(v, p))), None)
    # fixed point unless scientific shows more digits where fixed point shows fewer than 2
    if fixed is not None and (sci is None or _significant(fixed) >= min(2, _significant(sci))):
        return fixed
    if sci is not None:
        return sci
    # nothing fits: the shortest text that still tells the figure
    shortest = _sci(v, 0)
    if v == 0 or 10.0**-digits <= abs(v) < FIXED_MAX:
        for d in range(digits, -1, -1):
            t = f"{v:.{d}f}"
            if _significant(t) and len(t) <= len(shortest):
                shortest = t
    return shortest


def compact(x: Any, width: int) -> str:
    """A figure in at most `width` cells (see `metric`): '0.3760', '12.346', '9.6e+62'."""
    return metric(x, 4, width)


def _tight_exponent(text: str) -> str:
    """'1.5e+27' -> '1.5e27', '2.9e-07' -> '2.9e-7': axis labels have few cells."""
    return re.sub(r"e([+-])0*(\d)", lambda m: "e" + ("-" if m[1] == "-" else "") + m[2], text)


def axis_labels(ticks: Sequence[float], width: int) -> list[str]:
    """Labels for evenly spaced axis ticks, each in at most `width` cells and all in one
    notation: fixed point with the decimals the spacing needs ('0.25', '1200'), else
    scientific ('1.5e27', '2.9e-7'). Distinct ticks keep distinct labels where the
    width allows it."""
    ticks = [float(t) for t in ticks]
    if not ticks:
        return []
    spacing = min((abs(b - a) for a, b in zip(ticks, ticks[1:], strict=False) if b != a), default=0)
    biggest = max(abs(t) for t in ticks)
    if biggest < FIXED_MAX:
        # the fewest decimals that write every tick exactly (0.25 steps need 2)
        tol = (spacing or 1.0) * 1e-6
        decimals = next((d for d in range(7) if all(abs(round(t, d) - t) <= tol for t in ticks)), 7)
        labels = [f"{t:.{decimals}f}" for t in ticks]
        labels = [x.lstrip("-") if float(x) == 0 else x for x in labels]  # never '-0.0'
        if all(len(x) <= width for x in labels):
            return labels
    best: list[str] = []
    for p in (0, 1, 2, 3):
        labels = ["0" if t == 0 else _tight_exponent(f"{t:.{p}e}") for t in ticks]
        if all(len(x) <= width for x in labels):
            best = labels
            if len(set(labels)) == len(set(ticks)):
                return labels
    return best or [x[:width] for x in labels]


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
