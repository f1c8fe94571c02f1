"""The decoded-image cache: every image decoded and resized once, kept as uint8 pixels.

Decoding a 350 px JPEG and resizing it costs a few milliseconds of CPU per image per
epoch; with the pixels cached, an epoch only gathers rows of a uint8 tensor and the
random augmentation runs batched (`fbtui.data.tensor_augment`), on the GPU when there is
one. SCUT-FBP5500 at 256 px is 5500 x 3 x 256 x 256 bytes, about 1.1 GB.

The cache is one file, `<cache dir>/decoded/<R>px-<n>-<key>.u8`, where the key hashes the
image list (resolved path, byte size and mtime of each file, in order) and R. Any changed,
added or removed image gives a new key, so a stale cache is never read; the same list
reuses the file across runs, folds and sweeps. Layout:

    [4096-byte header: MAGIC, u32 length, JSON {version, key, n, size}]
    [n bytes: 1 = the image could not be decoded (its pixels are zeros)] padded to 4096
    [n x 3 x R x R uint8 pixels, row i = image i, CHW]

It is written to a private temporary file and renamed into place (`os.replace`), so a
concurrent reader never sees a half-written cache and two builders cannot corrupt each
other; an advisory lock lets a second builder wait and reuse the first one's file instead
of decoding everything again.

`mode = "memory"` reads the file into RAM (one uint8 tensor); `"disk"` memory-maps it, for
sets that do not fit (the page cache keeps the hot part). When the cache directory is not
writable, "memory" decodes straight into RAM and "disk" fails with a clear message.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fbtui.data.images import load_image
from fbtui.errors import DataError

log = logging.getLogger("fbtui.data.cache")

CACHE_VERSION = 1
MAGIC = b"FBTUIIMG"
HEADER = 4096
_ALIGN = 4096

__all__ = ["ImageCache", "cache_dir", "cache_key", "decode_resized", "open_cache"]


@dataclass
class ImageCache:
    """Decoded images: `images[i]` is image `paths[i]` as uint8 [3, size, size]."""

    images: torch.Tensor  # uint8 [n, 3, size, size]: in RAM ("memory") or memory-mapped
    paths: list[str]
    size: int
    mode: str  # "memory" | "disk"
    file: Path | None  # the cache file (None: built in RAM only)
    bad: np.ndarray  # bool [n]: True where the image could not be decoded
    reasons: dict[int, str] = field(default_factory=dict)  # only when built by this call
    built: bool = False  # True when this call decoded the images, False when reused
    seconds: float = 0.0  # time spent building or loading

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def nbytes(self) -> int:
        return self.images.numel()

    def row_of(self) -> dict[str, int]:
        """Path -> row."""
        return {p: i for i, p in enumerate(self.paths)}

    def describe(self) -> str:
        how = "built" if self.built else "reused"
        where = f" at {self.file}" if self.file else " (in RAM only)"
        return (
            f"decoded-image cache ({self.mode}): {how} {len(self)} images at {self.size} px, "
            f"{self.nbytes / 1e9:.2f} GB, in {self.seconds:.1f} s{where}"
        )


def cache_dir(base: str | Path | None = None) -> Path:
    """Where cache files live: `base`, else $FBTUI_CACHE/decoded, else ~/.cache/fbtui/decoded."""
    if base is not None:
        return Path(base).expanduser()
    root = os.environ.get("FBTUI_CACHE") or Path.home() / ".cache" / "fbtui"
    return Path(root).expanduser() / "decoded"


def cache_key(paths: Sequence[str | Path], size: int) -> str:
    """Hash of (version, size, every file's resolved path, byte size and mtime), in order."""
    h = hashlib.sha256(f"fbtui-decoded v{CACHE_VERSION} {size}\n".encode())
    folders: dict[Path, Path] = {}  # resolving is a few stat calls: once per folder
    for p in paths:
        p = Path(p)
        folder = folders.get(p.parent)
        if folder is None:
            folder = folders[p.parent] = p.parent.resolve()
        try:
            st = p.stat()
            stamp = f"{st.st_size} {st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(f"{folder / p.name}\0{stamp}\n".encode())
    return h.hexdigest()[:24]


def decode_resized(path: str | Path, size: int) -> np.ndarray:
    """One image as uint8 [3, size, size]: exactly what the PIL path's square
    `transforms.Resize((size, size))` gives (PIL bilinear, antialiased)."""
    im = load_image(path)
    if im.size != (size, size):
        im = im.resize((size, size), Image.BILINEAR)
    return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)


