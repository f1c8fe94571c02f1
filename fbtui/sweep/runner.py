"""The queue runner: `python -m fbtui.sweep.runner SWEEP_DIR [--retry-failed]`.

One process per sweep, in its own session (it survives the terminal and ssh), that starts
the members as ordinary detached workers (`python -m fbtui.train.worker RUN_DIR`) N at a
time, pinning each to a GPU with CUDA_VISIBLE_DEVICES when there are several. Every second
it re-reads the members' status.json and sweep.json (pause/cancel requests), asks
`scheduler.plan_starts` what to start, and writes its pid and heartbeat into sweep.json.

Killing the runner never loses work: members run in their own sessions, finished members
are never restarted, and a member whose process died resumes from checkpoints/last.pt when
the queue is resumed (the worker does that by itself).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import tomllib

from fbtui.errors import RunError
from fbtui.runs import layout
from fbtui.runs.status import write_json_atomic
from fbtui.runs.store import SWEEP
from fbtui.sweep.folder import (
    BUSY,
    DONE,
    LOG,
    count_states,
    final_state,
    locked,
    member_states,
    read_sweep,
    runner_alive,
)
from fbtui.sweep.scheduler import Member, has_work, plan_starts, resolve_parallel

POLL_S = 1.0


def visible_gpus() -> list[str]:
    """The GPU ids members can be pinned to: the entries of an inherited
    CUDA_VISIBLE_DEVICES, else NVML's device indices (via fbtui.gpu), else none."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    from fbtui.gpu import open_backend
    from fbtui.gpu.sample import NoGpu

    backend = open_backend()
    if isinstance(backend, NoGpu):
        return []
    try:
        return [str(i) for i in range(backend.device_count())]
    except Exception:  # noqa: BLE001 - NVML failing now means: run on what torch finds
        return []
    finally:
        backend.close()


