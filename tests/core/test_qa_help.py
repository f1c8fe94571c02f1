"""QA: --help of run/runs/stop/resume describes every option and shows no misleading
default (0 meaning "as the run was trained" or "pick a port")."""

import re

import pytest
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands

load_commands()
runner = CliRunner()


def help_of(cmd: str) -> str:
    res = runner.invoke(app, [cmd, "--help"], env={"COLUMNS": "200", "TERM": "dumb"})
    assert res.exit_code == 0, res.output
    return re.sub(r"\x1b\[[0-9;]*m", "", res.output)


def option_line(text: str, opt: str) -> str:
    (line,) = [ln for ln in text.splitlines() if re.search(rf"{opt}\b", ln)]
    return line


@pytest.mark.parametrize("cmd", ["run", "runs", "stop", "resume"])
def test_runs_dir_is_described(cmd):
    assert "runs root (default ./runs or $FBTUI_RUNS)" in option_line(help_of(cmd), "--runs-dir")


def test_resume_hides_misleading_defaults():
    text = help_of("resume")
    for opt in ("--nproc", "--nnodes"):
        line = option_line(text, opt)
        assert "as the run was trained" in line and "[default" not in line, line
    assert "[default" not in option_line(text, "--master-port")


def test_run_master_port_has_no_default_0():
    line = option_line(help_of("run"), "--master-port")
    assert "29500" in line and "[default: 0]" not in line, line
