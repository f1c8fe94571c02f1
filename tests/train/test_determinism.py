"""Same seed, same CPU: the same metrics, to the last digit."""

import json

from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.config import load_config

load_commands()
runner = CliRunner()


def test_two_runs_same_seed_same_metrics(tmp_path, tiny_toml):
    cfg = tiny_toml(n=80, epochs=2)
    for name in ("a", "b"):
        res = runner.invoke(
            app,
            [
                "run",
                str(cfg),
                "--runs-dir",
                str(tmp_path),
                "--name",
                name,
                "--set",
                "data.label_noise_std=0.1",
                "--set",
                "augment.hflip=true",
            ],
        )
        assert res.exit_code == 0, res.output
    a, b = (json.loads(next(tmp_path.glob(f"{n}-*/summary.json")).read_text()) for n in ("a", "b"))
    assert a["best"] == b["best"]
    # the saved config is the fully resolved experiment and loads back to the same thing
    run = next(tmp_path.glob("a-*"))
    assert (
        load_config(run / "config.toml").model_dump()
        == load_config(
            cfg, ["data.label_noise_std=0.1", "augment.hflip=true", 'experiment.name="a"']
        ).model_dump()
    )
