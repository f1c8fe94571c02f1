"""RunLister: the dashboard's cheap re-listing gives what list_runs gives."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

import fbtui.tui.run_lister as rl
from fbtui.runs import list_runs
from fbtui.tui.run_lister import RunLister


def _view(runs):
    return [(r.name, r.state, r.epoch, r.best.get("mse")) for r in runs]


@pytest.fixture
def root(fixture_runs, tmp_path):
    dst = tmp_path / "runs"
    shutil.copytree(fixture_runs, dst)
    return dst


@pytest.fixture
def described(monkeypatch):
    calls = []
    real = rl.describe

    def describe(path, root=None):
        calls.append(path.name)
        return real(path, root)

    monkeypatch.setattr(rl, "describe", describe)
    return calls


def _touch_later(path):
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))


def test_same_as_list_runs_and_rereads_only_what_can_change(root, described):
    lister = RunLister(root)
    assert _view(lister.list()) == _view(list_runs(root))
    assert lister.full_listings == 1
    assert _view(lister.list()) == _view(list_runs(root))
    assert lister.full_listings == 1
    # only the live-looking runs (running, stale) were described again; lost/finished not
    assert sorted(described) == ["demo-20250615-113000", "remote-20250615-080000"]


def test_a_changed_status_is_seen(root, described):
    lister = RunLister(root)
    lister.list()
    status_file = root / "mobilenet-20250614-150000" / "status.json"
    status = json.loads(status_file.read_text())
    status["state"] = "failed"
    status_file.write_text(json.dumps(status))
    _touch_later(status_file)
    states = {r.name: r.state for r in lister.list()}
    assert states["mobilenet-20250614-150000"] == "failed"
    assert lister.full_listings == 1


def test_a_new_run_triggers_a_full_listing(root):
    lister = RunLister(root)
    lister.list()
    new = root / "new-20250615-150000"
    new.mkdir()
    (new / "status.json").write_text(json.dumps({"state": "queued", "epochs": 3}))
    _touch_later(root)
    assert "new-20250615-150000" in [r.name for r in lister.list()]
    assert lister.full_listings == 2


def test_full_listing_every_interval_and_on_demand(root):
    lister = RunLister(root, full_every_s=0.05)
    lister.list()
    time.sleep(0.06)
    lister.list()
    assert lister.full_listings == 2
    lister.invalidate()
    lister.list()
    assert lister.full_listings == 3
