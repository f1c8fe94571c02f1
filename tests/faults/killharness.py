"""Kill -9 a training run at chosen moments, resume it each time, compare with a clean run.

Used by test_fault_kill9.py (a quick variant in `make test`, the 20-kill soak in
`make soak`). Every process runs the real CLI (`fbtui run` / `fbtui resume`) through
faulty_fbtui.py, which can slow the loop down and stall inside a checkpoint write.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

WRAPPER = Path(__file__).with_name("faulty_fbtui.py")
REPO = Path(__file__).resolve().parents[2]
# Knobs that make the run exercise every random number stream the trainer restores:
# label noise, horizontal flips, dropout (on by default), the sampler's permutation.
OVERRIDES = ["--set", "data.label_noise_std=0.1", "--set", "augment.hflip=true"]


def status(run: Path) -> dict:
    try:
        data = json.loads((run / "status.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def spawn(args: list[str], env_extra: dict[str, str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **env_extra}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, str(WRAPPER), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=REPO,
        )


def wait_for(pred, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        if proc is not None and proc.poll() is not None:
            return pred()
        time.sleep(0.05)
    return False


@dataclass
class Kill:
    """One planned kill, aimed at a moment of epoch `epoch` (0-based) of the run:

    * "startup": `delay` seconds after the process starts (imports, set-up);
    * "time": `frac` of an epoch after the run reported epoch `epoch` begun (status.json is
      written right after each epoch's checkpoint): a random point of its loop, its
      evaluation or its checkpoint writes;
    * "mid": half-way through writing checkpoint `which` (best, last, any) at the end of
      epoch `epoch` (before fsync and os.replace);
    * "after": just after that checkpoint landed, before the trainer goes on."""

    how: str
    epoch: int = 0
    delay: float = 0.0
    frac: float = 0.0
    which: str = "any"


@dataclass
class KillLog:
    kills: list[str] = field(default_factory=list)  # what each kill hit
    resumes: int = 0
    checkpoints_loaded: int = 0
    stale_tmp_seen: int = 0
    epochs_reached: list[int] = field(default_factory=list)  # checkpointed epoch after each


def plan(n: int, epochs: int, rng: random.Random) -> list[Kill]:
    """n kills spread over the run (kill i aims at about epoch i * (epochs - 1) / n): two at
    start-up, a third inside or just after a checkpoint write, the rest at random moments."""
    out: list[Kill] = []
    for i in range(n):
        epoch = min(epochs - 2, i * (epochs - 1) // n)
        if i % 3 == 0:
            how = rng.choice(["mid", "mid", "after"])
            out.append(Kill(how, epoch=epoch, which=rng.choice(["best", "last", "last", "any"])))
        elif i in (1, n - 2) and n > 4:
            out.append(Kill("startup", epoch=epoch, delay=rng.uniform(0.2, 2.0)))
        else:
            out.append(Kill("time", epoch=epoch, frac=rng.uniform(0.0, 0.95)))
    return out


def check_checkpoints(run: Path, log: KillLog) -> None:
    """Every checkpoint in the run folder loads (weights_only) and is self-consistent."""
    from fbtui.train.checkpoint import load_checkpoint

    for p in sorted((run / "checkpoints").glob("*.pt")):
        state = load_checkpoint(p)  # raises RunError on a torn or unreadable file
        assert {"model", "optimizer", "epoch", "step", "rng"} <= set(state), p
        log.checkpoints_loaded += 1
    log.stale_tmp_seen += len(list((run / "checkpoints").glob(".*.tmp")))


def kill_cycle(
    args: list[str],
    run_of,
    kill: Kill,
    tmp: Path,
    env: dict[str, str],
    epoch_s: float,
    epochs: int,
) -> tuple[str, subprocess.Popen]:
    """Start one process, kill it as planned; returns (what was hit, the process).

    A run resumes from its last checkpoint, so the target is never before it: a kill aimed
    at an epoch the run has already checkpointed lands in the next one instead."""
    marker = tmp / f"marker-{time.monotonic_ns()}"
    extra = dict(env)
    run = run_of()
    done = int(status(run).get("epoch") or 0) if run is not None else 0
    target = max(kill.epoch, done)
    how, frac = kill.how, kill.frac
    if done >= epochs:  # every epoch is checkpointed, the summary is not: no write to aim at
        how = "startup"
    elif done == epochs - 1 and how == "time":
        frac *= 0.5  # the last epoch: the kill must land before the run finishes
    if how in ("mid", "after"):
        # "best" is only written when the test loss improved: aim at any file then
        which = kill.which if kill.which == "last" else "any"
        extra["FAULT_STALL_SAVE"] = f"{target + 1}:{which}:{how}"
        extra["FAULT_MARKER"] = str(marker)
    proc = spawn(args, extra, tmp / "procs.log")
    started = time.monotonic()
    try:
        if how == "startup":
            time.sleep(kill.delay if how == kill.how else min(kill.delay, 0.5))
            hit = "startup"
        elif how in ("mid", "after"):
            assert wait_for(marker.exists, 600, proc), f"no stall marker (exit {proc.poll()})"
            hit = marker.read_text()
        else:

            def reached() -> bool:
                r = run_of()
                st = status(r) if r is not None else {}
                return (
                    st.get("pid") == proc.pid
                    and st.get("state") == "running"
                    and int(st.get("epoch") or 0) >= target
                )

            assert wait_for(reached, 600, proc), f"never reached epoch {target} ({proc.poll()})"
            time.sleep(frac * epoch_s)
            hit = f"{frac:.2f} into epoch {target + 1}"
        alive = proc.poll() is None
        assert alive, (
            f"process exited by itself with {proc.returncode} before the kill ({how}); "
            f"see {tmp / 'procs.log'}"
        )
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None and time.monotonic() - started > 600:
            proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    return hit, proc


def run_to_end(args: list[str], tmp: Path, env: dict[str, str]) -> int:
    proc = spawn(args, env, tmp / "procs.log")
    return proc.wait(timeout=900)


# -- what the finished run holds -------------------------------------------------------


def accumulator_scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    """Stock TensorBoard's view (purge semantics included)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run), size_guidance={"scalars": 0})
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def fbtui_scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    from fbtui.tb import LogdirReader

    out = []
    for fast in (True, False):  # the template fast path must agree with protobuf
        reader = LogdirReader.load(run, fast=fast)
        got = {}
        for tag in reader.tags():
            s = reader.scalars(tag)
            got[tag] = list(zip(s.steps.tolist(), s.values.tolist(), strict=True))
        out.append(got)
    assert out[0] == out[1], "fbtui.tb fast path and protobuf path disagree"
    return out[0]


DETERMINISTIC = ("train/loss", "train/mse", "lr", "test/")


def comparable(scalars: dict[str, list[tuple[int, float]]]) -> dict:
    """The tags whose values are a pure function of the seed (not timings or GPU load)."""
    return {t: v for t, v in scalars.items() if t.startswith(DETERMINISTIC)}


def assert_each_step_once(scalars: dict[str, list[tuple[int, float]]], reader: str) -> None:
    for tag, pts in scalars.items():
        steps = [s for s, _ in pts]
        assert steps == sorted(set(steps)), (reader, tag, steps)


def predictions(run: Path) -> list[dict]:
    with open(run / "predictions.csv", newline="") as f:
        return list(csv.DictReader(f))


def model_weights(path: Path) -> dict:
    from fbtui.train.checkpoint import load_checkpoint

    return load_checkpoint(path)["model"]
