"""The shared Typer application and the helpers every command module uses."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup, TyperOption

from fbtui.errors import UserError

console = Console()
err_console = Console(stderr=True)

_type_label = TyperOption.display_type_rich


def _help_type_label(self: TyperOption, ctx) -> str | None:
    """Typer 0.29 labels every option with its Python type; on a flag, "--detach <bool>"
    reads as if the flag took a value. Flags get no label; the rest keep Typer's."""
    if self.is_flag and self.metavar is None:
        return None
    return _type_label(self, ctx)


TyperOption.display_type_rich = _help_type_label


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

    def format_help(self, ctx, formatter):
        # the command list shows each docstring's first paragraph; its source line breaks
        # would otherwise cut sentences in the middle of the table
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.short_help and cmd.help:
                cmd.short_help = " ".join(cmd.help.split("\n\n")[0].split())
        return super().format_help(ctx, formatter)


app = typer.Typer(
    name="fbtui",
    cls=FbtuiGroup,
    help="A terminal workbench for facial beauty prediction research.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect or generate data sets.", no_args_is_help=True, cls=FbtuiGroup)
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
