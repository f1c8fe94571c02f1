"""GPU throughput: mobilenet_v2 and resnet50 at 224 px, fp32 against AMP bf16 +
channels_last, images/s and the NVML utilisation seen meanwhile (issue 7). Also the fbtui
data path on the GPU: batched augmentation alone, and a cached loader feeding resnet50.

    .venv/bin/python benchmarks/gpu.py            # on a GPU machine: < 5 minutes
    .venv/bin/python benchmarks/gpu.py --quick    # tiny settings; runs on the CPU too

Each training row: the fbtui model (backbone + regression head, no pretrained weights),
SGD steps on random data already on the device, `--warmup` steps, then `--steps` timed
steps between two synchronisations, while a thread polls NVML (fbtui.gpu.GpuMonitor)
every 0.2 s: kernel-busy utilisation (mean / min over the window), SM activity where the
GPU has GPM (Hopper and newer), memory in use. Not named bench_*.py: `make bench` (CPU)
does not run it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from fbtui.gpu import GpuMonitor  # noqa: E402


class NvmlWatch:
    """Polls NVML in a thread while a block runs; summarises what it saw."""

    def __init__(self, monitor: GpuMonitor | None, index: int, every: float = 0.2):
        self.monitor, self.index, self.every = monitor, index, every
        self.samples: list = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> NvmlWatch:
        if self.monitor is not None and self.monitor.backend is not None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            for s in self.monitor.poll():
                if s.index == self.index:
                    self.samples.append(s)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def summary(self) -> str:
        util = [s.util_pct for s in self.samples if s.util_pct is not None]
        sm = [s.sm_active_pct for s in self.samples if s.sm_active_pct is not None]
        mem = [s.mem_used_gb for s in self.samples if s.mem_used_gb is not None]
        if not util and not sm:
            return "n/a"
        parts = []
        if util:
            parts.append(f"util {statistics.mean(util):.0f}% (min {min(util):.0f})")
        if sm:
            parts.append(f"SM active {statistics.mean(sm):.0f}%")
        if mem:
            parts.append(f"{max(mem):.1f} GiB")
        return ", ".join(parts) + f" [{len(self.samples)} polls]"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_rate(backbone, device, batch, size, steps, warmup, amp, channels_last, watch):
    """Images/s of SGD steps on random data on the device."""
    from fbtui.config import ModelCfg
    from fbtui.model import build_model

    torch.manual_seed(0)
    model = build_model(ModelCfg(backbone=backbone, pretrained="none")).to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
    y = torch.rand(batch, device=device) * 4 + 1

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = model(x)
        loss = F.mse_loss(out.float()[:, 0] + 3.0, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    sync(device)
    with watch:
        t = time.perf_counter()
        for _ in range(steps):
            step()
        sync(device)
        dt = time.perf_counter() - t
    return batch * steps / dt


def fake_cache(n: int, resize: int, device: torch.device):
    """An ImageCache of random pixels (no files) and its records."""
    from fbtui.data.cache import ImageCache
    from fbtui.data.records import Record

    # random pixels made on the device (fast); place_cache() then leaves them there
    images = torch.randint(0, 256, (n, 3, resize, resize), dtype=torch.uint8, device=device)
    records = [
        Record(f"img{i}.jpg", Path(f"/fake/img{i}.jpg"), 1 + 4 * float(i % 97) / 96, None, None)
        for i in range(n)
    ]
    cache = ImageCache(
        images, [str(r.path) for r in records], resize, "memory", None, np.zeros(n, bool)
    )
    return cache, records


def augment_rate(device, batch, size, resize, steps, quick):
    """Images/s of the heavy recipe's augmentation alone, on the device."""
    from fbtui.data.tensor_augment import AugmentSpec, BatchAugment

    spec = AugmentSpec(
        size, resize, rotation=10, crop="random", pad=16 if not quick else 2, hflip=True,
        brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1,
    )  # fmt: skip
    aug = BatchAugment(spec, exact=False)  # the fused colour path training uses
    x = torch.randint(0, 256, (batch, 3, resize, resize), dtype=torch.uint8, device=device)
    g = torch.Generator().manual_seed(0)
    aug(x, generator=g)
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        aug(x, generator=g)
    sync(device)
    return batch * steps / (time.perf_counter() - t)


