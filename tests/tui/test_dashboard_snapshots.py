"""Snapshot tests at 80x24 and 120x40: the fixed run folders, the fake GPU, test mode.

Paths are relative (the test runs inside the fixture folder) so the title bar is the same
on every machine. Update after a deliberate change with `pytest --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fbtui.tui.app import make_app

from .conftest import settle

pytestmark = pytest.mark.timeout(180)

SMALL = (80, 24)
LARGE = (120, 40)


@pytest.fixture
def app_here(fixture_base, fake_gpu, monkeypatch):
    """make_app over ./runs and ./experiments, from inside the fixture folder."""
    monkeypatch.chdir(fixture_base)

    def make(**kwargs):
        return make_app(Path("runs"), Path("experiments"), test_mode=True, **kwargs)

    return make


def steps(*actions, quiet: bool = True):
    """A run_before: settle, then per action either press keys (a str or tuple) or call it."""

    async def run_before(pilot) -> None:
        await settle(pilot)
        if quiet:  # before any modal opens: toasts under a modal are not cleared later
            pilot.app.clear_notifications()
            await pilot.pause()
        for action in actions:
            if callable(action):
                action(pilot.app)
            else:
                await pilot.press(*([action] if isinstance(action, str) else action))
            await settle(pilot)
        if quiet:
            pilot.app.clear_notifications()
            await pilot.pause()

    return run_before


def select(name: str):
    def do(app) -> None:
        table = app.screen.query_one("#runs")
        table.select_path(Path("runs") / name)

    return do


def test_main_80x24(snap_compare, app_here):
    assert snap_compare(app_here(), terminal_size=SMALL, run_before=steps())


def test_main_120x40(snap_compare, app_here):
    assert snap_compare(app_here(), terminal_size=LARGE, run_before=steps())


def test_alerts_at_start_120x40(snap_compare, app_here):
    assert snap_compare(app_here(), terminal_size=LARGE, run_before=steps(quiet=False))


def test_sixteen_colours_80x24(snap_compare, app_here):
    assert snap_compare(app_here(theme="ansi-dark"), terminal_size=SMALL, run_before=steps())


def test_no_gpu_80x24(snap_compare, app_here, no_gpu):
    assert snap_compare(app_here(), terminal_size=SMALL, run_before=steps())


def test_logdir_selected_80x24(snap_compare, app_here):
    assert snap_compare(
        app_here(), terminal_size=SMALL, run_before=steps(select("old-script-logs"))
    )


def test_filter_80x24(snap_compare, app_here):
    assert snap_compare(
        app_here(), terminal_size=SMALL, run_before=steps(("slash", *"fail", "enter"))
    )


def test_new_run_dialog_80x24(snap_compare, app_here):
    assert snap_compare(
        app_here(), terminal_size=SMALL, run_before=steps("n", "enter", tuple("train.lr=0.04"))
    )


def test_tag_picker_80x24(snap_compare, app_here):
    assert snap_compare(app_here(), terminal_size=SMALL, run_before=steps("t"))


def test_log_tail_80x24(snap_compare, app_here):
    assert snap_compare(
        app_here(), terminal_size=SMALL, run_before=steps(select("resnet18-20250615-090000"), "l")
    )


def test_details_summary_80x24(snap_compare, app_here):
    assert snap_compare(
        app_here(),
        terminal_size=SMALL,
        run_before=steps(select("resnet18-20250615-090000"), "enter"),
    )


def test_details_predictions_120x40(snap_compare, app_here):
    assert snap_compare(
        app_here(),
        terminal_size=LARGE,
        run_before=steps(select("resnet18-20250615-090000"), "enter", "3"),
    )
