"""The queue runner's loop with fake workers: GPU pinning, slots, pause, resume, no
double starts, interrupted members. No training, so it runs in a second."""

import json
import os
import socket
import time

import pytest

from fbtui.runs.status import write_json_atomic
from fbtui.sweep import control
from fbtui.sweep.create import plan_sweep, write_sweep
from fbtui.sweep.folder import describe_sweep, read_sweep, update_sweep
from fbtui.sweep.runner import QueueRunner, visible_gpus, worker_env


class FakeProc:
    """A worker stand-in: alive until `end()`; writes the member's status like a trainer."""

    def __init__(self, run_dir, env):
        self.run_dir, self.env = run_dir, env
        self.pid = os.getpid()  # a live pid on this host, so `running` reads as live
        self.rc = None

    def poll(self):
        return self.rc

    def up(self):
        self.write("running")

    def end(self, state="finished"):
        self.write(state)
        self.rc = 0

    def write(self, state):
        write_json_atomic(
            self.run_dir / "status.json",
            {"state": state, "pid": self.pid, "host": socket.gethostname(), "updated": time.time()},
        )


@pytest.fixture
def two_gpus(tmp_path, monkeypatch):
    fake = tmp_path / "gpus.json"
    fake.write_text(json.dumps({"devices": [{"name": "A"}, {"name": "B"}]}))
    monkeypatch.setenv("FBTUI_FAKE_GPU", str(fake))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def make(tmp_path, tiny_toml, sets, parallel, extra=""):
    plan = plan_sweep(tiny_toml(extra=extra), sets)
    return write_sweep(plan, tmp_path / "runs", parallel=parallel)


def runner_for(sweep_dir, procs):
    def launch(run_dir, env):
        p = FakeProc(run_dir, env)
        procs[run_dir.name] = p
        return p

    return QueueRunner(sweep_dir, say=lambda s: None, launch=launch)


