"""QA: `--set` mistakes name the --set, not the file; unknown keys get a did-you-mean."""

import pytest
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.config import load_config
from fbtui.errors import ConfigError

load_commands()
runner = CliRunner()


def test_set_typo_names_the_set_not_the_file(tmp_path, tiny_toml):
    cfg = tiny_toml()
    res = runner.invoke(
        app, ["run", str(cfg), "--set", "train.epoch=1", "--runs-dir", str(tmp_path / "r")]
    )
    assert res.exit_code == 2, res.output
    flat = " ".join(res.output.split())
    assert "--set train.epoch=1: unknown key train.epoch (did you mean train.epochs?)" in flat, flat
    assert "invalid experiment file" not in flat and "tiny.toml" not in flat
    assert "Traceback" not in res.output and not (tmp_path / "r").exists()


def test_set_bad_value_names_the_set(tiny_toml):
    with pytest.raises(ConfigError) as e:
        load_config(tiny_toml(), ["train.lr=-1"])
    assert str(e.value).startswith("--set train.lr=-1: train.lr:"), str(e.value)


def test_unknown_key_in_the_file_gets_did_you_mean(tiny_toml):
    with pytest.raises(ConfigError) as e:
        load_config(tiny_toml(extra="\n[augment]\nhflp = true\n[schedul]\nname = 'step'\n"))
    msg = str(e.value)
    assert "tiny.toml: invalid experiment file" in msg
    assert "augment.hflp: unknown key (did you mean augment.hflip?)" in msg, msg
    assert "schedul: unknown key (did you mean schedule?)" in msg, msg


def test_no_suggestion_without_a_close_match(tiny_toml):
    with pytest.raises(ConfigError) as e:
        load_config(tiny_toml(), ["train.zzzzzz=1"])
    assert str(e.value) == "--set train.zzzzzz=1: unknown key train.zzzzzz"


def test_file_and_set_mistakes_are_both_reported(tiny_toml):
    with pytest.raises(ConfigError) as e:
        load_config(tiny_toml(extra="\n[augment]\nhflp = true\n"), ["model.widht=4"])
    msg = str(e.value)
    assert "--set model.widht=4: unknown key model.widht (did you mean model.width?)" in msg
    assert "augment.hflp: unknown key" in msg and "tiny.toml" in msg


def test_a_folder_given_as_the_experiment_file_says_so(tmp_path):
    from typer.testing import CliRunner

    from fbtui.cli.main import app

    res = CliRunner().invoke(app, ["run", str(tmp_path), "--runs-dir", str(tmp_path / "runs")])
    assert res.exit_code == 2
    assert "a folder, not an experiment file" in " ".join(res.output.split())
    assert not (tmp_path / "runs").exists()


def test_a_file_given_as_the_runs_root_says_so(tmp_path):
    from typer.testing import CliRunner

    from fbtui.cli.main import app

    f = tmp_path / "tiny.toml"
    f.write_text("")
    res = CliRunner().invoke(app, ["runs", "--runs-dir", str(f)])
    assert res.exit_code == 2 and "is a file, not a folder of runs" in " ".join(res.output.split())
    assert f.read_text() == ""
