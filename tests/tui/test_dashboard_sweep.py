"""Sweeps from the dashboard: an override listing several values starts `fbtui sweep`
(checked first: every member's config), `s` cancels a sweep's queue after a
confirmation, `r` resumes it; both through `fbtui queue`, as from the shell."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fbtui.tui.app import TEST_NOW, make_app
from fbtui.tui.screens.confirm import ConfirmScreen
from fbtui.tui.screens.new_run import NewRunScreen, check_overrides, is_sweep
from fbtui.tui.widgets.run_table import RunTable

from .conftest import settle

pytestmark = pytest.mark.timeout(120)
SWEEP = "sw-sweep-20250615-110000"


def _messages(app) -> list[str]:
    return [n.message for n in app._notifications]


def test_is_sweep():
    assert is_sweep(["train.lr=0.01,0.04"])
    assert is_sweep(["model.dropout=0.5", "experiment.seed=0,1"])
    assert not is_sweep(["train.lr=0.04", "schedule.milestones=[140,185]"])
    assert is_sweep(["schedule.milestones=[140,185],[100,150]"])
    assert not is_sweep(['experiment.notes="a, b"', "schedule.milestones=[1,2"])
    assert not is_sweep([])


def test_a_comma_in_one_string_is_one_run(experiments_dir):
    """`experiment.notes=a, b` is a note with a comma, as `fbtui run --set` takes it: the
    dialog starts one run, not a sweep of two notes."""
    from fbtui.tui.screens.new_run import launch_kind

    demo = experiments_dir / "demo.toml"
    assert launch_kind(demo, ["experiment.notes=a, b"]) == "run"
    assert launch_kind(demo, ["train.lr=0.01,0.04"]) == "sweep"
    assert launch_kind(demo, ["train.lr=0.04"]) == "run"
    assert check_overrides(demo, ["experiment.notes=a, b"]) == ""


def test_check_overrides_checks_every_member(experiments_dir):
    demo = experiments_dir / "demo.toml"
    assert check_overrides(demo, ["train.lr=0.01,0.04"]) == ""
    err = check_overrides(demo, ["train.lr=0.01,fast"])
    assert "fast" in err and "train.lr" in err
    assert "given twice" in check_overrides(demo, ["train.lr=0.1,0.2", "train.lr=0.3,0.4"])


@pytest.fixture
def sweep_runs(fixture_runs, tmp_path) -> Path:
    root = tmp_path / "runs"
    shutil.copytree(fixture_runs, root)
    sweep = root / SWEEP
    for i, m in enumerate(["lr0.01-s0", "lr0.1-s0"]):
        (sweep / m).mkdir(parents=True)
        state = "finished" if i == 0 else "stopped"
        (sweep / m / "status.json").write_text(
            json.dumps({"state": state, "epoch": 1, "epochs": 3, "updated": TEST_NOW - 3000})
        )
    (sweep / "sweep.json").write_text(
        json.dumps(
            {
                "kind": "sweep",
                "state": "cancelled",
                "created": TEST_NOW - 3600,
                "members": [{"run": "lr0.01-s0"}, {"run": "lr0.1-s0"}],
            }
        )
    )
    return root


@pytest.fixture
def recorder(monkeypatch, sweep_runs):
    """`fbtui ...` calls recorded; `sweep` makes a folder and prints it as the CLI does
    (stdout: the folder; stderr after it: what it did)."""
    calls: list[list[str]] = []

    def run_cli_detached(argv, cwd=None, timeout=600):
        calls.append(list(argv))
        if argv[0] == "sweep":
            d = sweep_runs / "demo-sweep-20250615-150000"
            d.mkdir(exist_ok=True)
            (d / "sweep.json").write_text(
                json.dumps({"kind": "sweep", "state": "running", "members": []})
            )
            return 0, f"{d}\nsweep {d.name}: 2 runs\nqueue started in the background (pid 1)"
        return 0, f"{SWEEP}: queue restarted in the background"

    monkeypatch.setattr("fbtui.runs.launch.run_cli_detached", run_cli_detached)
    return calls


async def test_a_list_starts_a_sweep(sweep_runs, experiments_dir, fake_gpu, recorder):
    app = make_app(sweep_runs, experiments_dir, test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        rows = [s.text for s in app.screen._compositor.render_strips()]
        assert any("start a sweep" in r for r in rows), "\n".join(rows)
        assert any("enter: choose / launch" in r for r in rows), "\n".join(rows)
        await pilot.press("enter", *"train.lr=0.01,0.04", "enter")
        await settle(pilot)
        assert not isinstance(app.screen, NewRunScreen)
        demo = str(experiments_dir / "demo.toml")
        assert recorder == [
            ["sweep", demo, "--runs-dir", str(sweep_runs), "--set", "train.lr=0.01,0.04"]
        ]
        assert any("started the sweep demo-sweep-20250615-150000" in m for m in _messages(app))
        assert app.screen.query_one(RunTable).current.path.name == "demo-sweep-20250615-150000"


async def test_a_bad_member_keeps_the_dialog(sweep_runs, experiments_dir, fake_gpu, recorder):
    app = make_app(sweep_runs, experiments_dir, test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n", "enter", *"train.lr=0.01,fast", "enter")
        await settle(pilot)
        assert isinstance(app.screen, NewRunScreen)
        assert "fast" in str(app.screen.query_one("#new-run-error").render())
        assert recorder == []


async def test_resume_and_cancel_a_sweep(sweep_runs, experiments_dir, fake_gpu, recorder):
    app = make_app(sweep_runs, experiments_dir, test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunTable)
        assert table.select_path(sweep_runs / SWEEP)
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        path = str(sweep_runs / SWEEP)
        assert recorder == [["queue", "--runs-dir", str(sweep_runs), "resume", path]]
        assert any("queue restarted" in m for m in _messages(app))
        # the fake runner did not change sweep.json: mark it running for `s`
        data = json.loads((sweep_runs / SWEEP / "sweep.json").read_text())
        data["state"] = "paused"
        (sweep_runs / SWEEP / "sweep.json").write_text(json.dumps(data))
        app.screen.refresh_runs(full=True)
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert recorder[-1] == ["queue", "--runs-dir", str(sweep_runs), "cancel", path]


async def test_finished_sweep_has_nothing_to_resume(
    sweep_runs, experiments_dir, fake_gpu, recorder
):
    data = json.loads((sweep_runs / SWEEP / "sweep.json").read_text())
    (sweep_runs / SWEEP / "sweep.json").write_text(json.dumps({**data, "state": "finished"}))
    app = make_app(sweep_runs, experiments_dir, test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.screen.query_one(RunTable).select_path(sweep_runs / SWEEP)
        await settle(pilot)
        await pilot.press("r", "s")
        await settle(pilot)
        assert recorder == []
        assert any("nothing to resume" in m for m in _messages(app))
        assert any("nothing to stop" in m for m in _messages(app))


async def test_the_panel_follows_a_sweeps_state(sweep_runs, experiments_dir, fake_gpu):
    """A sweep has no status.json: its state in the panel comes from the listing, and a
    newer listing (the queue finished) updates it without moving the cursor."""
    from fbtui.tui.widgets.metrics_panel import MetricsPanel

    app = make_app(sweep_runs, experiments_dir, test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.screen.query_one(RunTable).select_path(sweep_runs / SWEEP)
        await settle(pilot)
        panel = app.screen.query_one(MetricsPanel)
        head = lambda: str(panel.query_one("#run-head").render())  # noqa: E731
        assert "cancelled" in head()
        data = json.loads((sweep_runs / SWEEP / "sweep.json").read_text())
        (sweep_runs / SWEEP / "sweep.json").write_text(json.dumps({**data, "state": "finished"}))
        for m in ("lr0.01-s0", "lr0.1-s0"):
            st = sweep_runs / SWEEP / m / "status.json"
            st.write_text(json.dumps({**json.loads(st.read_text()), "state": "finished"}))
        app.screen.refresh_runs(full=True)
        await settle(pilot)
        assert "finished" in head() and "cancelled" not in head()


def test_progress_counts_epochs_as_the_table_does():
    from fbtui.tui.widgets.metrics_panel import progress_of

    base = {"steps_per_epoch": 2, "epochs": 80, "step": 72}
    # stopped after the last step of epoch 36, before its end: 35 completed
    assert progress_of({**base, "state": "stopped", "epoch": 35}, None).epoch == 35
    # running in epoch 13 (12 completed)
    assert progress_of({**base, "state": "running", "epoch": 12, "step": 25}, 1.0).epoch == 13
    assert progress_of({**base, "state": "finished", "epoch": 80}, None).epoch == 80
