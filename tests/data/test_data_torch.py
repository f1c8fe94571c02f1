"""FaceDataset and the transforms."""

from __future__ import annotations

import pytest
import torch

from fbtui.config import AugmentCfg, ColorJitterCfg, DataCfg
from fbtui.data import open_dataset
from fbtui.data.dataset import FaceDataset, build_transform, denormalize
from fbtui.data.records import Record
from fbtui.errors import DataError


def _ds(scut, **kw):
    data = DataCfg(image_size=12, resize=14)
    t = build_transform(AugmentCfg(), data, train=False)
    recs = list(open_dataset(scut.root).records.values())
    return FaceDataset(recs, t, **kw), recs


def test_sample_shapes_and_values(scut):
    ds, recs = _ds(scut)
    s = ds[3]
    assert s["image"].shape == (3, 12, 12) and s["image"].dtype == torch.float32
    assert s["score"].dtype == torch.float32 and s["score"].shape == ()
    assert s["score"].item() == pytest.approx(recs[3].score, abs=1e-6)
    assert s["hist"].shape == (5,) and s["hist"].sum().item() == pytest.approx(1.0, abs=1e-5)
    assert s["index"] == 3 and len(ds) == len(recs)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["image"].shape == (4, 3, 12, 12) and batch["score"].shape == (4,)


def test_hist_zeros_without_ratings(scut):
    ds, recs = _ds(scut)
    ds.records = [Record(r.name, r.path, r.score, None, None) for r in recs]
    assert ds[0]["hist"].tolist() == [0.0] * 5


def test_label_noise_fresh_reproducible_and_clipped(scut):
    clean, recs = _ds(scut)
    noisy, _ = _ds(scut, label_noise_std=0.5, seed=7)
    assert all(
        clean[i]["score"].item() == pytest.approx(recs[i].score, abs=1e-6) for i in range(len(recs))
    )
    a = [noisy[i]["score"].item() for i in range(len(recs))]
    b = [noisy[i]["score"].item() for i in range(len(recs))]
    assert a != b  # fresh noise on every draw
    assert any(abs(x - r.score) > 1e-3 for x, r in zip(a, recs, strict=True))
    noisy.set_epoch(2)
    e2 = [noisy[i]["score"].item() for i in range(len(recs))]
    again, _ = _ds(scut, label_noise_std=0.5, seed=7)
    again.set_epoch(2)
    assert [again[i]["score"].item() for i in range(len(recs))] == e2  # reproducible per epoch
    again.set_epoch(3)
    assert [again[i]["score"].item() for i in range(len(recs))] != e2
    wild, _ = _ds(scut, label_noise_std=10.0)
    vals = [wild[i]["score"].item() for i in range(len(recs)) for _ in range(3)]
    assert min(vals) >= 1.0 and max(vals) <= 5.0 and {1.0, 5.0} <= set(vals)


def test_decode_failure_names_file_or_skips(scut):
    ds, recs = _ds(scut)
    skipping, _ = _ds(scut, skip_bad=True)
    p = recs[2].path
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])  # pixels cut off
    with pytest.raises(DataError) as e:
        ds[2]
    assert str(p) in str(e.value) and "skip_bad" in str(e.value)
    with pytest.warns(UserWarning, match=recs[2].name):
        s = skipping[2]
    assert s["index"] == 3 and recs[2].name in skipping.bad


def test_scan_bad_finds_truncated(scut):
    from fbtui.data import scan_bad

    recs = list(open_dataset(scut.root).records.values())
    p = recs[0].path
    p.write_bytes(p.read_bytes()[:200])
    bad = scan_bad(recs)
    assert [n for n, _ in bad] == [recs[0].name] and bad[0][1]
    assert scan_bad(recs, workers=2) == bad


@pytest.mark.parametrize("crop", ["random", "center", "none"])
def test_train_transform_shapes(scut, crop):
    from fbtui.data import load_image

    img = load_image(scut.root / "Images" / "AF1.jpg")
    aug = AugmentCfg(
        hflip=True,
        rotation=10,
        crop=crop,
        pad=2,
        color_jitter=ColorJitterCfg(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05),
    )
    data = DataCfg(image_size=24, resize=32)
    for train in (True, False):
        x = build_transform(aug, data, train=train)(img)
        assert x.shape == (3, 24, 24)
    ops = [type(o).__name__ for o in build_transform(aug, data, train=True).transforms]
    assert (
        ops[:2] == ["Resize", "RandomRotation"]
        and "RandomHorizontalFlip" in ops
        and "ColorJitter" in ops
    )
    assert ops[-2:] == ["ToTensor", "Normalize"]
    test_ops = [type(o).__name__ for o in build_transform(aug, data, train=False).transforms]
    assert "RandomHorizontalFlip" not in test_ops and "ColorJitter" not in test_ops


def test_unnormalized_and_denormalize(scut):
    from fbtui.data import load_image

    img = load_image(scut.root / "Images" / "AF1.jpg")
    data = DataCfg(image_size=16)
    raw = build_transform(AugmentCfg(normalize=False), data, train=False)(img)
    assert 0.0 <= raw.min() and raw.max() <= 1.0
    norm = build_transform(AugmentCfg(), data, train=False)(img)
    assert torch.allclose(denormalize(norm), raw, atol=1e-5)
    assert torch.allclose(denormalize(norm.unsqueeze(0))[0], raw, atol=1e-5)


def test_label_noise_same_in_persistent_workers(scut):
    noisy, recs = _ds(scut, label_noise_std=0.3, seed=1)
    loader = torch.utils.data.DataLoader(
        noisy, batch_size=5, num_workers=1, persistent_workers=True
    )

    def epoch(e):
        noisy.set_epoch(e)  # reaches the already running worker through shared memory
        return torch.cat([b["score"] for b in loader]).tolist()

    e0, e1 = epoch(0), epoch(1)
    assert e0 != e1
    plain, _ = _ds(scut, label_noise_std=0.3, seed=1)
    plain.set_epoch(1)
    assert [plain[i]["score"].item() for i in range(len(recs))] == pytest.approx(e1)
