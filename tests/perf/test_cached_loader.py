"""data.cache wired into the trainer: cached loaders, their determinism, and a complete run."""

import json
import warnings

import pytest
import torch
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.config import load_config
from fbtui.errors import DataError
from fbtui.train.cached_loader import CachedLoader
from fbtui.train.loaders import build_loaders
from fbtui.train.trainer import prepare_data

load_commands()
runner = CliRunner()

AUG = """
[augment]
hflip = true
crop = "random"
pad = 4
rotation = 10
color_jitter = {brightness = 0.3, contrast = 0.3, saturation = 0.3, hue = 0.05}
"""


def loaders_for(tiny_toml, cache="memory", workers=0, extra=""):
    cfg = load_config(
        tiny_toml(n=60, extra=AUG + extra),
        [f"data.cache={cache}", f"data.num_workers={workers}", "data.label_noise_std=0.1"],
    )
    return cfg, build_loaders(cfg, prepare_data(cfg), torch.device("cpu"))


def epoch_batches(loaders, epoch, start=0):
    loaders.set_epoch(epoch, start)
    return list(loaders.train)


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in ("image", "score", "hist", "index"))


def test_cached_loaders_give_trainer_batches(tiny_toml):
    cfg, L = loaders_for(tiny_toml)
    assert isinstance(L.train, CachedLoader) and L.train.batch_size == 16
    assert len(L.train_ds) + len(L.test_ds) == 60
    assert L.steps_per_epoch == len(L.train_ds) // 16 == len(L.train)
    b = next(iter(L.train))
    assert b["image"].shape == (16, 3, 32, 32) and b["image"].dtype == torch.float32
    assert b["score"].shape == (16,) and b["hist"].shape == (16, 5)
    assert ((b["score"] >= 1) & (b["score"] <= 5)).all()
    test = list(L.test)
    idx = torch.cat([t["index"] for t in test])
    assert torch.equal(idx, torch.arange(len(L.test_ds)))  # each test image once, in order
    sample = L.train_ds[0]
    assert sample["image"].shape == (3, 32, 32) and isinstance(sample["index"], int)


def test_same_seed_epoch_batch_same_batch_and_resume_mid_epoch(tiny_toml):
    _, L = loaders_for(tiny_toml)
    full = epoch_batches(L, 1)
    again = epoch_batches(L, 1)
    assert all(same(a, b) for a, b in zip(full, again, strict=True))
    other = epoch_batches(L, 2)
    assert not torch.equal(full[0]["image"], other[0]["image"])
    # a run resumed at batch 1 of epoch 1 sees exactly the rest of that epoch
    resumed = epoch_batches(L, 1, start=1)
    assert len(resumed) == len(full) - 1
    assert all(same(a, b) for a, b in zip(full[1:], resumed, strict=True))


def test_test_batches_equal_the_pil_path(tiny_toml):
    """Evaluation sees the same pixels with and without the cache (center crop)."""
    _, cached = loaders_for(tiny_toml, extra="")
    _, plain = loaders_for(tiny_toml, cache="none")
    a = torch.cat([b["image"] for b in cached.test])
    b = torch.cat([b["image"] for b in plain.test])
    assert torch.allclose(a, b, atol=1e-5)


def test_workers_give_the_same_batches(tiny_toml):
    _, inproc = loaders_for(tiny_toml, workers=0)
    _, pooled = loaders_for(tiny_toml, workers=2)
    for epoch in (0, 1):  # persistent workers, two epochs
        a, b = epoch_batches(inproc, epoch), epoch_batches(pooled, epoch)
        assert len(a) == len(b)
        assert all(same(x, y) for x, y in zip(a, b, strict=True))


def test_disk_cache_gives_the_same_batches(tiny_toml):
    _, mem = loaders_for(tiny_toml, cache="memory")
    _, disk = loaders_for(tiny_toml, cache="disk")
    assert all(
        same(x, y) for x, y in zip(epoch_batches(mem, 0), epoch_batches(disk, 0), strict=True)
    )


def test_unreadable_image_raises_or_is_skipped(tiny_toml, tmp_path):
    cfg = load_config(tiny_toml(n=40), ["data.cache=memory"])
    prepared = prepare_data(cfg)
    victim = prepared.train[3]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    prepared.train[3] = type(victim)(victim.name, broken, victim.score, victim.hist, victim.group)
    with pytest.raises(DataError, match="skip_bad"):
        build_loaders(cfg, prepared, torch.device("cpu"))
    cfg = load_config(tiny_toml(n=40), ["data.cache=memory", "data.skip_bad=true"])
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        L = build_loaders(cfg, prepared, torch.device("cpu"))
    assert victim.name in L.train_ds.bad
    assert int(L.train_ds.remap[3]) == 4  # replaced by the next readable image


def test_training_run_with_memory_cache_is_complete(tmp_path, tiny_toml):
    cfg = tiny_toml(n=120, epochs=2, extra=AUG)
    res = runner.invoke(
        app,
        ["run", str(cfg), "--runs-dir", str(tmp_path / "runs"), "--set", "data.cache=memory"],
    )
    assert res.exit_code == 0, res.output
    (run,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    for f in ("config.toml", "status.json", "train.log", "checkpoints/last.pt",
              "checkpoints/best.pt", "predictions.csv", "summary.json"):  # fmt: skip
        assert (run / f).is_file(), f
    assert list(run.glob("events.out.tfevents.*"))
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "finished" and status["epoch"] == 2
    summary = json.loads((run / "summary.json").read_text())
    assert summary["img_per_s"] > 0 and {"mse", "pc"} <= set(summary["best"])
    assert 'cache = "memory"' in (run / "config.toml").read_text()
    assert "decoded-image cache (memory)" in (run / "train.log").read_text()


@pytest.mark.parametrize("cache", ["memory", "none"])
def test_ddp_ranks_get_disjoint_slices_and_global_batch_scope(tiny_toml, cache):
    cfg = load_config(
        tiny_toml(n=60, extra=AUG), [f"data.cache={cache}", "train.batch_scope=global"]
    )
    prepared = prepare_data(cfg)
    ranks = [build_loaders(cfg, prepared, torch.device("cpu"), r, 2) for r in (0, 1)]
    assert all(L.train.batch_size == 8 for L in ranks)  # global 16 over 2 processes
    for L in ranks:
        L.set_epoch(3)
    orders = [list(L.sampler) for L in ranks]
    assert not set(orders[0]) & set(orders[1])
    assert set(orders[0]) | set(orders[1]) == set(range(len(prepared.train)))
    tests = [torch.cat([b["index"] for b in L.test]).tolist() for L in ranks]
    assert sorted(tests[0] + tests[1]) == list(range(len(prepared.test)))
