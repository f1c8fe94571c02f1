"""Mistakes that training used to find only after its run folder existed (a missing
init_from run, pretrained file or CUDA device; a runs root that is a file) now exit 2
with the message and leave nothing on disk: in the foreground, with --detach, with
--folds and for sweeps."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands

load_commands()
runner = CliRunner()

MISTAKES = [
    (["--set", 'model.init_from="nosuchrun"'], "no such run folder or checkpoint"),
    (["--set", 'model.pretrained="/nowhere/w.pth"'], "no such file"),
    (["--set", 'train.device="cuda:0"'], "CUDA is not available"),
    (["--set", 'model.pretrained="imagenet"'], "no ImageNet weights"),  # tiny backbone
]


@pytest.mark.parametrize("how", [[], ["--detach"], ["--folds", "2"]], ids=["fg", "detach", "folds"])
@pytest.mark.parametrize("sets, needle", MISTAKES, ids=["init_from", "pretrained", "cuda", "tiny"])
def test_refused_before_any_folder(tmp_path, tiny_toml, how, sets, needle):
    import torch

    if "cuda" in needle.lower() and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    runs = tmp_path / "runs"
    res = runner.invoke(
        app, ["run", str(tiny_toml(n=40, epochs=1)), "--runs-dir", str(runs), *sets, *how]
    )
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output
    assert not runs.exists() or not any(runs.iterdir())


def test_imagenet_without_the_file_and_no_downloads(tmp_path, tiny_toml, monkeypatch):
    monkeypatch.setenv("FBTUI_NO_DOWNLOAD", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    runs = tmp_path / "runs"
    res = runner.invoke(
        app,
        ["run", str(tiny_toml(n=40, epochs=1)), "--runs-dir", str(runs)]
        + ["--set", 'model.backbone="mobilenet_v2"', "--set", 'model.pretrained="imagenet"'],
    )
    assert res.exit_code == 2, res.output
    assert "ImageNet weights for mobilenet_v2" in res.output and "copy it to" in res.output
    assert not runs.exists()


def test_sweep_member_refused(tmp_path, tiny_toml):
    runs = tmp_path / "runs"
    res = runner.invoke(
        app,
        ["sweep", str(tiny_toml(n=40, epochs=1)), "--runs-dir", str(runs), "--no-start"]
        + ["--set", "train.lr=0.1,0.2", "--set", 'model.init_from="nosuchrun"'],
    )
    assert res.exit_code == 2, res.output
    assert "sweep member" in res.output and "nosuchrun" in res.output
    assert not runs.exists()


@pytest.mark.parametrize("cmd", [["run"], ["run", "--detach"], ["sweep", "--no-start"]])
def test_runs_root_is_a_file(tmp_path, tiny_toml, cmd):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    args = [cmd[0], str(tiny_toml(n=40, epochs=1)), "--runs-dir", str(afile), *cmd[1:]]
    if cmd[0] == "sweep":
        args += ["--set", "train.lr=0.1,0.2"]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert "is a file, not a folder of runs" in res.output
    assert afile.read_text() == "not a folder"
    res = runner.invoke(app, [*args[:2], "--runs-dir", str(afile / "sub"), *args[4:]])
    assert res.exit_code == 2 and "a part of that path is a file" in res.output, res.output


def test_resume_detach_starts_a_worker(tmp_path, tiny_toml, monkeypatch):
    """`fbtui resume RUN --detach` on a stopped run: one worker, its pid said."""
    import json

    res = runner.invoke(app, ["run", str(tiny_toml(n=40, epochs=1)), "--runs-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    run = next(tmp_path.iterdir())
    st = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps({**st, "state": "stopped"}))
    started = []
    monkeypatch.setattr("fbtui.runs.launch.spawn_worker", lambda d: started.append(d) or 4343)
    res = runner.invoke(app, ["resume", str(run), "--detach"])
    assert res.exit_code == 0, res.output
    assert started == [run] and "pid 4343" in res.output


def test_init_from_a_run_name_under_runs_dir(tmp_path, tiny_toml, monkeypatch):
    """`--runs-dir X --set model.init_from=NAME` finds NAME under X (it looked in ./runs or
    $FBTUI_RUNS), and the resolved config records the absolute path, so a detached
    worker or a later resume reads the same checkpoint from any folder."""
    import tomllib

    monkeypatch.delenv("FBTUI_RUNS", raising=False)
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "elsewhere"
    cfg = str(tiny_toml(n=40, epochs=1))
    res = runner.invoke(app, ["run", cfg, "--runs-dir", str(root), "--name", "base"])
    assert res.exit_code == 0, res.output
    (base,) = root.iterdir()
    res = runner.invoke(
        app,
        ["run", cfg, "--runs-dir", str(root), "--name", "ft", "--set", 'model.init_from="base"'],
    )
    assert res.exit_code == 0, res.output
    ft = next(p for p in root.iterdir() if p.name.startswith("ft-"))
    saved = tomllib.loads((ft / "config.toml").read_text())["model"]["init_from"]
    assert saved == str(base.resolve())


def test_fit_from_a_run_name_under_runs_dir(tmp_path, tiny_toml, monkeypatch):
    """data.fit_from (calibration = "fit") is looked up under --runs-dir as init_from is,
    and recorded as an absolute path; a missing one is refused before any folder."""
    import tomllib

    monkeypatch.delenv("FBTUI_RUNS", raising=False)
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "elsewhere"
    cfg = str(tiny_toml(n=40, epochs=1))
    res = runner.invoke(app, ["run", cfg, "--runs-dir", str(root), "--name", "base"])
    assert res.exit_code == 0, res.output
    (base,) = root.iterdir()
    fit = ["--set", 'data.calibration="fit"', "--set", 'data.fit_from="base"']
    res = runner.invoke(app, ["run", cfg, "--runs-dir", str(root), "--name", "cal", *fit])
    assert res.exit_code == 0, res.output
    cal = next(p for p in root.iterdir() if p.name.startswith("cal-"))
    data = tomllib.loads((cal / "config.toml").read_text())["data"]
    assert data["fit_from"] == str(base.resolve())
    res = runner.invoke(
        app,
        ["run", cfg, "--runs-dir", str(tmp_path / "r2"), "--set", 'data.calibration="fit"']
        + ["--set", 'data.fit_from="nosuch"'],
    )
    assert res.exit_code == 2 and "data.fit_from" in res.output, res.output
    assert not (tmp_path / "r2").exists()
