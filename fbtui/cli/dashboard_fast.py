"""`fbtui dashboard` without Typer: the dashboard's first frame is a startup-time budget.

Typer 0.29 validates every option through a pydantic `TypeAdapter`, so parsing the
command line imports pydantic; with Typer itself and every command module that is a
quarter of a second before the dashboard can start. `try_dashboard` parses the
dashboard's four options with the standard library and opens the app directly. It only
takes the happy path: `--help`, an unknown or malformed option, no terminal or a
`--watch` that names no run all return False, and the caller runs the full Typer command,
which prints the usual help or error (exit 2). `fbtui.cli.dashboard_cmd` stays the one
definition of the command; a test checks that both accept the same options.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: option -> keyword of `fbtui.cli.dashboard_cmd.dashboard`; each takes one value
OPTIONS = {
    "--runs-dir": "runs_dir",
    "--experiments": "experiments",
    "--watch": "watch",
    "--theme": "theme",
}


def parse(args: list[str]) -> dict[str, str] | None:
    """The dashboard's options as {keyword: value}, or None for anything this parser
    does not handle exactly as Typer would (help, unknown options, missing values)."""
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if name not in OPTIONS:
            return None
        if not eq:
            if i + 1 >= len(args):
                return None
            value = args[i + 1]
            i += 1
        if not value or value.startswith("-"):
            return None
        out[OPTIONS[name]] = value  # repeated: the last one wins, as in click
        i += 1
    return out


def try_dashboard(args: list[str]) -> bool:
    """Run the dashboard for `fbtui dashboard ARGS` if the fast path applies; False: the
    caller must run the Typer command instead (nothing has been printed)."""
    opts = parse(args)
    if opts is None or not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    from fbtui.errors import UserError
    from fbtui.runs import resolve_run

    root = Path(opts.get("runs_dir") or os.environ.get("FBTUI_RUNS", "runs"))
    from fbtui.tui.run_lister import RunLister

    lister = RunLister(root)
    lister.prefetch()  # lists the runs while Textual imports
    watch = None
    if "watch" in opts:
        try:
            watch = resolve_run(opts["watch"], root)
        except UserError:
            return False  # the Typer command says which run was not found
    from fbtui.tui.app import make_app

    experiments = Path(opts.get("experiments", "experiments"))
    make_app(root, experiments, watch=watch, theme=opts.get("theme"), lister=lister).run()
    return True
