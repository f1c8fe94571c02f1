"""The new-run dialog at 80x24: one line per experiment, the hint on screen, and overrides
that the experiment file refuses kept in the open dialog with the reason under them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fbtui.tui.app import make_app
from fbtui.tui.screens.new_run import NewRunScreen, one_line

from .conftest import settle

pytestmark = pytest.mark.timeout(120)


def _screen_text(app) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


@pytest.fixture
def many_experiments(tmp_path) -> Path:
    exp = tmp_path / "experiments"
    exp.mkdir()
    notes = "a long note about this experiment that goes on well past the dialog's edge " * 2
    for i in range(14):
        (exp / f"exp{i:02d}.toml").write_text(f'[experiment]\nnotes = "{i} {notes}"\n')
    return exp


@pytest.fixture
def runs_here(fixture_runs, tmp_path) -> Path:
    dst = tmp_path / "runs"
    shutil.copytree(fixture_runs, dst)
    return dst


def test_one_line():
    assert one_line("two\nlines  here", 40) == "two lines here"
    assert one_line("abcdefghij", 5) == "abcd…"


async def test_dialog_fits_80x24(runs_here, many_experiments, fake_gpu):
    app = make_app(runs_here, many_experiments, test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        rows = _screen_text(app)
        assert any("enter: choose / launch" in r for r in rows), "\n".join(rows)
        # one row per experiment: each file name starts a row, no note wraps to its own row
        listed = [r for r in rows if "exp0" in r or "exp1" in r]
        assert listed and all("toml" in r for r in listed)
        assert any("…" in r for r in listed)


async def test_refused_overrides_keep_the_dialog(runs_here, experiments_dir, fake_gpu, monkeypatch):
    calls = []
    monkeypatch.setattr(
        "fbtui.runs.launch.run_cli_detached",
        lambda argv, cwd=None, timeout=600: calls.append(argv) or (1, ""),
    )
    app = make_app(runs_here, experiments_dir, test_mode=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n", "enter", *"train.lrr=0.04", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, NewRunScreen)
        assert screen.query_one("#overrides").value == "train.lrr=0.04"
        error = str(screen.query_one("#new-run-error").render())
        assert "unknown key train.lrr" in error
        assert calls == []
        # fixed in place, enter launches
        box = screen.query_one("#overrides")
        box.value = "train.lr=0.04"
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, NewRunScreen)
        assert calls and calls[0][-2:] == ["--set", "train.lr=0.04"]
