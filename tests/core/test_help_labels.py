"""--help reads as a user expects: a flag shows no value type ("--detach <bool>" looks
as if it took a value) and --set shows what it takes."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands

load_commands()
runner = CliRunner()


@pytest.mark.parametrize(
    "args", [[], ["run"], ["sweep"], ["compare"], ["runs"], ["augment"], ["queue", "resume"]]
)
def test_no_bool_labels(args):
    res = runner.invoke(app, [*args, "--help"], terminal_width=100)
    assert res.exit_code == 0, res.output
    assert "<bool>" not in res.output
    assert "--help" in res.output


def test_set_shows_key_value():
    run = runner.invoke(app, ["run", "--help"], terminal_width=100).output
    assert "KEY=VALUE" in run and "<list[str]>" not in run
    assert "<int>" in run  # other options keep their type
    sweep = runner.invoke(app, ["sweep", "--help"], terminal_width=100).output
    assert "KEY=V1,V2" in sweep
