"""Text helpers shared by `fbtui gpu` and the dashboard's GPU panel (plain strings)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from fbtui.gpu.sample import GIB

_BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int, lo: float = 0.0, hi: float | None = None) -> str:
    """The last `width` values as block characters, right-aligned; NaN/None is a space.

    `hi=None` scales to the largest value shown (at least `lo` + 1).
    """
    if width <= 0:
        return ""
    tail = [math.nan if v is None else float(v) for v in values[-width:]]
    finite = [v for v in tail if math.isfinite(v)]
    top = hi if hi is not None else max(finite, default=lo + 1.0)
    span = max(top - lo, 1e-9)
    out = []
    for v in tail:
        if not math.isfinite(v):
            out.append(" ")
            continue
        frac = min(max((v - lo) / span, 0.0), 1.0)
        out.append(_BLOCKS[min(int(frac * len(_BLOCKS)), len(_BLOCKS) - 1)])
    return " " * (width - len(out)) + "".join(out)


def gib(n: float | None, digits: int = 1) -> str:
    """Bytes as GiB without the unit ('20.0'), or '-'."""
    return "-" if n is None else f"{n / GIB:.{digits}f}"


def mem_short(n: int | None) -> str:
    """A process's memory: '19.0 GiB', '512 MiB' or '-'."""
    if n is None:
        return "-"
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / (1 << 20):.0f} MiB"


def mem_compact(n: int | None) -> str:
    """A process's memory in at most 6 characters: '19.0G', '512M' or '-'."""
    if n is None:
        return "-"
    if n >= 100 * GIB:
        return f"{n / GIB:.0f}G"
    return f"{n / GIB:.1f}G" if n >= GIB else f"{n / (1 << 20):.0f}M"


def short_name(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'H100 80GB HBM3': the vendor is implied everywhere here."""
    for prefix in ("NVIDIA ", "Tesla "):
        if name.startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix) :]
    return name


def pct(v: float | None) -> str:
    """'87%' or 'n/a'."""
    return "n/a" if v is None else f"{v:.0f}%"


def num(v: float | None, unit: str = "") -> str:
    """'55°C'-style integer figure, or '-'."""
    return "-" if v is None else f"{v:.0f}{unit}"


def mem_text(used: int | None, total: int | None) -> str:
    """'20.0/80.0 GiB' (or '-' parts)."""
    return f"{gib(used)}/{gib(total)} GiB"


def power_text(power_w: float | None, limit_w: float | None) -> str:
    """'350/700 W' (or '-' parts)."""
    return f"{num(power_w)}/{num(limit_w)} W"
