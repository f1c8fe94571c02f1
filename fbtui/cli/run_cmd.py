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


def _num(x) -> str:
    """A metric in at most 9 characters: 0.1234, or 9.58e+62 from a diverged run (its
    63 digits broke the table), nan/inf as such; "" when missing."""
    if not isinstance(x, (int, float)):
        return ""
    if x != x or x in (float("inf"), float("-inf")):
        return str(x)
    return f"{x:.4f}" if abs(x) < 1e4 else f"{x:.2e}"


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


def create_run(cfg, root: Path, stem: str = "") -> Path:
    """Make the run folder `<stem>-<YYYYmmdd-HHMMSS>` (DESIGN §3: the stem is --name or the
    config file's stem; experiment.name when none is given) and write the resolved config
    and a `queued` status."""
    from fbtui.config import to_toml
    from fbtui.runs import layout
    from fbtui.runs.status import write_json_atomic

    run_dir = layout.new_run_dir(root, stem or cfg.experiment.name)
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


#: the shell's code for a command ended by Ctrl-C (128 + SIGINT): `fbtui run a.toml &&
#: fbtui run b.toml` must not start b after the user stopped a
EXIT_INTERRUPTED = 130


def _exit_for(state: str, run_dir: Path | None = None, interrupted: bool = False) -> None:
    """Exit 1 for a failed or diverged run; 130 for one the user stopped with Ctrl-C
    (`interrupted`, or SIGINT recorded in its status), after its clean stop."""
    from fbtui.runs.status import stopped_by_sigint

    if state in ("failed", "diverged"):
        raise typer.Exit(1)
    if state == "stopped" and (interrupted or (run_dir is not None and stopped_by_sigint(run_dir))):
        raise typer.Exit(EXIT_INTERRUPTED)


# -- several processes (DDP through torchrun) --------------------------------------------

NPROC = typer.Option(
    1, "--nproc", help="processes (GPUs) on this node; above 1 trains with DDP through torchrun"
)
NNODES = typer.Option(1, "--nnodes", help="machines in the job (run the same command on each)")
NODE_RANK = typer.Option(
    0, "--node-rank", help="this machine's rank, 0..nnodes-1; node 0 writes the run folder"
)
MASTER_ADDR = typer.Option(
    "", "--master-addr", help="address of node 0, reachable from every node (multi-node)"
)
MASTER_PORT = typer.Option(
    0,
    "--master-port",
    help="a free TCP port on node 0 (default: 29500 multi-node, else any free one)",
    show_default=False,  # 0 means "pick one", which the help says
)
RUNS_DIR_HELP = "runs root (default ./runs or $FBTUI_RUNS)"


def _launch_ddp(run_dir: Path, rdzv, detach: bool) -> None:
    """Train `run_dir` with torchrun: rdzv.nproc ranks on this node, in the background
    (--detach) or followed here by echoing train.log (Ctrl-C stops every rank)."""
    import os
    import signal

    from fbtui.runs import layout
    from fbtui.runs.launch import follow, start_torchrun, stop_targets
    from fbtui.runs.status import UnreadableStatus, read_status

    log_path = run_dir / layout.LOG
    offset = log_path.stat().st_size if log_path.exists() else 0
    proc = start_torchrun(run_dir, rdzv.nproc, **rdzv.options())
    where = f"{rdzv.nproc} processes" + (
        f" on node {rdzv.node_rank} of {rdzv.nnodes}" if rdzv.nnodes > 1 else ""
    )
    if detach:
        err_console.print(
            f"started {where} with torchrun in the background (agent pid {proc.pid}); follow "
            f"it with `fbtui dashboard` or `tail -f {log_path}`"
        )
        print(run_dir)  # stdout holds only the run folder, for scripts
        return
    err_console.print(f"training with {where} (torchrun agent pid {proc.pid}); Ctrl-C stops")

    interrupted = []  # follow() calls stop() only on Ctrl-C

    def stop() -> None:
        """As `fbtui stop` once this launch's ranks are registered, else through the agent."""
        interrupted.append(True)
        try:
            st = (read_status(run_dir) or {}) if rdzv.node_rank == 0 else {}
        except UnreadableStatus:
            st = {}
        pids = stop_targets(st) if proc.pid in (st.get("pids") or []) else [proc.pid]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    code = follow(
        proc,
        log_path,
        lambda s: console.print(s, markup=False, highlight=False, soft_wrap=True),
        offset,
        stop,
    )
    if rdzv.node_rank > 0:  # a follower node: the run's outcome is on node 0
        console.print(f"node {rdzv.node_rank}: torchrun exited with code {code}")
        raise typer.Exit(0 if code == 0 else 1)
    state = str((read_status(run_dir) or {}).get("state", "failed"))
    if state == "running" and code is not None:
        state = "failed"  # the ranks died without recording it (killed, crashed agent)
    _print_outcome(run_dir, state)
    _exit_for(state, run_dir, interrupted=bool(interrupted))


