"""Benchmark the dashboard in a real pseudo-terminal (make bench).

    .venv/bin/python benchmarks/bench_tui.py [--runs 50] [--repeat 3] [--watch-seconds 20]

1. Time to the first painted frame: `fbtui dashboard` is started in a 120x40 pty over a
   runs root holding 50 past runs (each with status, summary, config and an event file of
   ~16k scalars); the clock stops when the terminal has received the title bar (first
   frame) and when it has received the newest run's row (first frame with the runs).
   Target: under 1 s.
2. CPU while watching one live run: a fake trainer appends scalars every 0.5 s (flushed,
   like the trainer's flush_secs) and beats status.json every 2 s; the dashboard watches it
   (--watch) with the 50 past runs listed and a fake GPU polled. CPU time of the
   dashboard process over the window / wall time. Target: under 5 % of one core.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

FIRST_FRAME_TARGET_S = 1.0
CPU_TARGET_PCT = 5.0
FLUSH_S = 2.0  # the trainer's default log.flush_secs
TAGS = [
    "train/loss",
    "train/mse",
    "lr",
    "perf/img_per_s",
    "perf/data_wait_frac",
    "test/mse",
    "test/pc",
    "test/mae",
]


# -- fixtures --------------------------------------------------------------------------------


def make_past_runs(root: Path, n: int) -> list[str]:
    """n finished fbtui runs, newest last in the returned names."""
    from fbtui.tb.writer import event_file_name, write_scalar_log

    names = []
    t0 = time.time() - n * 3600
    for i in range(n):
        name = f"past{i:03d}-20250101-{i:06d}"
        d = root / name
        d.mkdir(parents=True)
        started = t0 + i * 3600
        best = {"mse": 0.1 + i / 1000, "mae": 0.25, "rmse": 0.31, "pc": 0.85, "epoch": 10}
        (d / "status.json").write_text(
            json.dumps(
                {
                    "state": "finished",
                    "host": socket.gethostname(),
                    "pid": 1,
                    "started": started,
                    "updated": started + 1800,
                    "epoch": 10,
                    "epochs": 10,
                    "step": 2000,
                    "steps_per_epoch": 200,
                    "best": best,
                }
            )
        )
        (d / "summary.json").write_text(json.dumps({"state": "finished", "best": best}))
        (d / "config.toml").write_text(f'[experiment]\nname = "past{i:03d}"\n')
        write_scalar_log(d / event_file_name(started), TAGS, 2000, start_wall=started)
        names.append(name)
    return names


def fake_trainer(run: Path, stop: threading.Event) -> None:
    """Writes like the trainer with its defaults: 5 scalars per logged step every 0.5 s,
    flushed every 2 s (log.flush_secs = 2), a status.json heartbeat every 2 s."""
    from fbtui.runs.status import write_json_atomic
    from fbtui.tb.writer import EventFileWriter, event_file_name, scalar_event

    run.mkdir(parents=True)
    status = {
        "state": "running",
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.time(),
        "updated": time.time(),
        "epoch": 0,
        "epochs": 100,
        "step": 0,
        "steps_per_epoch": 500,
        "data_wait_frac": 0.05,
        "img_per_s": 800.0,
    }
    (run / "config.toml").write_text('[experiment]\nname = "live"\n')
    write_json_atomic(run / "status.json", status)
    step, last_beat, last_flush = 0, 0.0, 0.0
    # a buffered file, like tensorboardX's: the reader sees records when they are flushed
    with EventFileWriter(run / event_file_name(time.time())) as w:
        while not stop.is_set():
            step += 10
            now = time.time()
            for k, tag in enumerate(TAGS[:5]):
                w.write_event(scalar_event(tag, 1.0 / (1 + step / 100) + k, step, now))
            if step % 500 == 0:
                w.write_event(scalar_event("test/mse", 0.2, step, now))
            if now - last_flush >= FLUSH_S:
                w.flush()
                last_flush = now
            if now - last_beat >= 2.0:
                status.update(step=step, epoch=step // 500, updated=now)
                write_json_atomic(run / "status.json", status)
                last_beat = now
            stop.wait(0.5)


# -- the dashboard in a pty --------------------------------------------------------------------


class Dashboard:
    """`fbtui dashboard` in a 120x40 pseudo-terminal; its output is drained continuously."""

    def __init__(self, args: list[str], env: dict[str, str], cols: int = 120, rows: int = 40):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.master = master
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fbtui", "dashboard", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.buf = bytearray()
        self.seen: dict[bytes, float] = {}
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while True:
            try:
                r, _, _ = select.select([self.master], [], [], 0.5)
                if not r:
                    if self.proc.poll() is not None:
                        return
                    continue
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.buf += data

    def wait_for(self, marker: bytes, timeout: float = 30.0) -> float:
        """Seconds from start until `marker` was in the output."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                if marker in self.buf:
                    return time.perf_counter() - self.t0
            time.sleep(0.002)
        raise RuntimeError(f"{marker!r} not seen within {timeout} s; exit code {self.proc.poll()}")

    def cpu_seconds(self, main_thread: bool = False) -> float:
        """CPU time of the process (all threads), or of its main thread only."""
        stat = (
            f"/proc/{self.proc.pid}/task/{self.proc.pid}/stat"
            if main_thread
            else f"/proc/{self.proc.pid}/stat"
        )
        fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime

    def quit(self) -> None:
        try:
            os.write(self.master, b"q")
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        os.close(self.master)


