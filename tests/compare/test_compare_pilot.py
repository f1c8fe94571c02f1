"""The compare screen driven by keys (Pilot): view settings, filter, tabs, push/pop, polling."""

import asyncio

from compare_fixtures import T0, three_runs
from textual.app import App
from textual.widgets import DataTable, Input, Static, TabbedContent

from fbtui.tb.compare import open_runs
from fbtui.tb.writer import EventFileWriter, scalar_event
from fbtui.tui.compare.widgets import ConfigDiffTable, SummaryTable, TagChart, ViewSettings
from fbtui.tui.compare_screen import CompareScreen, make_compare_app, open_compare_screen


def _status(screen) -> str:
    return str(screen.query_one("#compare-status", Static).render())


def test_keys_change_the_view(tmp_path):
    app = make_compare_app(runs=open_runs(three_runs(tmp_path)), test_mode=True)

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, CompareScreen)
            assert len(screen.query(TagChart)) == 6
            assert screen.view.smoothing == 0.6
            await pilot.press("right_square_bracket")
            assert screen.view.smoothing == 0.7
            await pilot.press("left_square_bracket", "left_square_bracket")
            assert screen.view.smoothing == 0.5
            await pilot.press("x")
            assert screen.view.x_axis == "relative"
            await pilot.press("x", "x")
            assert screen.view.x_axis == "step"
            await pilot.press("l", "o")
            assert screen.view.log_y and not screen.view.ignore_outliers
            assert "log-y on" in _status(screen) and "outliers shown" in _status(screen)
            await pilot.pause()

    asyncio.run(go())


def test_tag_filter_and_tabs(tmp_path):
    app = make_compare_app(runs=open_runs(three_runs(tmp_path)), test_mode=True)

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen = app.screen
            await pilot.press("slash")
            assert isinstance(app.focused, Input)
            await pilot.press(*"test/m", "enter")
            await pilot.pause()
            assert sorted(c.tag for c in screen.query(TagChart)) == ["test/mae", "test/mse"]
            assert app.focused.id == "charts-scroll"
            await pilot.press("slash", "(")  # "test/m(" is not a regex: nothing changes
            await pilot.pause()
            assert app.focused.has_class("-invalid")
            await pilot.press("enter")
            assert len(screen.query(TagChart)) == 2
            await pilot.press("backspace", "enter")
            assert app.focused.id == "charts-scroll"
            await pilot.press("slash", "escape")  # escape leaves the filter, not the screen
            assert app.focused.id == "charts-scroll" and isinstance(app.screen, CompareScreen)
            await pilot.press("2")
            assert screen.query_one(TabbedContent).active == "summary"
            table = screen.query_one(SummaryTable)
            assert table.row_count == 11 and len(table.columns) == 4  # metrics x runs
            best_mse = table.get_row("best mse")
            assert [c.style for c in best_mse[1:]] == ["", "bold reverse", ""]
            await pilot.press("3")
            diff = screen.query_one(ConfigDiffTable)
            assert diff.row_count == 3
            assert [str(c) for c in diff.get_row("train.lr")] == [
                "train.lr",
                "0.01",
                "0.02",
                "0.01",
            ]
            await pilot.press("1")
            assert screen.query_one(TabbedContent).active == "charts"

    asyncio.run(go())


class Host(App[None]):
    """Stands in for the dashboard: pushes the compare screen over its own."""

    def __init__(self, paths):
        super().__init__()
        self.paths = paths

    def on_mount(self) -> None:
        self.push_screen(open_compare_screen(self.paths, poll_every_s=None, test_mode=True))


def test_pushed_from_another_app_loads_in_a_worker_and_pops(tmp_path):
    app = Host(three_runs(tmp_path))

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, CompareScreen)
            assert [r.name for r in screen.runs] == ["lr-0.01", "lr-0.02", "bs-64"]
            assert len(screen.query(TagChart)) == 6
            await pilot.press("escape")
            assert not isinstance(app.screen, CompareScreen)
            assert app.is_running

    asyncio.run(go())


def test_bad_folder_shows_an_error_not_a_crash(tmp_path):
    app = Host([tmp_path / "nope"])

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert "no such run folder" in _status(app.screen)

    asyncio.run(go())


def test_q_quits_the_standalone_app(tmp_path):
    app = make_compare_app(runs=open_runs(three_runs(tmp_path)[:1]), test_mode=True)

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("q")
            await pilot.pause()
        assert app.return_code == 0

    asyncio.run(go())


def test_polling_picks_up_new_points(tmp_path):
    paths = three_runs(tmp_path)[:2]
    app = make_compare_app(runs=open_runs(paths), poll_every_s=0.05, view=ViewSettings(smoothing=0))

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            with EventFileWriter(
                paths[0] / "events.out.tfevents.1750000999.host", wall_time=T0
            ) as w:
                w.write_event(scalar_event("sys/gpu0/util", 42.0, 100, T0 + 600))

            def title() -> str:
                charts = [c for c in app.screen.query(TagChart) if c.tag == "sys/gpu0/util"]
                return str(charts[0].query_one(".chart-title", Static).render()) if charts else ""

            for _ in range(200):
                await pilot.pause(0.05)
                if "42" in title():
                    break
            assert "42" in title()

    asyncio.run(go())


def test_many_runs_make_a_wide_summary(tmp_path):
    paths = []
    for i in range(8):
        paths += three_runs(tmp_path / f"g{i}")[:1]
    app = make_compare_app(runs=open_runs(paths), test_mode=True)

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            table = app.screen.query_one(SummaryTable)
            assert table.row_count == 8 and isinstance(table, DataTable)

    asyncio.run(go())


def test_ansi_theme_for_16_colour_terminals(tmp_path):
    app = make_compare_app(runs=open_runs(three_runs(tmp_path)), test_mode=True)
    app._theme_name = "ansi-dark"

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert app.theme == "ansi-dark"
            chart = app.screen.query(TagChart).first()
            styles = [d.line_style for d in chart.query_one("PlotWidget")._datasets]
            # the terminal's own palette; each run's raw curve faint under its smoothed one
            assert styles == ["dim red", "red", "dim green", "green", "dim yellow", "yellow"]
            await pilot.press("r")  # raw curves off
            await pilot.pause()
            styles = [d.line_style for d in chart.query_one("PlotWidget")._datasets]
            assert styles == ["red", "green", "yellow"]
            assert "raw" not in str(app.screen.view.describe())

    asyncio.run(go())


def test_imports_stay_light():
    import subprocess
    import sys

    code = (
        "import sys, fbtui.cli.compare_cmd, fbtui.tui.compare.plain, fbtui.tb.compare\n"
        "assert 'textual' not in sys.modules, 'plain output must not need Textual'\n"
        "import fbtui.tui.compare_screen\n"
        "bad = [m for m in ('torch', 'tensorboardX', 'tensorboard', 'fbtui.train') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
