"""Calibration that shrinks the labels towards their mean is reported as such: the mapped
labels' std, r, the MSE a constant gets and a warning below k or r = 0.5, in `fbtui
calibrate` and in a run's `calibration = "fit"` notes; `--split` fits on the same images
as a run's "fit"."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.errors import ConfigError
from fbtui.tools.calibrate import apply, fit_linear, pick_records, shrink_warning, summarize

load_commands()
runner = CliRunner()

BASE_TOML = """
[experiment]
name = "{name}"
seed = 0

[data]
root = "synthetic"
synth_n = 60
synth_size = 32
image_size = 32

[model]
backbone = "tiny"
width = 8

[train]
epochs = 1
batch_size = 16
optimizer = "adam"
lr = 0.003
device = "cpu"
"""


# -- the figures -----------------------------------------------------------------------


def test_shrunk_labels_report_spread_constant_mse_and_warn():
    """The QA case in miniature: a model that barely follows the labels."""
    rng = np.random.default_rng(0)
    y = rng.uniform(1, 5, 200)
    p = 3.0 + 0.05 * (y - 3) + rng.normal(0, 0.1, y.size)  # r about 0.5, k about 0.05
    k, b = fit_linear(y, p)
    res = summarize(y, p, k, b)
    mapped = apply(y, k, b)
    assert res.label_std == pytest.approx(y.std())
    assert res.mapped_std == pytest.approx(mapped.std()) and res.mapped_std < 0.1 * y.std()
    assert res.const_mse == pytest.approx(res.mapped_std**2)
    assert res.mapped_mean == pytest.approx(mapped.mean())
    assert res.mse_after > res.const_mse  # "before -> after" alone looks like a success
    assert res.warning.startswith(f"warning: k = {k:.4f} < 0.5")
    assert f"compare it with the {res.const_mse:.4f} a constant" in res.warning
    assert "Pearson" in res.warning
    assert f"r {res.pc:.4f}" in res.stats() and f"MSE {res.const_mse:.4f}" in res.stats()


def test_a_faithful_mapping_does_not_warn():
    rng = np.random.default_rng(1)
    y = rng.uniform(1, 5, 200)
    p = 0.8 * y + 0.3 + rng.normal(0, 0.05, y.size)
    res = summarize(y, p, *fit_linear(y, p))
    assert res.k > 0.5 and res.pc > 0.5 and res.warning == ""
    assert res.mse_after < res.const_mse


def test_warning_thresholds():
    assert shrink_warning(0.6, 0.6, 1, 0.6, 0.36) == ""
    assert "k = 0.4000 < 0.5" in shrink_warning(0.4, 0.9, 1, 0.4, 0.16)
    low_r = shrink_warning(0.9, 0.3, 1, 0.9, 0.81)
    assert "r = 0.3000 < 0.5" in low_r and "k =" not in low_r
    assert shrink_warning(0.9, None, 1, 0.9, 0.81) == ""  # r unknown: k decides
    assert "k = 0.1000" in shrink_warning(0.1, None, 1, 0.1, 0.01)
    assert "r = nan" in shrink_warning(0.9, float("nan"), 1, 0.9, 0.81)
    assert "this run's test MSE is not" in shrink_warning(
        0.1, None, 1, 0.1, 0.01, "this run's test MSE"
    )


# -- which images ----------------------------------------------------------------------


def _list_set(folder: Path, labels: dict[str, float], images: Path) -> Path:
    folder.mkdir(parents=True)
    for name in labels:
        shutil.copy(images / name[2:], folder / name)
    lines = [f"{n} {s:.6f}" for n, s in labels.items()]
    (folder / "labels.txt").write_text("filename score\n" + "\n".join(lines) + "\n")
    return folder


def test_pick_records_follows_the_trainers_split(tmp_path):
    from fbtui.data import open_dataset

    ds = open_dataset("synthetic", synth_n=60, synth_size=32)
    images = next(iter(ds.records.values())).path.parent
    names = sorted(ds.records)[:20]
    folder = _list_set(tmp_path / "set", {f"x_{n}": 3.0 for n in names}, images)
    ls = open_dataset(str(folder), format="list")
    train, test = ls.split("60/40")
    assert len(pick_records(ls, "all")) == 20
    assert pick_records(ls, "train") == train and len(train) == 12
    assert pick_records(ls, "test") == test
    with pytest.raises(ConfigError, match="list-format set: it has no split files"):
        pick_records(ls, "train", "cv2")
    with pytest.raises(ConfigError, match="--split 'x'"):
        pick_records(ls, "x")


# -- the command and a run -------------------------------------------------------------


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A base run trained one epoch, and two list sets of 40 of its images: `noise` (labels
    unrelated to the model: k and r near 0) and `faithful` (labels = (p - 0.3) / 0.8)."""
    import torch

    from fbtui.cli.run_cmd import create_run
    from fbtui.config import load_config
    from fbtui.data import open_dataset
    from fbtui.tools.calibrate import load_source, predict_records
    from fbtui.train.trainer import train_run

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny 32 px model: threads only add contention
    tmp = tmp_path_factory.mktemp("calwarn")
    cfg_file = tmp / "base.toml"
    cfg_file.write_text(BASE_TOML.format(name="base"))
    run = create_run(load_config(cfg_file), tmp / "runs")
    assert train_run(run) == "finished"
    ds = open_dataset("synthetic", synth_n=60, synth_size=32)
    recs = [ds.records[n] for n in sorted(ds.records)[:40]]
    images = recs[0].path.parent
    rng = np.random.default_rng(3)
    noise = {f"x_{r.name}": float(rng.uniform(1, 5)) for r in recs}
    p = predict_records(load_source(run), recs)
    faithful = {f"x_{r.name}": float((q - 0.3) / 0.8) for r, q in zip(recs, p, strict=True)}
    yield {
        "tmp": tmp,
        "cfg": cfg_file,
        "run": run,
        "noise": _list_set(tmp / "noise", noise, images),
        "faithful": _list_set(tmp / "faithful", faithful, images),
    }
    torch.set_num_threads(threads)


