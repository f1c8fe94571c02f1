"""Readers while a run writes: two dashboards, `fbtui runs` and the library readers poll a
live run folder as fast as they can. No reader errs, status.json always parses, and the
event reader never hands out a partial or invented record (everything seen live is in
the finished log, with the same value, and steps only grow)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fbtui.tb import LogdirReader

from . import killharness as kh


class Watch:
    """Counters and the first problem of each background reader."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.problems: list[str] = []
        self.counts = {"status": 0, "tb_polls": 0, "runs_cli": 0, "dash_frames": 0}
        self.seen: dict[str, dict[int, float]] = {}


def _status_reader(run_of, w: Watch) -> None:
    while not w.stop.is_set():
        run = run_of()
        if run is None or not (run / "status.json").exists():
            time.sleep(0.01)
            continue
        text = (run / "status.json").read_text()
        try:
            data = json.loads(text)
            assert isinstance(data, dict) and "state" in data
        except (ValueError, AssertionError):
            w.problems.append(f"torn status.json: {text[:200]!r}")
        w.counts["status"] += 1


def _tb_reader(run_of, w: Watch) -> None:
    reader = None
    while not w.stop.is_set():
        run = run_of()
        if run is None:
            time.sleep(0.02)
            continue
        reader = reader or LogdirReader(run)
        try:
            reader.poll()
        except Exception as e:  # noqa: BLE001 - any exception is the finding
            w.problems.append(f"tb reader raised {type(e).__name__}: {e}")
            return
        for tag in reader.tags():
            s = reader.scalars(tag)
            steps = s.steps.tolist()
            if steps != sorted(set(steps)):
                w.problems.append(f"{tag}: steps not increasing live: {steps}")
            seen = w.seen.setdefault(tag, {})
            for step, value in zip(steps, s.values.tolist(), strict=True):
                seen[step] = value
        for warning in reader.warnings:
            w.problems.append(f"tb warning while live: {warning}")
        w.counts["tb_polls"] += 1
        time.sleep(0.01)


def _runs_cli(root: Path, w: Watch) -> None:
    while not w.stop.is_set():
        out = subprocess.run(
            [sys.executable, "-m", "fbtui", "runs", "--json", "--runs-dir", str(root)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if out.returncode != 0:
            w.problems.append(f"fbtui runs exit {out.returncode}: {out.stderr[-500:]}")
            return
        try:
            runs = json.loads(out.stdout)
        except ValueError:
            w.problems.append(f"fbtui runs printed no JSON: {out.stdout[-300:]}")
            return
        for r in runs:
            if r["state"] == "unreadable":
                w.problems.append(f"fbtui runs saw an unreadable run: {r['error']}")
        w.counts["runs_cli"] += 1


async def _dashboards(root: Path, exp: Path, proc: subprocess.Popen, w: Watch) -> list[dict]:
    """Two dashboards side by side, both re-listing and polling every 0.2 s, until the run
    ends; returns what each one's live view holds at the end."""
    from fbtui.tui.app import make_app
    from fbtui.tui.widgets.metrics_panel import MetricsPanel
    from fbtui.tui.widgets.run_table import RunTable

    apps = [
        make_app(root, exp, test_mode=True, list_every_s=0.2, poll_every_s=0.2, gpu_every_s=5)
        for _ in range(2)
    ]
    async with apps[0].run_test(size=(120, 40)) as p0, apps[1].run_test(size=(100, 30)) as p1:
        deadline = time.monotonic() + 900
        while proc.poll() is None and time.monotonic() < deadline:
            for pilot in (p0, p1):
                await pilot.pause(0.05)
                panel = pilot.app.screen.query_one(MetricsPanel)
                for tag, s in panel.data.items():
                    steps = s.steps.tolist()
                    if steps != sorted(set(steps)):
                        w.problems.append(f"dashboard {tag}: steps not increasing: {steps}")
                w.counts["dash_frames"] += 1
        for pilot in (p0, p1):  # the final state reaches both
            await pilot.pause(1.0)
            pilot.app.screen.action_refresh()
            await pilot.pause(1.0)
        out = []
        for pilot in (p0, p1):
            table = pilot.app.screen.query_one(RunTable)
            panel = pilot.app.screen.query_one(MetricsPanel)
            out.append(
                {
                    "states": [r.state for r in table.runs.values()],
                    "tags": sorted(panel.data),
                    "loss_steps": panel.data["train/loss"].steps.tolist()
                    if "train/loss" in panel.data
                    else [],
                }
            )
        return out


@pytest.mark.parametrize(
    "epochs, sample_sleep",
    [
        pytest.param(2, 0.003, id="quick"),
        pytest.param(8, 0.012, id="long", marks=[pytest.mark.soak, pytest.mark.timeout(1200)]),
    ],
)
def test_two_dashboards_and_runs_while_a_run_writes(
    tmp_path, tiny_toml, monkeypatch, epochs, sample_sleep
):
    nogpu = tmp_path / "nogpu.json"
    nogpu.write_text(json.dumps({"no_gpu": "no NVIDIA GPU (NVML not found)"}))
    monkeypatch.setenv("FBTUI_FAKE_GPU", str(nogpu))
    root, exp = tmp_path / "runs", tmp_path / "exp"
    root.mkdir()
    exp.mkdir()
    cfg = tiny_toml(n=100, epochs=epochs)
    args = ["run", str(cfg), "--runs-dir", str(root), "--set", "log.every_steps=1"]
    proc = kh.spawn(args, {"FAULT_SAMPLE_SLEEP": str(sample_sleep)}, tmp_path / "procs.log")

    def run_of():
        found = sorted(root.glob("tiny-*"))
        return found[0] if found else None

    w = Watch()
    threads = [
        threading.Thread(target=_status_reader, args=(run_of, w), daemon=True),
        threading.Thread(target=_tb_reader, args=(run_of, w), daemon=True),
        threading.Thread(target=_runs_cli, args=(root, w), daemon=True),
    ]
    for t in threads:
        t.start()
    try:
        final_views = asyncio.run(_dashboards(root, exp, proc, w))
    finally:
        w.stop.set()
        for t in threads:
            t.join(timeout=300)
        if proc.poll() is None:
            proc.kill()
    assert proc.wait(timeout=60) == 0, (tmp_path / "procs.log").read_text()[-3000:]
    run = run_of()
    assert kh.status(run)["state"] == "finished"
    assert w.problems == [], w.problems[:10]

    # everything seen live is in the finished log, unchanged: nothing partial, nothing made up
    final = kh.fbtui_scalars(run)
    for tag, seen in w.seen.items():
        have = dict(final[tag])
        for step, value in seen.items():
            assert have.get(step) == value, (tag, step, value, have.get(step))
    steps = [s for s, _ in final["train/loss"]]
    assert steps == list(range(1, steps[-1] + 1))  # every step logged once (every_steps=1)
    for view in final_views:
        assert view["states"] == ["finished"], view
        assert view["loss_steps"] == steps
    assert w.counts["status"] > 20 and w.counts["tb_polls"] > 5, w.counts
    assert w.counts["runs_cli"] >= 1 and w.counts["dash_frames"] > 5, w.counts
    print(f"readers during writes: {w.counts}")