def _offsets(n: int) -> tuple[int, int]:
    """(offset of the bad-flags block, offset of the pixels)."""
    return HEADER, HEADER + -(-max(n, 1) // _ALIGN) * _ALIGN


def _file_size(n: int, size: int) -> int:
    return _offsets(n)[1] + n * 3 * size * size


def _read_header(path: Path) -> dict | None:
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER)
    except OSError:
        return None
    if len(head) < 12 or head[:8] != MAGIC:
        return None
    length = int.from_bytes(head[8:12], "little")
    try:
        return json.loads(head[12 : 12 + length])
    except ValueError:
        return None


def _valid(path: Path, key: str, n: int, size: int) -> bool:
    meta = _read_header(path)
    if not meta or meta.get("key") != key or meta.get("n") != n or meta.get("size") != size:
        return False
    try:
        return path.stat().st_size == _file_size(n, size)
    except OSError:
        return False


def _header_bytes(key: str, n: int, size: int) -> bytes:
    meta = json.dumps({"version": CACHE_VERSION, "key": key, "n": n, "size": size}).encode()
    out = MAGIC + len(meta).to_bytes(4, "little") + meta
    return out + b"\0" * (HEADER - len(out))


def _decode_into(
    out: np.ndarray,
    paths: Sequence[str],
    size: int,
    workers: int,
    progress: Callable[[int, int], None] | None,
) -> dict[int, str]:
    """Decode every image into out[i]; returns {row: reason} for the ones that failed."""
    bad: dict[int, str] = {}

    def one(i: int) -> None:
        try:
            out[i] = decode_resized(paths[i], size)
        except DataError as e:
            out[i] = 0
            bad[i] = str(e)

    n = len(paths)
    # PIL releases the GIL while decoding and resizing, so threads scale with the cores
    workers = max(1, workers)
    step = max(1, n // 20)
    if workers == 1:
        for i in range(n):
            one(i)
            if progress and (i + 1) % step == 0:
                progress(i + 1, n)
    else:
        with ThreadPoolExecutor(workers) as ex:
            for k, _ in enumerate(ex.map(one, range(n)), start=1):
                if progress and k % step == 0:
                    progress(k, n)
    return bad


@contextmanager
def _build_lock(path: Path):
    """An advisory lock next to the cache file (no-op where flock is unavailable)."""
    lock = path.with_name(path.name + ".lock")
    try:
        import fcntl

        f = open(lock, "a+b")  # noqa: SIM115 - held for the with-block
    except (ImportError, OSError):
        yield
        return
    try:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield
    finally:
        try:
            fcntl.flock(f, fcntl.LOCK_UN)
        finally:
            f.close()


def _build_file(
    path: Path,
    key: str,
    paths: Sequence[str],
    size: int,
    workers: int,
    progress: Callable[[int, int], None] | None,
) -> dict[int, str]:
    n = len(paths)
    flags_at, pixels_at = _offsets(n)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as f:
            f.truncate(_file_size(n, size))
        mm = np.memmap(tmp, dtype=np.uint8, mode="r+", offset=pixels_at, shape=(n, 3, size, size))
        bad = _decode_into(mm, paths, size, workers, progress)
        mm.flush()
        del mm
        flags = np.zeros(n, np.uint8)
        flags[list(bad)] = 1
        with open(tmp, "r+b") as f:
            f.write(_header_bytes(key, n, size))
            f.seek(flags_at)
            f.write(flags.tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: readers see the old state or the whole new file
    finally:
        if tmp.exists():
            tmp.unlink(missing_ok=True)
    return bad


def _load(path: Path, n: int, size: int, mode: str) -> tuple[torch.Tensor, np.ndarray]:
    flags_at, pixels_at = _offsets(n)
    with open(path, "rb") as f:
        f.seek(flags_at)
        bad = np.frombuffer(f.read(n), dtype=np.uint8).astype(bool)
        if mode == "memory":
            images = torch.empty((n, 3, size, size), dtype=torch.uint8)
            f.seek(pixels_at)
            view = memoryview(images.numpy()).cast("B")
            got = 0
            while got < len(view):
                k = f.readinto(view[got:])
                if not k:
                    raise DataError(f"{path}: decoded-image cache is truncated; delete it")
                got += k
            return images, bad
    mm = np.memmap(path, dtype=np.uint8, mode="r", offset=pixels_at, shape=(n, 3, size, size))
    with warnings.catch_warnings():
        # read-only mapping: nothing ever writes through this tensor
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(mm), bad


def open_cache(
    paths: Sequence[str | Path],
    size: int,
    mode: str = "memory",
    *,
    directory: str | Path | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImageCache:
    """The decoded-image cache of `paths` at `size` px: reused when a valid one exists,
    else built (decoding with `workers` threads, default: the CPU count, at most 8).

    Undecodable images are flagged in `bad` (their pixels are zeros) rather than raised:
    the dataset decides whether that is fatal (`data.skip_bad`).
    """
    if mode not in ("memory", "disk"):
        raise ValueError(f"cache mode must be 'memory' or 'disk', not {mode!r}")
    paths = [str(p) for p in paths]
    n = len(paths)
    if n == 0:
        raise DataError("decoded-image cache: no images to cache")
    workers = workers or min(8, os.cpu_count() or 1)
    t0 = time.perf_counter()
    key = cache_key(paths, size)
    folder = cache_dir(directory)
    path = folder / f"{size}px-{n}-{key}.u8"
    reasons: dict[int, str] = {}
    built = False
    try:
        folder.mkdir(parents=True, exist_ok=True)
        writable = os.access(folder, os.W_OK)
    except OSError:
        writable = False
    if not writable and not _valid(path, key, n, size):
        if mode == "disk":
            raise DataError(
                f'data.cache = "disk": cannot write the decoded-image cache in {folder}; '
                'set FBTUI_CACHE to a writable folder, or use data.cache = "memory"'
            )
        images = torch.empty((n, 3, size, size), dtype=torch.uint8)
        reasons = _decode_into(images.numpy(), paths, size, workers, progress)
        bad = np.zeros(n, bool)
        bad[list(reasons)] = True
        return ImageCache(
            images, paths, size, mode, None, bad, reasons, True, time.perf_counter() - t0
        )
    if not _valid(path, key, n, size):
        with _build_lock(path):
            if not _valid(path, key, n, size):  # someone else may have built it meanwhile
                _check_space(folder, _file_size(n, size))
                reasons = _build_file(path, key, paths, size, workers, progress)
                built = True
    images, bad = _load(path, n, size, mode)
    return ImageCache(
        images, paths, size, mode, path, bad, reasons, built, time.perf_counter() - t0
    )


def _check_space(folder: Path, need: int) -> None:
    try:
        free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    except (OSError, AttributeError):
        return
    if free < need * 1.05:
        raise DataError(
            f"decoded-image cache: {need / 1e9:.2f} GB needed in {folder}, {free / 1e9:.2f} GB "
            'free; set FBTUI_CACHE to a bigger disk, or use data.cache = "none"'
        )
