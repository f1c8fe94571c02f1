"""`fbtui run`, `resume`, `stop` and `runs`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from fbtui.cli.app import app, console, err_console, fail, runs_root


def _fmt_dur(s: float | None) -> str:
    if s is None:
        return ""
    s = int(s)
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


STATE_STYLE = {
    "running": "bold green",
    "finished": "blue",
    "stopped": "yellow",
    "queued": "cyan",
    "failed": "bold red",
    "failed (lost)": "bold red",
    "diverged": "bold magenta",
    "unreadable": "red",
}


def create_run(cfg, root: Path) -> Path:
    """Make the run folder and write the resolved config and a `queued` status."""
    from fbtui.config import to_toml
    from fbtui.runs import layout
    from fbtui.runs.status import write_json_atomic

    run_dir = layout.new_run_dir(root, cfg.experiment.name)
    (run_dir / layout.CHECKPOINTS).mkdir()
    (run_dir / layout.CONFIG).write_text(to_toml(cfg), encoding="utf-8")
    write_json_atomic(
        run_dir / layout.STATUS,
        {
            "state": "queued",
            "epochs": cfg.train.epochs,
            "epoch": 0,
            "step": 0,
            "created": time.time(),
        },
    )
    return run_dir


def _exit_for(state: str) -> None:
    if state in ("failed", "diverged"):
        raise typer.Exit(1)


@app.command()
def run(
    config: Path = typer.Argument(..., help="experiment TOML file"),
    set_: list[str] = typer.Option(
        [], "--set", help="override a key: --set train.lr=0.04 (repeatable)"
    ),
    name: str = typer.Option("", "--name", help="run name (default: the config file's stem)"),
    runs_dir: Path | None = typer.Option(
        None, "--runs-dir", help="runs root (default ./runs or $FBTUI_RUNS)"
    ),
    detach: bool = typer.Option(
        False,
        "--detach",
        help="start in the background (survives the terminal), print the run folder",
    ),
    folds: int = typer.Option(
        0, "--folds", help="run the official cross-validation folds 1..K as sibling runs"
    ),
) -> None:
    """Train a model from an experiment file."""
    from fbtui.config import load_config

    cfg = load_config(config, set_)
    if name:
        cfg.experiment.name = name
    root = runs_root(runs_dir)
    if folds:
        from fbtui.train.kfold import run_folds

        raise typer.Exit(run_folds(cfg, root, folds, detach=detach, console=console))
    from fbtui.train.trainer import prepare_data

    prepared = prepare_data(cfg)  # bad data fails here, before any run folder exists
    run_dir = create_run(cfg, root)
    if detach:
        from fbtui.runs.launch import spawn_worker

        pid = spawn_worker(run_dir)
        err_console.print(
            f"started in the background (pid {pid}); follow it with "
            f"`fbtui dashboard` or `tail -f {run_dir}/train.log`"
        )
        print(run_dir)  # stdout holds only the run folder, for scripts
        return
    from fbtui.train.progress import RichReporter
    from fbtui.train.trainer import train_run

    state = train_run(run_dir, RichReporter(console), prepared)
    _print_outcome(run_dir, state)
    _exit_for(state)


def _print_outcome(run_dir: Path, state: str) -> None:
    from fbtui.runs import describe

    info = describe(run_dir)
    b = info.best
    style = STATE_STYLE.get(state, "")
    line = f"[{style}]{state}[/]: {run_dir}"
    if b:
        line += f"  best test mse {b.get('mse', float('nan')):.4f}  mae {b.get('mae', float('nan')):.4f}  pc {b.get('pc', float('nan')):.4f} (epoch {b.get('epoch')})"
    console.print(line)


@app.command()
def resume(
    run_: str = typer.Argument(..., metavar="RUN", help="run folder or name"),
    runs_dir: Path | None = typer.Option(None, "--runs-dir"),
    detach: bool = typer.Option(False, "--detach", help="resume in the background"),
) -> None:
    """Continue a stopped, failed or killed run from checkpoints/last.pt to its planned end."""
    from fbtui.errors import RunError
    from fbtui.runs import describe, layout, resolve_run

    run_dir = resolve_run(run_, runs_root(runs_dir))
    info = describe(run_dir)
    if info.kind != "fbtui":
        raise RunError(
            f"{run_dir} is not an fbtui run folder (no status.json/config.toml): only fbtui runs can be resumed"
        )
    if info.state in ("running", "running (stale)"):
        raise RunError(
            f"{run_dir.name} is still running (pid {info.status.get('pid')}); stop it first with: fbtui stop {run_dir.name}"
        )
    if info.state == "finished":
        console.print(f"{run_dir.name} already finished: nothing to resume")
        return
    if info.state == "unreadable":
        raise RunError(f"{run_dir.name}: {info.error}")
    if not (run_dir / layout.CONFIG).is_file():
        raise RunError(f"{run_dir}: config.toml is missing; cannot resume")
    if detach:
        from fbtui.runs.launch import spawn_worker

        pid = spawn_worker(run_dir)
        console.print(f"resumed {run_dir} in the background (pid {pid})")
        return
    from fbtui.train.progress import RichReporter
    from fbtui.train.trainer import train_run

    state = train_run(run_dir, RichReporter(console))
    _print_outcome(run_dir, state)
    _exit_for(state)


@app.command()
def stop(
    run_: str = typer.Argument(..., metavar="RUN", help="run folder or name"),
    runs_dir: Path | None = typer.Option(None, "--runs-dir"),
    wait: float = typer.Option(30.0, "--wait", help="seconds to wait for the checkpoint"),
) -> None:
    """Stop a live run: it saves a checkpoint and becomes `stopped` (resume it later)."""
    from fbtui.runs import resolve_run
    from fbtui.runs.launch import stop_run

    run_dir = resolve_run(run_, runs_root(runs_dir))
    state = stop_run(run_dir, wait=wait)
    console.print(f"{run_dir.name}: {state}")


@app.command("runs")
def runs_cmd(
    runs_dir: Path | None = typer.Option(None, "--runs-dir"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """List run folders with state, epoch, best metrics, start time and duration."""
    from rich.table import Table

    from fbtui.runs import list_runs

    root = runs_root(runs_dir)
    if not root.is_dir():
        if as_json:
            print("[]")
            return
        fail(
            f"runs root not found: {root} (start a run with `fbtui run CONFIG`, or pass --runs-dir)"
        )
    runs = list_runs(root)
    if as_json:
        print(json.dumps([r.to_dict() for r in runs], indent=2, default=str))
        return
    table = Table(title=f"runs in {root}", show_lines=False)
    for col in ("run", "state", "epoch", "best mse", "mae", "pc", "started", "duration"):
        table.add_column(col, justify="right" if col not in ("run", "state", "started") else "left")
    for r in runs:
        b = r.best
        if r.kind == "group":
            s = r.summary.get("mean", {})
            sd = r.summary.get("std", {})
            cells = [
                f"{s.get(k, float('nan')):.4f}±{sd.get(k, float('nan')):.4f}" if k in s else ""
                for k in ("mse", "mae", "pc")
            ]
        else:
            cells = [
                f"{b[k]:.4f}" if isinstance(b.get(k), (int, float)) else ""
                for k in ("mse", "mae", "pc")
            ]
        ep = f"{r.epoch}/{r.epochs}" if r.epochs else ""
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started)) if r.started else ""
        state = r.state + (f" ({r.error[:40]})" if r.state == "unreadable" else "")
        table.add_row(
            r.name,
            f"[{STATE_STYLE.get(r.state, '')}]{state}[/]",
            ep,
            *cells,
            started,
            _fmt_dur(r.duration),
        )
    console.print(table)