@app.command()
def run(
    config: Path = typer.Argument(..., help="experiment TOML file"),
    set_: list[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", help="override a key: --set train.lr=0.04 (repeatable)"
    ),
    name: str = typer.Option("", "--name", help="run name (default: the config file's stem)"),
    runs_dir: Path | None = typer.Option(None, "--runs-dir", help=RUNS_DIR_HELP),
    detach: bool = typer.Option(
        False,
        "--detach",
        help="start in the background (survives the terminal), print the run folder",
    ),
    folds: int = typer.Option(
        0, "--folds", help="run the official cross-validation folds 1..K as sibling runs"
    ),
    nproc: int = NPROC,
    nnodes: int = NNODES,
    node_rank: int = NODE_RANK,
    master_addr: str = MASTER_ADDR,
    master_port: int = MASTER_PORT,
) -> None:
    """Train a model from an experiment file."""
    from fbtui.config import load_config
    from fbtui.runs.launch import Rendezvous

    rdzv = Rendezvous(nproc, nnodes, node_rank, master_addr, master_port)
    rdzv.check()
    cfg = load_config(config, set_)
    if name:
        cfg.experiment.name = name
    # the folder is named after --name or the file, not experiment.name: a copied
    # demo.toml saved as my_exp.toml makes my_exp-* runs (DESIGN §3)
    stem = name or config.stem
    root = runs_root(runs_dir)
    if folds:
        if rdzv.world > 1:
            fail("--folds starts one process per fold; it does not combine with --nproc/--nnodes")
        from fbtui.train.kfold import run_folds

        raise typer.Exit(run_folds(cfg, root, folds, detach=detach, console=console, stem=stem))
    from fbtui.train.trainer import preflight, prepare_data

    preflight(cfg, root)  # device, pretrained, init_from: before any run folder exists
    prepared = prepare_data(cfg)  # bad data fails here, likewise
    if rdzv.node_rank > 0:  # another node of a multi-node run: node 0 writes the run folder
        from fbtui.config import to_toml
        from fbtui.runs.launch import follower_dir

        run_dir = follower_dir(root, stem, rdzv.node_rank, to_toml(cfg))
    else:
        run_dir = create_run(cfg, root, stem)
    if rdzv.world > 1:
        _launch_ddp(run_dir, rdzv, detach)
        return
    if detach:
        from rich.markup import escape

        from fbtui.runs.launch import spawn_worker

        for note in prepared.notes:  # a foreground run shows them as it starts
            err_console.print(f"[dim]data:[/] {escape(note)}", highlight=False)
        pid = spawn_worker(run_dir)
        err_console.print(
            f"started in the background (pid {pid}); follow it with "
            f"`fbtui dashboard` or `tail -f {run_dir}/train.log`"
        )
        print(run_dir)  # stdout holds only the run folder, for scripts
        return
    state = _train_here(run_dir, prepared)
    _print_outcome(run_dir, state)
    _exit_for(state, run_dir)


