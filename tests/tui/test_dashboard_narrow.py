"""At 80 columns nothing the researcher needs is cut: ETA as a duration, the no-GPU reason,
the empty-state hint, the predictions header and long log lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from fbtui.gpu import History
from fbtui.tui import fmt
from fbtui.tui.app import make_app
from fbtui.tui.widgets.gpu_panel import gpu_lines

from .conftest import settle

pytestmark = pytest.mark.timeout(120)


def _screen_text(app) -> str:
    """The screen as plain text rows."""
    from rich.console import Console

    console = Console(width=app.size.width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    lines = app.screen._compositor.render_strips()
    for strip in lines:
        console.print(strip.text, soft_wrap=True)
    return console.export_text()


def test_eta_is_a_duration():
    assert fmt.eta(23 * 60 + 15) == "ETA 23m15s"
    assert fmt.eta(42) == "ETA 42s"
    assert fmt.eta(3600 + 2 * 60 + 3) == "ETA 1h02m"
    assert fmt.eta(2 * 86400 + 4 * 3600) == "ETA 2d04h"
    assert fmt.eta(None) == "ETA ?"


@pytest.mark.parametrize(
    "reason",
    [
        "no NVIDIA GPU (NVML not found)",
        "no NVIDIA GPU (no permission to use NVML)",
        "no NVIDIA GPU (NVML: Driver/library version mismatch)",
    ],
)
def test_no_gpu_reason_fits_the_panel(reason):
    lines = gpu_lines([], History(), 28, no_gpu=reason)
    plain = [ln.plain for ln in lines]
    assert all(len(p) <= 28 and "…" not in p for p in plain), plain
    assert plain[0] == "no NVIDIA GPU"
    assert " ".join(plain[1:-1]) == reason[len("no NVIDIA GPU (") : -1]


async def test_empty_state_hint_fits_80_columns(tmp_path, experiments_dir, fake_gpu):
    app = make_app(tmp_path / "runs", experiments_dir, test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "no runs yet — press n to start one" in _screen_text(app)


async def test_predictions_header_fits_80_columns(dashboard):
    app = dashboard()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs")
        run = next(r for r in table.runs.values() if r.path.name == "resnet18-20250615-090000")
        table.select_path(run.path)
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        text = _screen_text(app)
        assert "120 test images · mse " in text
        line = next(ln for ln in text.splitlines() if "test images" in ln)
        assert "· pc 0." in line and "…" not in line


async def test_long_log_lines_wrap(runs_copy_narrow: Path, experiments_dir, fake_gpu):
    long = "epoch 1/10 " + " ".join(f"metric{i}=0.{i:04d}" for i in range(12)) + " END"
    (runs_copy_narrow / "resnet18-20250615-090000" / "train.log").write_text(long + "\n")
    app = make_app(runs_copy_narrow, experiments_dir, test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs")
        table.select_path(runs_copy_narrow / "resnet18-20250615-090000")
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        text = _screen_text(app)
        assert "END" in text  # the end of a 160-character line is on screen
        assert "metric11=0.0011" in text


@pytest.fixture
def runs_copy_narrow(fixture_runs, tmp_path) -> Path:
    import shutil

    dst = tmp_path / "runs"
    shutil.copytree(fixture_runs, dst)
    return dst
