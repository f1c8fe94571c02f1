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
    train: torch.utils.data.DataLoader
    test: torch.utils.data.DataLoader
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
    """Train/test loaders; `batch_size` is per process unless train.batch_scope = "global"."""
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
    bs = cfg.train.batch_size
    sampler = EpochSampler(len(train_ds), cfg.experiment.seed)
    drop_last = len(train_ds) > bs
    train = torch.utils.data.DataLoader(
        train_ds, batch_size=bs, sampler=sampler, drop_last=drop_last, **kw
    )
    test = torch.utils.data.DataLoader(test_ds, batch_size=bs * 2, shuffle=False, **kw)
    steps = len(train_ds) // bs if drop_last else 1
    return Loaders(train, test, sampler, train_ds, test_ds, max(1, steps))
