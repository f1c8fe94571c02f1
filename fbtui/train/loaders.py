"""Datasets, samplers and DataLoaders for a run: the data path of the trainer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


class EpochSampler(torch.utils.data.Sampler):
    """A per-epoch permutation fixed by (seed, epoch), optionally starting mid-epoch, so a
    resumed run sees exactly the batches an uninterrupted one would. Under DDP each rank
    takes every world-th index of the same permutation (padded to a multiple of world)."""

    def __init__(self, n: int, seed: int, shuffle: bool = True, rank: int = 0, world: int = 1):
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.rank, self.world = rank, world
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def order(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
            perm = torch.randperm(self.n, generator=g).tolist()
        else:
            perm = list(range(self.n))
        if self.world > 1:
            perm += perm[: (-len(perm)) % self.world]
            perm = perm[self.rank :: self.world]
        return perm

    def __iter__(self):
        return iter(self.order()[self.start :])

    def __len__(self) -> int:
        return -(-self.n // self.world) - self.start


class ShardSampler(torch.utils.data.Sampler):
    """Evaluation under DDP: rank r scores images r, r+world, ... (no padding, so the
    gathered predictions cover the test split exactly once)."""

    def __init__(self, n: int, rank: int = 0, world: int = 1):
        self.idx = list(range(rank, n, world))

    def __iter__(self):
        return iter(self.idx)

    def __len__(self) -> int:
        return len(self.idx)


@dataclass
class Loaders:
    train: Any  # torch DataLoader, or CachedLoader (data.cache != "none")
    test: Any
    sampler: EpochSampler
    train_ds: Any
    test_ds: Any
    steps_per_epoch: int

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Fix the epoch's order (and label noise), starting `start_batch` batches in."""
        self.sampler.set_epoch(epoch, start_batch * self.train.batch_size)
        if hasattr(self.train_ds, "set_epoch"):
            self.train_ds.set_epoch(epoch)


def build_loaders(cfg, prepared, device: torch.device, rank: int = 0, world: int = 1) -> Loaders:
    """Train/test loaders; `batch_size` is per process unless train.batch_scope = "global".

    data.cache = "none": FaceDataset (decode + PIL transforms per image) in a DataLoader.
    "memory" | "disk": the decoded-image cache and batched tensor augmentation
    (`fbtui.train.cached_loader`), same augmentations, same batch dicts."""
    bs = cfg.train.batch_size
    if getattr(cfg.train, "batch_scope", "per_gpu") == "global" and world > 1:
        bs = max(1, bs // world)
    if cfg.data.cache != "none":
        return _cached_loaders(cfg, prepared, device, rank, world, bs)
    from fbtui.data.dataset import FaceDataset, build_transform

    train_ds = FaceDataset(
        prepared.train,
        build_transform(cfg.augment, cfg.data, train=True),
        label_noise_std=cfg.data.label_noise_std,
        seed=cfg.experiment.seed,
        skip_bad=cfg.data.skip_bad,
    )
    test_ds = FaceDataset(
        prepared.test,
        build_transform(cfg.augment, cfg.data, train=False),
        skip_bad=cfg.data.skip_bad,
    )
    kw: dict[str, Any] = {"num_workers": cfg.data.num_workers, "pin_memory": device.type == "cuda"}
    if cfg.data.num_workers > 0:
        kw["persistent_workers"] = True
    sampler = EpochSampler(len(train_ds), cfg.experiment.seed, rank=rank, world=world)
    drop_last = len(train_ds) > bs
    train = torch.utils.data.DataLoader(
        train_ds, batch_size=bs, sampler=sampler, drop_last=drop_last, **kw
    )
    test = torch.utils.data.DataLoader(
        test_ds, batch_size=bs * 2, sampler=_test_sampler(len(test_ds), rank, world), **kw
    )
    return Loaders(train, test, sampler, train_ds, test_ds, _steps(len(sampler), bs, drop_last))


def _test_sampler(n: int, rank: int, world: int) -> torch.utils.data.Sampler:
    if world > 1:
        return ShardSampler(n, rank, world)
    return torch.utils.data.SequentialSampler(range(n))


def _steps(n: int, bs: int, drop_last: bool) -> int:
    return max(1, n // bs if drop_last else 1)


def _cached_loaders(cfg, prepared, device, rank: int, world: int, bs: int) -> Loaders:
    import logging

    from fbtui.data.cache import open_cache
    from fbtui.data.tensor_augment import AugmentSpec, BatchAugment
    from fbtui.train.cached_loader import CachedFaceDataset, CachedLoader, place_cache

    log = logging.getLogger("fbtui.train.loaders")
    # one cache over both splits (each image once): k-fold runs and sweeps share it
    paths = list(dict.fromkeys(str(r.path) for r in [*prepared.train, *prepared.test]))
    cache = open_cache(paths, cfg.data.resize_to, cfg.data.cache)
    log.info("%s", cache.describe())
    for _row, why in sorted(cache.reasons.items())[:5]:
        log.warning("decoded-image cache: %s", why)
    train_ds = CachedFaceDataset(
        cache,
        prepared.train,
        # the fused colour path (one affine map per image, linear hue): see tensor_augment
        BatchAugment(AugmentSpec.from_config(cfg.augment, cfg.data, train=True), exact=False),
        label_noise_std=cfg.data.label_noise_std,
        seed=cfg.experiment.seed,
        skip_bad=cfg.data.skip_bad,
    )
    test_ds = CachedFaceDataset(
        cache,
        prepared.test,
        BatchAugment(AugmentSpec.from_config(cfg.augment, cfg.data, train=False)),
        seed=cfg.experiment.seed,
        skip_bad=cfg.data.skip_bad,
    )
    train_ds.images = test_ds.images = place_cache(cache, device)
    workers = cfg.data.num_workers
    sampler = EpochSampler(len(train_ds), cfg.experiment.seed, rank=rank, world=world)
    drop_last = len(train_ds) > bs
    train = CachedLoader(
        train_ds, sampler, bs, drop_last=drop_last, device=device, num_workers=workers
    )
    test = CachedLoader(
        test_ds,
        _test_sampler(len(test_ds), rank, world),
        bs * 2,
        device=device,
        num_workers=workers,
    )
    return Loaders(train, test, sampler, train_ds, test_ds, _steps(len(sampler), bs, drop_last))
