"""Batches straight from the decoded-image cache, augmented batch-wise where the model runs.

`data.cache = "memory" | "disk"`: instead of a DataLoader decoding and transforming one
PIL image at a time in worker processes, a batch is a row gather from the uint8 cache
(`fbtui.data.cache`) followed by one batched augmentation (`fbtui.data.tensor_augment`).

* On CUDA the augmentation runs on the GPU: the cache moves to GPU memory when it fits
  (then a batch costs the host a handful of kernel launches), else each batch is gathered
  into pinned memory by a background thread and copied asynchronously.
* On the CPU it runs in the main process, or with `data.num_workers > 0` in that many
  background threads, one whole batch per thread, `prefetch` batches ahead per thread.
  Threads, not worker processes: the cache is already in this process's memory, the
  batch is a handful of large torch ops that release the GIL, and a thread hands its
  batch over without the pickling / shared-memory copy a process pays (measured on 2
  cores: worker processes made the cached loader 4x *slower* than no workers at all).
  While the trainer computes a step, the threads build the next batches.

Every batch's random draws (crop, flip, rotation, jitter, label noise) come from a
generator seeded by (seed, epoch, batch number), so they do not depend on the number of
workers, and a run resumed mid-epoch sees exactly the batches it would have seen.
"""

from __future__ import annotations

import logging
import queue
import threading
import warnings
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from fbtui.data.cache import ImageCache
from fbtui.data.tensor_augment import BatchAugment
from fbtui.errors import DataError

log = logging.getLogger("fbtui.train.loaders")

# Move the cache to the GPU when it takes at most this share of the free GPU memory.
GPU_CACHE_SHARE = 0.25


_malloc_tuned = False


def keep_freed_memory() -> None:
    """glibc only, once per process: serve allocations up to 32 MB (a batch of 224 px
    images is 19 MB) from the heap and keep freed heap memory mapped, so each batch
    reuses the pages of the one before instead of page-faulting every 4 kB anew (glibc's
    default gives large blocks back to the kernel on free; measured here: 300-3000
    faults per batch, a fifth to a third of the time of a cached batch)."""
    global _malloc_tuned
    if _malloc_tuned:
        return
    _malloc_tuned = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - AttributeError: not glibc, leave it alone
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)  # glibc's maximum on 64-bit
        libc.mallopt(m_trim_threshold, 1024 * 1024 * 1024)
    except (OSError, AttributeError):
        pass


def batch_seed(seed: int, epoch: int, batch: int, stream: int = 0) -> int:
    """A well-mixed 63-bit seed for one batch's random draws."""
    words = [int(v) % 2**64 for v in (seed, epoch, batch, stream)]
    return int(np.random.SeedSequence(words).generate_state(1, np.uint64)[0]) >> 1


