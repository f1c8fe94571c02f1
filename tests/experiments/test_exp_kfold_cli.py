"""`fbtui run CONFIG --folds K`: sibling fold runs under one parent, kfold.json, listing."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands

load_commands()
runner = CliRunner()


def test_folds_in_the_foreground(tmp_path, tiny_toml):
    cfg = tiny_toml(n=60, epochs=1)
    root = tmp_path / "runs"
    res = runner.invoke(app, ["run", str(cfg), "--folds", "2", "--runs-dir", str(root)])
    assert res.exit_code == 0, res.output
    (parent,) = root.iterdir()
    assert parent.name.startswith("tiny-")
    assert sorted(p.name for p in parent.iterdir() if p.is_dir()) == ["cv1", "cv2"]
    data = json.loads((parent / "kfold.json").read_text())
    assert data["state"] == "finished" and data["folds"] == 2 and data["n"] == 2
    assert [r["state"] for r in data["runs"]] == ["finished", "finished"]
    for k in (1, 2):
        text = (parent / f"cv{k}" / "config.toml").read_text()
        assert f'split = "cv{k}"' in text
    per = data["per_fold"]["mse"]
    assert data["mean"]["mse"] == sum(per) / 2
    assert set(data["std"]) == {"mse", "mae", "rmse", "pc"}
    assert "mean ± std" in res.output
    listing = runner.invoke(app, ["runs", "--runs-dir", str(root), "--json"])
    rows = {r["name"]: r for r in json.loads(listing.output)}
    assert rows[parent.name]["kind"] == "group"
    assert f"{parent.name}/cv1" in rows
    table = runner.invoke(app, ["runs", "--runs-dir", str(root)], env={"COLUMNS": "200"})
    assert "±" in table.output


def test_folds_bad_input(tmp_path, tiny_toml):
    root = tmp_path / "runs"
    res = runner.invoke(app, ["run", str(tiny_toml()), "--folds", "7", "--runs-dir", str(root)])
    assert res.exit_code == 2 and "1..5" in res.output
    res = runner.invoke(
        app,
        [
            "run",
            str(tiny_toml()),
            "--folds",
            "2",
            "--runs-dir",
            str(root),
            "--set",
            "data.root=/nope",
        ],
    )
    assert res.exit_code == 2 and "/nope" in res.output
    assert not root.exists() or not any(root.iterdir())


def test_folds_detached_run_in_one_background_process(tmp_path, tiny_toml):
    cfg = tiny_toml(n=60, epochs=1)
    env = {**os.environ, "FBTUI_RUNS": str(tmp_path / "runs")}
    out = subprocess.run(
        [sys.executable, "-m", "fbtui", "run", str(cfg), "--folds", "2", "--detach"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    parent = Path(out.stdout.strip().splitlines()[-1])
    assert (parent / "kfold.json").is_file()
    end = time.time() + 240
    data = {}
    while time.time() < end:
        data = json.loads((parent / "kfold.json").read_text())
        if data["state"] in ("finished", "failed"):
            break
        time.sleep(0.5)
    assert data["state"] == "finished", (parent / "kfold.log").read_text()
    pids = {json.loads((parent / f"cv{k}" / "status.json").read_text())["pid"] for k in (1, 2)}
    assert len(pids) == 1  # one process ran the folds in turn
    assert "finished: mse" in (parent / "kfold.log").read_text()
