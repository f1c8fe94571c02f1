"""Entry point: import every command module (they register on `app`) and run it.

The command modules load on first use of `app` (`from fbtui.cli.main import app` still
gives the app with every command) or in `main()`, not at import: `fbtui dashboard` takes
a fast path that never imports Typer (see `fbtui.cli.dashboard_fast`).
"""

from __future__ import annotations

import importlib
import sys

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
    """Import every command module (idempotent); a module not written yet is skipped."""
    for name in COMMAND_MODULES:
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:  # a real missing dependency, not a not-yet-written module
                raise


def main(argv: list[str] | None = None) -> None:
    from fbtui.errors import UserError

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args[:1] == ["dashboard"]:
            from fbtui.cli.dashboard_fast import try_dashboard

            if try_dashboard(args[1:]):
                return
        from fbtui.cli.app import app

        load_commands()
        app(args=args, prog_name="fbtui")
    except UserError as e:
        from rich.markup import escape

        from fbtui.cli.app import err_console

        err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)


def __getattr__(name: str):
    # `from fbtui.cli.main import app` (tests, scripts): the app with every command loaded
    if name in ("app", "err_console"):
        from fbtui.cli import app as app_module

        load_commands()
        return getattr(app_module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
