"""Pilot tests: every dashboard action, on the fixed run folders and the fake GPU."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fbtui.tui.app import make_app
from fbtui.tui.screens.confirm import ConfirmScreen
from fbtui.tui.screens.log_tail import LogTailScreen
from fbtui.tui.screens.new_run import NewRunScreen, parse_overrides
from fbtui.tui.screens.run_details import RunDetailsScreen
from fbtui.tui.widgets.metrics_panel import MetricsPanel
from fbtui.tui.widgets.run_table import RunTable

from .conftest import settle

pytestmark = pytest.mark.timeout(120)


def _table(app) -> RunTable:
    return app.screen.query_one(RunTable)


def _names(app) -> list[str]:
    return [r.path.name for r in _table(app).shown]


def _messages(app) -> list[str]:
    return [n.message for n in app._notifications]


async def _select(pilot, name: str) -> None:
    table = _table(pilot.app)
    assert table.select_path(next(r.path for r in table.runs.values() if r.path.name == name))
    await settle(pilot)


@pytest.fixture
def runs_copy(fixture_runs, tmp_path) -> Path:
    """A private copy of the fixture runs, for tests that change them."""
    dst = tmp_path / "runs"
    shutil.copytree(fixture_runs, dst)
    return dst


# -- listing, re-attach, alerts ------------------------------------------------------------


async def test_lists_every_run_with_its_state(dashboard):
    app = dashboard()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        states = {r.path.name: r.state for r in _table(app).shown}
        assert states == {
            "demo-20250615-113000": "running",
            "lost-run-20250615-100000": "failed (lost)",
            "resnet18-20250615-090000": "finished",
            "remote-20250615-080000": "running (stale)",
            "vgg16-20250614-200000": "diverged",
            "mobilenet-20250614-150000": "stopped",
            "scut-cv1-20250613-120000": "failed",
            "old-script-logs": "logdir",
        }
        # newest first; the live run is selected and watched
        assert _names(app)[0] == "demo-20250615-113000"
        assert app.screen.query_one(MetricsPanel).run.path.name == "demo-20250615-113000"


async def test_alerts_notify_at_start(dashboard):
    app = dashboard()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        text = "\n".join(_messages(app))
        assert "lost-run-20250615-100000: its process is gone" in text
        assert "remote-20250615-080000: no heartbeat" in text
        assert "demo-20250615-113000 is input-bound" in text and "data.num_workers" in text
        # old failures are flagged in the table, not announced again
        assert "vgg16" not in text and "scut-cv1" not in text


async def test_alert_on_state_change(runs_copy, experiments_dir, fake_gpu):
    app = make_app(runs_copy, experiments_dir, test_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        status_file = runs_copy / "demo-20250615-113000" / "status.json"
        status = json.loads(status_file.read_text())
        status.update(state="diverged", error="loss became non-finite before step 1760")
        status_file.write_text(json.dumps(status))
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert any("demo-20250615-113000 diverged" in m for m in _messages(app))
        assert _table(app).runs[str(status_file.parent)].state == "diverged"


async def test_finishing_is_announced(runs_copy, experiments_dir, fake_gpu):
    app = make_app(runs_copy, experiments_dir, test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        run = runs_copy / "demo-20250615-113000"
        status = json.loads((run / "status.json").read_text())
        status["state"] = "finished"
        (run / "status.json").write_text(json.dumps(status))
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert "demo-20250615-113000 finished: best test mse 0.1211" in _messages(app)


async def test_watch_selects_the_run(dashboard, fixture_runs):
    app = dashboard(watch=fixture_runs / "mobilenet-20250614-150000")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert _table(app).current.path.name == "mobilenet-20250614-150000"
        assert app.screen.query_one(MetricsPanel).run.path.name == "mobilenet-20250614-150000"


async def test_cursor_moves_the_live_view(dashboard):
    app = dashboard()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("down")
        await settle(pilot)
        assert app.screen.query_one(MetricsPanel).run.path.name == _names(app)[1]


# -- sort and filter -------------------------------------------------------------------------


async def test_sort_cycles(dashboard):
    app = dashboard()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("o")  # by name
        await settle(pilot)
        assert _names(app) == sorted(_names(app), key=str.lower)
        await pilot.press("o", "o")  # by best mse: lowest first, runs without one last
        await settle(pilot)
        assert _names(app)[0] == "resnet18-20250615-090000"
        assert "sort: best mse" in str(app.screen.query_one("#title").render())


async def test_filter(dashboard):
    app = dashboard()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"lost", "enter")
        await settle(pilot)
        assert _names(app) == ["lost-run-20250615-100000"]
        assert app.focused is _table(app)
        await pilot.press("escape")
        await settle(pilot)
        assert len(_names(app)) == 8


# -- new run ----------------------------------------------------------------------------------


def test_parse_overrides():
    assert parse_overrides("train.lr=0.04 model.dropout=0.5") == [
        "train.lr=0.04",
        "model.dropout=0.5",
    ]
    assert parse_overrides("") == []
    assert parse_overrides("experiment.notes='two words'") == ["experiment.notes=two words"]
    with pytest.raises(ValueError, match="expected key=value"):
        parse_overrides("train.lr")


@pytest.fixture
def fake_launch(monkeypatch, runs_copy):
    """Replace `fbtui run/resume --detach` by a recorder that creates the run folder."""
    calls = []

    def run_cli_detached(argv, cwd=None, timeout=600):
        calls.append(list(argv))
        if argv[0] == "run":
            d = runs_copy / "demo-20250615-150000"
            d.mkdir(exist_ok=True)
            (d / "status.json").write_text(json.dumps({"state": "queued", "epochs": 3}))
            return 0, f"started in the background (pid 1)\n{d}"
        return 0, "resumed"

    monkeypatch.setattr("fbtui.runs.launch.run_cli_detached", run_cli_detached)
    return calls


async def test_new_run_launches_detached(runs_copy, experiments_dir, fake_gpu, fake_launch):
    app = make_app(runs_copy, experiments_dir, test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, NewRunScreen)
        await pilot.press("enter")  # the first experiment: demo.toml
        await pilot.press(*"train.lr=0.04 experiment.notes=quick", "enter")  # q types
        await settle(pilot)
        assert fake_launch == [
            [
                "run",
                str(experiments_dir / "demo.toml"),
                "--detach",
                "--runs-dir",
                str(runs_copy),
                "--set",
                "train.lr=0.04",
                "--set",
                "experiment.notes=quick",
            ]
        ]
        assert not isinstance(app.screen, NewRunScreen)
        assert any("started demo-20250615-150000" in m for m in _messages(app))
        assert _table(app).current.path.name == "demo-20250615-150000"
        # queued, not started: newest first by its folder's timestamp, not last
        assert _names(app)[0] == "demo-20250615-150000"


async def test_new_run_rejects_bad_overrides(runs_copy, experiments_dir, fake_gpu, fake_launch):
    app = make_app(runs_copy, experiments_dir, test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n", "down", "enter", *"lr", "enter")
        await settle(pilot)
        assert isinstance(app.screen, NewRunScreen)
        assert "expected key=value" in str(app.screen.query_one("#new-run-error").render())
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, NewRunScreen)
        await pilot.press("n", "q")  # q closes a dialog, it does not quit the dashboard
        await settle(pilot)
        assert not isinstance(app.screen, NewRunScreen) and app.is_running
        assert fake_launch == []


async def test_new_run_reports_a_failed_launch(runs_copy, experiments_dir, fake_gpu, monkeypatch):
    monkeypatch.setattr(
        "fbtui.runs.launch.run_cli_detached",
        lambda argv, cwd=None, timeout=600: (2, "error: demo.toml: train.lr: unknown key"),
    )
    app = make_app(runs_copy, experiments_dir, test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n", "enter", "enter")
        await settle(pilot)
        assert any("could not start demo.toml" in m and "unknown key" in m for m in _messages(app))


async def test_new_run_without_experiments(runs_copy, tmp_path, fake_gpu):
    app = make_app(runs_copy, tmp_path / "nowhere", test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert "no experiment files" in str(app.screen.query_one("#experiments-empty").render())
        await pilot.press("escape")


# -- stop and resume ----------------------------------------------------------------------------


@pytest.fixture
def fake_stop(monkeypatch):
    calls = []

    def stop_run(run_dir, wait=0.0):
        calls.append(Path(run_dir).name)
        return "stopped"

    monkeypatch.setattr("fbtui.runs.launch.stop_run", stop_run)
    return calls


async def test_stop_asks_then_stops(runs_copy, experiments_dir, fake_gpu, fake_stop):
    app = make_app(runs_copy, experiments_dir, test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert fake_stop == []
        await pilot.press("s", "y")
        await settle(pilot)
        assert fake_stop == ["demo-20250615-113000"]
        assert any("demo-20250615-113000: stopped" in m for m in _messages(app))


async def test_stop_refuses_runs_that_are_not_live(dashboard, fake_stop):
    app = dashboard()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await _select(pilot, "resnet18-20250615-090000")
        await pilot.press("s")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("finished: nothing to stop" in m for m in _messages(app))
        assert fake_stop == []


async def test_resume(runs_copy, experiments_dir, fake_gpu, fake_launch):
    app = make_app(runs_copy, experiments_dir, test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await _select(pilot, "mobilenet-20250614-150000")
        await pilot.press("r")
        await settle(pilot)
        path = str(runs_copy / "mobilenet-20250614-150000")
        assert fake_launch == [["resume", path, "--detach", "--runs-dir", str(runs_copy)]]
        assert any("resumed mobilenet-20250614-150000" in m for m in _messages(app))
        # a finished run and a plain logdir are not resumable
        for name in ("resnet18-20250615-090000", "old-script-logs"):
            await _select(pilot, name)
            await pilot.press("r")
            await settle(pilot)
        assert len(fake_launch) == 1


async def test_resume_a_lost_run(runs_copy, experiments_dir, fake_gpu, fake_launch):
    app = make_app(runs_copy, experiments_dir, test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await _select(pilot, "lost-run-20250615-100000")
        await pilot.press("r")
        await settle(pilot)
        assert fake_launch[0][:2] == ["resume", str(runs_copy / "lost-run-20250615-100000")]


async def test_stop_and_resume_a_kfold_group(runs_copy, experiments_dir, fake_gpu, fake_launch):
    """A k-fold group resumes like a run (`fbtui resume GROUP` continues its folds)."""
    group = runs_copy / "cv5-20250616-080000"
    for k, state in ((1, "finished"), (2, "stopped")):
        (group / f"cv{k}").mkdir(parents=True)
        status = {"state": state, "started": 1750060800.0 + k, "updated": 1750060900.0 + k}
        (group / f"cv{k}" / "status.json").write_text(json.dumps(status))
    kfold = {"state": "stopped", "runs": ["cv1", "cv2"], "started": 1750060800.0}
    (group / "kfold.json").write_text(json.dumps({**kfold, "updated": 1750060902.0}))
    app = make_app(runs_copy, experiments_dir, test_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await _select(pilot, group.name)
        await pilot.press("r")
        await settle(pilot)
        assert fake_launch == [["resume", str(group), "--detach", "--runs-dir", str(runs_copy)]]


# -- marks and compare ------------------------------------------------------------------------


async def test_space_marks_runs(dashboard):
    app = dashboard()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("space", "space")  # marks the first two rows (the cursor moves down)
        await settle(pilot)
        assert [r.path.name for r in _table(app).marked_runs()] == _names(app)[:2]
        assert "2 marked" in str(app.screen.query_one("#title").render())
        await pilot.press("up", "space")  # unmark the second
        await settle(pilot)
        assert [r.path.name for r in _table(app).marked_runs()] == _names(app)[:1]


async def test_compare_marked_runs(dashboard):
    from fbtui.tui.compare_screen import CompareScreen

    app = dashboard()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await _select(pilot, "resnet18-20250615-090000")
        await pilot.press("space")  # marks it, the cursor moves on
        await _select(pilot, "old-script-logs")  # a plain logdir compares too
        await pilot.press("space", "c")
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        assert [p.name for p in app.screen.paths] == ["resnet18-20250615-090000", "old-script-logs"]
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, CompareScreen)


async def test_compare_without_marks_uses_the_selected_run(dashboard):
    from fbtui.tui.compare_screen import CompareScreen

    app = dashboard()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        assert [p.name for p in app.screen.paths] == ["demo-20250615-113000"]


# -- log and details -----------------------------------------------------------------------------


async def test_log_tail_follows(runs_copy, experiments_dir, fake_gpu):
    app = make_app(runs_copy, experiments_dir, test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await _select(pilot, "resnet18-20250615-090000")
        await pilot.press("l")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LogTailScreen)
        log = screen.query_one("#log")
        text = lambda: [strip.text.rstrip() for strip in log.lines]  # noqa: E731
        assert len(text()) == 39 and text()[0].startswith("epoch 1/10")
        with open(runs_copy / "resnet18-20250615-090000" / "train.log", "a") as f:
            f.write("finished: best test mse 0.0912\npartial")
        screen._read()
        await settle(pilot)
        assert text()[-1] == "finished: best test mse 0.0912"  # the partial line waits
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, LogTailScreen)


async def test_log_without_file(dashboard):
    app = dashboard()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await _select(pilot, "old-script-logs")
        await pilot.press("l")
        await settle(pilot)
        assert not isinstance(app.screen, LogTailScreen)
        assert any("has no train.log" in m for m in _messages(app))


async def test_details(dashboard):
    app = dashboard()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await _select(pilot, "resnet18-20250615-090000")
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunDetailsScreen)
        assert "0.0912" in _plain(screen.query_one("#summary-body"))
        await pilot.press("2")
        await settle(pilot)
        assert "epochs = 10" in _plain(screen.query_one("#config-body"))
        await pilot.press("3")
        await settle(pilot)
        assert "120 test images" in _plain(screen.query_one("#pred-title"))
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, RunDetailsScreen)


async def test_details_of_a_plain_logdir(dashboard):
    app = dashboard()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await _select(pilot, "old-script-logs")
        await pilot.press("enter")
        await settle(pilot)
        assert "TensorBoard logdir" in _plain(app.screen.query_one("#summary-body"))
        assert "plain TensorBoard logdir" in _plain(app.screen.query_one("#config-body"))


def _plain(widget) -> str:
    from io import StringIO

    from rich.console import Console

    content = widget.content
    if isinstance(content, str) or hasattr(content, "plain"):
        return str(content)
    console = Console(file=StringIO(), width=200, color_system=None)
    console.print(content)
    return console.file.getvalue()


async def test_keys_help(dashboard):
    from fbtui.tui.screens.keys_help import KeysHelpScreen

    app = dashboard()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, KeysHelpScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, KeysHelpScreen)


# -- quit ------------------------------------------------------------------------------------------


async def test_quit_never_stops_training(dashboard, fake_stop):
    app = dashboard()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    assert fake_stop == []  # (tests/tui/test_dashboard_tmux.py: the run really survives)
