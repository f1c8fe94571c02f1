import json
import os
import socket
import time

import pytest

from fbtui.errors import RunError
from fbtui.runs import layout, list_runs, resolve_run
from fbtui.runs.status import effective_state, read_json, write_json_atomic


def make_run(root, name, **status):
    d = root / name
    d.mkdir(parents=True)
    (d / "config.toml").write_text("[experiment]\n")
    write_json_atomic(d / "status.json", status)
    return d


def test_new_run_dir_unique(tmp_path):
    a = layout.new_run_dir(tmp_path, "demo", now=0)
    b = layout.new_run_dir(tmp_path, "demo", now=0)
    assert a != b and b.name.endswith("-1")
    assert layout.safe_stem("a b/c") == "a_b_c"


def test_effective_state_lost_and_stale():
    host = socket.gethostname()
    now = time.time()
    live = {"state": "running", "pid": os.getpid(), "host": host, "updated": now}
    assert effective_state(live, now) == "running"
    assert effective_state({**live, "pid": 2**22 + 12345}, now) == "failed (lost)"
    assert effective_state({**live, "updated": now - 3600}, now) == "running (stale)"
    assert (
        effective_state({**live, "host": "elsewhere", "updated": now - 3600}, now)
        == "running (stale)"
    )
    assert effective_state({"state": "finished"}) == "finished"


def test_list_runs_kinds_and_corruption(tmp_path):
    make_run(tmp_path, "a-1", state="finished", started=1.0, updated=5.0, best={"mse": 0.1})
    bad = make_run(tmp_path, "b-1", state="running")
    (bad / "status.json").write_text("{not json")
    logdir = tmp_path / "old_script_run"
    logdir.mkdir()
    (logdir / "events.out.tfevents.123.host").write_bytes(b"")
    group = tmp_path / "cv5-1"
    group.mkdir()
    (group / "kfold.json").write_text(json.dumps({"state": "finished", "mean": {"mse": 0.1}}))
    make_run(group, "cv5-1-fold1", state="finished", started=2.0)
    runs = {r.name: r for r in list_runs(tmp_path)}
    assert runs["a-1"].state == "finished" and runs["a-1"].best == {"mse": 0.1}
    assert runs["b-1"].state == "unreadable" and "not valid JSON" in runs["b-1"].error
    assert runs["old_script_run"].kind == "logdir"
    assert runs["cv5-1"].kind == "group"
    assert "cv5-1/cv5-1-fold1" in runs


def test_resolve_run(tmp_path):
    make_run(tmp_path, "demo-20260101-000000", state="finished")
    assert resolve_run("demo-2026", tmp_path).name == "demo-20260101-000000"
    with pytest.raises(RunError, match="run not found"):
        resolve_run("nothing", tmp_path)


def test_atomic_json_never_torn(tmp_path):
    p = tmp_path / "s.json"
    for i in range(50):
        write_json_atomic(p, {"i": i, "pad": "x" * 1000})
        assert read_json(p)["i"] == i
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
