"""Loader images/s: fbtui's decoded-image cache + batched tensor augmentation against a
plain PIL + torchvision.transforms Dataset in a DataLoader, same num_workers, same
augmentations, same images, measured in the same run (issue 7, target >= 5x).

    .venv/bin/python benchmarks/bench_loader.py [--n 1000] [--src 350] [--batches 0]
        [--repeats 3] [--workers 0 2] [--threads 1] [--quick]

The images are a synthetic set at the real 350 px (`fbtui.data.synthesize`, generated once
under /tmp/fbtui-bench), so decoding costs what SCUT-FBP5500's JPEGs cost. For each
recipe and num_workers, every repeat draws one whole epoch (or `--batches` batches) from
each loader (alternating which goes first); the table gives medians and the ratio of the
medians, with the per-repeat ratio range. Whole epochs, because a loader left mid-epoch
keeps building the batches it had prefetched, in the background, while the *other*
loader is being timed (4 PIL batches of leftover work made the cache look 3x slower
with num_workers 2). The cache's one-time build is reported separately (it is paid once
per image list and size, then reused by every run).

The fbtui side is `fbtui.train.loaders.build_loaders`, exactly what `fbtui run` trains
from (data.cache = "memory"): with num_workers > 0 that is background threads, not
worker processes (see `fbtui.train.cached_loader`).

Torch runs with `--threads` intra-op threads (default 1) in this process: on a shared
2-core machine OpenMP's barrier makes a multi-threaded op wait for a descheduled thread
(a 24k-element reduction measured 24 ms with 2 threads against 0.5 ms with 1), which
would measure the neighbours, not the loaders. DataLoader workers always use 1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from fbtui.config import config_from_dict  # noqa: E402
from fbtui.data import open_dataset, synthesize  # noqa: E402
from fbtui.data.dataset import build_transform  # noqa: E402

BENCH_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / "fbtui-bench"

# name -> (data.resize, data.image_size, [augment]); the first is the repo's recipe
# (experiments/base.toml), the second the SCUT-FBP5500 paper's, the third a heavy one
RECIPES = {
    "repo: 224, crop 224 pad 16, flip": (224, 224, {"crop": "random", "pad": 16, "hflip": True}),
    "paper: 256 -> crop 224, flip": (256, 224, {"crop": "random", "hflip": True}),
    "heavy: 256, rot 10, crop 224, flip, jitter .4": (
        256,
        224,
        {
            "crop": "random",
            "hflip": True,
            "rotation": 10,
            "color_jitter": {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4},
        },
    ),
}


def synthetic_set(n: int, size: int) -> Path:
    """The benchmark images, generated once (tmp folder + rename: safe if run twice)."""
    final = BENCH_DIR / f"synth-n{n}-s{size}"
    if (final / "SYNTHETIC.json").exists():
        return final
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    print(f"generating {n} synthetic {size} px faces in {final} (once) ...", flush=True)
    t = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(dir=BENCH_DIR, prefix=".synth-"))
    synthesize(tmp / "set", n=n, seed=0, size=size)
    try:
        os.replace(tmp / "set", final)
    except OSError:
        if not (final / "SYNTHETIC.json").exists():
            raise
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"  done in {time.perf_counter() - t:.0f} s", flush=True)
    return final


class PlainDataset(torch.utils.data.Dataset):
    """The baseline everyone writes: open the file with PIL, apply a transforms.Compose."""

    def __init__(self, records, transform):
        self.items = [(str(r.path), float(r.score)) for r in records]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        path, score = self.items[i]
        with Image.open(path) as im:
            img = im.convert("RGB")
        return self.transform(img), torch.tensor(score)


def plain_loader(records, aug, data, batch: int, workers: int):
    ds = PlainDataset(records, build_transform(aug, data, train=True))
    kw = {"persistent_workers": True} if workers else {}
    return torch.utils.data.DataLoader(
        ds, batch_size=batch, shuffle=True, drop_last=True, num_workers=workers, **kw
    )


def cached_loader(cfg, prepared, workers: int):
    from fbtui.train.loaders import build_loaders

    cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"num_workers": workers})})
    return build_loaders(cfg, prepared, torch.device("cpu"))


def draw(loader, batches: int, epoch: int, set_epoch=None) -> float:
    """Images/s over the first `batches` batches of a fresh epoch (0: all of them)."""
    if set_epoch:
        set_epoch(epoch)
    t = time.perf_counter()
    n = 0
    for k, b in enumerate(loader):
        x = b["image"] if isinstance(b, dict) else b[0]
        n += x.shape[0]
        if k + 1 == batches:
            break
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="synthetic images (60%% train)")
    ap.add_argument("--src", type=int, default=350, help="side of the JPEGs in pixels")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument(
        "--batches", type=int, default=0, help="batches timed per repeat (0: a whole epoch)"
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads here")
    ap.add_argument("--recipes", type=int, nargs="+", default=None, help="indices into RECIPES")
    ap.add_argument("--quick", action="store_true", help="tiny settings (a smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.n, args.src, args.batches, args.repeats, args.batch = 60, 96, 2, 1, 8
    torch.set_num_threads(args.threads)
    os.environ.setdefault("FBTUI_CACHE", str(BENCH_DIR / "cache"))

    root = synthetic_set(args.n, args.src)
    ds = open_dataset(root)
    train, test = ds.split("60/40")
    prepared = SimpleNamespace(train=train, test=test, notes=[])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{len(train)} training images, {args.src} px JPEG; batch {args.batch}; "
        f"{args.batches or 'all'} batches x {args.repeats} repeats per cell; "
        f"torch threads {torch.get_num_threads()}; "
        f"{os.cpu_count()} CPUs, load average {load:.1f}"
    )
    names = list(RECIPES)
    picked = [names[i] for i in args.recipes] if args.recipes else names
    rows = []
    for name in picked:
        resize, size, augment = RECIPES[name]
        if args.quick:
            resize, size = max(32, resize // 4), max(32, size // 4)
            augment = dict(augment, pad=min(augment.get("pad", 0), 4))
        cfg = config_from_dict(
            {
                "experiment": {"name": "bench", "seed": 0},
                "data": {
                    "root": str(root),
                    "resize": resize,
                    "image_size": size,
                    "cache": "memory",
                },
                "train": {"batch_size": args.batch, "device": "cpu"},
                "augment": augment,
            }
        )
        # the one-time cost: decode + resize every image once (or find it built earlier)
        from fbtui.data.cache import open_cache

        paths = list(dict.fromkeys(str(r.path) for r in [*train, *test]))
        t = time.perf_counter()
        built = open_cache(paths, resize, "memory", workers=1)
        first = time.perf_counter() - t
        t = time.perf_counter()
        open_cache(paths, resize, "memory")
        reopen = time.perf_counter() - t
        how = "built" if built.built else "found (built earlier)"
        print(
            f"\n{name}\n  cache {how}: {len(paths)} images at {resize} px, "
            f"{built.nbytes / 1e6:.0f} MB, {first:.1f} s with 1 thread; reopened in {reopen:.2f} s"
        )
        for w in args.workers:
            plain = plain_loader(train, cfg.augment, cfg.data, args.batch, w)
            cached = cached_loader(cfg, prepared, w)
            # warm up (worker start, first touch of the cache pages), as many batches as
            # are timed, so no prefetched leftovers run on into the first timing
            draw(plain, args.batches, 0)
            draw(cached.train, args.batches, 0, cached.set_epoch)
            p_rates, c_rates = [], []
            for r in range(args.repeats):
                order = (
                    [("p", plain), ("c", cached)] if r % 2 == 0 else [("c", cached), ("p", plain)]
                )
                for kind, loader in order:
                    if kind == "p":
                        p_rates.append(draw(loader, args.batches, r + 1))
                    else:
                        c_rates.append(draw(loader.train, args.batches, r + 1, loader.set_epoch))
            ratios = [c / p for c, p in zip(c_rates, p_rates, strict=True)]
            row = (name, w, statistics.median(p_rates), statistics.median(c_rates), ratios)
            rows.append(row)
            print(
                f"  num_workers {w}: plain PIL {row[2]:7.1f} img/s | cache {row[3]:7.1f} img/s | "
                f"{row[3] / row[2]:5.1f}x (repeats {min(ratios):.1f}-{max(ratios):.1f}x)",
                flush=True,
            )
            del plain, cached

    print("\n| recipe | num_workers | plain PIL + transforms img/s | fbtui cache img/s | ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, w, p, c, ratios in rows:
        print(
            f"| {name} | {w} | {p:.0f} | {c:.0f} | **{c / p:.1f}x** ({min(ratios):.1f}-{max(ratios):.1f}) |"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nload average at the end {load:.1f} on {os.cpu_count()} CPUs")
    worst = min(c / p for _, _, p, c, _ in rows)
    print(f"\nsmallest ratio {worst:.1f}x (target >= 5x){'' if worst >= 5 else '  BELOW TARGET'}")


if __name__ == "__main__":
    main()