class CachedFaceDataset:
    """The records of one split over a decoded-image cache.

    `batch(indices, ...)` gives the same dict as a collated FaceDataset batch ("image",
    "score", "hist", "index"); `ds[i]` gives one sample (for previews and checks). An
    undecodable image raises DataError naming it, or with `skip_bad` is replaced by the
    next readable one, as FaceDataset does.
    """

    def __init__(
        self,
        cache: ImageCache,
        records: list,
        augment: BatchAugment,
        *,
        label_noise_std: float = 0.0,
        seed: int = 0,
        skip_bad: bool = False,
    ) -> None:
        self.cache = cache
        self.records = list(records)
        self.augment = augment
        self.label_noise_std = float(label_noise_std)
        self.seed = int(seed)
        self.epoch = 0
        where = cache.row_of()
        rows = [where[str(r.path)] for r in self.records]
        self.bad: dict[str, str] = {}
        bad_rows = {i for i, row in enumerate(rows) if cache.bad[row]}
        if bad_rows:
            names = [self.records[i].name for i in sorted(bad_rows)]
            if not skip_bad:
                raise DataError(
                    f"cannot decode {len(names)} image(s): {', '.join(names[:5])}"
                    f"{' …' if len(names) > 5 else ''}; set data.skip_bad = true to train without them"
                )
            if len(bad_rows) == len(rows):
                raise DataError("no readable images left in the data set")
            for i in sorted(bad_rows):
                self.bad[self.records[i].name] = cache.reasons.get(rows[i], "cannot decode image")
                warnings.warn(f"skipping unreadable image {self.records[i].path}", stacklevel=2)
        # sample i reads record remap[i]: itself, or the next readable one
        n = len(rows)
        self.remap = torch.empty(n, dtype=torch.int64)
        for i in range(n):
            j = i
            while j % n in bad_rows:
                j += 1
            self.remap[i] = j % n
        self.rows = torch.tensor(rows, dtype=torch.int64)[self.remap]
        self.scores = torch.tensor([r.score for r in self.records], dtype=torch.float32)[self.remap]
        hists = [r.hist if r.hist is not None else (0.0,) * 5 for r in self.records]
        self.hists = torch.tensor(hists, dtype=torch.float32)[self.remap]
        self.images = cache.images  # may be moved to the GPU by the loader

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def gather(self, idx: torch.Tensor, pin: bool = False) -> torch.Tensor:
        """uint8 [B, 3, R, R] rows of the cache for samples `idx` (on the cache's device)."""
        rows = self.rows[idx]
        if self.images.device.type != "cpu":
            # pinned, so the copy is truly asynchronous (no wait for the queued GPU work)
            return self.images.index_select(
                0, rows.pin_memory().to(self.images.device, non_blocking=True)
            )
        out = torch.empty((len(rows), *self.images.shape[1:]), dtype=torch.uint8, pin_memory=pin)
        return torch.index_select(self.images, 0, rows, out=out)

    def batch(
        self,
        idx,
        epoch: int = 0,
        number: int = 0,
        device: torch.device | None = None,
        pixels: torch.Tensor | None = None,
        stream: int = 0,
    ) -> dict[str, Any]:
        """The augmented batch of samples `idx`: batch `number` of `epoch` (its seed).
        `pixels`: their cache rows, already gathered (e.g. into pinned memory)."""
        idx = torch.as_tensor(idx, dtype=torch.int64)
        device = device or self.images.device
        g = torch.Generator().manual_seed(batch_seed(self.seed, epoch, number, stream))
        spec = self.augment.spec
        if pixels is None and self.images.device.type == "cpu" and device.type == "cpu":
            x, rows = self.images, self.rows[idx]  # read the cache rows in place
        else:
            x = pixels if pixels is not None else self.gather(idx)
            x, rows = x.to(device, non_blocking=True), None
        # The reference (exact) augmentation rounds fractional pixels (a final resize,
        # colour jitter) to uint8 on the CPU before the normalisation, as the PIL path
        # does; the fused one, and everything on a GPU, stays float.
        fractional = (spec.train and spec.jitter) or spec.geo_size != spec.size
        as_uint8 = x.device.type == "cpu" and fractional and self.augment.exact
        image = self.augment(x, generator=g, as_uint8=as_uint8, rows=rows)
        if as_uint8:
            image = self.augment.normalize(image)
        score = self.scores[idx]
        if self.label_noise_std > 0:
            noise = torch.randn(len(idx), generator=g) * self.label_noise_std
            score = (score + noise).clamp_(1.0, 5.0)
        hist = self.hists[idx]
        if device.type == "cuda":  # as DataLoader(pin_memory=True): async copies in the loop
            score, hist = score.pin_memory(), hist.pin_memory()
        return {"image": image, "score": score, "hist": hist, "index": self.remap[idx]}

    def __getitem__(self, i: int) -> dict[str, Any]:
        b = self.batch([int(i)], epoch=self.epoch, number=int(i), stream=1)
        return {
            "image": b["image"][0],
            "score": b["score"][0],
            "hist": b["hist"][0],
            "index": int(b["index"][0]),
        }


