"""`fbtui queue --runs-dir R <subcommand> NAME` finds the sweep under R: the group's
--runs-dir applies to its subcommands (it used to be read only by the bare listing)."""

from __future__ import annotations

from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands

load_commands()
runner = CliRunner()


def test_group_runs_dir_reaches_the_subcommands(tmp_path, tiny_toml):
    root = tmp_path / "elsewhere"
    res = runner.invoke(
        app,
        ["sweep", str(tiny_toml(n=40, epochs=1)), "--set", "train.lr=0.1,0.2"]
        + ["--runs-dir", str(root), "--no-start", "--no-data-check"],
    )
    assert res.exit_code == 0, res.output
    name = next(root.iterdir()).name
    for sub in (["show", name], ["list"], ["pause", name], ["cancel", name, "--wait", "1"]):
        out = runner.invoke(app, ["queue", "--runs-dir", str(root), *sub])
        assert out.exit_code == 0, (sub, out.output)
        assert "not found" not in out.output
    # the subcommand's own --runs-dir still wins
    out = runner.invoke(
        app,
        ["queue", "--runs-dir", str(tmp_path / "nowhere"), "show", name, "--runs-dir", str(root)],
    )
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["queue", "--runs-dir", str(tmp_path / "nowhere"), "show", name])
    assert out.exit_code == 2 and "not found" in out.output
