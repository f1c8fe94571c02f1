"""data.num_workers with the decoded-image cache: background threads, not processes; the
same batches in the same order whatever the count; early exits and errors behave."""

import multiprocessing
import threading

import pytest
import torch

from fbtui.config import load_config
from fbtui.train.cached_loader import CachedLoader
from fbtui.train.loaders import build_loaders
from fbtui.train.trainer import prepare_data

AUG = """
[augment]
hflip = true
crop = "random"
rotation = 10
color_jitter = {brightness = 0.3, contrast = 0.3, saturation = 0.3, hue = 0.05}
"""


def loaders(tiny_toml, workers):
    cfg = load_config(
        tiny_toml(n=60, extra=AUG), ["data.cache=memory", f"data.num_workers={workers}"]
    )
    return build_loaders(cfg, prepare_data(cfg), torch.device("cpu"))


def epoch(L, e, start=0):
    L.set_epoch(e, start)
    return list(L.train)


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in ("image", "score", "hist", "index"))


def test_training_uses_the_fused_augmentation_and_evaluation_the_exact_one(tiny_toml):
    L = loaders(tiny_toml, 0)
    assert not L.train_ds.augment.exact and L.test_ds.augment.exact


def test_workers_are_threads_and_give_the_batches_of_no_workers(tiny_toml):
    L0, L2 = loaders(tiny_toml, 0), loaders(tiny_toml, 2)
    assert isinstance(L2.train, CachedLoader) and L2.train.num_workers == 2
    for e in (0, 1):
        a, b = epoch(L0, e), epoch(L2, e)
        assert len(a) == len(b) == len(L2.train)
        assert all(same(x, y) for x, y in zip(a, b, strict=True))
    assert not multiprocessing.active_children()  # no worker processes
    names = {t.name for t in threading.enumerate()}
    assert any(n.startswith("fbtui-batch") for n in names)
    test_a = torch.cat([b["image"] for b in L0.test])
    test_b = torch.cat([b["image"] for b in L2.test])
    assert torch.equal(test_a, test_b)
    L2.train.close()
    L2.test.close()


def test_leaving_an_epoch_early_does_not_leak_into_the_next(tiny_toml):
    L = loaders(tiny_toml, 2)
    full = epoch(L, 3)
    L.set_epoch(2)
    it = iter(L.train)
    next(it)  # one batch, then walk away
    it.close()
    again = epoch(L, 3)
    assert all(same(x, y) for x, y in zip(full, again, strict=True))
    resumed = epoch(L, 3, start=1)  # resuming mid-epoch, threads: the rest of the epoch
    assert all(same(x, y) for x, y in zip(full[1:], resumed, strict=True))


def test_an_error_in_a_batch_thread_reaches_the_caller(tiny_toml, monkeypatch):
    L = loaders(tiny_toml, 2)

    def broken(*args, **kwargs):
        raise RuntimeError("augmentation failed")

    monkeypatch.setattr(L.train_ds, "batch", broken)
    L.set_epoch(0)
    with pytest.raises(RuntimeError, match="augmentation failed"):
        next(iter(L.train))