class CachedLoader:
    """Iterable of batches over a CachedFaceDataset, in the order of `sampler`.

    Has the parts of a DataLoader the trainer uses: iteration, `len()`, `batch_size`,
    `dataset`, `sampler`. `num_workers` > 0 on the CPU: that many background threads
    build batches ahead (`prefetch` each) while the caller works on the current one.
    """

    def __init__(
        self,
        dataset: CachedFaceDataset,
        sampler,
        batch_size: int,
        *,
        drop_last: bool = False,
        device: torch.device | str = "cpu",
        num_workers: int = 0,
        prefetch: int = 2,
    ) -> None:
        self.dataset = dataset
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last
        self.device = torch.device(device)
        self.num_workers = max(0, int(num_workers)) if self.device.type == "cpu" else 0
        self.prefetch = max(1, int(prefetch))
        self._pool: ThreadPoolExecutor | None = None
        if self.device.type == "cpu":
            keep_freed_memory()

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _keys_now(self) -> list[tuple[int, int, list[int]]]:
        order = list(self.sampler)
        epoch = int(getattr(self.sampler, "epoch", 0))
        first = int(getattr(self.sampler, "start", 0)) // self.batch_size
        bs = self.batch_size
        stop = len(order) - len(order) % bs if self.drop_last else len(order)
        return [(epoch, first + k // bs, order[k : k + bs]) for k in range(0, stop, bs)]

    def __iter__(self):
        keys = self._keys_now()
        if self.num_workers > 0:
            yield from self._threaded(keys)
        elif self.device.type == "cuda" and self.dataset.images.device.type == "cpu":
            yield from self._prefetched(keys)
        else:
            for epoch, number, idx in keys:
                yield self.dataset.batch(idx, epoch, number, self.device)

    def _threaded(self, keys):
        """Batches built by `num_workers` threads, up to num_workers x prefetch ahead,
        handed out in order. Leaving the loop early drops the batches not yet started."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.num_workers, thread_name_prefix="fbtui-batch")
        pending: deque[Future] = deque()
        todo = iter(keys)

        def submit() -> None:
            key = next(todo, None)
            if key is not None:
                epoch, number, idx = key
                pending.append(
                    self._pool.submit(self.dataset.batch, idx, epoch, number, self.device)
                )

        for _ in range(self.num_workers * self.prefetch):
            submit()
        try:
            while pending:
                batch = pending.popleft().result()
                submit()
                yield batch
        finally:
            for f in pending:
                f.cancel()

    def close(self) -> None:
        """Stop the batch threads (they also end when the loader is garbage-collected)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _prefetched(self, keys):
        """CUDA with the cache in host memory: a thread gathers the next batches' pixels
        into pinned memory (torch ops release the GIL) while the GPU works."""
        q: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()

        def produce() -> None:
            try:
                for key in keys:
                    if stop.is_set():
                        return
                    idx = torch.as_tensor(key[2], dtype=torch.int64)
                    q.put((key, self.dataset.gather(idx, pin=True)))
                q.put(None)
            except BaseException as e:  # noqa: BLE001 - re-raised in the consumer
                q.put(e)

        t = threading.Thread(target=produce, name="fbtui-gather", daemon=True)
        t.start()
        try:
            while True:
                item = q.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                (epoch, number, idx), pixels = item
                yield self.dataset.batch(idx, epoch, number, self.device, pixels=pixels)
        finally:
            stop.set()
            while t.is_alive():  # unblock a producer waiting on a full queue
                try:
                    q.get_nowait()
                except queue.Empty:
                    t.join(0.05)


def place_cache(cache: ImageCache, device: torch.device) -> torch.Tensor:
    """The cache tensor where batches are best gathered: on the GPU when it fits easily."""
    images = cache.images
    if device.type != "cuda" or cache.mode != "memory":
        return images
    try:
        free, _total = torch.cuda.mem_get_info(device)
    except Exception:  # noqa: BLE001 - no query, no move
        return images
    if images.numel() > GPU_CACHE_SHARE * free:
        log.info(
            "decoded-image cache stays in host memory (%.2f GB > %.0f%% of free GPU memory)",
            images.numel() / 1e9,
            GPU_CACHE_SHARE * 100,
        )
        return images
    return images.to(device)