def base_env(fake_gpu: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FBTUI_FAKE_GPU")}
    env["TERM"] = "xterm-256color"
    if fake_gpu is not None:
        env["FBTUI_FAKE_GPU"] = str(fake_gpu)
    return env


# -- the benchmarks ---------------------------------------------------------------------------------


def bench_first_frame(root: Path, exp: Path, newest: str, repeat: int):
    """Median (wall s to the title, wall s to the runs listed, CPU s spent by then)."""
    frames, listed, cpu = [], [], []
    for _ in range(repeat):
        dash = Dashboard(["--runs-dir", str(root), "--experiments", str(exp)], base_env(None))
        try:
            frames.append(dash.wait_for(b"fbtui"))
            listed.append(dash.wait_for(newest.encode()))
            cpu.append(dash.cpu_seconds(main_thread=True))
        finally:
            dash.quit()
    return statistics.median(frames), statistics.median(listed), statistics.median(cpu)


def python_startup_s() -> float:
    """Wall time of a bare `python -c pass` here: the floor under any first frame."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t


def bench_cpu(root: Path, exp: Path, fake_gpu: Path, seconds: float) -> tuple[float, int]:
    stop = threading.Event()
    live = root / "live-20990101-000000"
    trainer = threading.Thread(target=fake_trainer, args=(live, stop), daemon=True)
    trainer.start()
    time.sleep(1.0)
    dash = Dashboard(
        ["--runs-dir", str(root), "--experiments", str(exp), "--watch", str(live)],
        base_env(fake_gpu),
    )
    try:
        dash.wait_for(b"live-20990101-000000")
        time.sleep(5.0)  # warm-up: the first full read of every file is not steady state
        c0, t0 = dash.cpu_seconds(), time.perf_counter()
        with dash.lock:
            n0 = len(dash.buf)
        time.sleep(seconds)
        c1, t1 = dash.cpu_seconds(), time.perf_counter()
        with dash.lock:
            n1 = len(dash.buf)
    finally:
        dash.quit()
        stop.set()
        trainer.join()
    return 100.0 * (c1 - c0) / (t1 - t0), int((n1 - n0) / (t1 - t0))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--watch-seconds", type=float, default=20.0)
    ap.add_argument("--no-gpu", action="store_true", help="watch without the (fake) GPU panel")
    ap.add_argument("--cpu-only", action="store_true", help="skip the first-frame benchmark")
    args = ap.parse_args()

    # CPU % is CPU time, little moved by other work; the first-frame times are wall times
    print(f"(machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at start)")
    with tempfile.TemporaryDirectory(prefix="fbtui-bench-tui-") as tmp:
        tmp = Path(tmp)
        root, exp = tmp / "runs", tmp / "experiments"
        exp.mkdir()
        t = time.perf_counter()
        names = make_past_runs(root, args.runs)
        print(
            f"{args.runs} past runs written ({args.runs * len(TAGS) * 2000:,} scalars) "
            f"in {time.perf_counter() - t:.1f} s"
        )
        fake_gpu = tmp / "gpu.json"
        gpus = {
            "interval": 1.0,
            "devices": [
                {"name": "Fake H100", "gpm": True, "util_pct": [50, 90], "sm_active_pct": [40, 80]}
            ],
        }
        fake_gpu.write_text(json.dumps({"no_gpu": "no GPU (benchmark)"} if args.no_gpu else gpus))

        if not args.cpu_only:
            first_frame(root, exp, names, args)
        cpu, rate = bench_cpu(root, exp, fake_gpu, args.watch_seconds)
        print(
            f"CPU watching one live run:      {cpu:7.2f} % of a core over {args.watch_seconds:.0f} s"
            f"  target < {CPU_TARGET_PCT:.0f} %  ratio {cpu / CPU_TARGET_PCT:.2f}"
            f"  {'OK' if cpu < CPU_TARGET_PCT else 'OVER'}  ({rate} bytes/s to the terminal"
            f"{', no GPU panel' if args.no_gpu else ', fake GPU polled every 1 s'})"
        )
        print(f"(machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return 0


def first_frame(root: Path, exp: Path, names: list[str], args) -> None:
    frame, listed, cpu_s = bench_first_frame(root, exp, names[-1], args.repeat)
    print(f"first painted frame:            {frame * 1000:7.0f} ms (median of {args.repeat})")
    print(
        f"first frame with {args.runs} runs listed: {listed * 1000:7.0f} ms"
        f"  target < {FIRST_FRAME_TARGET_S * 1000:.0f} ms  ratio {listed / FIRST_FRAME_TARGET_S:.2f}"
        f"  {'OK' if listed < FIRST_FRAME_TARGET_S else 'OVER'}"
    )
    print(
        f"  main-thread CPU time by then: {cpu_s * 1000:.0f} ms (interpreter start and "
        "imports included; about the wall time on an idle core)"
    )
    print(f"  a bare `python -c pass` takes {python_startup_s() * 1000:.0f} ms here now")


if __name__ == "__main__":
    sys.exit(main())
