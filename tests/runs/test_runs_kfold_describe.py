"""A k-fold group's row in listings: started/updated from kfold.json (and its folds'
heartbeats), a dead group process shown as `failed (lost)` like a single run, bad fields
unreadable."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from fbtui.runs import describe, list_runs
from fbtui.runs.status import write_json_atomic

HOST = socket.gethostname()


@pytest.fixture(scope="module")
def dead_pid():
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def make_group(root, name, folds=None, **kfold):
    """A k-fold parent with kfold.json and fold runs {name: status}."""
    parent = root / name
    parent.mkdir(parents=True)
    folds = folds or {}
    for run, status in folds.items():
        (parent / run).mkdir()
        (parent / run / "config.toml").write_text("[experiment]\n")
        write_json_atomic(parent / run / "status.json", status)
    data = {"kind": "kfold", "folds": len(folds), "host": HOST, "created": 100.0, **kfold}
    data["runs"] = [{"fold": i, "run": run} for i, run in enumerate(folds, start=1)]
    write_json_atomic(parent / "kfold.json", data)
    return parent


def test_group_started_and_updated_sort_it_among_runs(tmp_path):
    now = time.time()
    make_group(
        tmp_path,
        "kf",
        {"cv1": {"state": "finished", "started": now - 50, "updated": now - 30}},
        state="finished",
        started=now - 50,
        updated=now - 29,
    )
    old = tmp_path / "old-run"
    old.mkdir()
    (old / "config.toml").write_text("[experiment]\n")
    write_json_atomic(old / "status.json", {"state": "finished", "started": now - 1000})
    info = describe(tmp_path / "kf")
    assert info.kind == "group" and info.state == "finished"
    assert info.started == now - 50 and info.updated == now - 29
    assert info.duration == pytest.approx(21)
    names = [r.name for r in list_runs(tmp_path)]
    assert names.index("kf") < names.index("old-run")  # newest first, not last
    assert info.to_dict()["started"] == now - 50


def test_queued_group_sorts_by_its_creation(tmp_path):
    make_group(tmp_path, "kf", {"cv1": {"state": "queued"}}, state="queued", created=123.0)
    info = describe(tmp_path / "kf")
    assert info.state == "queued" and info.started == 123.0


def test_running_group_with_live_process(tmp_path):
    now = time.time()
    make_group(
        tmp_path,
        "kf",
        {
            "cv1": {"state": "finished", "updated": now - 3000},
            # a long fold: kfold.json was last written an hour ago, the fold beats now
            "cv2": {"state": "running", "pid": os.getpid(), "host": HOST, "updated": now - 1},
        },
        state="running",
        pid=os.getpid(),
        started=now - 4000,
        updated=now - 3000,
    )
    info = describe(tmp_path / "kf")
    assert info.state == "running"  # not `running (stale)`: the fold's heartbeat counts
    assert info.updated == now - 1


def test_group_whose_process_died_is_lost(tmp_path, dead_pid):
    now = time.time()
    make_group(
        tmp_path,
        "kf",
        {
            "cv1": {"state": "finished", "updated": now - 20},
            "cv2": {"state": "running", "pid": dead_pid, "host": HOST, "updated": now - 5},
        },
        state="running",
        pid=dead_pid,
        started=now - 30,
        updated=now - 20,
    )
    runs = {r.name: r for r in list_runs(tmp_path)}
    assert runs["kf"].state == "failed (lost)"
    assert runs["kf/cv2"].state == "failed (lost)"
    assert runs["kf"].duration == pytest.approx(25)  # up to its last heartbeat


def test_group_on_another_host_goes_stale_by_heartbeat(tmp_path, dead_pid):
    now = time.time()
    beat = {"state": "running", "pid": dead_pid, "host": "elsewhere", "updated": now - 5}
    make_group(tmp_path, "kf", {"cv1": beat}, state="running", pid=dead_pid, host="elsewhere")
    assert describe(tmp_path / "kf").state == "running"  # its pid means nothing here
    beat["updated"] = now - 3600
    make_group(tmp_path, "kf2", {"cv1": beat}, state="running", pid=dead_pid, host="elsewhere")
    assert describe(tmp_path / "kf2").state == "running (stale)"


@pytest.mark.parametrize(
    ("field", "value"),
    [("pid", -1), ("pid", "12"), ("started", "yesterday"), ("updated", 1e300), ("host", 5)],
)
def test_bad_group_fields_are_unreadable_never_used(tmp_path, field, value):
    make_group(tmp_path, "kf", {"cv1": {"state": "queued"}}, state="running", **{field: value})
    info = describe(tmp_path / "kf")
    assert info.state == "unreadable" and repr(field) in info.error
    assert info.to_dict()["state"] == "unreadable"


@pytest.mark.parametrize("runs", [5, "cv1", {"run": "cv1"}, [5, {"run": 3}, {"run": "a\x00b"}]])
def test_odd_fold_lists_never_break_the_row(tmp_path, runs):
    parent = make_group(tmp_path, "kf", state="finished", updated=50.0)
    data = json.loads((parent / "kfold.json").read_text())
    data["runs"] = runs
    (parent / "kfold.json").write_text(json.dumps(data))
    info = describe(parent)
    assert info.state == "finished" and info.updated == 50.0


def test_torn_fold_status_leaves_the_group_readable(tmp_path):
    parent = make_group(tmp_path, "kf", {"cv1": {"state": "finished"}}, state="finished")
    (parent / "cv1" / "status.json").write_text("{torn")
    assert describe(parent).state == "finished"
