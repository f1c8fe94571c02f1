"""`fbtui augment`: augmented samples beside their originals, de-normalised, in a PNG and
in the terminal; the synthetic set stands in (with a notice) when the data is missing."""

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from rich.console import Console
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.config import Config
from fbtui.data.dataset import FaceDataset, build_transform
from fbtui.data.records import Record
from fbtui.tools.augment_preview import compose_grid, half_block_lines, render_terminal, to_pixels

load_commands()
runner = CliRunner()
EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def test_augment_base_without_the_data(tmp_path):
    png = tmp_path / "grid.png"
    res = runner.invoke(
        app, ["augment", str(EXPERIMENTS / "base.toml"), "--png", str(png), "--n", "6"]
    )
    assert res.exit_code == 0, res.output
    assert "not found on this machine: showing the synthetic set instead" in res.output
    assert "RandomCrop" in res.output and "RandomHorizontalFlip" in res.output
    img = Image.open(png)
    # 4 pairs a row, 224 px images: two rows of (original | augmented)
    assert img.width > 8 * 224 and 2 * 224 < img.height < 3 * 224


def test_denormalised_pixels_match_the_original():
    cfg = Config()
    cfg.data.image_size = cfg.data.resize = 32
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    x = build_transform(cfg.augment, cfg.data, train=False)(Image.fromarray(arr))
    assert x.mean().abs() < 1.5 and x.min() < -1  # really normalised
    back = to_pixels(x, normalized=True)
    assert np.abs(back.astype(int) - arr.astype(int)).max() <= 1
    raw = to_pixels(torch.from_numpy(arr).permute(2, 0, 1).float() / 255, normalized=False)
    assert np.array_equal(raw, arr)


def test_grid_and_half_blocks():
    red = np.zeros((10, 10, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((10, 10, 3), np.uint8)
    blue[..., 2] = 255
    grid = compose_grid([(red, blue)] * 5, pairs_per_row=4)
    assert grid.width > grid.height
    rows = half_block_lines(grid, 40)
    assert len(rows[0]) == 40
    colours = {c for row in rows for cell in row for c in cell}
    assert any(c[0] > 200 and c[2] < 60 for c in colours)  # red originals
    assert any(c[2] > 200 and c[0] < 60 for c in colours)  # blue augmented
    out = io.StringIO()
    con = Console(file=out, force_terminal=True, color_system="truecolor", width=60)
    render_terminal(grid, con)
    text = out.getvalue()
    assert "▀" in text and "\x1b[38;2;" in text and "48;2;" in text


@pytest.mark.parametrize("std", [0.0, 0.3])
def test_label_noise_only_where_asked(std):
    """Noise is drawn per sample on the training dataset only; the test set never gets it."""
    cfg = Config()
    cfg.data.image_size = cfg.data.resize = 16
    img_path = Path(__file__).parent / "_noise.png"
    recs = [Record(f"AF{i}.jpg", img_path, 3.0, None, "AF") for i in range(64)]
    Image.new("RGB", (16, 16), (120, 90, 60)).save(img_path)
    try:
        train = FaceDataset(recs, build_transform(cfg.augment, cfg.data, True), label_noise_std=std)
        test = FaceDataset(recs, build_transform(cfg.augment, cfg.data, False))
        train.set_epoch(0)
        ys = np.array([float(train[i]["score"]) for i in range(64)])
        assert all(float(test[i]["score"]) == 3.0 for i in range(64))
        if std == 0:
            assert (ys == 3.0).all()
        else:
            assert 0.15 < ys.std() < 0.45 and abs(ys.mean() - 3.0) < 0.15
            train.set_epoch(1)
            assert float(train[0]["score"]) != ys[0]  # fresh noise each epoch
    finally:
        img_path.unlink()


def test_the_trainer_gives_noise_to_the_training_set_only():
    from fbtui.train.loaders import build_loaders
    from fbtui.train.trainer import Prepared

    cfg = Config()
    cfg.data.label_noise_std = 0.1
    recs = [Record("AF1.jpg", Path("x.jpg"), 3.0, None, "AF")] * 4
    loaders = build_loaders(cfg, Prepared(train=recs, test=recs), torch.device("cpu"))
    assert loaders.train_ds.label_noise_std == 0.1
    assert loaders.test_ds.label_noise_std == 0.0


def test_augment_with_the_cache_shows_the_tensor_path(tmp_path):
    """data.cache = "memory" trains on batched tensor augmentation: the preview draws it,
    says so, and its test-time view equals the PIL one (resize + center crop)."""
    png = tmp_path / "grid.png"
    args = ["augment", str(EXPERIMENTS / "base.toml"), "--png", str(png), "--n", "4"]
    args += ["--set", 'data.cache="memory"', "--set", "augment.color_jitter.brightness=0.4"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "cached uint8 224px" in res.output and "fused colour jitter" in res.output
    assert "(batched tensors)" in res.output and "RandomCrop" not in res.output
    from fbtui.config import load_config
    from fbtui.tools.augment_preview import make_pairs, pick_samples

    cfg = load_config(EXPERIMENTS / "base.toml", ["data.cache='memory'"])
    records = pick_samples(cfg, 3).records
    cached = make_pairs(cfg, records)
    cfg.data.cache = "none"
    plain = make_pairs(cfg, records)
    for (view_c, draw_c), (view_p, _) in zip(cached, plain, strict=True):
        assert view_c.shape == draw_c.shape == (224, 224, 3)
        assert np.abs(view_c.astype(int) - view_p.astype(int)).max() <= 1  # rounding only
        assert not np.array_equal(view_c, draw_c)  # the draw is augmented
