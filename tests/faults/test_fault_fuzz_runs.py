"""Fuzzed status.json and config.toml in run folders: `fbtui runs` and the dashboard never
crash, and a folder they cannot trust is shown as `unreadable`, saying why."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.runs import describe, list_runs

from . import fuzzdata as fz

load_commands()
runner = CliRunner()
CASES = {"status": 0, "dashboard_folders": 0}

_STR = ("host", "error", "device")
_COUNT = ("epoch", "epochs", "step", "batch", "steps_per_epoch", "world_size")
_TIME = ("started", "updated", "created")
_NUM = ("lr", "img_per_s", "data_wait_frac")


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _pid(v) -> bool:
    return _int(v) and 1 <= v < 2**31


def well_typed(status) -> bool:
    """The specification the reader enforces: the fields every view relies on have the
    types the trainer writes (null = not known yet); anything else is unreadable."""
    if not isinstance(status, dict):
        return False
    for key, v in status.items():
        if key == "state":
            ok = isinstance(v, str)
        elif v is None:
            ok = True
        elif key in _STR:
            ok = isinstance(v, str)
        elif key == "pid":
            ok = _pid(v)
        elif key == "pids":
            ok = isinstance(v, list) and all(_pid(p) for p in v)
        elif key == "ranks":
            ok = isinstance(v, list) and all(isinstance(r, dict) for r in v)
        elif key in _COUNT:
            ok = _int(v) and v >= 0
        elif key in _TIME:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
            ok = ok and math.isfinite(v) and 0 <= v < 1e11
        elif key in _NUM:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        elif key in ("best", "last"):
            ok = isinstance(v, dict)
        else:
            ok = True
        if not ok:
            return False
    return True


def _expect_unreadable(status_content, config_content) -> bool:
    try:
        text = status_content if isinstance(status_content, str) else status_content.decode("utf-8")
        status = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        return True
    if not well_typed(status):
        return True
    if config_content is not None:
        import tomllib

        try:
            tomllib.loads(config_content.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError):
            return True
    return False


def make_folder(root: Path, name: str, status_content, config_content) -> Path:
    run = root / name
    run.mkdir(parents=True)
    fz.write(run / "status.json", status_content)
    fz.write(run / "config.toml", fz.GOOD_CONFIG if config_content is None else config_content)
    return run


@settings(
    max_examples=int(os.environ.get("FBTUI_FUZZ_RUNS", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(status=fz.status_texts(), config=st.one_of(st.none(), fz.config_texts()))
def test_fuzzed_run_folder_never_crashes_runs(status, config):
    check_folder(status, config)


@pytest.mark.soak
@pytest.mark.timeout(1200)
@settings(max_examples=600, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(status=fz.status_texts(), config=st.one_of(st.none(), fz.config_texts()))
def test_fuzzed_run_folder_never_crashes_runs_soak(status, config):
    check_folder(status, config)


def check_folder(status, config) -> None:
    root = Path(tempfile.mkdtemp(prefix="fbtui-fuzz-"))
    try:
        run = make_folder(root, "fuzz-20250615-120000", status, config)
        info = describe(run, root)
        assert [r.path for r in list_runs(root)] == [run]
        json.dumps(info.to_dict(), default=str)
        expected = _expect_unreadable(status, config)
        if expected:
            assert info.state == "unreadable", (info.state, status, config)
            assert info.error and ("status.json" in info.error or "config.toml" in info.error)
        else:
            assert info.state != "unreadable", info.error
        for args in (["runs"], ["runs", "--json"]):
            res = runner.invoke(app, [*args, "--runs-dir", str(root)])
            assert res.exit_code == 0, (res.output, res.exception)
            assert res.exception is None
        if expected:
            assert "unreadable" in res.output
        CASES["status"] += 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_fuzz_case_count():
    """Runs after the fuzz test in the same file: hypothesis really ran the cases."""
    if CASES["status"] == 0:
        pytest.skip("the fuzz test did not run in this process")
    assert CASES["status"] >= int(os.environ.get("FBTUI_FUZZ_RUNS", "150"))
    print(f"fuzzed run folders (CLI): {CASES['status']}")


# -- the same folders under the dashboard ------------------------------------------------------


async def _settle(pilot, rounds: int = 40) -> None:
    from textual.worker import WorkerCancelled, WorkerFailed

    app_ = pilot.app
    for _ in range(rounds):
        try:
            await app_.workers.wait_for_complete()
        except (WorkerCancelled, WorkerFailed):
            continue
        await pilot.pause()
        if not any(w.is_running for w in app_.workers):
            break
    await pilot.pause()


@settings(max_examples=2, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    folders=st.lists(
        st.tuples(fz.status_texts(), st.one_of(st.none(), fz.config_texts())),
        min_size=8,
        max_size=12,
    )
)
def test_dashboard_over_fuzzed_folders(folders, monkeypatch_session_gpu):
    check_dashboard(folders)


@pytest.mark.soak
@pytest.mark.timeout(1200)
@settings(max_examples=6, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    folders=st.lists(
        st.tuples(fz.status_texts(), st.one_of(st.none(), fz.config_texts())),
        min_size=8,
        max_size=16,
    )
)
def test_dashboard_over_fuzzed_folders_soak(folders, monkeypatch_session_gpu):
    check_dashboard(folders)


def check_dashboard(folders) -> None:
    import asyncio

    from fbtui.tui.app import make_app
    from fbtui.tui.widgets.run_table import RunTable

    root = Path(tempfile.mkdtemp(prefix="fbtui-fuzz-dash-"))
    try:
        expect = {}
        for i, (status, config) in enumerate(folders):
            run = make_folder(root / "runs", f"fuzz{i:02d}-20250615-1200{i:02d}", status, config)
            expect[str(run)] = _expect_unreadable(status, config)
        (root / "exp").mkdir()

        async def drive() -> dict[str, str]:
            dash = make_app(root / "runs", root / "exp", test_mode=True)
            async with dash.run_test(size=(120, 40)) as pilot:
                await _settle(pilot)
                table = dash.screen.query_one(RunTable)
                for _ in range(len(folders)):  # every row through the live view
                    await pilot.press("down")
                    await _settle(pilot)
                for _ in range(2):  # and through the details screen
                    await pilot.press("enter")
                    await _settle(pilot)
                    await pilot.press("escape")
                    await _settle(pilot)
                    await pilot.press("up")
                return {k: r.state for k, r in table.runs.items()}

        states = asyncio.run(drive())
        assert set(states) == set(expect)
        for path, unreadable in expect.items():
            assert (states[path] == "unreadable") == unreadable, (path, states[path])
        CASES["dashboard_folders"] += len(folders)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def monkeypatch_session_gpu(tmp_path, monkeypatch):
    """No NVML probing in the dashboard's GPU panel."""
    path = tmp_path / "nogpu.json"
    path.write_text(json.dumps({"no_gpu": "no NVIDIA GPU (NVML not found)"}))
    monkeypatch.setenv("FBTUI_FAKE_GPU", str(path))
    monkeypatch.setenv("TZ", "UTC")
    return path


def test_runs_table_with_every_state(tmp_path):
    """Found by the fuzzer: states without a colour ("unknown", "running (stale)",
    "logdir") were read as rich markup and crashed `fbtui runs`; names were markup too."""
    from fbtui.tb.writer import EventFileWriter, scalar_event

    root = tmp_path / "runs"
    make_folder(root, "nostate-20250615-120000", json.dumps({"epoch": 1}), None)
    stale = {**fz.GOOD_STATUS, "state": "running", "host": "elsewhere", "updated": 1.0}
    make_folder(root, "remote-20250615-120000", json.dumps(stale), None)
    with EventFileWriter(root / "plain[bold]logs" / "events.out.tfevents.1.host") as w:
        w.write_event(scalar_event("loss", 1.0, 1, 1.0))
    res = runner.invoke(app, ["runs", "--runs-dir", str(root)])
    assert res.exit_code == 0, (res.output, res.exception)
    assert "runs in" in res.output  # the table (80 columns: cells are cut, so no more)
    listed = json.loads(runner.invoke(app, ["runs", "--runs-dir", str(root), "--json"]).output)
    assert sorted(r["state"] for r in listed) == ["logdir", "running (stale)", "unknown"]
    assert "plain[bold]logs" in {r["name"] for r in listed}
