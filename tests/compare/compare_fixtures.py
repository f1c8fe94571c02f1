"""Fixed run folders for the compare tests: deterministic values and wall times."""

from __future__ import annotations

import json
import math
from pathlib import Path

from fbtui.tb.writer import EventFileWriter, scalar_event

T0 = 1_750_000_000.0  # 2025-06-15 12:00 UTC, like the dashboard tests

CONFIG = """[experiment]
name = "{name}"
seed = 0

[train]
lr = {lr}
batch_size = {bs}
epochs = 5
optimizer = "sgd"

[model]
backbone = "resnet18"
"""


def loss(step: int, lr: float) -> float:
    return 1.0 / (1.0 + step * lr) + 0.05 * math.sin(step / 3.0)


def write_run(root: Path, name: str, lr: float, bs: int, *, summary: bool = True) -> Path:
    """An fbtui-style run: config.toml, events (train/loss each step, test/* each epoch),
    and optionally summary.json."""
    run = root / name
    run.mkdir(parents=True)
    (run / "config.toml").write_text(CONFIG.format(name=name, lr=lr, bs=bs))
    with EventFileWriter(run / "events.out.tfevents.1750000000.host", wall_time=T0) as w:
        for step in range(100):
            w.write_event(scalar_event("train/loss", loss(step, lr * 100), step, T0 + step * 6.0))
            if step % 20 == 19:
                epoch = step // 20
                for metric, value in metrics_at(epoch, lr).items():
                    w.write_event(scalar_event(f"test/{metric}", value, step, T0 + step * 6.0))
                w.write_event(scalar_event("perf/img_per_s", 100.0 + bs, step, T0 + step * 6.0))
    if summary:
        best = metrics_at(4, lr)
        (run / "summary.json").write_text(
            json.dumps(
                {
                    "best": {**best, "epoch": 4},
                    "final": best,
                    "wall_time_s": 600.0,
                    "img_per_s": 100.0 + bs,
                    "epochs": 5,
                }
            )
        )
    return run


def metrics_at(epoch: int, lr: float) -> dict[str, float]:
    k = lr * 100
    return {
        "mse": round(0.40 - 0.02 * epoch * k, 4),
        "mae": round(0.50 - 0.02 * epoch * k, 4),
        "rmse": round(0.60 - 0.02 * epoch * k, 4),
        "pc": round(0.70 + 0.03 * epoch * k, 4),
    }


def write_logdir(root: Path, name: str) -> Path:
    """A plain TensorBoard logdir with an add_scalars-style subfolder, no fbtui files."""
    logdir = root / name
    with EventFileWriter(logdir / "events.out.tfevents.1750000000.host", wall_time=T0) as w:
        for step in range(0, 100, 5):
            w.write_event(scalar_event("train/loss", 0.9 / (1 + step / 30), step, T0 + step * 6.0))
    with EventFileWriter(
        logdir / "acc" / "val" / "events.out.tfevents.1750000000.host", wall_time=T0
    ) as w:
        for step in range(0, 100, 25):
            w.write_event(scalar_event("acc", 0.5 + step / 400, step, T0 + step * 6.0))
    return logdir


def three_runs(root: Path) -> list[Path]:
    """Two finished runs (summary.json) and one still running (scalars only)."""
    return [
        write_run(root, "lr-0.01", 0.01, 32),
        write_run(root, "lr-0.02", 0.02, 32),
        write_run(root, "bs-64", 0.01, 64, summary=False),
    ]