def _train_here(run_dir: Path, prepared=None) -> str:
    """Train in this process. A crash that is no user mistake (a full disk, out of memory)
    ends as a failed run: its reason here, exit 1, the traceback in train.log."""
    from rich.markup import escape

    from fbtui.errors import UserError
    from fbtui.train.progress import RichReporter
    from fbtui.train.trainer import train_run

    try:
        return train_run(run_dir, RichReporter(console), prepared)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - recorded in status.json and train.log already
        err_console.print(
            "[bold red]failed:[/] "
            + escape(
                f"{run_dir}: {type(e).__name__}: {e}\n(the traceback is in "
                f"{run_dir / 'train.log'}; resume with `fbtui resume {run_dir}`)"
            ),
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None


def _print_outcome(run_dir: Path, state: str) -> None:
    from rich.markup import escape

    from fbtui.runs import describe

    info = describe(run_dir)
    b = info.best
    style = STATE_STYLE.get(state, "")
    line = f"[{style}]{state}[/]: {escape(str(run_dir))}"
    if b:
        line += f"  best test mse {b.get('mse', float('nan')):.4f}  mae {b.get('mae', float('nan')):.4f}  pc {b.get('pc', float('nan')):.4f} (epoch {b.get('epoch')})"
    console.print(line)


@app.command()
def resume(
    run_: str = typer.Argument(..., metavar="RUN", help="run folder or name"),
    runs_dir: Path | None = typer.Option(None, "--runs-dir", help=RUNS_DIR_HELP),
    detach: bool = typer.Option(False, "--detach", help="resume in the background"),
    # 0 means "as the run was trained": no misleading [default: 0]
    nproc: int = typer.Option(
        0,
        "--nproc",
        help="processes on this node (default: as the run was trained)",
        show_default=False,
    ),
    nnodes: int = typer.Option(
        0, "--nnodes", help="machines (default: as the run was trained)", show_default=False
    ),
    node_rank: int = NODE_RANK,
    master_addr: str = MASTER_ADDR,
    master_port: int = MASTER_PORT,
) -> None:
    """Continue a stopped, failed or killed run from checkpoints/last.pt to its planned end
    (a k-fold group: its unfinished folds, then mean ± std)."""
    from fbtui.errors import RunError
    from fbtui.runs import describe, layout, resolve_run
    from fbtui.runs.launch import Rendezvous, follower_dir

    run_dir = resolve_run(run_, runs_root(runs_dir))
    info = describe(run_dir)
    if info.kind == "group":  # a k-fold group: its unfinished folds, in one process
        if nproc > 1 or nnodes > 1:
            fail("a k-fold group resumes one process per fold; drop --nproc/--nnodes")
        from fbtui.train.kfold import resume_group

        raise typer.Exit(resume_group(run_dir, detach=detach, console=console))
    if info.kind != "fbtui":
        raise RunError(
            f"{run_dir} is not an fbtui run folder (no status.json/config.toml): only fbtui runs can be resumed"
        )
    # a DDP run resumes with the process count it was trained with (the data order depends on it)
    st = info.status or {}
    trained = int(st.get("world_size") or 1)
    rdzv = Rendezvous(
        nproc or int(st.get("nproc_per_node") or trained),
        nnodes or int(st.get("nnodes") or 1),
        node_rank,
        master_addr,
        master_port,
    )
    rdzv.check()
    if rdzv.world != trained and (run_dir / layout.LAST).is_file():
        raise RunError(
            f"{run_dir.name} was trained with {trained} process(es); resume it with as many "
            f"(--nproc x --nnodes = {rdzv.world} here)"
        )
    if rdzv.node_rank > 0:  # a follower node: it only reads the run's config
        config_text = (run_dir / layout.CONFIG).read_text(encoding="utf-8")
        follower = follower_dir(runs_root(runs_dir), run_dir.name, rdzv.node_rank, config_text)
        _launch_ddp(follower, rdzv, detach)
        return
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
    if not (run_dir / layout.LAST).is_file():
        _say_from_scratch(run_dir, info.state, st)
    if rdzv.world > 1:
        _launch_ddp(run_dir, rdzv, detach)
        return
    if detach:
        from fbtui.runs.launch import spawn_worker

        pid = spawn_worker(run_dir)
        console.print(f"resumed {run_dir} in the background (pid {pid})")
        return
    state = _train_here(run_dir)
    _print_outcome(run_dir, state)
    _exit_for(state, run_dir)


def _say_from_scratch(run_dir: Path, state: str, st: dict) -> None:
    """Resuming a run that never reached a checkpoint retrains it from step 0 in the same
    folder (its resolved config, --set overrides included, is kept): say so plainly."""
    why = {
        "queued": "it never started",
        "diverged": f"it diverged in epoch {int(st.get('epoch') or 0) + 1}, before its first one",
    }.get(state, f"it {state.split()[0]} in epoch 1, before its first one")
    note = (
        "; the same settings may diverge again (change them with `fbtui run CONFIG --set ...`)"
        if state == "diverged"
        else ""
    )
    err_console.print(
        f"{run_dir.name} has no checkpoint ({why}): resume starts it from scratch, "
        f"epoch 1 step 0, in the same folder{note}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def stop(
    run_: str = typer.Argument(..., metavar="RUN", help="run folder or name"),
    runs_dir: Path | None = typer.Option(None, "--runs-dir", help=RUNS_DIR_HELP),
    wait: float = typer.Option(30.0, "--wait", help="seconds to wait for the checkpoint"),
) -> None:
    """Stop a live run: it saves a checkpoint and becomes `stopped` (resume it later)."""
    from fbtui.runs import resolve_run
    from fbtui.runs.launch import stop_run

    run_dir = resolve_run(run_, runs_root(runs_dir))
    state = stop_run(run_dir, wait=wait)
    console.print(f"{run_dir.name}: {state}")


#: `fbtui runs` columns besides the name, and the order they go when the terminal is
#: narrow (the name is what tells runs apart; mae follows from mse, duration and start
#: time are in --json and in the dashboard)
RUNS_COLUMNS = ("state", "epoch", "best mse", "mae", "pc", "started", "duration")
DROP_ORDER = ("mae", "duration", "started", "pc")
#: the name keeps at least this many cells before another column is dropped
NAME_MIN = 32


def crop_middle(text: str, width: int) -> str:
    """`text` in at most `width` cells, an ellipsis in the middle: the start and the end
    (a run's timestamp and -k suffix) stay readable."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = (width - 1) // 2
    tail = width - 1 - head
    return text[:head] + "…" + (text[-tail:] if tail else "")


def crop_run_name(name: str, width: int) -> str:
    """A run name in `width` cells: `group/member` keeps its member whole when it fits
    (`sw-sw…170339/lr0.01-s0`), anything else is cropped in the middle."""
    if len(name) <= width:
        return name
    group, sep, member = name.rpartition("/")
    if sep and len(member) + 3 <= width:  # at least "g…/" before the member
        return crop_middle(group, width - len(member) - 1) + "/" + member
    return crop_middle(name, width)


def short_time(t: float, now: float | None = None) -> str:
    """`17:03` today, `11-28 17:03` this year, `2025-11-28` before."""
    lt, ln = time.localtime(t), time.localtime(now)
    if lt[:3] == ln[:3]:
        return time.strftime("%H:%M", lt)
    if lt.tm_year == ln.tm_year:
        return time.strftime("%m-%d %H:%M", lt)
    return time.strftime("%Y-%m-%d", lt)


def runs_table(rows: list[dict[str, str]], width: int, title: str = ""):
    """The `fbtui runs` table for a terminal `width` cells wide: one line per run, never
    wrapped. Columns of DROP_ORDER are left out while the name would get fewer than
    NAME_MIN cells; the name gets what is left and is cropped in the middle."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    state_cap = 15 if width < 100 else 30  # "running (stale)"; an unreadable row's reason
    natural = {c: max([len(c)] + [len(r.get(c, "")) for r in rows]) for c in RUNS_COLUMNS}
    natural["state"] = min(natural["state"], max(state_cap, len("state")))
    name_need = max([len("run")] + [len(r["run"]) for r in rows])
    shown = list(RUNS_COLUMNS)

    def name_room() -> int:  # one space between columns, no outer edge
        return width - sum(natural[c] for c in shown) - len(shown)

    for col in DROP_ORDER:
        if name_room() >= min(name_need, NAME_MIN):
            break
        shown.remove(col)
    name_w = max(len("run"), min(name_need, name_room()))
    table = Table(
        title=title or None,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 0),
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("run", no_wrap=True, overflow="ellipsis", min_width=name_w, max_width=name_w)
    for col in shown:
        table.add_column(
            col,
            justify="left" if col in ("state", "started") else "right",
            no_wrap=True,
            overflow="ellipsis",
            min_width=min(natural[col], 5),
            max_width=natural[col],
        )
    for r in rows:
        cells = [
            Text(r.get(c, ""), style=r.get("style", "") if c == "state" else "") for c in shown
        ]
        # Text, not markup: names and errors may hold "[/]"
        table.add_row(Text(crop_run_name(r["run"], name_w)), *cells)
    return table


def _runs_rows(runs) -> list[dict[str, str]]:
    """One dict of cell texts per run, keyed by column name."""
    out = []
    for r in runs:
        b = r.best
        sweep = r.kind == "group" and r.summary.get("kind") == "sweep"
        if sweep:
            c = r.summary.get("counts", {})
            cells = ["", "", ""]
            ep = f"{c.get('done', 0)}/{c.get('total', 0)} done"
        elif r.kind == "group":
            # k-fold: the final epoch's mean ± std (the protocol figure); older kfold.json
            # files hold only the best epochs' (selected on each test fold)
            agg = r.summary.get("final_epoch") or r.summary
            s, sd = agg.get("mean", {}), agg.get("std", {})
            cells = [
                f"{_num(s[k])}±{_num(sd.get(k))}" if k in s else "" for k in ("mse", "mae", "pc")
            ]
        else:
            cells = [_num(b.get(k)) for k in ("mse", "mae", "pc")]
        if not sweep:
            ep = f"{r.epoch}/{r.epochs}" if r.epochs else ""
        state = r.state + (f" ({r.error[:40]})" if r.state == "unreadable" else "")
        out.append(
            {
                "run": r.name,
                "state": state,
                "style": STATE_STYLE.get(r.state, ""),
                "epoch": ep,
                "best mse": cells[0],
                "mae": cells[1],
                "pc": cells[2],
                "started": short_time(r.started) if r.started else "",
                "duration": _fmt_dur(r.duration),
            }
        )
    return out


@app.command("runs")
def runs_cmd(
    runs_dir: Path | None = typer.Option(None, "--runs-dir", help=RUNS_DIR_HELP),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """List run folders with state, epoch, best metrics, start time and duration."""
    from fbtui.runs import list_runs

    root = runs_root(runs_dir)
    if not root.is_dir():
        if as_json:
            print("[]")
            return
        if root.exists():
            fail(f"runs root {root} is a file, not a folder of runs (pass --runs-dir FOLDER)")
        fail(
            f"runs root not found: {root} (start a run with `fbtui run CONFIG`, or pass --runs-dir)"
        )
    runs = list_runs(root)
    if as_json:
        print(json.dumps([r.to_dict() for r in runs], indent=2, default=str))
        return
    console.print(runs_table(_runs_rows(runs), console.width, title=f"runs in {root}"))
    if any(r.kind == "group" and r.summary.get("final_epoch") for r in runs):
        console.print(
            "[dim]k-fold groups: mean±std over the folds at their final epoch "
            "(`fbtui runs --json` also has each fold's best epoch)[/]",
            highlight=False,
        )
