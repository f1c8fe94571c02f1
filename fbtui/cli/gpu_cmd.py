"""`fbtui gpu`: the GPUs' load, memory, temperature, power and processes, from NVML."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich import box
from rich.console import Group
from rich.table import Table

from fbtui.cli.app import app, console, runs_root

HELP_LOAD = (
    "kernel busy % = share of time at least one kernel ran (NVML utilisation, not how full "
    "the GPU is); SM active % = share of SMs busy (GPM, Hopper and newer)"
)


def _runs_pid_map(root: Path) -> dict[int, str]:
    """pid -> run name for the live runs under the runs root (status.json `pid`/`pids`)."""
    from fbtui.gpu import pid_map

    pairs = []
    for status_file in sorted(root.glob("*/status.json")):
        try:
            status = json.loads(status_file.read_text())
        except (OSError, ValueError):
            continue  # a half-written or foreign file must not break a GPU listing
        if isinstance(status, dict):
            pairs.append((status_file.parent.name, status))
    return pid_map(pairs)


def _tables(samples, monitor=None):
    """The device table and, if any, the process table (with sparklines when watching)."""
    from fbtui.gpu.format import gib, mem_short, num, pct, short_name, sparkline

    # a light box leaves the columns room in an 80-column ssh terminal
    devices = Table(
        title="GPUs",
        title_justify="left",
        caption=HELP_LOAD,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for col, justify in (
        ("#", "right"),
        ("name", "left"),
        ("kernel\nbusy %", "right"),  # two-line headers leave the name room at 80 columns
        ("SM\nactive %", "right"),
        ("mem GiB", "right"),
        ("temp", "right"),
        ("power W", "right"),
    ):
        devices.add_column(
            col, justify=justify, no_wrap=col != "name", min_width=8 if col == "name" else None
        )
    for s in samples:
        busy = "n/a (MIG)" if s.mig else pct(s.util_pct)
        if monitor is not None and not s.mig and console.width >= 100:  # room for history
            busy = f"{sparkline(monitor.history.series(s.index, 'util_pct'), 10, 0, 100)} {busy}"
        active = pct(s.sm_active_pct) if s.gpm else "n/a"
        devices.add_row(
            str(s.index),
            short_name(s.name),
            busy,
            active,
            f"{gib(s.mem_used)}/{gib(s.mem_total)}",
            num(s.temp_c, "°C"),
            f"{num(s.power_w)}/{num(s.power_limit_w)}",
        )
    rows = [(s.index, p) for s in samples for p in s.processes]
    if not rows:
        return devices
    procs = Table(title="Processes", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("GPU", "pid", "memory", "process", "run"):
        procs.add_column(col, justify="right" if col in ("GPU", "pid", "memory") else "left")
    for index, p in rows:
        procs.add_row(str(index), str(p.pid), mem_short(p.used_mem), p.name or "?", p.run or "-")
    return Group(devices, procs)


def _json_text(samples, no_gpu: str | None, indent: int | None = 2) -> str:
    """{"no_gpu": reason or null, "gpus": [GpuSample.to_dict(), ...]}."""
    return json.dumps({"no_gpu": no_gpu, "gpus": [s.to_dict() for s in samples]}, indent=indent)


@app.command("gpu")
def gpu(
    watch: bool = typer.Option(False, "--watch", "-w", help="Refresh until Ctrl-C."),
    as_json: bool = typer.Option(
        False, "--json", help="Machine-readable: one JSON object (per refresh with --watch)."
    ),
    interval: float = typer.Option(
        None, "--interval", "-n", min=0.1, help="Seconds between refreshes (default 1)."
    ),
    runs_dir: Path = typer.Option(
        None, "--runs-dir", help="Runs root used to name the run owning each GPU process."
    ),
    count: int = typer.Option(None, "--count", hidden=True, help="Stop after N refreshes."),
) -> None:
    """Show each GPU's kernel-busy %, SM activity (GPM), memory, temperature, power and
    processes with their fbtui run. No NVIDIA GPU is not an error: it says so and exits 0."""
    from fbtui.gpu import GpuMonitor

    root = runs_root(runs_dir)
    with GpuMonitor() as monitor:
        if monitor.no_gpu:
            if as_json:
                typer.echo(_json_text([], monitor.no_gpu, indent=None if watch else 2))
            else:
                console.print(monitor.no_gpu, highlight=False)
            return
        if interval is None:
            interval = getattr(monitor.backend, "interval", None) or 1.0
        if count is None:
            count = getattr(monitor.backend, "max_polls", None)
        if not watch:
            samples = monitor.poll_settled(_runs_pid_map(root))
            if as_json:
                typer.echo(_json_text(samples, None))
            else:
                console.print(_tables(samples))
            return
        try:
            _watch(monitor, root, interval, as_json, count)
        except KeyboardInterrupt:
            pass  # Ctrl-C is how a watch ends


def _watch(monitor, root: Path, interval: float, as_json: bool, count: int | None) -> None:
    if as_json:  # JSON lines, one per refresh, flushed for `| jq` pipelines
        n = 0
        while count is None or n < count:
            samples = monitor.poll(_runs_pid_map(root))
            typer.echo(_json_text(samples, None, indent=None))
            n += 1
            if count is None or n < count:
                time.sleep(interval)
        return
    from rich.live import Live

    with Live(console=console, auto_refresh=False, transient=False) as live:
        n = 0
        while count is None or n < count:
            samples = monitor.poll(_runs_pid_map(root))
            live.update(_tables(samples, monitor), refresh=True)
            n += 1
            if count is None or n < count:
                time.sleep(interval)
