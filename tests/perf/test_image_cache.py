"""The decoded-image cache: same pixels as decode + resize, reuse, memmap mode,
invalidation, concurrent builders, unreadable images."""

import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import transforms as T

from fbtui.data import load_image, synthesize
from fbtui.data.cache import _file_size, cache_key, open_cache
from fbtui.errors import DataError


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[str]:
    root = synthesize(tmp_path_factory.mktemp("synth") / "set", n=20, seed=1, size=40)
    return sorted(str(p) for p in (root / "Images").glob("*.jpg"))


def pil_pixels(path: str, size: int) -> np.ndarray:
    """What the PIL path's Resize((size, size)) gives, as uint8 CHW."""
    im = T.Resize((size, size), antialias=True)(load_image(path))
    return np.asarray(im).transpose(2, 0, 1)


@pytest.mark.parametrize("size", [40, 32, 48])
def test_round_trip_same_pixels_as_decode_and_resize(images, tmp_path, size):
    cache = open_cache(images, size, "memory", directory=tmp_path)
    assert cache.images.dtype == torch.uint8
    assert tuple(cache.images.shape) == (len(images), 3, size, size)
    assert cache.built and not cache.bad.any()
    for i, p in enumerate(images):
        assert np.array_equal(cache.images[i].numpy(), pil_pixels(p, size)), p


def test_reused_across_opens_and_rebuilt_when_a_file_changes(images, tmp_path):
    first = open_cache(images, 32, "memory", directory=tmp_path)
    again = open_cache(images, 32, "memory", directory=tmp_path)
    assert first.built and not again.built
    assert again.file == first.file
    assert torch.equal(first.images, again.images)
    # another size, another order or another list is another cache
    assert open_cache(images, 24, "memory", directory=tmp_path).built
    assert cache_key(images[::-1], 32) != cache_key(images, 32)
    assert cache_key(images[:-1], 32) != cache_key(images, 32)
    # touching one image (new mtime) invalidates the key
    st = os.stat(images[3])
    os.utime(images[3], ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    changed = open_cache(images, 32, "memory", directory=tmp_path)
    assert changed.built and changed.file != first.file


def test_disk_mode_is_a_memory_map_of_the_file(images, tmp_path):
    disk = open_cache(images, 32, "disk", directory=tmp_path)
    mem = open_cache(images, 32, "memory", directory=tmp_path)
    assert disk.mode == "disk" and disk.file is not None
    assert disk.file.stat().st_size == _file_size(len(images), 32)
    assert torch.equal(disk.images, mem.images)
    maps = Path("/proc/self/maps")
    if maps.exists():
        assert str(disk.file) in maps.read_text()  # mapped, not read into RAM
    rows = torch.tensor([5, 0, 7])
    assert torch.equal(torch.index_select(disk.images, 0, rows), mem.images[rows])


def test_corrupt_or_truncated_cache_file_is_rebuilt(images, tmp_path):
    good = open_cache(images, 32, "memory", directory=tmp_path)
    with open(good.file, "r+b") as f:
        f.truncate(good.file.stat().st_size // 2)
    again = open_cache(images, 32, "memory", directory=tmp_path)
    assert again.built and torch.equal(again.images, good.images)
    good.file.write_bytes(b"not a cache")
    assert open_cache(images, 32, "disk", directory=tmp_path).built


def _open_in_child(args):
    paths, folder = args
    torch.set_num_threads(1)  # OpenMP's pool does not survive fork: stay single-threaded
    c = open_cache(paths, 28, "disk", directory=folder, workers=1)
    return c.built, str(c.file), int(c.images.numpy().sum(dtype=np.int64))


def test_concurrent_builders_all_get_a_valid_cache(images, tmp_path):
    ctx = mp.get_context("fork")
    with ctx.Pool(4) as pool:
        results = pool.map(_open_in_child, [(images, str(tmp_path))] * 4)
    files = {r[1] for r in results}
    sums = {r[2] for r in results}
    assert len(files) == 1 and len(sums) == 1
    # the lock makes the others wait and reuse the first build
    assert sum(r[0] for r in results) == 1
    leftovers = [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name]
    assert not leftovers
    ref = open_cache(images, 28, "memory", directory=tmp_path)
    assert not ref.built and int(ref.images.numpy().sum(dtype=np.int64)) == sums.pop()


def test_builders_without_the_lock_still_never_expose_a_partial_file(images, tmp_path, monkeypatch):
    """Even when two builders race (no lock, e.g. on a file system without flock), each
    writes a private file and renames it: a reader sees nothing or a whole cache."""
    import contextlib

    import fbtui.data.cache as cache_mod

    monkeypatch.setattr(cache_mod, "_build_lock", lambda path: contextlib.nullcontext())
    ctx = mp.get_context("fork")
    with ctx.Pool(3) as pool:
        results = pool.map(_open_in_child, [(images, str(tmp_path))] * 3)
    assert len({r[2] for r in results}) == 1
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_unreadable_image_is_flagged_not_raised(images, tmp_path):
    paths = list(images)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff garbage")
    paths.insert(2, str(broken))
    cache = open_cache(paths, 32, "memory", directory=tmp_path / "c")
    assert cache.bad.tolist().count(True) == 1 and cache.bad[2]
    assert "broken.jpg" in cache.reasons[2]
    assert int(cache.images[2].sum()) == 0
    again = open_cache(paths, 32, "memory", directory=tmp_path / "c")
    assert not again.built and again.bad[2]


def test_memory_mode_without_a_writable_folder_builds_in_ram(images, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    cache = open_cache(images, 32, "memory", directory=tmp_path / "ro")
    assert cache.file is None and cache.built
    with pytest.raises(DataError, match="FBTUI_CACHE"):
        open_cache(images, 32, "disk", directory=tmp_path / "ro")


def test_reuse_is_much_faster_than_building(images, tmp_path):
    t = time.perf_counter()
    open_cache(images, 40, "memory", directory=tmp_path)
    build = time.perf_counter() - t
    t = time.perf_counter()
    c = open_cache(images, 40, "memory", directory=tmp_path)
    assert not c.built
    assert time.perf_counter() - t < max(build, 0.05)
