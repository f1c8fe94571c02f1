"""`fbtui --help`: each command's line in the list is its docstring's first paragraph as
flowing text, not cut where the source line broke."""

from typer.testing import CliRunner

from fbtui.cli.main import app


def test_command_list_reflows_docstrings():
    res = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert res.exit_code == 0
    lines = [line.strip("│ ").rstrip() for line in res.output.splitlines()]
    # calibrate's docstring breaks after "(least squares," in the source: reflowed, that
    # line goes on with "mapped labels"
    assert any(line.startswith("(least squares, mapped labels") for line in lines), res.output
    # gpu's breaks after "power and"
    assert not any(line.endswith("power and") for line in lines), res.output
