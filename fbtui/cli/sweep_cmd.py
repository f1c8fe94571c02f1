"""`fbtui sweep` (a grid of queued runs under one sweep folder) and `fbtui queue`
(list, show, pause, resume, cancel the sweeps' queues)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import typer
from rich import box

from fbtui.cli.app import FbtuiGroup, app, console, err_console, runs_root

queue_app = typer.Typer(
    help="List sweeps and pause, resume or cancel their queues.",
    invoke_without_command=True,
    cls=FbtuiGroup,
)
app.add_typer(queue_app, name="queue")

QUEUE_STYLE = {
    "running": "bold green",
    "queued": "cyan",
    "paused": "yellow",
    "interrupted": "bold red",
    "cancelled": "yellow",
    "finished": "blue",
    "failed": "bold red",
    "stopped": "yellow",
    "unreadable": "red",
}


@app.command()
def sweep(
    config: Path = typer.Argument(..., help="experiment TOML file"),
    set_: list[str] = typer.Option(
        [],
        "--set",
        metavar="KEY=V1,V2,...",
        help="a swept key: --set train.lr=0.064,0.04 (repeatable; one value = fixed override; "
        "lists in brackets: --set schedule.milestones=[140,185],[100,150])",
    ),
    repeat: int = typer.Option(
        1, "--repeat", help="K seeds per setting (experiment.seed = base + k)"
    ),
    parallel: int = typer.Option(
        1, "--parallel", help="members at a time (0 = one per GPU); several GPUs: one each"
    ),
    name: str = typer.Option("", "--name", help="sweep name (default: the experiment's name)"),
    runs_dir: Path | None = typer.Option(
        None, "--runs-dir", help="runs root (default ./runs or $FBTUI_RUNS)"
    ),
    foreground: bool = typer.Option(
        False,
        "--foreground",
        help="run the queue in this terminal (Ctrl-C cancels: members stop with a checkpoint)",
    ),
    no_start: bool = typer.Option(
        False, "--no-start", help="only create the queued runs; start with `fbtui queue resume`"
    ),
    no_data_check: bool = typer.Option(
        False, "--no-data-check", help="skip opening the data set before creating the sweep"
    ),
) -> None:
    """Create a grid of queued runs (the cartesian product of the --set lists, K seeds each)
    under runs/<name>-sweep-<stamp>/ and run them with a queue that survives the terminal."""
    from fbtui.errors import ConfigError
    from fbtui.sweep.create import check_data, plan_sweep, write_sweep

    if parallel < 0:
        raise ConfigError(f"--parallel {parallel}: must be 0 (one per GPU) or more")
    plan = plan_sweep(config, set_, repeat=repeat, name=name)
    from fbtui.errors import UserError
    from fbtui.train.trainer import preflight

    for point, cfg in plan.members:  # device, pretrained, init_from of every member
        try:
            preflight(cfg, runs_root(runs_dir))
        except UserError as e:
            raise type(e)(f"sweep member {point.name}: {e}") from None
    if not no_data_check:
        from fbtui.train.trainer import prepare_data

        check_data(plan, prepare_data)  # bad data fails before any folder exists
    sweep_dir = write_sweep(plan, runs_root(runs_dir), parallel=parallel)
    err_console.print(
        f"sweep {sweep_dir.name}: {len(plan.members)} runs "
        f"({' × '.join(str(len(v)) for v in plan.grid.values()) or '1'} settings"
        f"{f' × {repeat} seeds' if repeat > 1 else ''}), {parallel or 'one per GPU'} at a time"
    )
    if foreground:
        raise typer.Exit(_run_foreground(sweep_dir))
    if no_start:
        err_console.print(f"not started; start it with: fbtui queue resume {sweep_dir}")
        print(sweep_dir)
        return
    from fbtui.sweep.runner import spawn_runner

    pid = spawn_runner(sweep_dir)
    err_console.print(
        f"queue started in the background (pid {pid}); follow it with `fbtui queue`, "
        f"`fbtui dashboard` or `tail -f {sweep_dir}/queue.log`"
    )
    print(sweep_dir)  # stdout holds only the sweep folder, for scripts


def _run_foreground(sweep_dir: Path, retry_failed: bool = False) -> int:
    """Run the queue in this process; Ctrl-C cancels it. Returns the exit code."""
    from fbtui.sweep import control
    from fbtui.sweep.runner import QueueRunner
    from fbtui.sweep.table import sweep_table

    def say(text: str) -> None:
        console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {text}", highlight=False)

    runner = QueueRunner(sweep_dir, retry_failed=retry_failed, say=say)

    def on_int(signum, frame) -> None:  # noqa: ARG001
        runner.interrupted = signal.Signals(signum).name

    old = signal.signal(signal.SIGINT, on_int)
    try:
        state = runner.run()
    finally:
        signal.signal(signal.SIGINT, old)
    if state == "interrupted":
        say("cancelling: stopping the running members (they save a checkpoint)")
        control.cancel(sweep_dir)
        state = "cancelled"
        err_console.print(f"resume it with: fbtui queue resume {sweep_dir}")
    console.print(sweep_table(sweep_dir))
    return 1 if state == "failed" else (130 if state == "cancelled" else 0)


@queue_app.callback()
def queue_main(
    ctx: typer.Context,
    runs_dir: Path | None = typer.Option(None, "--runs-dir", help="runs root"),
) -> None:
    """With no subcommand: list the sweeps (as `fbtui queue list`)."""
    ctx.obj = runs_dir  # `fbtui queue --runs-dir R cancel X`: the subcommands use it too
    if ctx.invoked_subcommand is None:
        _list(runs_root(runs_dir), as_json=False)


@queue_app.command("list")
def queue_list(
    ctx: typer.Context,
    runs_dir: Path | None = typer.Option(None, "--runs-dir", help="runs root"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """The sweeps under the runs root with queued / running / done / failed counts."""
    _list(runs_root(runs_dir or ctx.obj), as_json)


def _list(root: Path, as_json: bool) -> None:
    from rich.table import Table

    from fbtui.errors import RunError
    from fbtui.sweep.folder import describe_sweep, list_sweeps

    rows = []
    for d in list_sweeps(root):
        try:
            info = describe_sweep(d)
        except RunError as e:
            rows.append({"sweep": d.name, "path": str(d), "state": "unreadable", "error": str(e)})
            continue
        rows.append(
            {
                "sweep": d.name,
                "path": str(d),
                "state": info["state"],
                "counts": info["counts"],
                "parallel": info.get("parallel"),
                "grid": info.get("grid", {}),
                "repeat": info.get("repeat", 1),
                "created": info.get("created"),
                "runner_pid": (info.get("runner") or {}).get("pid") if info["live"] else None,
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        console.print(f"no sweeps under {root} (start one with `fbtui sweep CONFIG --set ...`)")
        return
    table = Table(title=f"sweeps in {root}", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("sweep (grid)", no_wrap=True)
    table.add_column("state", no_wrap=True)
    # short headers: the table fits an 80-column ssh terminal
    for col in ("done", "run", "queue", "fail", "stop"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        c = r.get("counts") or {}
        grid = " × ".join(f"{k.split('.')[-1]} {len(v)}" for k, v in (r.get("grid") or {}).items())
        if (r.get("repeat") or 1) > 1:
            grid += f" × {r['repeat']} seeds"
        if "parallel" in r:
            grid += f", {r['parallel'] or 'one per GPU'} at a time"
        table.add_row(
            f"{r['sweep']}\n[dim]{grid.strip(' ,')}[/]",
            f"[{QUEUE_STYLE.get(r['state'], '')}]{r['state']}[/]",
            f"{c.get('done', '')}/{c.get('total', '')}" if c else "",
            *(str(c.get(k, "")) for k in ("running", "queued", "failed", "stopped")),
        )
    console.print(table)


@queue_app.command("show")
def queue_show(
    ctx: typer.Context,
    sweep_: str = typer.Argument(..., metavar="SWEEP", help="sweep folder or name"),
    runs_dir: Path | None = typer.Option(None, "--runs-dir", help="runs root"),
    by: str = typer.Option("mse", "--by", help="sort the settings by mse or pc"),
) -> None:
    """A sweep's members (state, GPU, best metrics) and its settings table."""
    from fbtui.sweep.folder import describe_sweep, resolve_sweep
    from fbtui.sweep.table import member_best, sweep_table, titled_table

    d = resolve_sweep(sweep_, runs_root(runs_dir or ctx.obj))
    info = describe_sweep(d)
    launched = info.get("launched") or {}
    table = titled_table(f"{d.name}: {info['state']}")
    for col in ("member", "state", "epoch", "gpu", "best mse", "pc"):
        numeric = col not in ("member", "state")
        table.add_column(col, justify="right" if numeric else "left", no_wrap=numeric)
    for m in info.get("members", []):
        state, best = member_best(d / m["run"])
        try:
            status = json.loads((d / m["run"] / "status.json").read_text())
        except (OSError, ValueError):
            status = {}
        gpu = (launched.get(m["run"]) or {}).get("gpu")
        table.add_row(
            m["run"],
            state,
            f"{status.get('epoch', '')}/{status.get('epochs', '')}",
            "" if gpu is None else str(gpu),
            f"{best['mse']:.4f}" if isinstance(best.get("mse"), (int, float)) else "",
            f"{best['pc']:.4f}" if isinstance(best.get("pc"), (int, float)) else "",
        )
    console.print(table)
    console.print(sweep_table(d, by=_check_by(by)))


