"""QA fixes on the compare screen's keys: the footer fits 80 columns and shows the tab keys
(1-3) and the zoom reset (0); Tab + arrows pan a chart, 0 puts every chart back; r still
toggles the raw curves while a chart has the focus."""

import asyncio

from compare_fixtures import three_runs
from textual.widgets._footer import FooterKey

from fbtui.tb.compare import open_runs
from fbtui.tui.compare.widgets import ComparePlot
from fbtui.tui.compare_screen import make_compare_app


def _footer(app):
    return [(k.key_display, k.description, k.region) for k in app.screen.query(FooterKey)]


def test_footer_fits_80_columns_and_shows_tabs_and_reset(tmp_path):
    app = make_compare_app(runs=open_runs(three_runs(tmp_path)), test_mode=True)

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            for focus in (None, "tab"):  # the charts' scroll, then a chart
                if focus:
                    await pilot.press(focus)
                    await pilot.pause()
                keys = _footer(app)
                shown = {(k, d) for k, d, _ in keys}
                assert ("1-3", "Tabs") in shown and ("0", "Reset") in shown
                assert ("r", "Raw") in shown and ("o", "Outliers") in shown
                assert max(region.right for *_, region in keys) <= 80, keys
                assert all(region.width > 0 for *_, region in keys)

    asyncio.run(go())


def test_zero_resets_a_panned_chart(tmp_path):
    app = make_compare_app(runs=open_runs(three_runs(tmp_path)), test_mode=True)

    async def go():
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            await pilot.press("tab")
            await pilot.pause()
            plot = app.focused
            assert isinstance(plot, ComparePlot)
            home = (plot._x_min, plot._x_max, plot._y_min, plot._y_max)
            await pilot.press("left", "left", "up", "plus")
            await pilot.pause()
            assert (plot._x_min, plot._x_max, plot._y_min, plot._y_max) != home
            raw = app.screen.view.show_raw
            await pilot.press("r")  # the screen's raw toggle, not the plot's old reset
            assert app.screen.view.show_raw is not raw
            await pilot.press("r")
            await pilot.press("left")
            await pilot.pause()
            await pilot.press("0")
            await pilot.pause()
            assert (plot._x_min, plot._x_max, plot._y_min, plot._y_max) == home
            await pilot.press("2")
            assert app.screen.query_one("TabbedContent").active == "summary"

    asyncio.run(go())
