"""Start and stop run processes, detached from the terminal. No torch here: the dashboard
uses this to launch runs without importing the trainer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fbtui.errors import RunError, UserError
from fbtui.runs.layout import KFOLD, LOG, STATUS
from fbtui.runs.status import (
    UnreadableStatus,
    check_status,
    effective_state,
    pid_alive,
    read_json,
    read_status,
)


def spawn_detached(module: str, args: list[str], log: Path) -> int:
    """Start `python -m MODULE ARGS` in its own session (setsid), so closing the terminal
    or losing ssh never stops it; stdout/stderr appended to `log`. Returns its pid."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return proc.pid


def spawn_worker(run_dir: Path, args: list[str] | None = None) -> int:
    """Start `python -m fbtui.train.worker RUN_DIR` detached; its output goes to train.log."""
    run_dir = Path(run_dir)
    return spawn_detached("fbtui.train.worker", [str(run_dir), *(args or [])], run_dir / LOG)


def run_cli_detached(
    argv: list[str], cwd: Path | None = None, timeout: float = 600
) -> tuple[int, str]:
    """Run `fbtui ARGV` (which must use --detach) and return (exit code, combined output).
    Used by the dashboard, from a worker thread, to start runs exactly as the CLI does."""
    proc = subprocess.run(
        [sys.executable, "-m", "fbtui", *argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        start_new_session=True,
    )
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def stop_targets(status: dict) -> list[int]:
    """The pids `stop` signals: every pid of the run, except the torchrun agents of ranks
    that are listed themselves. Those ranks stop together at the next step (rank 0 saves
    the checkpoint) and exit, and their agent then exits cleanly; SIGTERM to the agent
    works too (it forwards it) but ends its log with a traceback. Before the ranks have
    registered, the agent is signalled and forwards the signal."""
    # pid 0 or -1 would signal a process group or every process of the user
    pids = [p for p in (status.get("pids") or [status.get("pid")]) if isinstance(p, int) and p > 0]
    ranks = [r for r in status.get("ranks") or [] if isinstance(r, dict)]
    listed = {r.get("pid") for r in ranks}
    agents = {r.get("agent") for r in ranks if r.get("pid") in pids}
    return [p for p in pids if p in listed or p not in agents]


def stop_run(run_dir: Path, wait: float = 0.0) -> str:
    """Ask a live run to stop (SIGTERM to every rank: it saves a checkpoint and becomes
    `stopped`). Returns the state after waiting up to `wait` seconds.

    A k-fold group stops through its running fold: the fold checkpoints, and a stopped
    fold ends the group's loop (`fbtui resume GROUP` continues it)."""
    run_dir = Path(run_dir)
    if (run_dir / KFOLD).is_file() and not (run_dir / STATUS).exists():
        return _stop_group(run_dir, wait)
    try:
        status = read_status(run_dir)
    except UnreadableStatus as e:  # never signal pids read from a file we cannot trust
        raise RunError(f"cannot stop {run_dir.name}: {e}") from None
    if not status:
        raise RunError(f"{run_dir}: no status.json, not an fbtui run")
    state = effective_state(status)
    if state != "running" and state != "running (stale)":
        raise RunError(f"{run_dir.name} is {state}, not running: nothing to stop")
    pids = [p for p in (status.get("pids") or [status.get("pid")]) if isinstance(p, int)]
    for pid in stop_targets(status):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + wait
    while time.time() < deadline:
        status = read_status(run_dir) or {}
        if status.get("state") != "running" or not any(pid_alive(p) for p in pids):
            break
        time.sleep(0.2)
    return effective_state(read_status(run_dir) or {})


def _live_folds(group: Path) -> list[Path]:
    live = []
    for fold in sorted(p for p in group.iterdir() if (p / STATUS).is_file()):
        try:
            state = effective_state(read_status(fold) or {})
        except UnreadableStatus:
            continue
        if state in ("running", "running (stale)"):
            live.append(fold)
    return live


def _stop_group(group: Path, wait: float) -> str:
    live = _live_folds(group)
    try:
        data = read_json(group / KFOLD) or {}
        check_status(data, group / KFOLD)  # never wait on a pid we cannot trust
        pid = data.get("pid")
    except UnreadableStatus:
        pid = None
    deadline = time.time() + 15.0
    while not live and isinstance(pid, int) and pid_alive(pid) and time.time() < deadline:
        time.sleep(0.3)  # between two folds: the group process is about to start the next
        live = _live_folds(group)
    if not live:
        raise RunError(f"{group.name}: no fold of this k-fold group is running: nothing to stop")
    states = [stop_run(fold, wait) for fold in live]
    return ", ".join(f"{f.name} {s}" for f, s in zip(live, states, strict=True))


# -- several processes: torchrun --------------------------------------------------------


@dataclass
class Rendezvous:
    """The torchrun options of `fbtui run/resume`: processes per node, nodes, this node's
    rank and node 0's address. `world` > 1 means a DDP run."""

    nproc: int = 1
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = ""
    master_port: int = 0

    @property
    def world(self) -> int:
        return self.nproc * self.nnodes

    def check(self) -> None:
        """Raise UserError (exit 2) for options torchrun would reject later, or worse."""
        if self.nproc < 1 or self.nnodes < 1:
            raise UserError("--nproc and --nnodes must be at least 1")
        if not 0 <= self.node_rank < self.nnodes:
            raise UserError(
                f"--node-rank {self.node_rank}: must be 0..{self.nnodes - 1} for --nnodes {self.nnodes}"
            )
        if self.nnodes > 1 and not self.master_addr:
            raise UserError(
                "--nnodes > 1 needs --master-addr: the address of node 0 that every node can "
                "reach (and the same --master-port on every node)"
            )
        if not 0 <= self.master_port <= 65535:
            raise UserError(f"--master-port {self.master_port}: not a TCP port")

    def options(self) -> dict:
        return {
            "nnodes": self.nnodes,
            "node_rank": self.node_rank,
            "master_addr": self.master_addr,
            "master_port": self.master_port,
        }


def follower_dir(root: Path, name: str, node_rank: int, config_text: str) -> Path:
    """The working folder of node `node_rank` > 0 of a multi-node run: the resolved
    config and that node's train.log, under `<runs root>/.nodes/` (hidden from run
    listings). Rank 0, on node 0, writes the run folder; the other nodes write nothing
    else and take the checkpoint to resume from rank 0."""
    from fbtui.runs.layout import CONFIG, new_run_dir

    path = new_run_dir(Path(root) / ".nodes", f"{name}-node{node_rank}")
    (path / CONFIG).write_text(config_text, encoding="utf-8")
    return path


def torchrun_command(
    run_dir: Path,
    nproc: int,
    nnodes: int = 1,
    node_rank: int = 0,
    master_addr: str = "",
    master_port: int = 0,
) -> list[str]:
    """`python -m torch.distributed.run ... -m fbtui.train.worker RUN_DIR` for `nproc`
    processes on this node. One node without a port uses --standalone (a rendezvous on a
    free local port, so several jobs on one machine never collide); several nodes use the
    static rendezvous at master_addr:master_port (29500 unless given)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc)]
    if nnodes > 1 or master_port:
        cmd += [
            "--nnodes",
            str(nnodes),
            "--node_rank",
            str(node_rank),
            "--master_addr",
            master_addr or "127.0.0.1",
            "--master_port",
            str(master_port or 29500),
        ]
    else:
        cmd += ["--standalone"]
    return [*cmd, "-m", "fbtui.train.worker", str(run_dir)]


def start_torchrun(run_dir: Path, nproc: int, **rendezvous) -> subprocess.Popen:
    """Start the torchrun agent (which starts and watches the ranks) in its own session,
    its output and every rank's stdout/stderr appended to train.log. Keyword arguments:
    nnodes, node_rank, master_addr, master_port (see torchrun_command).

    Returns the agent's Popen: a foreground run waits on it, a detached one forgets it.
    SIGTERM to the agent reaches every rank (torchrun forwards it)."""
    run_dir = Path(run_dir)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("OMP_NUM_THREADS", "1")  # torchrun's default too, minus its banner
    with open(run_dir / LOG, "ab") as out:
        return subprocess.Popen(
            torchrun_command(run_dir, nproc, **rendezvous),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=env,
        )


def follow(proc: subprocess.Popen, log_path: Path, echo, offset: int = 0, stop=None) -> int | None:
    """Echo the lines appended to `log_path` (from byte `offset`) until `proc` exits; on
    Ctrl-C call `stop` (default: SIGTERM to the process) so that the ranks checkpoint and
    stop, and keep following; a second Ctrl-C stops following (the ranks, in their own
    sessions, still stop). Returns the exit code, or None when no longer followed."""
    pos, pending, interrupted = offset, b"", False

    def drain() -> None:
        nonlocal pos, pending
        try:
            with open(log_path, "rb") as f:
                f.seek(pos)
                chunk = f.read()
        except OSError:
            return
        pos += len(chunk)
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            echo(line.decode("utf-8", "replace"))

    while True:
        try:
            done = proc.poll() is not None
            drain()
            if done:
                break
            time.sleep(0.5)
        except KeyboardInterrupt:
            if interrupted:
                echo(f"no longer following; the run goes on stopping: tail -f {log_path}")
                return None
            interrupted = True
            echo("stopping: every rank stops at the same step, rank 0 saves a checkpoint")
            if stop is not None:
                stop()
            else:
                proc.send_signal(signal.SIGTERM)
    if pending:
        echo(pending.decode("utf-8", "replace"))
    return proc.wait()
