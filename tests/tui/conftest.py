"""Fixed run folders and a fake GPU for the dashboard's Pilot and snapshot tests.

Every timestamp the dashboard shows is derived from `TEST_NOW` (the test-mode clock), the
time zone is UTC and the event files are written with fixed wall times, so a snapshot
shows the same frame on every machine and every day.
"""

from __future__ import annotations

import asyncio
import csv
import inspect
import json
import math
import os
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from fbtui.tui.app import TEST_NOW, make_app

H = 3600.0


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run `async def` tests here with asyncio.run (no async pytest plugin is installed)."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        names = pyfuncitem._fixtureinfo.argnames
        asyncio.run(pyfuncitem.obj(**{n: pyfuncitem.funcargs[n] for n in names}))
        return True
    return None


FAKE_PID = 4242  # the GPU process of the live run, as the fake NVML reports it


def write_events(logdir: Path, series: dict[str, list[tuple[int, float]]], t0: float) -> None:
    """Scalars at fixed wall times (t0 + step seconds), tensorboardX's record shape."""
    from fbtui.tb.writer import EventFileWriter, event_file_name, scalar_event

    logdir.mkdir(parents=True, exist_ok=True)
    with EventFileWriter(logdir / event_file_name(t0), wall_time=t0) as w:
        for tag, points in series.items():
            for step, value in points:
                w.write_event(scalar_event(tag, value, step, t0 + step))