def _check_by(by: str) -> str:
    from fbtui.errors import UserError

    if by not in ("mse", "mae", "rmse", "pc"):
        raise UserError(f"--by {by!r}: expected mse, mae, rmse or pc")
    return by


@queue_app.command("pause")
def queue_pause(
    ctx: typer.Context,
    sweep_: str = typer.Argument(..., metavar="SWEEP", help="sweep folder or name"),
    runs_dir: Path | None = typer.Option(None, "--runs-dir", help="runs root"),
) -> None:
    """Start no new members; running ones finish (resume with `fbtui queue resume`)."""
    from fbtui.sweep import control
    from fbtui.sweep.folder import resolve_sweep

    d = resolve_sweep(sweep_, runs_root(runs_dir or ctx.obj))
    control.pause(d)
    console.print(f"{d.name}: paused (running members finish; no new ones start)")


@queue_app.command("resume")
def queue_resume(
    ctx: typer.Context,
    sweep_: str = typer.Argument(..., metavar="SWEEP", help="sweep folder or name"),
    runs_dir: Path | None = typer.Option(None, "--runs-dir", help="runs root"),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="also restart members that failed with an error"
    ),
    parallel: int | None = typer.Option(None, "--parallel", help="change members at a time"),
    foreground: bool = typer.Option(False, "--foreground", help="run the queue in this terminal"),
) -> None:
    """Continue a paused, cancelled or killed queue: finished members are not redone,
    interrupted ones resume from their checkpoint."""
    from fbtui.sweep import control
    from fbtui.sweep.folder import resolve_sweep

    d = resolve_sweep(sweep_, runs_root(runs_dir or ctx.obj))
    what = control.resume(d, retry_failed=retry_failed, parallel=parallel, spawn=not foreground)
    if what == "started" and foreground:
        raise typer.Exit(_run_foreground(d, retry_failed=retry_failed))
    msg = {
        "finished": "every member already finished: nothing to resume",
        "running": "its queue is already running",
        "resumed": "resumed (the live queue runner starts the next members)",
        "started": f"queue restarted in the background; follow it with `tail -f {d}/queue.log`",
    }[what]
    console.print(f"{d.name}: {msg}")


@queue_app.command("cancel")
def queue_cancel(
    ctx: typer.Context,
    sweep_: str = typer.Argument(..., metavar="SWEEP", help="sweep folder or name"),
    runs_dir: Path | None = typer.Option(None, "--runs-dir", help="runs root"),
    wait: float = typer.Option(30.0, "--wait", help="seconds to wait for the checkpoints"),
) -> None:
    """Stop the running members (each saves a checkpoint and becomes `stopped`) and end the
    queue; queued members stay queued. `fbtui queue resume` continues it later."""
    from fbtui.sweep import control
    from fbtui.sweep.folder import count_states, resolve_sweep

    d = resolve_sweep(sweep_, runs_root(runs_dir or ctx.obj))
    states = control.cancel(d, wait=wait)
    c = count_states(list(states.values()))
    console.print(
        f"{d.name}: cancelled — {c['done']} done, {c['stopped']} stopped, {c['queued']} queued, "
        f"{c['running']} still stopping, {c['failed']} failed"
    )
