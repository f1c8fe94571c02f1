"""One fbtui training epoch against a minimal hand-written PyTorch loop over the same
model, data and batch size, measured in the same run (issue 7, target: fbtui within 3 %).

    .venv/bin/python benchmarks/bench_train.py [--repeats 3] [--threads 1] [--quick]

fbtui: `train_run` on a fresh run folder with epochs = 1 — everything a run does: config,
status heartbeat, TensorBoard scalars, per-step LR schedule, data-wait accounting, the
test evaluation with per-group metrics, predictions.csv, last.pt + best.pt, summary.json.
Hand-written: build the same loaders (`build_loaders`: the same cached data path) and the
same model, SGD over the epoch with a constant LR, evaluate the test split, save one
checkpoint. "loop" compares the training steps alone: fbtui's own images/s (summary.json,
timed over its logging windows) against the hand loop's, timed the same way.

Two models: mobilenet_v2 at 96 px (real compute per step) and the tiny CNN at 64 px
(a step costs almost nothing, so any per-step overhead shows). Repeats alternate which
loop goes first; the table gives medians. Torch uses `--threads` intra-op threads (1 by
default; see bench_loader.py for why on this shared 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from fbtui.config import config_from_dict, to_toml  # noqa: E402
from fbtui.runs import layout  # noqa: E402

BENCH_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / "fbtui-bench"

SETUPS = {
    "mobilenet_v2 96 px": {"backbone": "mobilenet_v2", "resize": 112, "size": 96, "synth": 128},
    "tiny CNN 64 px": {"backbone": "tiny", "resize": 72, "size": 64, "synth": 128},
}


def make_config(setup: dict, n: int, batch: int):
    return config_from_dict(
        {
            "experiment": {"name": "bench", "seed": 0},
            "data": {
                "root": "synthetic",
                "synth_n": n,
                "synth_size": setup["synth"],
                "resize": setup["resize"],
                "image_size": setup["size"],
                "cache": "memory",
                "num_workers": 0,
            },
            "model": {"backbone": setup["backbone"], "pretrained": "none"},
            "train": {
                "epochs": 1,
                "batch_size": batch,
                "optimizer": "sgd",
                "lr": 0.01,
                "momentum": 0.9,
                "weight_decay": 1e-4,
                "device": "cpu",
            },
            "augment": {"crop": "random", "hflip": True},
            "log": {"every_steps": 10},
        }
    )


def fbtui_epoch(cfg, prepared, root: Path) -> tuple[float, float, float]:
    """(wall seconds for the whole run, CPU seconds of this process (all its threads),
    images/s of its training loop)."""
    from fbtui.train.trainer import train_run

    run_dir = layout.new_run_dir(root, "bench")
    (run_dir / layout.CONFIG).write_text(to_toml(cfg), encoding="utf-8")
    t, c = time.perf_counter(), time.process_time()
    state = train_run(run_dir, prepared=prepared)
    total, cpu = time.perf_counter() - t, time.process_time() - c
    assert state == "finished", state
    summary = json.loads((run_dir / layout.SUMMARY).read_text())
    shutil.rmtree(run_dir, ignore_errors=True)
    return total, cpu, float(summary["img_per_s"])


def hand_epoch(cfg, prepared, root: Path) -> tuple[float, float, float]:
    """The loop anyone would write, over the same loaders and model."""
    from fbtui.model import build_model
    from fbtui.train.loaders import build_loaders

    t, c = time.perf_counter(), time.process_time()
    device = torch.device("cpu")
    torch.manual_seed(cfg.experiment.seed)
    loaders = build_loaders(cfg, prepared, device)
    model = build_model(cfg.model).to(device)
    opt = torch.optim.SGD(
        model.parameters(),
        lr=cfg.train.lr,
        momentum=cfg.train.momentum,
        weight_decay=cfg.train.weight_decay,
    )
    model.train()
    loaders.set_epoch(0)
    t_loop, n = time.perf_counter(), 0
    for k, batch in enumerate(loaders.train):
        if k >= loaders.steps_per_epoch:
            break
        x, y = batch["image"].to(device), batch["score"].to(device)
        loss = F.mse_loss(model(x)[:, 0] + 3.0, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += x.shape[0]
    loop = n / (time.perf_counter() - t_loop)
    model.eval()
    se, count = 0.0, 0
    with torch.no_grad():
        for batch in loaders.test:
            pred = model(batch["image"].to(device))[:, 0] + 3.0
            se += float(((pred - batch["score"]) ** 2).sum())
            count += len(pred)
    assert count == len(prepared.test) and se == se
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, root / "hand.pt")
    return time.perf_counter() - t, time.process_time() - c, loop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="synthetic images (60%% train)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--setups", type=int, nargs="+", default=None, help="indices into SETUPS")
    ap.add_argument("--quick", action="store_true", help="tiny settings (a smoke test)")
    args = ap.parse_args()
    names = list(SETUPS)
    picked = [names[i] for i in args.setups] if args.setups else names
    if args.quick:
        args.n, args.repeats, picked = 60, 1, ["tiny CNN 64 px"]
    torch.set_num_threads(args.threads)
    os.environ.setdefault("FBTUI_CACHE", str(BENCH_DIR / "cache"))
    from fbtui.train.trainer import prepare_data

    root = Path(tempfile.mkdtemp(prefix="fbtui-bench-train-"))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"batch {args.batch}, {args.repeats} repeats, torch threads {torch.get_num_threads()}, "
        f"{os.cpu_count()} CPUs, load average {load:.1f}"
    )
    rows = []
    try:
        for name in picked:
            cfg = make_config(SETUPS[name], args.n, args.batch)
            prepared = prepare_data(cfg)
            steps = len(prepared.train) // args.batch
            print(
                f"\n{name}: {len(prepared.train)} train / {len(prepared.test)} test images, "
                f"{steps} steps",
                flush=True,
            )
            hand_epoch(cfg, prepared, root)  # warm-up: imports, cache file, allocator
            fbtui_epoch(cfg, prepared, root)
            f: dict[str, list[float]] = {"wall": [], "cpu": [], "loop": []}
            h: dict[str, list[float]] = {"wall": [], "cpu": [], "loop": []}
            for r in range(args.repeats):
                for which in "fh" if r % 2 == 0 else "hf":
                    run, into = (fbtui_epoch, f) if which == "f" else (hand_epoch, h)
                    for key, v in zip(
                        ("wall", "cpu", "loop"), run(cfg, prepared, root), strict=True
                    ):
                        into[key].append(v)
                print(
                    f"  repeat {r + 1}: fbtui {f['wall'][-1]:6.2f} s wall, {f['cpu'][-1]:6.2f} s CPU "
                    f"({f['loop'][-1]:6.1f} img/s in the loop) | hand {h['wall'][-1]:6.2f} s wall, "
                    f"{h['cpu'][-1]:6.2f} s CPU ({h['loop'][-1]:6.1f} img/s)",
                    flush=True,
                )
            med = statistics.median
            rows.append((name, *(med(f[k]) for k in f), *(med(h[k]) for k in h)))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(
        "\n| model | epoch wall s: fbtui / hand | overhead | epoch CPU s: fbtui / hand | overhead "
        "| loop img/s: fbtui / hand | overhead |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    for name, fw, fc, fl, hw, hc, hl in rows:
        worst = max(worst, fc / hc - 1)
        print(
            f"| {name} | {fw:.2f} / {hw:.2f} | {fw / hw - 1:+.1%} | {fc:.2f} / {hc:.2f} | "
            f"**{fc / hc - 1:+.1%}** | {fl:.1f} / {hl:.1f} | {hl / fl - 1:+.1%} |"
        )
    print(
        f"\nlargest CPU-time overhead of a whole fbtui epoch {worst:+.1%} (target within 3 %); "
        "CPU time is the steadier figure on a busy machine, compare the repeats' spread."
    )


if __name__ == "__main__":
    main()
