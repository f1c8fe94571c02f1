"""Score-scale metrics (the field's MSE, MAE, RMSE and Pearson correlation). numpy only."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

GROUPS = ("AF", "AM", "CF", "CM")


def score_metrics(target: Sequence[float], pred: Sequence[float]) -> dict[str, float]:
    """MSE, MAE (mean absolute error), RMSE and Pearson correlation on the 1-5 scale."""
    t = np.asarray(target, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    if t.shape != p.shape or t.size == 0:
        raise ValueError(f"need equal, non-empty arrays (got {t.shape} and {p.shape})")
    err = p - t
    mse = float(np.mean(err**2))
    return {
        "mse": mse,
        "mae": float(np.mean(np.abs(err))),
        "rmse": math.sqrt(mse),
        "pc": pearson(t, p),
    }


def pearson(a: Sequence[float], b: Sequence[float]) -> float:
    """Pearson correlation; nan when either side is constant."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    x = x - x.mean()
    y = y - y.mean()
    den = math.sqrt(float(np.dot(x, x)) * float(np.dot(y, y)))
    return float(np.dot(x, y) / den) if den > 0 else float("nan")


def group_metrics(
    target: Sequence[float], pred: Sequence[float], groups: Sequence[str | None]
) -> dict[str, dict[str, float]]:
    """Metrics per subgroup (AF/AM/CF/CM) for the groups present with at least 2 images."""
    t = np.asarray(target, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray([x or "" for x in groups])
    out: dict[str, dict[str, float]] = {}
    for name in GROUPS:
        m = g == name
        if m.sum() >= 2:
            out[name] = score_metrics(t[m], p[m])
    return out


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value) of finite values."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0
