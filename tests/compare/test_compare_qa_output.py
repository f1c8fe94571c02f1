"""QA fixes in `fbtui compare`: reader warnings first on stderr, the plain output readable
without colour (best marked with *, non-negative y axes, one-point charts)."""

import shutil

from compare_fixtures import three_runs
from typer.testing import CliRunner

import fbtui.cli.compare_cmd  # noqa: F401 - registers `compare`
import fbtui.cli.sweep_cmd  # noqa: F401 - registers `queue`
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


def _plain(runs, width=100, color_system=None):
    import io

    from rich.console import Console

    from fbtui.tui.compare.plain import render_plain

    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=color_system, force_terminal=False)
    render_plain(runs, ["train/lr"] if runs[0].tags().count("train/lr") else [], console)
    return buf.getvalue()


def test_piped_plain_marks_the_best_with_a_star(tmp_path):
    result = runner.invoke(app, ["compare", *map(str, three_runs(tmp_path)), "--plain"])
    out = result.stdout
    assert "Summary: test metrics, best marked *" in out and "reverse video" not in out
    best_mse = next(line for line in out.splitlines() if line.strip().startswith("best mse"))
    assert best_mse.split()[2:] == ["0.3200", "0.2400*", "0.3200"]  # lr-0.02 is best
    img = next(line for line in out.splitlines() if line.strip().startswith("img/s"))
    assert img.split()[1:] == ["132.0", "132.0", "164.0*"]
    # the digits stay aligned: the star sits in a column of its own
    assert best_mse.index("0.2400") + 6 == best_mse.index("*")


def test_plain_with_colour_keeps_reverse_video(tmp_path):
    out = _plain(open_runs(three_runs(tmp_path)), color_system="truecolor")
    assert "best in reverse video" in out and "*" not in out.split("Config")[0]


def _lr_run(root, name, values, start=0):
    from fbtui.tb.writer import EventFileWriter, scalar_event

    d = root / name
    with EventFileWriter(d / "events.out.tfevents.1.host", wall_time=1e9) as w:
        for i, v in enumerate(values):
            w.write_event(scalar_event("train/lr", v, start + i, 1e9 + i))
    return d


def _axis(text):
    """(top label, bottom label, x labels) of the one chart in `text`."""
    lines = text[text.index("train/lr") :].splitlines()
    top, bottom = lines[1].split("┤")[0].strip(), lines[8].split("┤")[0].strip()
    return float(top), float(bottom), lines[10].split()


def test_lr_axis_does_not_go_negative(tmp_path):
    run = _lr_run(tmp_path, "lr", [0.002 * (1 - i / 49) for i in range(50)])
    top, bottom, xs = _axis(_plain(open_runs([run])))
    assert bottom == 0.0 and top > 0.002
    assert xs == ["0", "49"]


def test_one_step_run_gets_a_real_x_range(tmp_path):
    run = _lr_run(tmp_path, "one", [0.001], start=3)
    text = _plain(open_runs([run]))
    top, bottom, xs = _axis(text)
    assert xs == ["2", "4"]  # not "3 … 3"
    assert bottom < 0.001 < top and bottom >= 0  # the point is inside, not on an edge
    chart = text[text.index("train/lr") :].splitlines()[1:9]
    row = next(line for line in chart if "●" in line)
    assert row not in (chart[0], chart[-1])
    plot = row.split("┤" if "┤" in row else "│", 1)[1]
    assert abs(plot.index("●") - len(plot) // 2) <= 1  # in the middle


def test_x_limits():
    import numpy as np

    from fbtui.tui.compare.plain import x_limits

    assert x_limits(np.array([3.0, 9.0])) == (3.0, 9.0)
    assert x_limits(np.array([3.0])) == (2.0, 4.0)
    assert x_limits(np.array([0.0])) == (0.0, 1.0)
    assert x_limits(np.array([0.25])) == (0.0, 1.0)


def _sweep(root, repeat=1):
    import json

    d = root / "a-long-experiment-name-sweep-20261128-170000"
    d.mkdir()
    members = []
    for lr, mse in ((0.1, 0.3), (0.01, 0.1)):
        name = f"lr{lr}-s0"
        (d / name).mkdir()
        (d / name / "status.json").write_text(json.dumps({"state": "finished"}))
        (d / name / "summary.json").write_text(json.dumps({"best": {"mse": mse, "pc": 0.8}}))
        members.append({"run": name, "params": {"train.lr": lr}, "k": 0})
    grid = {"train.lr": [0.1, 0.01]}
    (d / "sweep.json").write_text(
        json.dumps({"kind": "sweep", "grid": grid, "repeat": repeat, "members": members})
    )
    return d


def test_sweep_table_title_stays_on_one_line(tmp_path):
    import io

    from rich.console import Console

    from fbtui.sweep.table import sweep_table

    d = _sweep(tmp_path)
    for width in (120, 80):
        buf = io.StringIO()
        Console(file=buf, width=width).print(sweep_table(d))
        first = buf.getvalue().splitlines()[0]
        assert f"{d.name}: best test mse first" in first, buf.getvalue()
        assert "best mse" in buf.getvalue() and " pc" in buf.getvalue()
    buf = io.StringIO()
    Console(file=buf, width=40).print(sweep_table(d))  # too narrow: cut, not wrapped
    assert buf.getvalue().splitlines()[0].rstrip().endswith("…")
    assert "┃ train.lr" in buf.getvalue().splitlines()[2]


def test_queue_show_titles_fit_at_120_columns(tmp_path):
    d = _sweep(tmp_path)
    result = runner.invoke(
        app, ["queue", "show", d.name, "--runs-dir", str(tmp_path)], env={"COLUMNS": "120"}
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert sum(d.name in line for line in lines) == 2  # the two titles, one line each
    assert any(f"{d.name}: best test mse first" in line for line in lines)
    assert not any(line.strip() in ("mse first", "first") for line in lines)
