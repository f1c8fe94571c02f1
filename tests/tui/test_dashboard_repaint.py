"""What a watched run repaints (the CPU benchmark's budget): only what changed, once."""

from __future__ import annotations

import numpy as np
import pytest
from textual.app import App
from textual.dom import DOMNode
from textual.widget import Widget
from textual_hires_canvas import Canvas

from fbtui.gpu import GpuProcess, GpuSample, NoGpu
from fbtui.tb import ScalarSeries
from fbtui.tui.widgets.chart import Chart, Plot, StyledOnceCanvas
from fbtui.tui.widgets.gpu_panel import GpuPanel
from fbtui.tui.widgets.metrics_panel import MetricsPanel
from fbtui.tui.widgets.run_table import RunTable

from .conftest import settle

pytestmark = pytest.mark.timeout(120)


def _series(tag: str, n: int) -> ScalarSeries:
    steps = np.arange(10, 10 * n + 1, 10, dtype=np.int64)
    return ScalarSeries(tag, steps, steps.astype(float), 1.0 / (1 + steps / 100))


class _ChartApp(App[None]):
    def compose(self):
        yield Chart(("train/loss",), {"train/loss": _series("train/loss", 50)})


async def test_a_chart_update_draws_each_canvas_once_with_the_stock_style(monkeypatch):
    app = _ChartApp()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        await pilot.pause()
        chart = app.query_one(Chart)
        canvases = list(chart.query(Canvas))
        assert canvases and all(type(c) is StyledOnceCanvas for c in canvases)
        for canvas in canvases:  # the cached style is the one Textual works out
            assert canvas.rich_style == DOMNode.rich_style.fget(canvas)

        refreshes: list[str] = []
        real = Widget.refresh

        def counting(self, *args, **kwargs):
            if isinstance(self, Canvas):
                refreshes.append(self.id)
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Widget, "refresh", counting)
        chart.show(chart.view, {"train/loss": _series("train/loss", 80)})
        # drawn now, one refresh per canvas: the next frame paints the plot once
        assert not chart.query_one(Plot)._needs_rerender
        assert sorted(refreshes) == sorted(c.id for c in canvases)


def _sample(processes: int) -> GpuSample:
    procs = tuple(GpuProcess(pid=100 + i, used_mem=2**30) for i in range(processes))
    return GpuSample(
        index=0,
        name="Fake H100",
        uuid="GPU-0",
        util_pct=50.0,
        mem_used=2**33,
        mem_total=2**36,
        temp_c=50.0,
        power_w=300.0,
        power_limit_w=700.0,
        processes=procs,
    )


class _GpuApp(App[None]):
    def compose(self):
        yield GpuPanel(NoGpu("off"), poll=False)


async def test_the_gpu_panel_relayouts_only_when_its_height_changes():
    app = _GpuApp()
    async with app.run_test(size=(60, 20)) as pilot:
        panel = app.query_one(GpuPanel)
        panel.update_samples([_sample(1)])
        await pilot.pause()
        layouts: list[bool] = []
        real = panel.refresh

        def recording(*args, **kwargs):
            layouts.append(bool(kwargs.get("layout")))
            return real(*args, **kwargs)

        panel.refresh = recording
        panel.update_samples([_sample(1)])  # new figures, same lines
        assert layouts == [False]
        await pilot.pause()
        panel.update_samples([_sample(2)])  # a new process: one more line
        assert layouts == [False, True]
        await pilot.pause()
        assert panel.size.height == len(panel._lines(panel.content_size.width))


async def test_relisting_unchanged_runs_rebuilds_no_cells(dashboard, monkeypatch):
    app = dashboard()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunTable)
        runs = list(table.runs.values())
        built: list[str] = []
        real = RunTable._cells

        def counting(self, run):
            built.append(run.name)
            return real(self, run)

        monkeypatch.setattr(RunTable, "_cells", counting)
        table.show_runs(runs)  # the same RunInfo objects, as the lister returns them
        assert built == []
        table.show_runs([*runs[1:], _copy(runs[0])])  # one run re-read from disk
        assert built == [runs[0].name]


def _copy(run):
    from dataclasses import replace

    return replace(run)


async def test_an_unchanged_poll_repaints_nothing(dashboard):
    app = dashboard()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        panel = app.screen.query_one(MetricsPanel)
        painted = []
        real = panel._paint_text
        panel._paint_text = lambda: (painted.append(1), real())[1]
        panel.poll_now()
        await settle(pilot)
        assert painted == []  # nothing on disk changed since the last poll
