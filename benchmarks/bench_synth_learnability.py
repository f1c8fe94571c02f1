"""Is the synthetic set learnable, and how hard is it? (make bench)

Trains a small CNN the way experiments/demo.toml does (64 px, resize 72 + random crop,
hflip, AdamW + cosine, ~12 epochs, 1200 training images) with fbtui's own data pipeline
(FaceDataset, build_transform) and prints the test Pearson correlation next to the rater
ceiling. Target: test PC >= 0.80 (aim 0.85) well below a ceiling of ~0.95.

    python benchmarks/bench_synth_learnability.py [--seeds 0 1] [--epochs 12] [--net tiny|conv4]

Measured (generator v3, n=2000 at 128 px, busy 2-core box): tiny net 12 epochs, test PC
0.8826 (seed 0) and 0.8689 (seed 1), ~380 s of CPU per run; rater ceiling 0.969.

`--net conv4` is a plainer 4-block conv net (32-64-128-128, max-pooling); `tiny` is
fbtui's own backbone. CPU only; set --threads to the cores you want it to use.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
import torch
from torch import nn


def conv4() -> tuple[nn.Module, int]:
    def block(i: int, o: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(i, o, 3, padding=1, bias=False),
            nn.BatchNorm2d(o),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )

    return nn.Sequential(block(3, 32), block(32, 64), block(64, 128), block(128, 128)), 128


def build_net(kind: str) -> nn.Module:
    if kind == "tiny":
        from fbtui.model.backbones import build_backbone

        feats, c = build_backbone("tiny", "none", 32)
    else:
        feats, c = conv4()
    return nn.Sequential(
        feats, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(c, 1)
    )


def run(seed: int, args) -> dict:
    from fbtui.config import AugmentCfg, DataCfg
    from fbtui.data import check_dataset, open_dataset
    from fbtui.data.dataset import FaceDataset, build_transform

    torch.manual_seed(seed)
    data = DataCfg(image_size=64, resize=72, synth_n=args.n, synth_size=args.size)
    aug = AugmentCfg(hflip=True, crop="random")
    t0 = time.monotonic()
    ds = open_dataset(args.root, synth_n=args.n, synth_size=args.size)
    t_open = time.monotonic() - t0
    train, test = ds.split("60/40")
    train_ds = FaceDataset(train, build_transform(aug, data, train=True), seed=seed)
    test_ds = FaceDataset(test, build_transform(aug, data, train=False))
    gen = torch.Generator().manual_seed(seed)
    tl = torch.utils.data.DataLoader(
        train_ds, batch_size=32, shuffle=True, drop_last=True, generator=gen
    )
    vl = torch.utils.data.DataLoader(test_ds, batch_size=128)
    net = build_net(args.net)
    mu = float(np.mean([r.score for r in train]))
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * len(tl)
    warm = len(tl) // 2

    def lr_at(s: int) -> float:
        if s < warm:
            return (s + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    t0, cpu0 = time.monotonic(), time.process_time()
    pc = float("nan")
    for ep in range(args.epochs):
        net.train()
        for b in tl:
            loss = ((net(b["image"]).squeeze(1) + mu - b["score"]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        net.eval()
        preds, ys = [], []
        with torch.no_grad():
            for b in vl:
                preds.append(net(b["image"]).squeeze(1) + mu)
                ys.append(b["score"])
        p, y = torch.cat(preds).numpy(), torch.cat(ys).numpy()
        pc = float(np.corrcoef(p, y)[0, 1])
        mae = float(np.abs(p - y).mean())
        print(
            f"  seed {seed} epoch {ep + 1:2d}  loss {loss.item():.3f}  test PC {pc:.4f}  MAE {mae:.3f}  "
            f"{time.monotonic() - t0:.0f}s wall / {time.process_time() - cpu0:.0f}s cpu",
            flush=True,
        )
    ceiling = check_dataset(ds.root, decode=False).rater_ceiling if seed == args.seeds[0] else None
    return {
        "seed": seed,
        "pc": pc,
        "mae": mae,
        "wall_s": time.monotonic() - t0,
        "cpu_s": time.process_time() - cpu0,
        "open_s": t_open,
        "ceiling": ceiling,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="synthetic")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--net", choices=["tiny", "conv4"], default="tiny")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-pc", type=float, default=0.80)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = [run(s, args) for s in args.seeds]
    ceiling = results[0]["ceiling"]
    for r in results:
        print(
            f"seed {r['seed']}: test PC {r['pc']:.4f} MAE {r['mae']:.3f} "
            f"(train {r['wall_s']:.0f}s wall, {r['cpu_s']:.0f}s cpu; open {r['open_s']:.1f}s)"
        )
    print(f"rater ceiling {ceiling:.4f}; net {args.net}; {args.epochs} epochs")
    worst = min(r["pc"] for r in results)
    if worst < args.min_pc:
        print(f"FAIL: test PC {worst:.4f} < {args.min_pc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
