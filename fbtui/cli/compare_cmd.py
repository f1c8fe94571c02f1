"""`fbtui compare RUN_OR_LOGDIR...`: runs side by side, in the terminal UI or as text."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from fbtui.cli.app import app, console, err_console, fail, runs_root


@app.command()
def compare(
    runs: list[str] = typer.Argument(
        ...,
        metavar="RUN_OR_LOGDIR...",
        help="run folders, run names under the runs root, or any TensorBoard logdirs",
    ),
    tag: str | None = typer.Option(
        None, "--tag", help="only tags matching this regular expression"
    ),
    smoothing: float = typer.Option(
        0.6, "--smoothing", min=0.0, max=0.999, help="TensorBoard's EMA smoothing weight, 0-0.999"
    ),
    plain: bool = typer.Option(
        False,
        "--plain",
        help="print the summary, config diff and text charts (automatic when not a terminal)",
    ),
    csv_out: str | None = typer.Option(
        None,
        "--csv",
        metavar="FILE|-",
        help="write every raw scalar as run,tag,step,wall_time,value",
    ),
    runs_dir: Path | None = typer.Option(
        None, "--runs-dir", help="runs root for run names (default ./runs)"
    ),
) -> None:
    """Compare runs: a chart per tag with every run overlaid, best/last test metrics, config diff."""
    from fbtui.runs.store import resolve_run
    from fbtui.tb.compare import (
        all_tags,
        compile_tag_filter,
        open_runs,
        reader_warnings,
        write_csv,
    )

    pattern = compile_tag_filter(tag)  # a bad regex: exit 2 before reading anything
    if csv_out is not None and csv_out != "-":
        check_csv_target(Path(csv_out))  # before reading anything, too
    root = runs_root(runs_dir)
    paths = [Path(r) if Path(r).exists() else resolve_run(r, root) for r in runs]
    for p in paths:
        if p.exists() and not p.is_dir() and "tfevents" not in p.name:
            fail(
                f"{p}: not a run folder or TensorBoard logdir (a file; pass the folder that "
                "holds its events.out.tfevents.* files)"
            )
    from fbtui.sweep.folder import is_sweep

    sweeps = [p for p in paths if is_sweep(p)]
    opened = open_runs(paths)
    tags = all_tags(opened, pattern)
    warnings = reader_warnings(opened)

    if csv_out is not None or plain or not sys.stdout.isatty():
        # before the output: on a terminal they would scroll away behind the charts
        _print_warnings(warnings)

    if csv_out is not None:
        if csv_out == "-":
            rows = write_csv(opened, tags, sys.stdout)
        else:
            rows = write_csv_file(Path(csv_out), lambda fh: write_csv(opened, tags, fh))
            err_console.print(f"wrote {rows} rows to {csv_out}", highlight=False, markup=False)
        return

    if plain or not sys.stdout.isatty():
        from fbtui.tui.compare.plain import render_plain

        if tag and not tags:
            err_console.print(f"no tag matches --tag {tag!r}")
        render_plain(opened, tags, console, smoothing=smoothing)
        _print_sweep_tables(sweeps)
        return

    from fbtui.tui.compare.widgets import ViewSettings
    from fbtui.tui.compare_screen import make_compare_app

    view = ViewSettings(smoothing=smoothing, tag_pattern=tag or "")
    make_compare_app(runs=opened, view=view).run()  # the status line counts the warnings
    _print_warnings(warnings)  # after the screen closes, so they stay in the scrollback
    _print_sweep_tables(sweeps)  # likewise


def check_csv_target(out: Path) -> None:
    """Exit 2 when --csv names a folder; create a missing parent folder (as `lr --png`)."""
    if out.is_dir():
        fail(f"--csv {out}: is a folder; give a file name (or - for stdout)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail(f"--csv {out}: cannot create its folder: {e.strerror or e}")


def write_csv_file(out: Path, write) -> int:
    """Write through a temporary file beside `out`, renamed over it when complete: a
    failure (disk full, no permission) leaves no half-written CSV. Exit 2 on OSError."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            rows = write(fh)
        os.replace(tmp, out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        fail(f"--csv {out}: cannot write: {e.strerror or e}")
    return rows


def _print_warnings(lines: list[str]) -> None:
    """Reader warnings (records skipped) on stderr, in yellow where stderr has colour."""
    for line in lines:
        err_console.print(line, style="yellow", markup=False, highlight=False, soft_wrap=True)


def _print_sweep_tables(sweeps: list[Path]) -> None:
    """For each sweep: swept settings against best test MSE/PC (mean ± std), best on top."""
    from fbtui.sweep.table import sweep_table

    for d in sweeps:
        console.print(sweep_table(d))
