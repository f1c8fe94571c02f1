"""End to end on the synthetic set: regression learns (test Pearson >= 0.6; the other
heads are in test_exp_e2e_classify.py), and the trained run drives calibration,
fine-tuning on a calibrated set and merging an extra set."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands

load_commands()
runner = CliRunner()


def test_regression_learns_the_synthetic_set(e2e_runs):
    run = e2e_runs("regression")
    best = json.loads((run / "summary.json").read_text())["best"]
    print(f"regression: best test pc {best['pc']:.4f} mse {best['mse']:.4f} at {best['epoch']}")
    assert best["pc"] >= 0.6, best
    rows = list(csv.DictReader(open(run / "predictions.csv")))
    assert len(rows) > 0 and all(np.isfinite(float(r["prediction"])) for r in rows)


def _list_set(src_run: Path, folder: Path, k: float, b: float) -> tuple[Path, np.ndarray]:
    """A list-format copy of some synthetic test images whose labels are the run's own
    predictions mapped back through y = (p - b) / k: calibration must find k and b."""
    rows = list(csv.DictReader(open(src_run / "predictions.csv")))[:120]
    cfg = (src_run / "config.toml").read_text()
    assert 'root = "synthetic"' in cfg
    from fbtui.config import load_config
    from fbtui.data import resolve_root

    c = load_config(src_run / "config.toml")
    images = (
        resolve_root("synthetic", synth_n=c.data.synth_n, synth_size=c.data.synth_size) / "Images"
    )
    folder.mkdir(parents=True)
    preds = np.array([float(r["prediction"]) for r in rows])
    lines = []
    for r, p in zip(rows, preds, strict=True):
        name = "x_" + r["filename"]  # not SCUT-style names: a different data set
        shutil.copy(images / r["filename"], folder / name)
        lines.append(f"{name} {(p - b) / k:.6f}")
    (folder / "labels.txt").write_text("filename score\n" + "\n".join(lines) + "\n")
    return folder, preds


def test_calibrate_recovers_k_and_b(e2e_runs, tmp_path):
    run = e2e_runs("regression")
    data, _ = _list_set(run, tmp_path / "extra", k=0.8, b=0.3)
    res = runner.invoke(app, ["calibrate", str(run), str(data), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["n"] == 120
    assert out["k"] == pytest.approx(0.8, abs=2e-3) and out["b"] == pytest.approx(0.3, abs=5e-3)
    assert out["mse_after"] < 1e-4 < out["mse_before"]
    text = runner.invoke(app, ["calibrate", str(run), str(data), "--format", "list"])
    assert text.exit_code == 0, text.output
    assert "k = 0.8000" in text.output and "b = +0.300" in text.output
    assert "calibration = {k = 0.8000, b = 0.300" in text.output


def test_finetune_on_a_calibrated_set_fits_against_init_from(e2e_runs, write_config, tmp_path):
    run = e2e_runs("regression")
    data, _ = _list_set(run, tmp_path / "extra", k=0.8, b=0.3)
    cfg = write_config(tmp_path, "regression", epochs=1)
    args = ["run", str(cfg), "--runs-dir", str(tmp_path / "runs"), "--name", "finetune"]
    for s in (
        f"data.root={data}",
        "data.format=list",
        'data.calibration="fit"',
        f"model.init_from={run}",
        "train.optimizer=sgd",  # Adam's first steps are lr-sized whatever the gradient
        "train.lr=0.001",
    ):
        args += ["--set", s]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "loaded 26 tensors (100.0% of the model's weights), skipped 0" in " ".join(
        res.output.split()
    )
    assert "fitted y' = 0.8000*y +0.300" in res.output
    (ft,) = (tmp_path / "runs").iterdir()
    from fbtui.config import load_config

    saved = load_config(ft / "config.toml").data.calibration  # the fitted numbers are recorded
    assert saved.k == pytest.approx(0.8, abs=2e-3) and saved.b == pytest.approx(0.3, abs=5e-3)
    best = json.loads((ft / "summary.json").read_text())["best"]
    assert best["mse"] < 0.05  # started from the model the labels were derived from


def test_merge_an_extra_set(e2e_runs, write_config, tmp_path):
    run = e2e_runs("regression")
    data, _ = _list_set(run, tmp_path / "extra", k=0.8, b=0.3)
    extra = f"""
[[data.extra]]
root = "{data}"
format = "list"
calibration = "fit"
fit_from = "{run}"
weight = 0.5
"""
    cfg = write_config(tmp_path, "regression", epochs=1, n=200)
    cfg.write_text(cfg.read_text() + extra)
    res = runner.invoke(app, ["run", str(cfg), "--runs-dir", str(tmp_path / "runs")])
    assert res.exit_code == 0, res.output
    assert "data.extra.0: merged 60 images" in res.output
    (m,) = (tmp_path / "runs").iterdir()
    status = json.loads((m / "status.json").read_text())
    assert status["train_images"] == 120 + 60


def test_fit_without_a_model_is_a_clear_error(write_config, tmp_path):
    cfg = write_config(tmp_path, "regression", epochs=1, n=60)
    cfg.write_text(
        cfg.read_text()
        + '\n[[data.extra]]\nroot = "synthetic"\nformat = "scut"\ncalibration = "fit"\n'
    )
    res = runner.invoke(app, ["run", str(cfg), "--runs-dir", str(tmp_path / "runs")])
    assert res.exit_code == 2, res.output
    assert 'data.extra.0.calibration = "fit" needs a trained model' in res.output
    assert "fit_from" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "runs").exists()
