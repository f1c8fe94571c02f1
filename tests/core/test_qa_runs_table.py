"""QA: `fbtui runs` stays readable at 80 columns, also piped: one line per run, the name
cropped in the middle (a sweep member's part kept), state never wrapped, short times."""

import io
import json
import os
import subprocess
import sys
import time

from rich.console import Console

from fbtui.cli.run_cmd import create_run, crop_run_name, runs_table, short_time
from fbtui.config import load_config
from fbtui.runs.status import read_json, write_json_atomic
from fbtui.sweep.create import plan_sweep, write_sweep

LONG = "a-rather-long-experiment-name-for-resnet50-distribution-20261128-171629"
MEMBER = "sw-sweep-20261128-170339/lr0.01-s0"


def render(rows, width):
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(runs_table(rows, width))
    return out.getvalue().splitlines()


def row(name, state="finished", **kw):
    r = {"run": name, "state": state, "epoch": "40/40", "best mse": "0.0712", "mae": "0.2011"}
    r.update({"pc": "0.9012", "started": "11-28 17:03", "duration": "1:02:05", **kw})
    return r


def test_crop_keeps_member_and_end():
    assert crop_run_name(MEMBER, 80) == MEMBER
    short = crop_run_name(MEMBER, 24)
    assert len(short) == 24 and short.endswith("/lr0.01-s0") and "…" in short
    cut = crop_run_name(LONG, 30)
    assert len(cut) == 30 and cut.startswith("a-rather") and cut.endswith("171629")


def test_short_time():
    now = time.mktime((2026, 11, 28, 18, 0, 0, 0, 0, -1))
    assert short_time(now - 3600, now) == "17:00"
    assert short_time(now - 3 * 86400, now) == "11-25 18:00"
    assert short_time(now - 400 * 86400, now) == "2025-10-24"


def test_80_columns_one_line_per_run():
    rows = [row(LONG), row(MEMBER, "queued"), row("short-20261128-171629", "failed (lost)")]
    lines = render(rows, 80)
    assert all(len(ln) <= 80 for ln in lines)
    assert len(lines) == 2 + len(rows)  # header, rule, one line per run
    body = lines[2:]
    assert body[1].startswith("sw-sweep-2") and "…" in body[1]  # cropped in the group part
    assert "170339/lr0.01-s0 queued" in body[1]  # the member part and the end kept
    assert "finished" in body[0] and "failed (lost)" in body[2] and "queued" in body[1]
    assert "a-rather" in body[0] and "…" in body[0] and "171629" in body[0]
    assert "11-28 17:03" in body[0] and "0.0712" in body[0] and "0.9012" in body[0]
    assert "mae" not in lines[0]  # dropped first, for the name


def test_120_columns_shows_everything():
    lines = render([row(LONG), row(MEMBER, "queued")], 120)
    assert all(len(ln) <= 120 for ln in lines) and len(lines) == 4
    for col in ("run", "state", "epoch", "best mse", "mae", "pc", "started", "duration"):
        assert col in lines[0]
    assert "1:02:05" in lines[2] and "0.2011" in lines[2]


def test_cli_piped_at_80_columns_and_json_unchanged(tmp_path, tiny_toml):
    cfg = tiny_toml(n=40, epochs=1)
    root = tmp_path / "runs"
    run = create_run(load_config(cfg), root, "a-rather-long-experiment-name-for-resnet50-x")
    st = read_json(run / "status.json")
    st.update(state="finished", epoch=40, epochs=40, started=time.time(), updated=time.time())
    st["best"] = {"mse": 0.0712, "mae": 0.2011, "pc": 0.9012, "epoch": 33}
    write_json_atomic(run / "status.json", st)
    write_sweep(plan_sweep(cfg, ["train.lr=0.01,0.003"], name="sw"), root)
    env = {**os.environ, "COLUMNS": "80"}
    cmd = [sys.executable, "-m", "fbtui", "runs", "--runs-dir", str(root)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert all(len(ln) <= 80 for ln in lines), out
    rule = next(i for i, ln in enumerate(lines) if ln.startswith("────"))
    assert len(lines) - rule - 1 == 4, out  # run + sweep + its 2 members, one line each
    assert any(ln.startswith("sw-sweep-") and "/lr0.01-s0 " in ln for ln in lines), out
    assert any("finished" in ln and "0.0712" in ln for ln in lines), out
    data = json.loads(
        subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, check=True).stdout
    )
    assert {d["name"] for d in data} >= {run.name}
    assert data[0].keys() >= {"name", "state", "epoch", "epochs", "best"}
