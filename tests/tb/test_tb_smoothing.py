"""TensorBoard smoothing and y-range, against a line-by-line port of its JavaScript."""

import math

import numpy as np
import pytest

from fbtui.tb import smooth, y_range
from fbtui.tb.smoothing import smooth_reference


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.6, 0.9, 0.99, 0.999])
@pytest.mark.parametrize("n", [1, 2, 7, 100, 5000])
def test_matches_tensorboard_loop(weight, n):
    rng = np.random.default_rng(n)
    y = rng.normal(3.0, 2.0, n).cumsum()
    if n > 5:
        y[[1, n // 2, n - 2]] = [np.nan, np.inf, -np.inf]
    got = smooth(y, weight)
    want = np.array(smooth_reference(y, weight))
    assert np.array_equal(np.isfinite(got), np.isfinite(want))
    np.testing.assert_allclose(got[np.isfinite(got)], want[np.isfinite(want)], rtol=1e-9, atol=1e-9)
    nonfinite = ~np.isfinite(y)
    np.testing.assert_array_equal(got[nonfinite], y[nonfinite])  # passed through


def test_long_series_is_accurate_and_fast():
    y = np.sin(np.arange(1_000_000) / 500.0) + 2.0
    want = np.array(smooth_reference(y[:20000], 0.6))
    import time

    t = time.perf_counter()
    got = smooth(y, 0.6)
    assert time.perf_counter() - t < 1.0
    np.testing.assert_allclose(got[:20000], want, rtol=1e-12)
    got = smooth(y, 0.999)
    want = np.array(smooth_reference(y[:20000], 0.999))
    np.testing.assert_allclose(got[:20000], want, rtol=1e-10)


def test_first_point_is_unbiased_and_constants_stay():
    assert smooth([5.0, 7.0], 0.6)[0] == 5.0
    np.testing.assert_array_equal(smooth([2.5] * 10, 0.9), [2.5] * 10)
    assert smooth([], 0.6).shape == (0,)
    assert math.isnan(smooth([math.nan], 0.6)[0])
    np.testing.assert_array_equal(smooth([1.0, 2.0, 3.0], 0.0), [1.0, 2.0, 3.0])
    # weight is clamped to TensorBoard's slider range
    np.testing.assert_allclose(smooth([1.0, 2.0], 5.0), smooth([1.0, 2.0], 0.999))


def test_y_range_follows_compute_domain():
    assert y_range([]) == (-0.1, 1.1)
    assert y_range([math.nan, math.inf]) == (-0.1, 1.1)
    lo, hi = y_range([-3.0, -3.0])  # flat: a ± |a|/2 (TensorBoard: |a|*1.1+1.1)
    assert hi == pytest.approx(-1.5) and lo == pytest.approx(-4.5)
    assert y_range([0.0]) == (0.0, pytest.approx(1.1))
    lo, hi = y_range([-1.0, 2.0, 3.0], ignore_outliers=False)  # span padded by 20 %
    assert lo == pytest.approx(-1.8) and hi == pytest.approx(3.8)
    # one wild spike does not flatten the chart
    values = np.r_[np.linspace(10.0, 11.0, 100), 1e6]
    lo, hi = y_range(values)
    assert hi < 12.0 and lo > 9.0
    assert y_range(values, ignore_outliers=False)[1] > 1e6


def test_y_range_stays_non_negative_for_non_negative_data():
    # TensorBoard would pad below zero: an lr decaying to 0 showed -0.0002122 on the axis
    lr = np.linspace(0.002, 0.0, 50)
    lo, hi = y_range(lr)
    assert lo == 0.0 and hi > 0.002
    # (TensorBoard includes zero here, padded to -0.3: the axis starts at 0 instead)
    assert y_range([1.0, 2.0, 3.0], ignore_outliers=False) == (0.0, pytest.approx(3.4))
    assert y_range([3.0, 3.0]) == (pytest.approx(1.5), pytest.approx(4.5))  # flat
    assert y_range([0.001]) == (pytest.approx(0.0005), pytest.approx(0.0015))  # one point
    assert y_range([132.0] * 5) == (66.0, 198.0)  # img/s, constant
    assert y_range([5.0, 6.0, 7.0], ignore_outliers=False)[0] == pytest.approx(4.6)  # no pad to 0
    assert y_range([0.0, 0.0]) == (0.0, pytest.approx(1.1))
