"""The live view: charts, tags one key away, points within 2 s of a flush, progress/ETA."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time

import numpy as np
import pytest

from fbtui.runs import RunInfo
from fbtui.tui.alerts import run_alerts
from fbtui.tui.app import make_app
from fbtui.tui.screens.tag_picker import TagPickerScreen
from fbtui.tui.widgets.chart import Chart, compact_number, thin
from fbtui.tui.widgets.metrics_panel import MetricsPanel, StepRate, chart_views, progress_of
from fbtui.tui.widgets.run_table import display_name, state_text

from .conftest import settle

pytestmark = pytest.mark.timeout(120)


def _panel(app) -> MetricsPanel:
    return app.screen.query_one(MetricsPanel)


def _chart_views(app) -> list[tuple[str, ...]]:
    return [c.view for c in app.screen.query(Chart)]


# -- pure helpers ------------------------------------------------------------------------------


def test_chart_views_put_the_defaults_first():
    tags = ["test/pc", "lr", "train/loss", "perf/img_per_s", "test/mse"]
    assert chart_views(tags) == [
        ("train/loss", "test/mse"),
        ("lr",),
        ("perf/img_per_s",),
        ("test/pc",),
    ]
    assert chart_views(["loss", "accuracy"]) == [("accuracy",), ("loss",)]
    assert chart_views([]) == []


def test_thin_keeps_the_last_point():
    steps = np.arange(10_000)
    s, v = thin(steps, steps * 2.0, limit=100)
    assert len(s) <= 101 and s[0] == 0 and s[-1] == 9999 and np.all(v == s * 2.0)


def test_compact_number():
    assert [compact_number(x) for x in (0, 950, 1000, 1200, 15000, 2_500_000)] == [
        "0",
        "950",
        "1k",
        "1.2k",
        "15k",
        "2.5M",
    ]


def test_progress_and_eta():
    status = {"state": "running", "step": 1750, "steps_per_epoch": 500, "epochs": 10}
    p = progress_of(status, rate=5.0)
    assert (p.epoch, p.epochs, p.step, p.total) == (4, 10, 1750, 5000)
    assert p.eta_s == pytest.approx(650.0)
    assert progress_of({**status, "state": "finished"}, 5.0).fraction == 1.0
    assert progress_of({"state": "queued", "epochs": 3}, None).total == 0


def test_step_rate_uses_heartbeats_and_survives_a_resume():
    rate = StepRate()
    rate.add({"updated": 100.0, "step": 0})
    rate.add({"updated": 110.0, "step": 50})
    assert rate.rate({}, now=0) == pytest.approx(5.0)
    rate.add({"updated": 120.0, "step": 10})  # resumed from an earlier checkpoint
    assert rate.points == [(120.0, 10)]
    # one heartbeat only: the average since the start
    assert rate.rate({"started": 100.0, "step": 10}, now=120.0) == pytest.approx(0.5)


def test_names_and_states_in_the_table():
    assert display_name("demo-20250615-113000", 30) == "demo-20250615-113000"
    assert display_name("demo-20250615-113000", 10) == "demo"
    assert display_name("demo-20250615-113000-2", 10) == "demo-2"
    assert display_name("a-very-long-experiment-name", 10) == "a-very-lo…"
    run = RunInfo(
        path=__import__("pathlib").Path("x"),
        name="x",
        kind="fbtui",
        state="running",
        status={"data_wait_frac": 0.6},
    )
    assert state_text(run) == "running ⚠input"
    assert [a.kind for a in run_alerts(run)] == ["input"]
    run.status["data_wait_frac"] = 0.1
    assert state_text(run) == "running" and run_alerts(run) == []


# -- charts ---------------------------------------------------------------------------------------


async def test_default_charts_and_other_tags_one_key_away(dashboard):
    app = dashboard()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        panel = _panel(app)
        assert panel.run.path.name == "demo-20250615-113000"
        assert _chart_views(app) == [("train/loss", "test/mse"), ("lr",)]
        assert len(panel.data["train/loss"]) == 175
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert _chart_views(app) == [("lr",), ("perf/data_wait_frac",)]
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert _chart_views(app)[0] == ("train/loss", "test/mse")
        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, TagPickerScreen)
        tags = app.screen.tags
        assert "test_AF/mse" in tags and "test/pc" in tags
        for _ in range(tags.index("test/pc")):
            await pilot.press("down")
        await pilot.press("enter")
        await settle(pilot)
        assert _chart_views(app)[0] == ("test/pc",)


async def test_narrow_terminal_shows_one_chart(dashboard):
    app = dashboard()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert _chart_views(app) == [("train/loss", "test/mse")]
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert _chart_views(app) == [("lr",)]


async def test_plain_logdir_is_openable(dashboard):
    app = dashboard()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs")
        table.select_path(next(p for p in table.runs if p.endswith("old-script-logs")))
        await settle(pilot)
        panel = _panel(app)
        assert panel.tags == ["accuracy", "loss"]
        assert _chart_views(app) == [("accuracy",)]
        assert "TensorBoard logdir" in str(panel.query_one("#progress").content)


async def test_points_appear_within_two_seconds_of_a_flush(tmp_path, experiments_dir, fake_gpu):
    from fbtui.tb.writer import EventFileWriter, event_file_name, scalar_event

    root = tmp_path / "runs"
    run = root / "live-20250615-120000"
    run.mkdir(parents=True)
    status = {
        "state": "running",
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.time() - 60,
        "updated": time.time(),
        "epoch": 0,
        "epochs": 2,
        "step": 10,
        "steps_per_epoch": 50,
    }
    (run / "status.json").write_text(json.dumps(status))
    writer = EventFileWriter(run / event_file_name(time.time()))
    for s in range(0, 11):
        writer.write_event(scalar_event("train/loss", 1.0 / (s + 1), s, time.time()))
    writer.flush()
    app = make_app(root, experiments_dir, test_mode=True, poll_every_s=0.5, list_every_s=2.0)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            panel = _panel(app)
            assert int(panel.data["train/loss"].steps[-1]) == 10
            for s in range(11, 21):
                writer.write_event(scalar_event("train/loss", 1.0 / (s + 1), s, time.time()))
            writer.flush()  # what the trainer's flush_secs does
            flushed = time.monotonic()
            while int(panel.data["train/loss"].steps[-1]) != 20:
                assert time.monotonic() - flushed < 2.0, "points not shown within 2 s"
                await asyncio.sleep(0.05)
            status.update(step=20, updated=time.time())
            (run / "status.json").write_text(json.dumps(status))
            deadline = time.monotonic() + 2.0
            while panel.status.get("step") != 20:
                assert time.monotonic() < deadline, "status not shown within 2 s"
                await asyncio.sleep(0.05)
    finally:
        writer.close()


def test_durations():
    from fbtui.tui import fmt

    assert fmt.duration_coarse(45 * 86400) == "45d"
    assert [fmt.duration_coarse(s) for s in (5, 59, 60, 3599, 3600, 6480, 90000)] == [
        "<1m",
        "<1m",
        "1m",
        "59m",
        "1h00m",
        "1h48m",
        "1d01h",
    ]
    assert fmt.duration(6480) == "1:48:00" and fmt.duration(None) == ""


def test_chart_y_range():
    import numpy as np

    from fbtui.tui.widgets.chart import chart_y_range

    assert chart_y_range([np.full(5, 0.002)]) == pytest.approx((0.001, 0.003))
    assert chart_y_range([np.zeros(3)]) == (-1.0, 1.0)
    assert chart_y_range([]) == (None, None)
    # a first spike (an outlier) does not squash the rest of the curve
    lo, hi = chart_y_range([np.array([50.0] + [1.0 + 0.01 * i for i in range(100)])])
    assert hi < 5


def test_sixteen_colour_terminals_get_the_ansi_theme():
    from fbtui.tui.app import pick_theme

    assert pick_theme("standard") == "ansi-dark"  # TERM=xterm
    assert pick_theme("256") == pick_theme("truecolor") == pick_theme(None) == "textual-dark"
