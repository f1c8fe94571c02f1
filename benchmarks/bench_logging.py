"""The cost of fbtui's logging: per call, and as a share of a training step, measured in
the same run (issue 7: "logging that costs nothing noticeable").

    .venv/bin/python benchmarks/bench_logging.py [--calls 2000] [--threads 1] [--quick]

What the trainer does at each logging interval (log.every_steps, default 10):
`ScalarLog.scalars` of the five train scalars (tensorboardX `add_scalar`, which queues
the event for its writer thread), `StatusWriter.update` (a dict update under a lock; the
heartbeat thread writes status.json every 2 s), and for a foreground `fbtui run` the rich
progress update (`RichReporter.step`, rendered by rich's own refresh thread). Each is
timed per call (median of batches of calls), wall time in the loop and the process CPU
time including the writer thread's serialising and writing. The step times are measured
here on the CPU for two models; the share is cost per call / every_steps / step time.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def per_call(fn, calls: int, batch: int = 50) -> tuple[float, float]:
    """(median wall seconds per call over batches of calls, CPU seconds per call)."""
    walls = []
    c0 = time.process_time()
    for start in range(0, calls, batch):
        t = time.perf_counter()
        for k in range(start, min(calls, start + batch)):
            fn(k)
        walls.append((time.perf_counter() - t) / batch)
    return statistics.median(walls), (time.process_time() - c0) / calls


def step_time(backbone: str, size: int, batch: int, steps: int) -> float:
    """Median seconds of one SGD step (forward, backward, update) on random data."""
    from fbtui.config import ModelCfg
    from fbtui.model import build_model

    model = build_model(ModelCfg(backbone=backbone, pretrained="none"))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(batch, 3, size, size), torch.rand(batch) * 4 + 1
    times = []
    for k in range(steps + 2):
        t = time.perf_counter()
        loss = F.mse_loss(model(x)[:, 0] + 3.0, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if k >= 2:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--every", type=int, default=10, help="log.every_steps")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.calls = 200
    torch.set_num_threads(args.threads)
    from rich.console import Console

    from fbtui.config import config_from_dict
    from fbtui.train.progress import RichReporter
    from fbtui.train.scalars import ScalarLog
    from fbtui.train.status_writer import StatusWriter

    tmp = Path(tempfile.mkdtemp(prefix="fbtui-bench-log-"))
    values = {
        "train/loss": 0.31,
        "train/mse": 0.29,
        "lr": 0.01,
        "perf/img_per_s": 812.0,
        "perf/data_wait_frac": 0.02,
    }
    tb = ScalarLog(tmp, flush_secs=2.0, purge_step=None)
    status = StatusWriter(tmp)
    status.start_heartbeat()
    cfg = config_from_dict({"experiment": {"name": "bench"}})
    reporter = RichReporter(Console(file=io.StringIO(), width=120, force_terminal=True))
    reporter.start(cfg, tmp, epochs=10, steps_per_epoch=10**6, step=0)

    def log_tb(k: int) -> None:
        tb.scalars(values, k + 1)

    def log_status(k: int) -> None:
        status.update(
            epoch=0, step=k + 1, batch=k + 1, lr=0.01, img_per_s=812.0, data_wait_frac=0.02
        )

    def log_reporter(k: int) -> None:
        reporter.step(k + 1, 0, values)

    def everything(k: int) -> None:
        log_tb(k)
        log_status(k)
        log_reporter(k)

    parts = [
        ("ScalarLog.scalars (5 x add_scalar)", log_tb),
        ("StatusWriter.update", log_status),
        ("RichReporter.step (foreground progress)", log_reporter),
        ("all three (one logging interval)", everything),
    ]
    results = []
    for name, fn in parts:
        fn(0)
        wall, cpu = per_call(fn, args.calls)
        results.append((name, wall, cpu))
    t = time.perf_counter()
    tb.flush()  # what the writer thread still had to write
    flush = time.perf_counter() - t
    tb.close()
    status.close()
    reporter.close()
    events = sum(p.stat().st_size for p in tmp.glob("events.out.tfevents.*"))

    steps = 3 if args.quick else 8
    refs = [("mobilenet_v2 96 px, batch 32", step_time("mobilenet_v2", 96, 32, steps))]
    refs.append(("tiny CNN 64 px, batch 32", step_time("tiny", 64, 32, steps)))

    print(
        f"{args.calls} calls each, torch threads {torch.get_num_threads()}, load average "
        f"{os.getloadavg()[0]:.1f}; tfevents written: {events / 1e3:.0f} kB; final flush {flush * 1e3:.1f} ms\n"
    )
    print("| logging call | wall per call | CPU per call (incl. writer thread) |")
    print("|---|---:|---:|")
    for name, wall, cpu in results:
        print(f"| {name} | {wall * 1e6:.0f} us | {cpu * 1e6:.0f} us |")
    total_wall, total_cpu = results[-1][1], results[-1][2]
    print(
        f"\n| step (measured here, CPU) | step time | logging share at every_steps={args.every} | at every_steps=1 |"
    )
    print("|---|---:|---:|---:|")
    for name, st in refs:
        share = max(total_wall, total_cpu) / args.every / st
        share1 = max(total_wall, total_cpu) / st
        print(f"| {name} | {st * 1e3:.1f} ms | {share:.3%} | {share1:.2%} |")
    gpu_step = 0.010
    print(
        f"| (arithmetic, not measured) a 10 ms GPU step | 10.0 ms | "
        f"{max(total_wall, total_cpu) / args.every / gpu_step:.2%} | {max(total_wall, total_cpu) / gpu_step:.1%} |"
    )


if __name__ == "__main__":
    main()