def member_pinnable(run_dir: Path) -> bool:
    """A member is pinned to a GPU only when its config lets torch choose the device
    (`auto` or `cuda`); `cpu` or an explicit `cuda:1` is left as configured."""
    try:
        cfg = tomllib.loads((Path(run_dir) / layout.CONFIG).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return True
    return str(cfg.get("train", {}).get("device", "auto")) in ("auto", "cuda")


def worker_env(gpu: str | None, slots: int, n_gpus: int) -> dict[str, str]:
    """The environment for one member: pinned to `gpu`, and on the CPU the cores shared
    among the members running at once (torch would otherwise take every core each)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    if n_gpus == 0 and slots > 1 and "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // slots))
    return env


#: Test only: a script run as `python SCRIPT RUN_DIR` instead of the worker module, so a
#: test can stall a member mid-run at a chosen point (tests/sweep/stall_worker.py).
TEST_WORKER_ENV = "FBTUI_TEST_SWEEP_WORKER"


def launch_member(run_dir: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start the member's worker in its own session, output appended to its train.log
    (as fbtui.runs.launch.spawn_worker does, plus the per-member environment)."""
    run_dir = Path(run_dir)
    script = env.get(TEST_WORKER_ENV)
    worker = [script] if script else ["-m", "fbtui.train.worker"]
    with open(run_dir / layout.LOG, "ab") as out:
        return subprocess.Popen(
            [sys.executable, *worker, str(run_dir)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=env,
        )


def spawn_runner(sweep_dir: Path, retry_failed: bool = False) -> int:
    """Start the queue runner for a sweep in its own session; output to SWEEP/queue.log."""
    from fbtui.runs.launch import spawn_detached

    sweep_dir = Path(sweep_dir)
    args = [str(sweep_dir)] + (["--retry-failed"] if retry_failed else [])
    return spawn_detached("fbtui.sweep.runner", args, sweep_dir / LOG)


class QueueRunner:
    """Runs a sweep's members to the end (or until paused, cancelled or signalled)."""

    def __init__(
        self,
        sweep_dir: Path,
        retry_failed: bool = False,
        poll_s: float = POLL_S,
        say: Callable[[str], None] | None = None,
        launch: Callable[[Path, dict[str, str]], subprocess.Popen] = launch_member,
    ):
        self.sweep_dir = Path(sweep_dir)
        self.launch = launch  # the tests' seam: a fake worker instead of training
        self.retry_failed = retry_failed
        self.poll_s = poll_s
        self.say = say or _say
        self.procs: dict[str, subprocess.Popen] = {}
        self.reported: set[str] = set()
        self.interrupted = ""
        self.gpus: list[str] = []
        self.slots = 1
        self.pinnable: dict[str, bool] = {}

    # -- life cycle -----------------------------------------------------------------------

    def claim(self) -> dict:
        """Become the sweep's runner; RunError if a live runner already holds it."""
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        self.gpus = visible_gpus()  # before taking the lock: NVML start-up can take a while
        with locked(self.sweep_dir):
            data = read_sweep(self.sweep_dir)
            other = data.get("runner") or {}
            if runner_alive(data) and other.get("pid") != me["pid"]:
                raise RunError(
                    f"{self.sweep_dir.name}: its queue already runs (pid {other.get('pid')})"
                )
            data["runner"] = {**me, "heartbeat": time.time()}
            if data.get("state") in ("queued", None):
                data["state"] = "running"
            self.slots = resolve_parallel(int(data.get("parallel", 1)), len(self.gpus))
            data["runner"].update(gpus=self.gpus, slots=self.slots)
            data["updated"] = time.time()
            write_json_atomic(self.sweep_dir / SWEEP, data)
        for m in data.get("members", []):
            self.pinnable[m["run"]] = member_pinnable(self.sweep_dir / m["run"])
        gpus = ", ".join(self.gpus) if self.gpus else "none (CPU)"
        self.say(
            f"queue {self.sweep_dir.name}: {len(data.get('members', []))} members, "
            f"{self.slots} at a time, GPUs: {gpus}"
        )
        done = [n for n, s in member_states(self.sweep_dir, data).items() if s in DONE]
        if done:  # a resumed queue: say what it will not redo
            self.say(f"kept {len(done)} finished member(s), not redone: {', '.join(done)}")
        return data

    def run(self) -> str:
        """Claim the sweep and tick until nothing is left to do; returns the queue state."""
        self.claim()
        while True:
            state = self.tick()
            if state is not None:
                return state
            if self.interrupted:
                self._release()
                self.say(f"queue runner interrupted by {self.interrupted}")
                return "interrupted"
            time.sleep(self.poll_s)

    def _release(self) -> None:
        def done(data: dict) -> None:
            data.setdefault("runner", {})["ended"] = time.time()

        self._update(done)

    def _update(self, change) -> dict:
        with locked(self.sweep_dir):
            data = read_sweep(self.sweep_dir)
            change(data)
            data["updated"] = time.time()
            write_json_atomic(self.sweep_dir / SWEEP, data)
        return data

    # -- one scheduling step --------------------------------------------------------------

    def view(self, data: dict) -> tuple[list[Member], dict[str, str]]:
        """The scheduler's view: run states, with our own just-launched workers `starting`
        until their status.json says running."""
        states = member_states(self.sweep_dir, data)
        launched = data.get("launched", {})
        members = []
        for m in data.get("members", []):
            name = m["run"]
            state = states.get(name, "missing")
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None and state not in BUSY:
                state = "starting"
            states[name] = state
            members.append(
                Member(
                    name=name,
                    state=state,
                    gpu=(launched.get(name) or {}).get("gpu"),
                    pinnable=self.pinnable.get(name, True),
                    attempted=name in self.procs,
                )
            )
        return members, states

    def tick(self) -> str | None:
        """Reap, schedule, launch, heartbeat. Returns the final queue state when done."""
        for name, proc in self.procs.items():
            rc = proc.poll()  # also reaps the exited worker (no zombies)
            if rc is not None and name not in self.reported:
                self.reported.add(name)
                self.say(f"{name}: worker exited with code {rc}")
        result: str | None = None
        with locked(self.sweep_dir):
            data = read_sweep(self.sweep_dir)
            members, states = self.view(data)
            state = data.get("state")
            busy = any(m.state in BUSY for m in members)
            if state == "cancelled":
                result = "cancelled"
            else:
                starts = plan_starts(
                    members,
                    self.slots,
                    self.gpus,
                    paused=state == "paused" or bool(self.interrupted),
                    retry_failed=self.retry_failed,
                )
                for s in starts:
                    env = worker_env(s.gpu, self.slots, len(self.gpus))
                    proc = self.launch(self.sweep_dir / s.name, env)
                    self.procs[s.name] = proc
                    data.setdefault("launched", {})[s.name] = {
                        "pid": proc.pid,
                        "gpu": s.gpu,
                        "at": time.time(),
                        "host": socket.gethostname(),
                    }
                    states[s.name] = "starting"
                    busy = True
                    where = f" on GPU {s.gpu}" if s.gpu is not None else ""
                    self.say(f"{s.name}: started (pid {proc.pid}){where}")
                after = [
                    Member(m.name, states[m.name], attempted=m.name in self.procs) for m in members
                ]
                if state == "paused" and not busy:
                    result = "paused"
                elif not has_work(after, self.retry_failed):
                    result = final_state(list(states.values()))
                    data["state"] = result
            now = time.time()
            data.setdefault("runner", {})["heartbeat"] = now
            if result is not None:
                data["runner"]["ended"] = now
            data["counts"] = count_states(list(states.values()))
            data["updated"] = now
            write_json_atomic(self.sweep_dir / SWEEP, data)
        if result is not None:
            c = data["counts"]
            self.say(
                f"queue {result}: {c['done']} done, {c['running']} running, {c['failed']} failed, "
                f"{c['stopped']} stopped, {c['queued']} queued of {c['total']}"
            )
        return result


def _say(text: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}", flush=True)


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    flags = {a for a in argv if a.startswith("--")}
    if len(args) != 1 or flags - {"--retry-failed"}:
        print("usage: python -m fbtui.sweep.runner SWEEP_DIR [--retry-failed]", file=sys.stderr)
        return 2
    runner = QueueRunner(Path(args[0]), retry_failed="--retry-failed" in flags)

    def on_signal(signum, frame) -> None:  # noqa: ARG001
        # leave the members running; `fbtui queue resume` re-attaches to them
        runner.interrupted = signal.Signals(signum).name

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)
    try:
        state = runner.run()
    except RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if state == "interrupted":
        _say("running members keep running; `fbtui queue resume` re-attaches to them")
    return 1 if state == "failed" else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
