"""The pieces exact resume rests on: label noise that is a pure function of
(seed, epoch, index), and event files that never overwrite each other."""

from __future__ import annotations

import time

import torch

from fbtui.data import open_dataset
from fbtui.data.dataset import FaceDataset
from fbtui.train.loaders import EpochSampler


def _records():
    ds = open_dataset("synthetic", synth_n=20, synth_size=16)
    return list(ds.records.values())


def _scores(ds: FaceDataset, epoch: int, order, workers: int = 0) -> dict[int, float]:
    ds.set_epoch(epoch)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, sampler=order, num_workers=workers)
    out = {}
    for batch in loader:
        for i, s in zip(batch["index"].tolist(), batch["score"].tolist(), strict=True):
            out[i] = s
    return out


def _noisy(records, seed=3) -> FaceDataset:
    return FaceDataset(records, None, label_noise_std=0.2, seed=seed)


def test_label_noise_is_a_function_of_seed_epoch_and_index():
    records = _records()
    n = len(records)
    # an uninterrupted run: epochs 0, 1, 2 in the sampler's order
    full = _noisy(records)
    sampler = EpochSampler(n, seed=3)
    through = {}
    for epoch in range(3):
        sampler.set_epoch(epoch)
        through[epoch] = _scores(full, epoch, list(sampler))
    # a resumed one: a fresh process (dataset) that starts at epoch 2, half-way through
    resumed = _noisy(records)
    sampler.set_epoch(2, start=n // 2)
    late = _scores(resumed, 2, list(sampler))
    assert late == {i: through[2][i] for i in late}
    # any order, any number of workers: the same noise for the same (epoch, index)
    assert _scores(_noisy(records), 1, list(range(n))) == through[1]
    assert _scores(_noisy(records), 1, list(reversed(range(n))), workers=2) == through[1]
    # fresh noise each epoch, and another seed draws other noise
    assert through[0] != through[1]
    assert _scores(_noisy(records, seed=4), 1, list(range(n))) != through[1]
    # the test split (no noise) is untouched
    clean = FaceDataset(records, None)
    assert all(
        clean[i]["score"].item() == torch.tensor(records[i].score, dtype=torch.float32).item()
        for i in range(n)
    )


def test_event_files_of_two_processes_in_one_second_do_not_collide(tmp_path):
    """tensorboardX names files by the second; a second file of the same name opened
    'wb' would wipe the first (a resume right after a crash, a fast restart)."""
    from fbtui.train.scalars import ScalarLog

    first = ScalarLog(tmp_path, 1.0, None)
    first.scalars({"train/loss": 1.0}, 1)
    first.close()
    t0 = time.time()
    second = ScalarLog(tmp_path, 1.0, purge_step=2)
    second.scalars({"train/loss": 0.5}, 2)
    second.close()
    files = sorted(tmp_path.glob("events.out.tfevents.*"))
    assert len(files) == 2 and time.time() - t0 < 3
    from fbtui.tb import LogdirReader

    s = LogdirReader.load(tmp_path).scalars("train/loss")
    assert s.steps.tolist() == [1, 2] and s.values.tolist() == [1.0, 0.5]