def pipeline_rate(device, batch, size, resize, steps, warmup, watch, quick):
    """The fbtui cached loader (cache placed as the trainer places it, augmentation on
    the device) feeding resnet50 with AMP bf16 + channels_last: images/s and the share
    of the time spent waiting for batches."""
    from fbtui.config import ModelCfg
    from fbtui.data.tensor_augment import AugmentSpec, BatchAugment
    from fbtui.model import build_model
    from fbtui.train.cached_loader import CachedFaceDataset, CachedLoader, place_cache
    from fbtui.train.loaders import EpochSampler

    n = batch * (steps + warmup)
    cache, records = fake_cache(n, resize, device)
    spec = AugmentSpec(size, resize, crop="random", pad=16 if not quick else 2, hflip=True)
    ds = CachedFaceDataset(cache, records, BatchAugment(spec, exact=False))
    ds.images = place_cache(cache, device)
    loader = CachedLoader(ds, EpochSampler(n, 0), batch, drop_last=True, device=device)
    backbone = "resnet50" if not quick else "tiny"
    model = build_model(ModelCfg(backbone=backbone, pretrained="none")).to(device)
    cl = device.type == "cuda"
    if cl:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    wait = 0.0
    it = iter(loader)
    for k in range(steps + warmup):
        if k == warmup:
            sync(device)
            watch.__enter__()
            t0 = time.perf_counter()
            wait = 0.0
        tw = time.perf_counter()
        b = next(it)
        wait += time.perf_counter() - tw
        x = b["image"].to(device, non_blocking=True)
        if cl:
            x = x.contiguous(memory_format=torch.channels_last)
        y = b["score"].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out = model(x)
        loss = F.mse_loss(out.float()[:, 0] + 3.0, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)
    dt = time.perf_counter() - t0
    watch.__exit__(None, None, None)
    where = "GPU" if ds.images.device.type == "cuda" else "host"
    return batch * steps / dt, wait / dt, where


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["mobilenet_v2", "resnet50"])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--device", type=int, default=0, help="CUDA device index")
    ap.add_argument("--quick", action="store_true", help="tiny settings; allowed on the CPU")
    args = ap.parse_args()

    monitor = GpuMonitor(history=2, parent_of=None)
    if torch.cuda.is_available():
        device = torch.device("cuda", args.device)
        name = torch.cuda.get_device_name(device)
        print(f"GPU {args.device}: {name}; torch {torch.__version__}, CUDA {torch.version.cuda}")
        if monitor.no_gpu:
            print(f"NVML: {monitor.no_gpu} (no utilisation figures)")
        torch.backends.cudnn.benchmark = True
    else:
        why = monitor.no_gpu or "torch sees no CUDA device"
        print(f"no GPU: {why}")
        if not args.quick:
            print("nothing to measure here; `--quick` runs tiny settings on the CPU as a check")
            return
        device = torch.device("cpu")
        torch.set_num_threads(1)  # a busy small machine: see bench_loader.py
    if args.quick:
        args.batch, args.size, args.steps, args.warmup = 4, 64, 2, 1
    bf16 = device.type == "cpu" or torch.cuda.is_bf16_supported()
    modes = [("fp32", False, False)]
    modes.append(
        ("AMP bf16 + channels_last", True, True) if bf16 else ("channels_last", False, True)
    )
    t_all = time.perf_counter()
    rows = []
    for backbone in args.models:
        for mode, amp, cl in modes:
            watch = NvmlWatch(monitor, args.device)
            rate = train_rate(
                backbone, device, args.batch, args.size, args.steps, args.warmup, amp, cl, watch
            )
            rows.append((backbone, mode, rate, watch.summary()))
            if device.type == "cuda":
                torch.cuda.empty_cache()
            print(f"  {backbone:13s} {mode:26s} {rate:9.1f} img/s  {watch.summary()}", flush=True)
    resize = max(args.size, round(args.size * 256 / 224))
    aug = augment_rate(device, args.batch, args.size, resize, args.steps, args.quick)
    watch = NvmlWatch(monitor, args.device)
    pipe, wait, where = pipeline_rate(
        device, args.batch, args.size, resize, args.steps, args.warmup, watch, args.quick
    )
    monitor.close()

    print(
        f"\nbatch {args.batch}, {args.size} px, {args.steps} timed steps after {args.warmup}; device {device}"
    )
    print("\n| model | precision | train img/s | speed-up | NVML meanwhile |")
    print("|---|---|---:|---:|---|")
    base = {}
    for backbone, mode, rate, util in rows:
        base.setdefault(backbone, rate)
        print(f"| {backbone} | {mode} | {rate:.0f} | {rate / base[backbone]:.2f}x | {util} |")
    print("\n| fbtui data path on this device | img/s | note |")
    print("|---|---:|---|")
    print(
        f"| batched augmentation alone (rot 10, crop {args.size} pad, flip, jitter .4 + hue .1) "
        f"| {aug:.0f} | {resize} px uint8 in |"
    )
    net = "resnet50 AMP bf16 + channels_last" if not args.quick else "tiny CNN"
    print(
        f"| cached loader -> {net} | {pipe:.0f} | waiting for data {wait:.1%} of the time; "
        f"cache on the {where}; {watch.summary()} |"
    )
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