def training_series(steps: int, spe: int, seed: int, lr: float = 0.003, diverge_at: int = 0):
    """Plausible curves: a decaying noisy train loss, test metrics per epoch, a cosine lr."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[tuple[int, float]]] = {
        k: []
        for k in (
            "train/loss",
            "train/mse",
            "lr",
            "perf/img_per_s",
            "perf/data_wait_frac",
        )
    }
    for s in range(10, steps + 1, 10):
        loss = 0.08 + 0.9 * math.exp(-s / 400) + 0.03 * rng.standard_normal()
        if diverge_at and s >= diverge_at:
            loss = float("nan")
        out["train/loss"].append((s, loss))
        out["train/mse"].append((s, loss * 0.98))
        out["lr"].append((s, lr * 0.5 * (1 + math.cos(math.pi * s / (steps * 1.5)))))
        out["perf/img_per_s"].append((s, 800 + 20 * rng.standard_normal()))
        out["perf/data_wait_frac"].append((s, 0.45 + 0.02 * rng.standard_normal()))
    for k in ("test/mse", "test/mae", "test/rmse", "test/pc", "test_AF/mse", "test_CM/mse"):
        out[k] = []
    for e in range(1, steps // spe + 1):
        mse = 0.09 + 0.3 * math.exp(-e / 2)
        out["test/mse"].append((e * spe, mse))
        out["test/mae"].append((e * spe, math.sqrt(mse) * 0.8))
        out["test/rmse"].append((e * spe, math.sqrt(mse)))
        out["test/pc"].append((e * spe, 0.9 - 0.4 * math.exp(-e / 2)))
        out["test_AF/mse"].append((e * spe, mse * 0.95))
        out["test_CM/mse"].append((e * spe, mse * 1.1))
    return out


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def make_run(
    root: Path,
    name: str,
    status: dict,
    *,
    events=None,
    t0=None,
    summary=None,
    predictions=None,
    config: str | None = None,
) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "config.toml").write_text(
        config
        or f'[experiment]\nname = "{name.rsplit("-", 2)[0]}"\nseed = 0\n\n[train]\nepochs = {status.get("epochs", 10)}\nlr = 0.003\n'
    )
    (d / "status.json").write_text(json.dumps(status, indent=2))
    if summary is not None:
        (d / "summary.json").write_text(json.dumps(summary, indent=2))
    if events:
        write_events(d, events, t0 or status.get("started", TEST_NOW))
    if predictions is not None:
        with open(d / "predictions.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["filename", "target", "prediction"])
            w.writerows(predictions)
    (d / "train.log").write_text(
        "".join(
            f"epoch {i}/{status.get('epochs', 10)} step {i * 50}: loss 0.{90 - i:02d}\n"
            for i in range(1, 40)
        )
    )
    return d


def build_fixture_runs(root: Path) -> dict[str, Path]:
    """Eight run folders covering every state the table shows."""
    host = socket.gethostname()
    rng = np.random.default_rng(0)
    runs: dict[str, Path] = {}
    best = {"mse": 0.0912, "mae": 0.2391, "rmse": 0.302, "pc": 0.8861, "epoch": 9}
    runs["live"] = make_run(
        root,
        "demo-20250615-113000",
        {
            "state": "running",
            "pid": os.getpid(),
            "pids": [os.getpid(), FAKE_PID],
            "host": host,
            "started": TEST_NOW - 0.5 * H,
            "updated": time.time() + 3600,  # a fresh heartbeat for the whole test session
            "epoch": 3,
            "epochs": 10,
            "step": 1750,
            "batch": 250,
            "steps_per_epoch": 500,
            "best": {"mse": 0.1211, "mae": 0.281, "rmse": 0.348, "pc": 0.8312, "epoch": 3},
            "img_per_s": 812.5,
            "data_wait_frac": 0.45,
            "lr": 0.0021,
        },
        events=training_series(1750, 500, seed=1),
        t0=TEST_NOW - 0.5 * H,
    )
    preds = []
    for i, g in enumerate(["AF", "AM", "CF", "CM"] * 30):
        t = float(np.clip(3 + rng.standard_normal() * 0.7, 1, 5))
        preds.append([f"{g}{i + 1}.jpg", f"{t:.4f}", f"{t + 0.3 * rng.standard_normal():.4f}"])
    runs["finished"] = make_run(
        root,
        "resnet18-20250615-090000",
        {
            "state": "finished",
            "pid": 111,
            "host": "gpu-node-1",
            "started": TEST_NOW - 3 * H,
            "updated": TEST_NOW - 1.2 * H,
            "epoch": 10,
            "epochs": 10,
            "step": 5000,
            "steps_per_epoch": 500,
            "best": best,
        },
        summary={
            "state": "finished",
            "best": best,
            "final": {"mse": 0.0934, "mae": 0.2402, "rmse": 0.3056, "pc": 0.8843},
            "epochs": 10,
            "steps": 5000,
            "wall_time_s": 1.8 * H,
            "img_per_s": 950.0,
            "train_images": 3300,
            "test_images": 2200,
        },
        events=training_series(5000, 500, seed=2),
        predictions=preds,
    )
    runs["lost"] = make_run(
        root,
        "lost-run-20250615-100000",
        {
            "state": "running",
            "pid": _dead_pid(),
            "host": host,
            "started": TEST_NOW - 2 * H,
            "updated": TEST_NOW - 1.5 * H,
            "epoch": 2,
            "epochs": 10,
            "step": 1000,
            "steps_per_epoch": 500,
            "best": {"mse": 0.15, "pc": 0.79, "epoch": 2},
        },
        events=training_series(1000, 500, seed=3),
    )
    runs["stale"] = make_run(
        root,
        "remote-20250615-080000",
        {
            "state": "running",
            "pid": 5555,
            "host": "gpu-node-7",
            "started": TEST_NOW - 4 * H,
            "updated": TEST_NOW - 3.9 * H,
            "epoch": 1,
            "epochs": 10,
            "step": 400,
            "steps_per_epoch": 500,
        },
    )
    runs["diverged"] = make_run(
        root,
        "vgg16-20250614-200000",
        {
            "state": "diverged",
            "host": host,
            "started": TEST_NOW - 16 * H,
            "updated": TEST_NOW - 15.8 * H,
            "epoch": 1,
            "epochs": 10,
            "step": 600,
            "steps_per_epoch": 500,
            "error": "loss became non-finite before step 600 (epoch 2)",
        },
        events=training_series(600, 500, seed=4, lr=0.5, diverge_at=560),
    )
    runs["stopped"] = make_run(
        root,
        "mobilenet-20250614-150000",
        {
            "state": "stopped",
            "host": host,
            "started": TEST_NOW - 21 * H,
            "updated": TEST_NOW - 20 * H,
            "epoch": 4,
            "epochs": 10,
            "step": 2000,
            "steps_per_epoch": 500,
            "best": {"mse": 0.1034, "pc": 0.8611, "epoch": 4},
            "error": "stopped by SIGTERM",
        },
        events=training_series(2000, 500, seed=5),
    )
    runs["failed"] = make_run(
        root,
        "scut-cv1-20250613-120000",
        {
            "state": "failed",
            "host": host,
            "started": TEST_NOW - 48 * H,
            "updated": TEST_NOW - 47.9 * H,
            "epoch": 0,
            "epochs": 20,
            "step": 0,
            "error": "DataError: Images/AF12.jpg: cannot identify image file",
        },
    )
    old = root / "old-script-logs"
    write_events(
        old,
        {
            "loss": [(s, 1.0 / (1 + s / 100)) for s in range(0, 3000, 20)],
            "accuracy": [(s, 1 - 1.0 / (1 + s / 300)) for s in range(0, 3000, 100)],
        },
        TEST_NOW - 100 * H,
    )
    for f in old.iterdir():
        os.utime(f, (TEST_NOW - 100 * H, TEST_NOW - 99 * H))
    runs["logdir"] = old
    return runs


FAKE_GPU = {
    "interval": 0.01,
    "max_polls": 16,
    "devices": [
        {
            "name": "NVIDIA H100 80GB HBM3",
            "util_pct": [35, 60, 88, 97, 99, 98, 91, 99],
            "sm_active_pct": [20, 41, 62, 70, 72, 69, 64, 71],
            "gpm": True,
            "mem_used": 34359738368,
            "mem_total": 85899345920,
            "temp_c": [51, 54, 57, 60, 62, 63, 63, 64],
            "power_w": [180, 350, 520, 610, 640, 650, 600, 655],
            "power_limit_w": 700,
            "processes": [
                {"pid": FAKE_PID, "used_mem": 30064771072, "name": "python"},
                {"pid": 31337, "used_mem": 2147483648, "name": "jupyter-lab"},
            ],
        }
    ],
}


@pytest.fixture(scope="session")
def fixture_base(tmp_path_factory):
    """A folder holding `runs/` (the eight fixed runs) and `experiments/`, built once.
    Local time is UTC while it lives (start times in the table and the snapshots)."""
    old_tz = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    base = tmp_path_factory.mktemp("tui")
    build_fixture_runs(base / "runs")
    exp = base / "experiments"
    exp.mkdir()
    (exp / "demo.toml").write_text(
        '[experiment]\nname = "demo"\nnotes = "tiny CNN, synthetic faces"\n'
    )
    (exp / "sweep-lr.toml").write_text('[experiment]\nname = "sweep"\nnotes = "lr sweep base"\n')
    yield base
    if old_tz is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old_tz
    time.tzset()


@pytest.fixture(scope="session")
def fixture_runs(fixture_base) -> Path:
    return fixture_base / "runs"


@pytest.fixture
def experiments_dir(fixture_base) -> Path:
    return fixture_base / "experiments"


@pytest.fixture
def fake_gpu(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "gpus.json"
    path.write_text(json.dumps(FAKE_GPU))
    monkeypatch.setenv("FBTUI_FAKE_GPU", str(path))
    return path


@pytest.fixture
def no_gpu(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "nogpu.json"
    path.write_text(json.dumps({"no_gpu": "no NVIDIA GPU (NVML not found)"}))
    monkeypatch.setenv("FBTUI_FAKE_GPU", str(path))
    return path


async def settle(pilot, rounds: int = 40) -> None:
    """Wait until every worker finished and every message they posted was handled."""
    from textual.worker import WorkerCancelled, WorkerFailed

    app = pilot.app
    for _ in range(rounds):
        try:
            await app.workers.wait_for_complete()
        except (WorkerCancelled, WorkerFailed):
            continue  # superseded by a newer worker of its group: wait for that one
        await pilot.pause()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            break
    await pilot.pause()


@pytest.fixture
def dashboard(fixture_runs, experiments_dir, fake_gpu):
    """A factory of test-mode dashboards over the fixture runs."""

    def make(**kwargs):
        return make_app(fixture_runs, experiments_dir, test_mode=True, **kwargs)

    return make
