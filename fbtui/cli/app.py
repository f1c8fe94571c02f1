"""The shared Typer application and the helpers every command module uses."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from fbtui.errors import UserError

console = Console()
err_console = Console(stderr=True)


class FbtuiGroup(TyperGroup):
    """Turns UserError anywhere below into a clean message and exit code 2, no traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as e:
            # escaped: a message quoting the user's input ("[data]", "[/x]") is not markup
            err_console.print(
                f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(e.exit_code) from None


app = typer.Typer(
    name="fbtui",
    cls=FbtuiGroup,
    help="A terminal workbench for facial beauty prediction research.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect or generate data sets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def runs_root(runs_dir: Path | None = None) -> Path:
    """The runs root: --runs-dir, else $FBTUI_RUNS, else ./runs."""
    if runs_dir is not None:
        return Path(runs_dir)
    return Path(os.environ.get("FBTUI_RUNS", "runs"))


def fail(message: str, code: int = 2) -> None:
    """Print a user-facing error paragraph and exit (2 = bad usage, config or data)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
