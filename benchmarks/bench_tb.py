"""Benchmark fbtui.tb against TensorBoard's EventAccumulator and tbparse (same run).

    .venv/bin/python benchmarks/bench_tb.py [--points 1000000] [--no-baselines]

Generates (once, cached under /tmp) a log of N scalars: 4 tags x N/4 steps, one event
per scalar as tensorboardX writes them. Then times a full load by each reader (CRCs
checked by ours; EventAccumulator with size_guidance 0 = keep every point), checks that
every reader returns the same points, and times a poll of the unchanged run. The target
(issue 3) is >= 20x faster than EventAccumulator and a poll under 1 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fbtui.tb import LogdirReader  # noqa: E402
from fbtui.tb.writer import write_scalar_log  # noqa: E402

TAGS = ["train/loss", "lr", "test/mse", "perf/img_per_s"]


def logdir_for(points: int) -> Path:
    """The cached benchmark logdir (written on first use)."""
    root = Path(os.environ.get("TMPDIR", "/tmp")) / f"fbtui-bench-tb-{points}"
    path = root / "events.out.tfevents.1700000000.bench"
    done = root / "COMPLETE"
    if not done.exists():
        root.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        n = write_scalar_log(path, TAGS, points // len(TAGS))
        print(
            f"wrote {n:,} scalars ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t:.1f} s"
        )
        done.write_text(str(n))
    return root


def timed(fn, repeat: int = 1):
    """(best wall seconds, best CPU seconds of this process, result)."""
    best, best_cpu, result = float("inf"), float("inf"), None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        result = fn()
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
    return best, best_cpu, result


def load_ours(logdir: Path, fast: bool = True) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    reader = LogdirReader.load(logdir, fast=fast)
    assert not reader.warnings, reader.warnings
    return {t: (s.steps, s.values) for t, s in reader.all_scalars().items()}


def load_event_accumulator(logdir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    return {
        t: (np.array([e.step for e in acc.Scalars(t)]), np.array([e.value for e in acc.Scalars(t)]))
        for t in acc.Tags()["scalars"]
    }


def load_tbparse(logdir: Path):
    from tbparse import SummaryReader

    df = SummaryReader(str(logdir)).scalars
    return {t: (g["step"].to_numpy(), g["value"].to_numpy()) for t, g in df.groupby("tag")}


def same(a, b, name: str) -> None:
    assert sorted(a) == sorted(b), (name, sorted(a), sorted(b))
    for tag in a:
        np.testing.assert_array_equal(a[tag][0], b[tag][0], err_msg=f"{name} {tag} steps")
        np.testing.assert_array_equal(
            a[tag][1].astype(np.float32), b[tag][1].astype(np.float32), err_msg=f"{name} {tag}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N for fbtui.tb")
    parser.add_argument("--no-baselines", action="store_true", help="skip EventAccumulator/tbparse")
    parser.add_argument("--protobuf", action="store_true", help="also time our protobuf-only path")
    args = parser.parse_args()

    logdir = logdir_for(args.points)
    size = sum(p.stat().st_size for p in logdir.glob("events.*")) / 1e6
    print(f"log: {args.points:,} scalars, {size:.1f} MB, {logdir}")

    print("times are wall clock (CPU time of this process in brackets: steadier on a busy machine)")
    ours_s, ours_c, ours = timed(lambda: load_ours(logdir), args.repeat)
    reader = LogdirReader.load(logdir)
    print(
        f"fbtui.tb LogdirReader     {ours_s:7.2f} s [{ours_c:6.2f}]  ({args.points / ours_s / 1e6:.2f} M "
        f"scalars/s, CRC-checked; {reader.stats['fast']:,} records by templates, "
        f"{reader.stats['slow']:,} by protobuf)"
    )
    if args.protobuf:
        proto_s, proto_c, proto = timed(lambda: load_ours(logdir, fast=False))
        same(ours, proto, "protobuf-only")
        print(f"fbtui.tb protobuf only    {proto_s:7.2f} s [{proto_c:6.2f}]  (same points)")

    polls = []
    for _ in range(1000):
        t = time.perf_counter()
        reader.poll()
        polls.append(time.perf_counter() - t)
    print(
        f"poll of the unchanged run {statistics.median(polls) * 1e6:7.1f} us median, {max(polls) * 1e6:.0f} us max"
    )

    if args.no_baselines:
        return
    ea_s, ea_c, ea = timed(lambda: load_event_accumulator(logdir))
    same(ours, ea, "EventAccumulator")
    print(
        f"EventAccumulator(sg=0)    {ea_s:7.2f} s [{ea_c:6.2f}]  -> fbtui.tb is {ea_s / ours_s:5.1f}x "
        f"faster [{ea_c / ours_c:5.1f}x CPU] (target >= 20x)"
    )
    try:
        tp_s, tp_c, tp = timed(lambda: load_tbparse(logdir))
    except ImportError:
        print("tbparse not installed: skipped")
        return
    same(ours, tp, "tbparse")
    print(
        f"tbparse SummaryReader     {tp_s:7.2f} s [{tp_c:6.2f}]  -> fbtui.tb is {tp_s / ours_s:5.1f}x "
        f"faster [{tp_c / ours_c:5.1f}x CPU]"
    )
    if ea_s / ours_s < 20:
        print("WARNING: below the 20x target in wall time on this machine")


if __name__ == "__main__":
    main()