def _calibrate(*args: str):
    return runner.invoke(app, ["calibrate", *map(str, args)])


def test_calibrate_prints_the_spread_constant_and_warning(setup):
    res = _calibrate(setup["run"], setup["noise"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())  # undo the terminal's wrapping
    assert 'images: all 40 images ([[data.extra]] calibration = "fit" fits on these)' in out
    assert "mapped labels: mean" in out and "(was " in out
    assert "a constant (the mapped mean) gets MSE" in out
    assert "warning: k = " in out and "the mapped labels are shrunk towards their mean" in out
    data = json.loads(_calibrate(setup["run"], setup["noise"], "--json").output)
    assert data["k"] < 0.5 and data["warning"].startswith("warning:")
    assert data["const_mse"] == pytest.approx(data["mapped_std"] ** 2)
    assert (data["split"], data["n"], data["total"]) == ("all", 40, 40)


def test_calibrate_faithful_set_has_no_warning(setup):
    res = _calibrate(setup["run"], setup["faithful"], "--split", "train")
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "images: the training split of 60/40: 24 of 40 images" in out
    assert "k = 0.8000" in out and "warning" not in out


def test_split_train_gives_the_k_b_a_fine_tune_fit_records_and_warns_in_the_run(setup):
    from fbtui.config import load_config

    cal = _calibrate(setup["run"], setup["noise"], "--split", "train", "--json")
    assert cal.exit_code == 0, cal.output
    fitted = json.loads(cal.output)
    assert (fitted["split"], fitted["data_split"], fitted["n"]) == ("train", "60/40", 24)
    every = json.loads(_calibrate(setup["run"], setup["noise"], "--json").output)
    assert every["k"] != pytest.approx(fitted["k"])  # 40 images fit other numbers than 24

    runs = setup["tmp"] / "ft-runs"
    args = ["run", str(setup["cfg"]), "--runs-dir", str(runs), "--name", "ft"]
    for s in (
        f"data.root={setup['noise']}",
        "data.format=list",
        'data.calibration="fit"',
        f"model.init_from={setup['run']}",
    ):
        args += ["--set", s]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    (ft,) = runs.iterdir()
    saved = load_config(ft / "config.toml").data.calibration
    assert saved.k == pytest.approx(fitted["k"], abs=1e-9)
    assert saved.b == pytest.approx(fitted["b"], abs=1e-9)
    log = (ft / "train.log").read_text()
    out = " ".join(res.output.split())
    for text in (log, out):
        assert "on 24 images (the training split of 60/40;" in text
        assert "a constant (the mapped mean" in text
        assert "data: test labels' std" in text and "predicting their mean gets test MSE" in text
        assert "data: warning: k = " in text and "so this run's test MSE is not comparable" in text


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--split", "half"], "--split 'half': expected all"),
        (["--split", "train", "--data-split", "cv9"], "--data-split 'cv9': expected one of"),
        (["--data-split", "cv2"], "with --split all every image is used"),
        (
            ["--split", "train", "--data-split", "cv2"],
            "is a list-format set: it has no split files",
        ),
    ],
)
def test_bad_split_options_exit_2(setup, extra, message):
    res = _calibrate(setup["run"], setup["noise"], *extra)
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split()) and "Traceback" not in res.output
