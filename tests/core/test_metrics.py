import math

import numpy as np
import pytest

from fbtui.metrics import group_metrics, mean_std, pearson, score_metrics


def test_score_metrics_known_values():
    m = score_metrics([1, 2, 3, 4], [1.5, 2, 3, 3])
    assert m["mse"] == pytest.approx((0.25 + 0 + 0 + 1) / 4)
    assert m["mae"] == pytest.approx(1.5 / 4)  # mean, not maximum, absolute error
    assert m["rmse"] == pytest.approx(math.sqrt(m["mse"]))
    assert m["pc"] == pytest.approx(np.corrcoef([1, 2, 3, 4], [1.5, 2, 3, 3])[0, 1])


def test_pearson_constant_is_nan():
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))


def test_group_metrics():
    t = [1, 2, 3, 4, 2, 3]
    p = [1, 2, 3, 4, 3, 3]
    g = ["AF", "AF", "AM", "AM", "CF", None]
    out = group_metrics(t, p, g)
    assert set(out) == {"AF", "AM"}  # CF has one image only
    assert out["AF"]["mse"] == 0


def test_mean_std():
    assert mean_std([1, 3]) == (2.0, pytest.approx(math.sqrt(2)))
    assert mean_std([2.0]) == (2.0, 0.0)
