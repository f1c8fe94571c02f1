"""Kill -9 at random moments, resume each time: nothing lost, nothing counted twice, and
the finished run is bit-identical to one that was never interrupted (CPU, same seed)."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands

from . import killharness as kh

load_commands()
runner = CliRunner()


def _run_dir(root: Path, name: str) -> Path | None:
    found = sorted(root.glob(f"{name}-*"))
    return found[0] if found else None


def kill_and_resume(tmp_path: Path, cfg: Path, kills: list[kh.Kill], sample_sleep: float):
    """Train `cfg` once cleanly and once through `kills`; compare the two runs."""
    root = tmp_path / "runs"
    epochs = _epochs(cfg)
    env = {"FAULT_SAMPLE_SLEEP": str(sample_sleep)}
    log = kh.KillLog()

    # the reference: never interrupted, same seed, same single-threaded CPU maths (in this
    # process: one interpreter start less)
    args = ["run", str(cfg), "--runs-dir", str(root), "--name", "clean", *kh.OVERRIDES]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    t0 = time.monotonic()
    try:
        res = runner.invoke(app, args)
    finally:
        torch.set_num_threads(threads)
    assert res.exit_code == 0, res.output
    clean = _run_dir(root, "clean")
    st = kh.status(clean)
    assert st["state"] == "finished"
    # an epoch of the killed run: the clean run's pace plus the injected data latency
    images = st["train_images"] + st["test_images"]
    epoch_s = (time.monotonic() - t0) / epochs + images * sample_sleep

    first = ["run", str(cfg), "--runs-dir", str(root), "--name", "killed", *kh.OVERRIDES]
    for i, kill in enumerate(kills):
        run = _run_dir(root, "killed")
        args = first if run is None else ["resume", str(run)]
        if run is not None:
            log.resumes += 1
        hit, _ = kh.kill_cycle(
            args, lambda: _run_dir(root, "killed"), kill, tmp_path, env, epoch_s, epochs
        )
        log.kills.append(hit)
        run = _run_dir(root, "killed")
        if run is None:  # killed before the run folder existed: the next one starts it
            continue
        kh.check_checkpoints(run, log)
        log.epochs_reached.append(int(kh.status(run).get("epoch") or 0))
        assert kh.status(run).get("state") != "finished", f"finished before kill {i + 1}"

    run = _run_dir(root, "killed")
    assert run is not None
    log.resumes += 1
    assert kh.run_to_end(["resume", str(run)], tmp_path, {}) == 0, (
        tmp_path / "procs.log"
    ).read_text()[-3000:]
    kh.check_checkpoints(run, log)
    st = kh.status(run)
    assert st["state"] == "finished", st

    # the same numbers as the clean run, to the last bit
    a, b = (json.loads((r / "summary.json").read_text()) for r in (clean, run))
    assert a["best"] == b["best"] and a["final"] == b["final"]
    assert kh.predictions(clean) == kh.predictions(run)
    for name in ("last.pt", "best.pt"):
        wa, wb = (kh.model_weights(r / "checkpoints" / name) for r in (clean, run))
        assert wa.keys() == wb.keys()
        assert all(torch.equal(wa[k], wb[k]) for k in wa), name

    # every step exactly once, read by stock TensorBoard and by fbtui.tb
    for reader in (kh.accumulator_scalars, kh.fbtui_scalars):
        got, want = reader(run), reader(clean)
        kh.assert_each_step_once(got, reader.__name__)
        assert set(got) == set(want), reader.__name__
        for tag in got:  # timings differ, steps do not
            assert [s for s, _ in got[tag]] == [s for s, _ in want[tag]], (reader.__name__, tag)
        assert kh.comparable(got) == kh.comparable(want), reader.__name__

    # killed writes leave no litter once the run has been resumed
    assert not list(run.glob(".*.tmp")) and not list((run / "checkpoints").glob(".*.tmp"))
    return log


def _epochs(cfg: Path) -> int:
    import tomllib

    return tomllib.loads(cfg.read_text())["train"]["epochs"]


def _report(log: kh.KillLog, request) -> None:
    line = (
        f"kills survived: {len(log.kills)}, resumes: {log.resumes}, checkpoints loaded: "
        f"{log.checkpoints_loaded}, stale temp files seen after kills: {log.stale_tmp_seen}; "
        f"checkpointed epoch after each kill: {log.epochs_reached}; hit: {log.kills}"
    )
    print(line)
    out = os.environ.get("FBTUI_FAULT_REPORT")
    if out:
        with open(out, "a") as f:
            f.write(f"{request.node.name}: {line}\n")


def test_two_kills_one_inside_a_checkpoint_write(tmp_path, tiny_toml, request):
    """The quick variant: one kill half-way through writing a checkpoint, one at a random
    moment of the loop."""
    cfg = tiny_toml(n=100, epochs=3)
    rng = random.Random(7)
    # the first epoch's last.pt half-written (the restart has no checkpoint: a purge from
    # step 1 must hide the first process's events), then a random moment of epoch 2
    kills = [kh.Kill("mid", epoch=0, which="last"), kh.Kill("time", 1, frac=rng.uniform(0, 0.9))]
    log = kill_and_resume(tmp_path, cfg, kills, sample_sleep=0.006)
    assert len(log.kills) == 2 and log.resumes == 2
    assert log.kills[0].startswith("mid-write of .last.pt"), log.kills
    assert log.epochs_reached[0] == 0 and log.epochs_reached[1] >= 1, log.epochs_reached
    assert log.stale_tmp_seen >= 1  # the half-written file was there, and is gone now
    _report(log, request)


@pytest.mark.soak
@pytest.mark.timeout(1500)
def test_twenty_kills_at_random_moments(tmp_path, tiny_toml, request):
    seed = int(os.environ.get("FBTUI_KILL_SEED", "20240917"))
    rng = random.Random(seed)
    cfg = tiny_toml(n=120, epochs=12)
    kills = kh.plan(20, 12, rng)
    log = kill_and_resume(tmp_path, cfg, kills, sample_sleep=0.006)
    assert len(log.kills) == 20, log.kills
    assert sum(h.startswith(("mid", "after")) for h in log.kills) >= 6, log.kills
    assert max(log.epochs_reached) >= 8, log.epochs_reached  # kills all over the run
    _report(log, request)
    print(f"kill plan seed {seed}")
