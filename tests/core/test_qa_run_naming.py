"""QA: run folders are named after --name or the config file's stem (DESIGN §3), not
experiment.name; k-fold groups and sweeps follow the same rule."""

import json

from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.sweep.create import plan_sweep

load_commands()
runner = CliRunner()


def test_run_folder_is_named_after_the_config_file(tmp_path, tiny_toml):
    # a copied demo file: experiment.name still says "tiny", the file is my_exp.toml
    cfg = tiny_toml(n=40, epochs=1, name="my_exp.toml")
    root = tmp_path / "runs"
    res = runner.invoke(app, ["run", str(cfg), "--runs-dir", str(root)])
    assert res.exit_code == 0, res.output
    (run,) = [p for p in root.iterdir() if p.is_dir()]
    assert run.name.startswith("my_exp-"), run.name
    # experiment.name is kept in the resolved config (display only)
    assert 'name = "tiny"' in (run / "config.toml").read_text()


def test_name_option_wins_and_is_the_display_name(tmp_path, tiny_toml):
    cfg = tiny_toml(n=40, epochs=1, name="my_exp.toml")
    root = tmp_path / "runs"
    res = runner.invoke(app, ["run", str(cfg), "--runs-dir", str(root), "--name", "baseline"])
    assert res.exit_code == 0, res.output
    (run,) = [p for p in root.iterdir() if p.is_dir()]
    assert run.name.startswith("baseline-"), run.name
    assert 'name = "baseline"' in (run / "config.toml").read_text()


def test_kfold_group_is_named_after_the_config_file(tmp_path, tiny_toml):
    cfg = tiny_toml(n=40, epochs=1, name="my_exp.toml")
    root = tmp_path / "runs"
    res = runner.invoke(app, ["run", str(cfg), "--runs-dir", str(root), "--folds", "1"])
    assert res.exit_code == 0, res.output
    (group,) = [p for p in root.iterdir() if p.is_dir()]
    assert group.name.startswith("my_exp-"), group.name
    assert json.loads((group / "kfold.json").read_text())["folds"] == 1


def test_sweep_is_named_after_the_config_file(tiny_toml):
    cfg = tiny_toml(n=40, epochs=1, name="my_exp.toml")
    assert plan_sweep(cfg, ["train.lr=0.01,0.02"]).name == "my_exp"
    assert plan_sweep(cfg, ["train.lr=0.01,0.02"], name="tune").name == "tune"
