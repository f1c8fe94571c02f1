"""QA fixes in `fbtui compare`: reader warnings first on stderr, the plain output readable
without colour (best marked with *, non-negative y axes, one-point charts)."""

import shutil

from compare_fixtures import three_runs
from typer.testing import CliRunner

import fbtui.cli.compare_cmd  # noqa: F401 - registers `compare`
from fbtui.cli.app import app
from fbtui.tb.compare import open_runs, reader_warnings

runner = CliRunner()


def _corrupt_copy(run, dest):
    """A copy of the run's events file with one byte flipped in the middle."""
    dest.mkdir()
    src = next(run.glob("*tfevents*"))
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (dest / src.name).write_bytes(bytes(data))
    return dest


def test_reader_warnings_lines(tmp_path):
    crc = _corrupt_copy(three_runs(tmp_path)[0], tmp_path / "crc")
    lines = reader_warnings(open_runs([crc]))
    assert len(lines) == 1
    assert lines[0].startswith("warning: crc: ") and "CRC" in lines[0]
    assert "@ byte" in lines[0]


def test_bad_crc_warns_on_stderr_with_csv(tmp_path):
    crc = _corrupt_copy(three_runs(tmp_path)[0], tmp_path / "crc")
    result = runner.invoke(app, ["compare", str(crc), "--csv", "-"])
    assert result.exit_code == 0, result.output
    assert "warning: crc:" in result.stderr and "CRC" in result.stderr
    assert "warning" not in result.stdout  # the CSV stays clean
    assert result.stdout.startswith("run,tag,step,wall_time,value")


def test_bad_crc_warns_first_with_plain(tmp_path):
    crc = _corrupt_copy(three_runs(tmp_path)[0], tmp_path / "crc")
    result = runner.invoke(app, ["compare", str(crc), "--plain"])
    assert result.exit_code == 0, result.output
    assert "warning: crc:" in result.stderr
    assert "warning" not in result.stdout
    # before the output, not after every chart
    assert result.output.index("warning: crc:") < result.output.index("Summary")


def test_no_warnings_no_stderr(tmp_path):
    run = three_runs(tmp_path)[0]
    shutil.rmtree(tmp_path / "lr-0.02")
    result = runner.invoke(app, ["compare", str(run), "--csv", "-"])
    assert result.exit_code == 0 and result.stderr == ""


def test_tui_status_line_counts_reader_warnings(tmp_path):
    import asyncio

    from textual.widgets import Static

    from fbtui.tui.compare_screen import make_compare_app

    paths = three_runs(tmp_path)
    crc = _corrupt_copy(paths[0], tmp_path / "crc")
    app = make_compare_app(runs=open_runs([paths[1], crc]), test_mode=True)

    async def go():
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            status = str(app.screen.query_one("#compare-status", Static).render())
            assert "1 reader warning" in status and "warnings" not in status

    asyncio.run(go())
