"""DDP end to end on CPUs: torchrun, 2 processes, the gloo backend, the tiny model.

Each test starts torchrun (an agent and two ranks, each importing torch), so they are
marked slow: about a minute per launch on a loaded two-core machine. The multi-node and
Ctrl-C tests run with `make soak`."""

import csv
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.metrics import score_metrics
from fbtui.runs.status import pid_alive

load_commands()
runner = CliRunner()
pytestmark = pytest.mark.slow


def only_run(root: Path) -> Path:
    runs = [p for p in root.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs  # no second folder, not even a hidden one for rank 1
    return runs[0]


def tb_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def status(run: Path) -> dict:
    try:
        return json.loads((run / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def wait_for(pred, timeout: float = 150.0) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.2)
    return False


def split_names(run: Path) -> list[str]:
    from fbtui.config import load_config
    from fbtui.train.trainer import prepare_data

    return [r.name for r in prepare_data(load_config(run / "config.toml")).test]


def assert_written_once(run: Path, launches: int = 1) -> None:
    """One event file per launch (as for one process: a resume opens a new one), one
    status, no temp files; rank 0's log lines appear once, and no traceback."""
    assert len(list(run.glob("events.out.tfevents.*"))) == launches
    assert len(list(run.rglob("status.json"))) == 1
    assert not list(run.rglob("*.tmp")), list(run.rglob("*.tmp"))
    lines = (run / "train.log").read_text().splitlines()
    info = [line for line in lines if " INFO " in line]
    dup = [line for line, n in Counter(info).items() if n > 1]
    assert not dup, dup
    assert sum("training tiny:" in line for line in lines) >= 1
    # anything another rank says is prefixed; it never repeats rank 0's lines
    assert all(" INFO " not in line for line in lines if line.startswith("[rank "))
    assert "Traceback" not in "\n".join(lines)


def test_two_processes_train_and_score_the_whole_test_split(tmp_path, tiny_toml):
    cfg = tiny_toml(n=120, epochs=2)
    root = tmp_path / "runs"
    res = runner.invoke(app, ["run", str(cfg), "--nproc", "2", "--runs-dir", str(root)])
    assert res.exit_code == 0, res.output
    assert "finished" in res.output
    run = only_run(root)
    st = status(run)
    assert st["state"] == "finished" and st["epoch"] == 2
    assert st["world_size"] == 2 and st["nproc_per_node"] == 2
    ranks = {r["rank"]: r for r in st["ranks"]}
    assert sorted(ranks) == [0, 1]
    # both ranks and their torchrun agent, so stop and the GPU panel reach every one
    assert {ranks[0]["pid"], ranks[1]["pid"], ranks[0]["agent"]} == set(st["pids"])
    assert st["pid"] == ranks[0]["pid"]
    # 72 train images over 2 ranks = 36 each, 16 a step (batch_scope per_gpu)
    assert st["steps_per_epoch"] == 2 and st["step"] == 4
    assert_written_once(run)

    # predictions.csv: every test image exactly once
    rows = list(csv.DictReader(open(run / "predictions.csv")))
    names = [r["filename"] for r in rows]
    assert sorted(names) == sorted(split_names(run))
    assert len(set(names)) == len(names) == st["test_images"]

    # the event log's test metrics at the best epoch = the metrics of predictions.csv
    target = np.array([float(r["target"]) for r in rows])
    pred = np.array([float(r["prediction"]) for r in rows])
    recomputed = score_metrics(target, pred)
    scalars = tb_scalars(run)
    best_step = st["best"]["step"]
    for k in ("mse", "mae", "rmse", "pc"):
        logged = dict(scalars[f"test/{k}"])[best_step]
        assert abs(logged - recomputed[k]) < 1e-4, (k, logged, recomputed[k])
    steps = [s for s, _ in scalars["train/loss"]]
    assert steps == sorted(set(steps))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_images"] == len(rows)


def test_two_processes_stop_and_resume_detached(tmp_path, tiny_toml):
    epochs = 40  # long enough to be stopped mid-run on a fast machine too
    cfg = tiny_toml(n=120, epochs=epochs)
    env = {**os.environ, "FBTUI_RUNS": str(tmp_path / "runs")}
    cmd = [sys.executable, "-m", "fbtui"]
    out = subprocess.run(
        [*cmd, "run", str(cfg), "--nproc", "2", "--detach"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    run = Path(out.stdout.strip().splitlines()[-1])
    assert wait_for(lambda: status(run).get("step", 0) >= 4 and len(status(run)["pids"]) == 3)
    pids = status(run)["pids"]

    res = runner.invoke(app, ["stop", str(run), "--wait", "60"])
    assert res.exit_code == 0 and "stopped" in res.output, res.output
    st = status(run)
    assert st["state"] == "stopped" and st["error"] == "stopped by SIGTERM"
    assert 4 <= st["step"] < epochs * st["steps_per_epoch"]
    assert wait_for(lambda: not any(pid_alive(p) for p in pids), 60), "a rank outlived stop"
    log = (run / "train.log").read_text()
    assert log.count("checkpoint saved") == 1  # rank 0 saved it, once
    assert "Traceback" not in log  # the ranks stopped and the torchrun agent exited cleanly
    import torch

    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["step"] == st["step"] and ckpt["world_size"] == 2

    # resume in the background with the recorded process count (no --nproc needed)
    out = subprocess.run(
        [*cmd, "resume", str(run), "--detach"], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert wait_for(lambda: status(run).get("state") in ("finished", "failed"), 240)
    st = status(run)
    assert st["state"] == "finished", (run / "train.log").read_text()[-3000:]
    assert st["world_size"] == 2 and len(st["pids"]) == 3 and not set(st["pids"]) & set(pids)
    assert_written_once(run, launches=2)
    scalars = tb_scalars(run)
    for tag in ("train/loss", "test/mse", "lr"):
        steps = [s for s, _ in scalars[tag]]
        assert steps == sorted(set(steps)), (tag, steps)
    assert len(scalars["test/mse"]) == epochs
    assert scalars["lr"][-1][0] == epochs * st["steps_per_epoch"]
    rows = list(csv.DictReader(open(run / "predictions.csv")))
    assert sorted(r["filename"] for r in rows) == sorted(split_names(run))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.soak  # two more launches: `make soak`, to keep `make test` within its budget
def test_two_nodes_on_one_host_stop_from_node0_and_resume(tmp_path, tiny_toml):
    """Two "nodes" of one process each, as in the README's multi-node commands: node 0
    writes the run folder, node 1 only its follower folder; `fbtui stop` on node 0
    signals node 0's rank, and node 1's rank stops at the same step; on resume node 1
    receives the checkpoint from rank 0 (its own folder has none)."""
    epochs = 40
    cfg = tiny_toml(n=120, epochs=epochs)
    env = {**os.environ, "FBTUI_RUNS": str(tmp_path / "runs")}

    def launch(*args: str) -> list[Path]:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "fbtui", *args, "--node-rank", str(k), "--detach"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for k in (0, 1)
        ]
        folders = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            folders.append(Path(out.strip().splitlines()[-1]))
        return folders

    rdzv = ["--nnodes", "2", "--master-addr", "127.0.0.1", "--master-port"]
    run, follower = launch("run", str(cfg), "--nproc", "1", *rdzv, str(free_port()))
    assert follower.parent == tmp_path / "runs" / ".nodes"
    assert wait_for(lambda: status(run).get("step", 0) >= 4 and len(status(run)["ranks"]) == 2)
    st = status(run)
    assert st["world_size"] == 2 and st["nnodes"] == 2 and st["nproc_per_node"] == 1
    rank1 = next(r for r in st["ranks"] if r["rank"] == 1)
    assert rank1["pid"] not in st["pids"]  # another node's pids are never signalled from here

    res = runner.invoke(app, ["stop", str(run), "--wait", "60"])
    assert res.exit_code == 0 and "stopped" in res.output, res.output
    assert wait_for(lambda: not any(pid_alive(rank1[k]) for k in ("pid", "agent")), 60)
    assert sorted(p.name for p in follower.iterdir()) == ["config.toml", "train.log"]
    assert "Traceback" not in (follower / "train.log").read_text()

    launch("resume", str(run), *rdzv, str(free_port()))
    assert wait_for(lambda: status(run).get("state") in ("finished", "failed"), 240)
    assert status(run)["state"] == "finished", (run / "train.log").read_text()[-3000:]
    assert_written_once(run, launches=2)
    scalars = tb_scalars(run)
    steps = [s for s, _ in scalars["train/loss"]]
    assert steps == sorted(set(steps))
    assert len(scalars["test/mse"]) == epochs


@pytest.mark.soak
def test_ctrl_c_on_a_foreground_run_stops_every_rank(tmp_path, tiny_toml):
    import signal

    cfg = tiny_toml(n=120, epochs=40)
    root = tmp_path / "runs"
    cli = subprocess.Popen(
        [sys.executable, "-m", "fbtui", "run", str(cfg), "--nproc", "2", "--runs-dir", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert wait_for(lambda: root.is_dir() and any(root.iterdir()), 120)
        run = only_run(root)
        assert wait_for(lambda: status(run).get("step", 0) >= 4 and "ranks" in status(run))
        os.kill(cli.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground CLI
        out, _ = cli.communicate(timeout=120)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 130, out  # stopped by Ctrl-C (DESIGN §4)
    assert "stopping: every rank stops at the same step" in out
    assert "stopped by SIGTERM" in out  # train.log, echoed
    assert status(run)["state"] == "stopped"
    assert_written_once(run)