def test_visible_gpus(two_gpus, monkeypatch):
    assert visible_gpus() == ["0", "1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert visible_gpus() == ["3", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []
    assert worker_env("1", 2, 2)["CUDA_VISIBLE_DEVICES"] == "1"


def test_no_gpu_means_cpu_threads_shared(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    env = worker_env(None, 2, 0)
    assert "CUDA_VISIBLE_DEVICES" not in env or env["CUDA_VISIBLE_DEVICES"] == os.environ.get(
        "CUDA_VISIBLE_DEVICES"
    )
    assert int(env["OMP_NUM_THREADS"]) >= 1


def test_one_member_per_gpu_then_pause_and_resume(tmp_path, tiny_toml, two_gpus):
    # device "auto" lets the queue pin members to GPUs
    sweep_dir = make(tmp_path, tiny_toml, ["train.lr=0.1,0.2,0.3,0.4", "train.device=auto"], 0)
    procs: dict = {}
    r = runner_for(sweep_dir, procs)
    r.claim()
    assert r.slots == 2 and r.gpus == ["0", "1"]
    assert r.tick() is None
    names = [m["run"] for m in read_sweep(sweep_dir)["members"]]
    assert set(procs) == set(names[:2])
    assert [procs[n].env["CUDA_VISIBLE_DEVICES"] for n in names[:2]] == ["0", "1"]
    info = describe_sweep(sweep_dir)
    assert info["state"] == "running" and info["live"]
    assert info["counts"]["running"] == 0  # launched workers not up yet...
    assert r.tick() is None and len(procs) == 2  # ...still hold their slots: no double start
    procs[names[0]].up()
    procs[names[1]].up()
    assert describe_sweep(sweep_dir)["counts"]["running"] == 2
    procs[names[1]].end()
    assert r.tick() is None
    assert procs[names[2]].env["CUDA_VISIBLE_DEVICES"] == "1"  # the GPU that came free
    control.pause(sweep_dir)
    procs[names[0]].end()
    procs[names[2]].end()
    assert r.tick() == "paused"
    assert names[3] not in procs
    info = describe_sweep(sweep_dir)
    assert info["state"] == "paused" and not info["live"]
    assert info["counts"] == {
        "queued": 1,
        "running": 0,
        "done": 3,
        "failed": 0,
        "stopped": 0,
        "total": 4,
    }
    # resume: a new runner starts only what is left
    assert control.resume(sweep_dir, spawn=False) == "started"
    procs2: dict = {}
    r2 = runner_for(sweep_dir, procs2)
    r2.claim()
    assert r2.tick() is None and list(procs2) == [names[3]]
    procs2[names[3]].end()
    assert r2.tick() == "finished"
    assert read_sweep(sweep_dir)["state"] == "finished"


def test_cpu_members_are_not_pinned_and_lost_members_restart_once(tmp_path, tiny_toml, two_gpus):
    sweep_dir = make(tmp_path, tiny_toml, ["train.lr=0.1,0.2"], 2)  # tiny_toml: device cpu
    procs: dict = {}
    r = runner_for(sweep_dir, procs)
    r.claim()
    r.tick()
    assert all("CUDA_VISIBLE_DEVICES" not in p.env for p in procs.values())
    a, b = procs
    procs[a].end()
    procs[b].write("running")
    procs[b].rc = -9  # the worker died without writing: failed (lost)...
    write_json_atomic(
        sweep_dir / b / "status.json",
        {
            "state": "running",
            "pid": 2**22 + 3,
            "host": socket.gethostname(),
            "updated": time.time(),
        },
    )
    assert r.tick() == "failed"  # ...and this runner does not loop restarting it
    assert describe_sweep(sweep_dir)["counts"]["failed"] == 1
    # a resumed queue retries the lost member (it resumes from its checkpoint)
    control.resume(sweep_dir, spawn=False)
    procs2: dict = {}
    r2 = runner_for(sweep_dir, procs2)
    r2.claim()
    r2.tick()
    assert list(procs2) == [b]


def test_second_runner_refused_and_cancel_ends_queue(tmp_path, tiny_toml):
    from fbtui.errors import RunError

    sweep_dir = make(tmp_path, tiny_toml, ["train.lr=0.1,0.2,0.3"], 1)
    procs: dict = {}
    r = runner_for(sweep_dir, procs)
    r.claim()
    with pytest.raises(RunError, match="already runs"):
        update_sweep(sweep_dir, lambda d: d["runner"].update(pid=1))  # another live pid
        runner_for(sweep_dir, {}).claim()
    update_sweep(sweep_dir, lambda d: d["runner"].update(pid=os.getpid()))
    r.tick()
    (first,) = procs.values()
    first.up()
    assert control.resume(sweep_dir, spawn=False) == "running"
    # (`control.cancel` also stops members; here only the runner's side is under test)
    update_sweep(sweep_dir, lambda d: d.update(state="cancelled"))
    assert r.tick() == "cancelled"
    assert len(procs) == 1
    counts = describe_sweep(sweep_dir)["counts"]
    assert counts["queued"] == 2 and counts["running"] == 1


FAKE_WORKER = """
import json, os, signal, socket, sys, time
run = sys.argv[2]
def write(state):
    tmp = os.path.join(run, ".s.tmp")
    with open(tmp, "w") as f:
        json.dump({"state": state, "pid": os.getpid(), "host": socket.gethostname(),
                   "updated": time.time()}, f)
    os.replace(tmp, os.path.join(run, "status.json"))
def stop(*_):
    write("stopped")
    sys.exit(0)
if sys.argv[3] == "up":  # like the trainer: the handler exists once it is running
    signal.signal(signal.SIGTERM, stop)
    write("running")
time.sleep(60)
"""


def test_cancel_stops_running_and_starting_members(tmp_path, tiny_toml):
    import subprocess
    import sys

    sweep_dir = make(tmp_path, tiny_toml, ["train.lr=0.1,0.2,0.3"], 2)
    procs: dict = {}

    def launch(run_dir, env):
        mode = "up" if not procs else "starting"  # the 2nd never writes status
        p = subprocess.Popen(
            [sys.executable, "-c", FAKE_WORKER, "fbtui.train.worker", str(run_dir), mode]
        )
        procs[run_dir.name] = p
        return p

    r = QueueRunner(sweep_dir, say=lambda s: None, launch=launch)
    r.claim()
    r.tick()
    a, b = procs
    deadline = time.time() + 20
    while describe_sweep(sweep_dir)["counts"]["running"] < 1 and time.time() < deadline:
        time.sleep(0.1)
    states = control.cancel(sweep_dir, wait=20)
    assert states[a] == "stopped"  # stopped through its status pid (saves a checkpoint)
    assert states[b] == "queued"  # killed before it was up: still queued, nothing lost
    assert all(p.wait(timeout=10) is not None for p in procs.values())
    assert r.tick() == "cancelled"
    assert read_sweep(sweep_dir)["state"] == "cancelled"
    assert describe_sweep(sweep_dir)["counts"] == {
        "queued": 2,
        "running": 0,
        "done": 0,
        "failed": 0,
        "stopped": 1,
        "total": 3,
    }


def test_resumed_queue_reattaches_to_members_still_running(tmp_path, tiny_toml):
    """Only the runner was killed: its member still trains; a new runner waits for it
    (it holds the slot) instead of starting it twice."""
    sweep_dir = make(tmp_path, tiny_toml, ["train.lr=0.1,0.2"], 1)
    names = [m["run"] for m in read_sweep(sweep_dir)["members"]]
    alive = FakeProc(sweep_dir / names[0], {})
    alive.up()  # running, with a live pid, launched by a runner that is gone
    update_sweep(
        sweep_dir,
        lambda d: d.update(state="running", runner={"pid": 2**22 + 5, "host": "h", "heartbeat": 0}),
    )
    assert describe_sweep(sweep_dir)["state"] == "interrupted"
    assert control.resume(sweep_dir, spawn=False) == "started"
    procs: dict = {}
    r = runner_for(sweep_dir, procs)
    r.claim()
    assert r.tick() is None and procs == {}  # the slot is taken by the live member
    alive.end()
    assert r.tick() is None and list(procs) == [names[1]]
