"""The synthetic data set: layout, determinism, caching."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp

import numpy as np
import pytest

from fbtui.data import check_dataset, open_dataset, synthesize
from fbtui.data.synth import (
    GENERATOR_VERSION,
    MARKER,
    ensure_synthetic,
    group_counts,
    synthetic_dir,
)


def _digest(root) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_group_counts_follow_the_real_proportions():
    assert group_counts(5500) == {"AF": 2000, "AM": 2000, "CF": 750, "CM": 750}
    assert group_counts(2000) == {"AF": 727, "AM": 727, "CF": 273, "CM": 273}
    assert sum(group_counts(41).values()) == 41


def test_layout_and_check(tmp_path):
    root = synthesize(tmp_path / "s", n=50, seed=1, size=32)
    assert (root / "Images" / "AF1.jpg").is_file() and (root / "Images" / "CM5.jpg").is_file()
    assert (root / "train_test_files" / "All_labels.txt").is_file()
    assert "SYNTHETIC" in (root / "README.txt").read_text()
    rep = check_dataset(root)
    assert rep.ok, rep.problems
    assert rep.synthetic and rep.records == 50 and rep.groups == group_counts(50)
    assert rep.raters == 60 and rep.raters_per_image == {"min": 60, "max": 60}
    assert rep.reratings and rep.reratings > 0
    assert rep.splits["60/40"] == {**rep.splits["60/40"], "train": 30, "test": 20, "overlap": 0}
    assert rep.cv == {
        "folds": [f"cv{k}" for k in range(1, 6)],
        "test_folds_disjoint": True,
        "test_folds_cover_all": True,
    }
    assert rep.score_disagreements == []
    assert 1.0 <= rep.score["min"] < rep.score["max"] <= 5.0
    assert rep.rater_ceiling > 0.85
    ds = open_dataset(root)
    orig = open_dataset(root, label="original")
    assert any(ds.records[n].score != orig.records[n].score for n in ds.records)
    img = ds.records["AM1.jpg"].path
    from PIL import Image

    with Image.open(img) as im:
        assert im.size == (32, 32) and im.mode == "RGB"


def test_deterministic_by_seed(tmp_path):
    a = _digest(synthesize(tmp_path / "a", n=24, seed=5, size=24))
    b = _digest(synthesize(tmp_path / "b", n=24, seed=5, size=24))
    c = _digest(synthesize(tmp_path / "c", n=24, seed=6, size=24))
    assert a == b and a != c


def test_score_spread_is_scut_like(tmp_path):
    root = synthesize(tmp_path / "s", n=200, seed=0, size=16)
    meta = json.loads((root / MARKER).read_text())
    assert 2.7 < meta["score_mean"] < 3.3
    assert 0.45 < meta["score_std"] < 0.8
    assert meta["score_min"] < 2.0 and meta["score_max"] > 4.0


def test_refuses_non_empty_folder(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("")
    with pytest.raises(FileExistsError):
        synthesize(tmp_path / "x", n=20)


def _race(cache: str, q) -> None:
    from pathlib import Path

    q.put(str(ensure_synthetic(n=24, size=16, cache_dir=Path(cache))))


def test_cache_is_race_safe_and_reused(tmp_path):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(tmp_path), q)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    paths = {q.get(timeout=5) for _ in procs}
    want = synthetic_dir(24, 16, tmp_path)
    assert paths == {str(want)}
    assert [p.name for p in tmp_path.iterdir()] == [want.name]  # no temporary folders left
    assert open_dataset("synthetic", synth_n=24, synth_size=16, cache_dir=tmp_path).root == want
    mtime = (want / MARKER).stat().st_mtime_ns
    ensure_synthetic(n=24, size=16, cache_dir=tmp_path)
    assert (want / MARKER).stat().st_mtime_ns == mtime  # reused, not rebuilt


def test_stale_cache_is_regenerated(tmp_path):
    want = synthetic_dir(20, 16, tmp_path)
    want.mkdir(parents=True)
    (want / MARKER).write_text(
        json.dumps({"generator_version": GENERATOR_VERSION - 1, "n": 20, "size": 16})
    )
    ensure_synthetic(n=20, size=16, cache_dir=tmp_path)
    assert json.loads((want / MARKER).read_text())["generator_version"] == GENERATOR_VERSION
    assert len(list((want / "Images").iterdir())) == 20


def test_env_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FBTUI_CACHE", str(tmp_path / "env"))
    assert synthetic_dir(100, 64) == tmp_path / "env" / "synthetic-n100-s64"


def test_latent_tracks_visible_features():
    """The score is a function of what is drawn: more skin noise, lower latent."""
    from fbtui.data.synth import latent_of

    base = {
        "skin_noise": 5.0,
        "blemishes": 2,
        "eye_size": 0.1,
        "contrast": 0.5,
        "face_width": 0.76,
        "asymmetry": 0.3,
    }
    rough = dict(base, skin_noise=20.0)
    big_eyes = dict(base, eye_size=0.13)
    assert latent_of(rough, "AF", 0) < latent_of(base, "AF", 0) < latent_of(big_eyes, "AF", 0)
    assert np.isclose(latent_of(base, "AM", 0) - latent_of(base, "AF", 0), -0.2)
