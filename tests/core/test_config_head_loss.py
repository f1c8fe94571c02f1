"""train.loss and model.clip follow the head: the resolved config records the loss a
classification head really trains with, and settings a head ignores are refused."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.config import config_from_dict
from fbtui.errors import ConfigError

load_commands()
runner = CliRunner()


def cfg(head: str, **train_model):
    model = {"head": head, **{k: v for k, v in train_model.items() if k == "clip"}}
    train = {k: v for k, v in train_model.items() if k == "loss"}
    return config_from_dict({"model": model, "train": train})


@pytest.mark.parametrize(
    "head, loss, want",
    [
        ("regression", None, "mse"),
        ("regression", "l1", "l1"),
        ("bins", None, "cross_entropy"),
        ("bins", "mse", "cross_entropy"),  # older resolved configs say mse for every head
        ("bins", "cross_entropy", "cross_entropy"),
        ("distribution", None, "soft_cross_entropy"),
        ("distribution", "mse", "soft_cross_entropy"),
    ],
)
def test_the_resolved_loss(head, loss, want):
    c = cfg(head, **({"loss": loss} if loss else {}))
    assert c.train.loss == want


@pytest.mark.parametrize(
    "head, extra, needle",
    [
        ("bins", {"loss": "l1"}, 'the bins head trains with "cross_entropy"'),
        ("distribution", {"loss": "cross_entropy"}, '"soft_cross_entropy" (its only loss)'),
        ("regression", {"loss": "soft_cross_entropy"}, "classification head's loss"),
        ("bins", {"clip": "hard"}, "applies to the regression head only"),
        ("distribution", {"clip": "sigmoid"}, "applies to the regression head only"),
    ],
)
def test_mismatches_are_refused(head, extra, needle):
    with pytest.raises((ConfigError, ValueError)) as e:
        cfg(head, **extra)
    assert needle in str(e.value)


def test_cli_exit_2_and_no_folder(tmp_path, tiny_toml):
    runs = tmp_path / "runs"
    res = runner.invoke(
        app,
        ["run", str(tiny_toml(n=40, epochs=1)), "--runs-dir", str(runs)]
        + ["--set", 'model.head="bins"', "--set", 'train.loss="l1"'],
    )
    assert res.exit_code == 2, res.output
    assert "--set train.loss" in res.output and "cross_entropy" in res.output
    assert not runs.exists() or not any(runs.iterdir())


def test_an_older_run_folder_still_loads(tmp_path):
    """A run written before the clip rule (distribution head with a clip that never had
    an effect) still resumes and predicts: its resolved config drops the clip."""
    from fbtui.config import load_config

    p = tmp_path / "config.toml"
    p.write_text('[model]\nhead = "distribution"\nclip = "sigmoid"\n[train]\nloss = "mse"\n')
    cfg = load_config(p, run_folder=True)
    assert (cfg.model.clip, cfg.train.loss) == ("none", "soft_cross_entropy")
    with pytest.raises(ConfigError, match="regression head only"):
        load_config(p)


def test_a_value_where_a_table_belongs(tmp_path):
    """`--set train=3` named pydantic's class (TrainCfg); now it says what train is."""
    (tmp_path / "x.toml").write_text("[experiment]\n")
    res = runner.invoke(
        app, ["run", str(tmp_path / "x.toml"), "--set", "train=3", "--runs-dir", str(tmp_path)]
    )
    assert res.exit_code == 2, res.output
    assert "a table of settings ([train] in the file)" in res.output
    assert "TrainCfg" not in res.output


def test_an_older_classification_run_with_a_regression_loss_still_loads(tmp_path):
    from fbtui.config import load_config, relax_run_config

    p = tmp_path / "config.toml"
    p.write_text('[model]\nhead = "bins"\nclip = "hard"\n[train]\nloss = "smooth_l1"\n')
    cfg = load_config(p, run_folder=True)
    assert (cfg.model.clip, cfg.train.loss) == ("none", "cross_entropy")
    raw = {"model": {"head": "regression", "clip": "hard"}, "train": {"loss": "l1"}}
    assert relax_run_config(raw) == {
        "model": {"head": "regression", "clip": "hard"},
        "train": {"loss": "l1"},
    }
