"""The sweep table: swept parameters against best test MSE and PC, best setting on top.

One row per setting (grid point); with `--repeat K` its K seeds are pooled into
mean ± sample std over the members that have a best epoch. Used by `fbtui compare SWEEP`
and `fbtui queue show SWEEP`; plain data first (`sweep_rows`), rich on top (`sweep_table`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from fbtui.metrics import mean_std
from fbtui.runs import layout
from fbtui.runs.status import UnreadableStatus, effective_state, read_json
from fbtui.sweep.folder import read_sweep

METRICS = ("mse", "pc")
#: sort direction per metric: lower MSE is better, higher correlation is better
LOWER_IS_BETTER = {"mse": True, "mae": True, "rmse": True, "pc": False}


def member_best(run_dir: Path) -> tuple[str, dict[str, Any]]:
    """A member's state and best-epoch test metrics (summary.json, else status.json)."""
    try:
        status = read_json(run_dir / layout.STATUS) or {}
        summary = read_json(run_dir / layout.SUMMARY) or {}
    except UnreadableStatus:
        return "unreadable", {}
    best = summary.get("best") or status.get("best") or {}
    return (effective_state(status) if status else "missing"), best


def rows_from_members(
    members: list[dict[str, Any]], keys: list[str], by: str = "mse"
) -> list[dict[str, Any]]:
    """Group members ({params, state, best}) by their swept values and sort: the best
    `by` mean first, settings without a result last. Pure: the table order's test seam."""
    groups: dict[str, dict[str, Any]] = {}
    for m in members:
        params = {k: m.get("params", {}).get(k) for k in keys}
        ident = json.dumps(params, sort_keys=True, default=str)
        g = groups.setdefault(ident, {"params": params, "runs": [], "states": [], "values": {}})
        g["runs"].append(m.get("run", ""))
        g["states"].append(m.get("state", ""))
        for metric in set(METRICS) | {by}:
            v = (m.get("best") or {}).get(metric)
            if isinstance(v, (int, float)) and math.isfinite(v):
                g["values"].setdefault(metric, []).append(float(v))
    rows = []
    for g in groups.values():
        row = {"params": g["params"], "runs": g["runs"], "states": g["states"]}
        row["n"] = len(g["values"].get(by, []))
        for metric in set(METRICS) | {by}:
            vals = g["values"].get(metric, [])
            mean, std = mean_std(vals) if vals else (math.nan, math.nan)
            row[metric], row[f"{metric}_std"] = mean, std
        rows.append(row)
    lower = LOWER_IS_BETTER.get(by, True)

    def key(r: dict[str, Any]) -> tuple[int, float]:
        v = r[by]
        if not math.isfinite(v):
            return (1, 0.0)
        return (0, v if lower else -v)

    rows.sort(key=key)  # stable: equal results keep the grid's order
    return rows


def sweep_rows(sweep_dir: Path, by: str = "mse") -> tuple[list[str], list[dict[str, Any]]]:
    """The swept keys and one row per setting: `params`, `n` (members with a result),
    `mse`, `mse_std`, `pc`, `pc_std` (nan when none), `runs`, `states`; best first."""
    sweep_dir = Path(sweep_dir)
    data = read_sweep(sweep_dir)
    keys = list((data.get("grid") or {}).keys())
    members = []
    for m in data.get("members", []):
        state, best = member_best(sweep_dir / m["run"])
        members.append({**m, "state": state, "best": best})
    return keys, rows_from_members(members, keys, by=by)


def _fmt(mean: float, std: float, n: int) -> str:
    if not math.isfinite(mean):
        return ""
    return f"{mean:.4f} ± {std:.4f}" if n > 1 else f"{mean:.4f}"


def sweep_table(sweep_dir: Path, by: str = "mse"):
    """A rich Table of the sweep: swept parameters, seeds done, best test MSE and PC
    (mean ± std over seeds), best setting on top."""

    keys, rows = sweep_rows(sweep_dir, by=by)
    data = read_sweep(sweep_dir)
    repeat = int(data.get("repeat", 1) or 1)
    table = titled_table(f"{Path(sweep_dir).name}: best test {by} first")
    for k in keys or ["setting"]:
        table.add_column(k)
    # numbers never wrap (a narrow terminal squeezes the setting columns instead)
    table.add_column("seeds" if repeat > 1 else "done", justify="right", no_wrap=True)
    table.add_column("best mse", justify="right", no_wrap=True)
    table.add_column("pc", justify="right", no_wrap=True)
    for i, r in enumerate(rows):
        cells = [_show(r["params"][k]) for k in keys] or ["(base)"]
        total = len(r["runs"])
        style = "bold green" if i == 0 and r["n"] else None
        table.add_row(
            *cells,
            f"{r['n']}/{total}",
            _fmt(r["mse"], r["mse_std"], r["n"]),
            _fmt(r["pc"], r["pc_std"], r["n"]),
            style=style,
        )
    return table


def titled_table(title: str, **kwargs):
    """A rich Table whose title stays on one line: the table is made at least as wide as
    the title (a few narrow columns under a long sweep name wrapped it mid-phrase), and on
    a terminal narrower than that the title is cut with … rather than wrapped."""
    from rich.table import Table
    from rich.text import Text

    heading = Text(title, style="table.title", no_wrap=True, overflow="ellipsis")
    return Table(title=heading, min_width=len(title) + 2, **kwargs)


def _show(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list):
        return "[" + ",".join(_show(x) for x in v) + "]"
    return str(v)
