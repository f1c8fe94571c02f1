"""Calibration maths: recovering a known k and b, with the [1, 5] clip."""

import numpy as np
import pytest

from fbtui.errors import DataError
from fbtui.tools.calibrate import apply, fit_linear, summarize


def test_recovers_known_k_b_exactly():
    rng = np.random.default_rng(0)
    y = rng.uniform(1.5, 4.5, 400)
    p = 0.823 * y - 0.042
    k, b = fit_linear(y, p)
    assert (k, b) == pytest.approx((0.823, -0.042), abs=1e-9)


def test_recovers_k_b_under_noise():
    rng = np.random.default_rng(1)
    y = rng.uniform(1, 5, 2000)
    p = 0.82 * y + 0.3 + rng.normal(0, 0.1, y.size)
    k, b = fit_linear(y, p)
    assert k == pytest.approx(0.82, abs=0.01) and b == pytest.approx(0.3, abs=0.03)
    res = summarize(y, p, k, b)
    assert res.mse_after < res.mse_before
    assert res.mse_after == pytest.approx(0.01, rel=0.1)


def test_labels_on_another_scale_with_clipping():
    """A 1-10 scale whose mapped labels run past 5: the fit honours the clip."""
    rng = np.random.default_rng(2)
    y = rng.uniform(1, 10, 3000)
    truth_k, truth_b = 0.6, 0.2  # maps 10 -> 6.2, clipped to 5
    p = apply(y, truth_k, truth_b) + rng.normal(0, 0.02, y.size)
    k, b = fit_linear(y, p)
    assert (k, b) == pytest.approx((truth_k, truth_b), abs=0.01)
    ols = np.polyfit(y, p, 1)  # plain least squares is pulled off by the clipped points
    assert abs(ols[0] - truth_k) > 0.02
    assert np.mean((apply(y, k, b) - p) ** 2) < np.mean((apply(y, *ols) - p) ** 2)


def test_degenerate_labels_are_a_clear_error():
    with pytest.raises(DataError, match="every label"):
        fit_linear([3.0, 3.0, 3.0], [2.0, 3.0, 4.0])
    with pytest.raises(DataError, match="at least two"):
        fit_linear([3.0], [3.0])


def test_toml_line():
    res = summarize([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 0.8234, -0.0421)
    assert res.toml() == "calibration = {k = 0.8234, b = -0.0421}"


def test_calibrate_missing_dataset_is_exit_2_naming_it(tmp_path):
    from typer.testing import CliRunner

    from fbtui.cli.main import app

    res = CliRunner().invoke(app, ["calibrate", "no-such-run", str(tmp_path / "nosuch")])
    assert res.exit_code == 2, res.output
    assert "nosuch: not found; expected a folder" in res.output
    assert 'root = "synthetic"' not in res.output and "Traceback" not in res.output
    (tmp_path / "f.txt").write_text("x")
    res = CliRunner().invoke(app, ["calibrate", "no-such-run", str(tmp_path / "f.txt")])
    assert res.exit_code == 2 and "f.txt: is a file" in res.output
