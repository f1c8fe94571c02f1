"""Sweeps and k-fold groups in the dashboard: member names at 80 columns, the details
kind, `l` on a group, and the newest-first order of a just-created run."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest

from fbtui.runs import RunInfo
from fbtui.tui.app import TEST_NOW, make_app
from fbtui.tui.widgets.run_table import RunTable, display_name, sort_key

from .conftest import settle

pytestmark = pytest.mark.timeout(120)

SWEEP = "sw-sweep-20250615-110000"
KFOLD = "kf-20250615-103000"
LONG = "ctrlc-20250615-104500"  # 21 characters: over a 20-cell name column


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _status(state: str, t: float, epoch: int = 1, epochs: int = 1, **extra) -> dict:
    return {
        "state": state,
        "host": "gpu-node-1",
        "started": t,
        "updated": t + 60,
        "epoch": epoch,
        "epochs": epochs,
        "best": {"mse": 0.354, "pc": 0.317},
        **extra,
    }


@pytest.fixture
def group_runs(fixture_runs, tmp_path) -> Path:
    """The fixture runs plus a sweep of two members, a k-fold group of two folds, a run
    at epoch 109/200 and a long name."""
    root = tmp_path / "runs"
    shutil.copytree(fixture_runs, root)
    sweep = root / SWEEP
    members = ["lr0.01-s0", "lr0.1-s0"]
    for i, m in enumerate(members):
        _write(sweep / m / "status.json", _status("finished", TEST_NOW - 3000 + i))
    _write(
        sweep / "sweep.json",
        {
            "kind": "sweep",
            "state": "finished",
            "created": TEST_NOW - 3600,
            "members": [{"run": m} for m in members],
        },
    )
    (sweep / "queue.log").write_text("queue: started lr0.01-s0\nqueue: started lr0.1-s0\n")
    kf = root / KFOLD
    for k in (1, 2):
        _write(kf / f"cv{k}" / "status.json", _status("finished", TEST_NOW - 5000 + k))
        (kf / f"cv{k}" / "train.log").write_text(f"fold {k} epoch 1\n")
    _write(
        kf / "kfold.json",
        {
            "state": "finished",
            "runs": [{"run": "cv1"}, {"run": "cv2"}],
            "started": TEST_NOW - 5000,
            "updated": TEST_NOW - 4000,
        },
    )
    _write(
        root / "live-20250615-114000" / "status.json", _status("stopped", TEST_NOW - 1000, 109, 200)
    )
    _write(root / LONG / "status.json", _status("stopped", TEST_NOW - 2000))
    return root


def _table(app) -> RunTable:
    return app.screen.query_one(RunTable)


def _rows(app) -> list[list[str]]:
    table = _table(app)
    return [
        [str(getattr(c, "plain", c)) for c in table.get_row_at(i)] for i in range(table.row_count)
    ]


def test_display_name_keeps_members_apart():
    assert display_name(f"{SWEEP}/lr0.01-s0", 20) == "sw-sweep/lr0.01-s0"
    assert display_name(f"{SWEEP}/lr0.01-s0", 16) == "sw-sw…/lr0.01-s0"
    assert display_name(f"{KFOLD}/cv1", 20) == "kf/cv1"
    assert display_name(f"{SWEEP}/", 20) == "sw-sweep/"
    assert display_name("very-long-experiment-name-20250615-110000/", 12) == "very-long-…/"
    # the table's choice: every name with its timestamp, or none
    assert display_name("live-20250615-114000", 20, strip=True) == "live"
    assert display_name("live-20250615-114000", 20, strip=False) == "live-20250615-114000"


def test_queued_run_sorts_by_its_creation_time():
    old = RunInfo(path=Path("a"), name="a-20250615-100000", kind="fbtui", started=TEST_NOW - 9000)
    queued = RunInfo(
        path=Path("b"),
        name="b-20250615-150000",
        kind="fbtui",
        state="queued",
        status={"state": "queued", "created": TEST_NOW},
    )
    named = RunInfo(path=Path("c"), name="c-20990101-000000", kind="fbtui", state="queued")
    order = sorted([old, queued, named], key=lambda r: sort_key(r, "started"))
    assert [r.name for r in order] == [named.name, queued.name, old.name]


async def test_members_and_epochs_at_80_columns(group_runs, experiments_dir, fake_gpu):
    app = make_app(group_runs, experiments_dir, test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        rows = _rows(app)
        names = [r[1] for r in rows]
        assert "sw-sweep/lr0.01-s0" in names and "sw-sweep/lr0.1-s0" in names
        assert "kf/cv1" in names and "kf/cv2" in names
        assert "sw-sweep/" in names and "kf/" in names
        # one rule for every row: no name keeps its timestamp when some must lose it
        assert "live" in names and "ctrlc" in names
        assert not any(re.search(r"\d{8}-\d{6}", n) for n in names)
        assert any(r[3] == "109/200" for r in rows)


async def test_details_kind_of_groups(group_runs, experiments_dir, fake_gpu):
    from fbtui.tui.screens.run_details import summary_table

    app = make_app(group_runs, experiments_dir, test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        runs = {r.path.name: r for r in _table(app).runs.values()}
        from rich.console import Console

        def kind(run):
            console = Console(width=100, record=True)
            console.print(summary_table(run))
            return next(ln for ln in console.export_text().splitlines() if ln.startswith("kind"))

        assert kind(runs[SWEEP]).split()[1:] == ["sweep"]
        assert kind(runs[KFOLD]).split()[1:] == ["k-fold", "group"]


async def test_log_of_groups(group_runs, experiments_dir, fake_gpu):
    from fbtui.tui.screens.log_tail import LogTailScreen

    app = make_app(group_runs, experiments_dir, test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = _table(app)
        table.select_path(group_runs / SWEEP)
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, LogTailScreen)
        assert app.screen.path == group_runs / SWEEP / "queue.log"
        await pilot.press("escape")
        await settle(pilot)
        table.select_path(group_runs / KFOLD)
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, LogTailScreen)
        assert app.screen.path == group_runs / KFOLD / "cv2" / "train.log"  # the last fold


def test_stamp_time_is_local_time():
    from fbtui.tui.widgets.run_table import stamp_time

    assert stamp_time("x-20250615-120000") == time.mktime((2025, 6, 15, 12, 0, 0, 0, 0, -1))
    assert stamp_time("no-stamp") is None
