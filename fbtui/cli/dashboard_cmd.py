"""`fbtui dashboard`: the Textual dashboard over the runs root (keyboard only, no port)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from fbtui.cli.app import app, fail, runs_root


@app.command()
def dashboard(
    runs_dir: Path | None = typer.Option(
        None, "--runs-dir", help="runs root (default ./runs or $FBTUI_RUNS)"
    ),
    experiments: Path = typer.Option(
        Path("experiments"), "--experiments", help="folder of experiment files for `n`"
    ),
    watch: str | None = typer.Option(None, "--watch", help="run folder or name to select at start"),
    theme: str | None = typer.Option(
        None,
        "--theme",
        help="Textual theme (default: textual-dark, or ansi-dark on 16-colour terminals)",
    ),
) -> None:
    """Watch, start, stop and resume runs; quitting never stops training."""
    from fbtui.runs import resolve_run

    root = runs_root(runs_dir)
    watch_path = resolve_run(watch, root) if watch else None  # a bad name: exit 2, no UI
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        fail("the dashboard needs a terminal; for scripts use `fbtui runs --json`")
    from fbtui.tui.app import make_app

    make_app(root, experiments, watch=watch_path, theme=theme).run()
