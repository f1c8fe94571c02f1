"""Shared by the end-to-end experiment files: one small synthetic recipe, and runs trained
once per session by head (the regression run is reused by calibrate/fine-tune/merge)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands

load_commands()
runner = CliRunner()

# Small enough for ~20-30 s a head on two idle CPU cores (3 s an epoch), large enough to
# learn the synthetic faces' visible features to a Pearson well above 0.6. Measured with
# seed 0 (best test PC after 6 epochs): regression 0.818, bins 0.703, distribution 0.800.
# Fewer images learn much worse (1200 training images here; with 900, bins stayed near 0.5).
E2E_TOML = """
[experiment]
name = "{name}"
seed = 0

[data]
root = "synthetic"
synth_n = {n}
synth_size = {synth_size}
image_size = {size}

[model]
backbone = "tiny"
width = {width}
head = "{head}"
dropout = 0.0

[train]
epochs = {epochs}
batch_size = 32
optimizer = "adamw"
lr = {lr}
weight_decay = 1e-4
device = "cpu"

[schedule]
name = "cosine"

[augment]
hflip = true

[log]
every_steps = 10
"""
SETTINGS = {"n": 2000, "synth_size": 48, "size": 48, "width": 16, "epochs": 6, "lr": 0.002}


def _write_config(folder: Path, head: str, **over) -> Path:
    p = folder / f"e2e_{head}.toml"
    p.write_text(E2E_TOML.format(**{**SETTINGS, **over}, head=head, name=f"e2e_{head}"))
    return p


@pytest.fixture(scope="session")
def e2e_runs(tmp_path_factory):
    """Runs trained once per session, by head (the regression run is reused below)."""
    base = tmp_path_factory.mktemp("e2e")
    done: dict[str, Path] = {}

    def get(head: str) -> Path:
        if head not in done:
            cfg = _write_config(base, head)
            runs = base / "runs" / head
            res = runner.invoke(app, ["run", str(cfg), "--runs-dir", str(runs)])
            assert res.exit_code == 0, res.output
            (done[head],) = [p for p in runs.iterdir() if p.is_dir()]
        return done[head]

    return get


@pytest.fixture
def write_config():
    """write_config(folder, head, **overrides) -> the recipe's TOML file."""
    return _write_config
