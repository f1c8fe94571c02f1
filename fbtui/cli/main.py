"""Entry point: import every command module (they register on `app`) and run it."""

from __future__ import annotations

import importlib
import sys

from rich.markup import escape

from fbtui.cli.app import app, err_console
from fbtui.errors import UserError

# One module per command group; each registers its commands on `app` at import.
COMMAND_MODULES = [
    "fbtui.cli.run_cmd",
    "fbtui.cli.data_cmd",
    "fbtui.cli.compare_cmd",
    "fbtui.cli.gpu_cmd",
    "fbtui.cli.dashboard_cmd",
    "fbtui.cli.tools_cmd",
    "fbtui.cli.experiment_cmd",
    "fbtui.cli.sweep_cmd",
]


def load_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:  # a real missing dependency, not a not-yet-written module
                raise


def main(argv: list[str] | None = None) -> None:
    load_commands()
    try:
        app(args=argv, prog_name="fbtui")
    except UserError as e:
        err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)


load_commands()
