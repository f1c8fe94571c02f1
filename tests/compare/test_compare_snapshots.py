"""Snapshots of the compare screen on fixed data, at 80x24 and 120x40.

Update after an intended change: pytest tests/compare/test_compare_snapshots.py --snapshot-update
"""

import pytest
from compare_fixtures import three_runs, write_logdir

from fbtui.tb.compare import open_runs
from fbtui.tui.compare_screen import make_compare_app


def _app(tmp_path, with_logdir=False):
    paths = three_runs(tmp_path) + ([write_logdir(tmp_path, "plain")] if with_logdir else [])
    return make_compare_app(runs=open_runs(paths), test_mode=True)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_charts(tmp_path, snap_compare, size):
    assert snap_compare(_app(tmp_path), terminal_size=size)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_summary(tmp_path, snap_compare, size):
    assert snap_compare(_app(tmp_path), terminal_size=size, press=["2"])


def test_config_diff(tmp_path, snap_compare):
    assert snap_compare(_app(tmp_path, with_logdir=True), terminal_size=(80, 24), press=["3"])


def test_log_y_relative_time_unsmoothed(tmp_path, snap_compare):
    keys = [
        "x",
        "l",
        "left_square_bracket",
        "left_square_bracket",
        "left_square_bracket",
        "left_square_bracket",
    ]
    assert snap_compare(_app(tmp_path), terminal_size=(80, 24), press=keys)
