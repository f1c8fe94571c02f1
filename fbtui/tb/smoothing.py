"""TensorBoard's scalar-chart smoothing and y-range rule, on numpy arrays.

`smooth` reproduces TensorBoard's `classicSmoothing` (tf-line-chart / vz_line_chart2):

    last = w * last + (1 - w) * x;  smoothed = last / (1 - w ** n)

over the finite points only (n counts them), non-finite values passed through unchanged,
and a constant series returned as is. The recurrence is evaluated block-wise with numpy
so smoothing a million points takes milliseconds, not a Python loop.
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_WEIGHT = 0.6
MAX_WEIGHT = 0.999


def _linear_recurrence(a: float, x: np.ndarray) -> np.ndarray:
    """y[n] = a * y[n-1] + x[n] with y[-1] = 0, for 0 <= a < 1, vectorised by blocks.

    Inside a block of B points, y[j] = a**j * cumsum(x[i] / a**i): the powers stay below
    e**30 so the error is ~B ulps of max|x|. Block ends then follow the same recurrence
    with factor a**B, solved recursively (each level shrinks by B).
    """
    n = len(x)
    if n == 0 or a == 0.0:
        return x.astype(np.float64, copy=True)
    block = max(2, min(4096, int(30.0 / -math.log(a))))
    if n <= block:
        powers = a ** np.arange(n, dtype=np.float64)
        return powers * np.cumsum(x / powers)
    nb = -(-n // block)
    padded = np.zeros(nb * block, dtype=np.float64)
    padded[:n] = x
    rows = padded.reshape(nb, block)
    powers = a ** np.arange(block, dtype=np.float64)
    local = powers * np.cumsum(rows / powers, axis=1)  # each block started from 0
    # carry[b] = y at the end of block b-1; it follows y_end[b] = a**B y_end[b-1] + local_end[b]
    ends = _linear_recurrence(a**block, local[:, -1])
    carry = np.concatenate(([0.0], ends[:-1]))
    local += carry[:, None] * (powers * a)[None, :]
    return local.reshape(-1)[:n]


def smooth(values: np.ndarray, weight: float = DEFAULT_WEIGHT) -> np.ndarray:
    """TensorBoard's debiased exponential moving average of `values` (weight 0-0.999)."""
    y = np.asarray(values, dtype=np.float64)
    weight = float(min(max(weight, 0.0), MAX_WEIGHT))
    if len(y) == 0 or weight == 0.0:
        return y.copy()
    if np.all(y == y[0]):  # TensorBoard leaves constant series alone (its #786)
        return y.copy()
    out = y.copy()
    finite = np.isfinite(y)
    xs = y[finite]
    if len(xs) == 0:
        return out
    last = _linear_recurrence(weight, (1.0 - weight) * xs)
    debias = 1.0 - weight ** np.arange(1, len(xs) + 1, dtype=np.float64)
    out[finite] = last / debias
    return out


def smooth_reference(values, weight: float = DEFAULT_WEIGHT) -> list[float]:
    """Line-by-line port of TensorBoard's JavaScript loop (slow; the tests' yardstick)."""
    ys = [float(v) for v in values]
    weight = min(max(weight, 0.0), MAX_WEIGHT)
    last = 0.0 if ys else math.nan
    num_accum = 0
    is_constant = all(v == ys[0] for v in ys)
    out = []
    for v in ys:
        if is_constant or not math.isfinite(v):
            out.append(v)
            continue
        last = last * weight + (1 - weight) * v
        num_accum += 1
        debias = 1.0 if weight == 1 else 1 - weight**num_accum
        out.append(last / debias)
    return out


def y_range(values: np.ndarray, ignore_outliers: bool = True) -> tuple[float, float]:
    """TensorBoard's y-axis domain: 5th-95th percentiles (or min/max), padded.

    Follows vz_chart_helpers.computeDomain: non-finite values are ignored; the span is
    padded by 20 % (a flat line at 0 gets ±1.1); zero is included when that less than
    doubles the span. Returns (-0.1, 1.1) when there is nothing finite.

    Two departures: a flat line a != 0 gets a ± |a|/2 (TensorBoard's |a|*1.1+1.1 squashes
    a constant lr of 1e-3 onto the axis), and when every value is >= 0 (a loss, a learning
    rate, img/s) the padding stops at zero, so the axis never shows negative values.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return (-0.1, 1.1)
    if ignore_outliers:
        a, b = (float(q) for q in np.quantile(v, [0.05, 0.95]))
    else:
        a, b = float(v.min()), float(v.max())
    span = b - a
    if span == 0:  # flat (one point, a constant lr): centred, as the dashboard's charts
        padding = abs(a) * 0.5 if a != 0 else 1.1
    else:
        padding = span * 0.2
    lower = -0.1 * b if 0 <= a < span else a - padding
    if lower < 0 <= float(v.min()):
        lower = 0.0
    return (lower, b + padding)
