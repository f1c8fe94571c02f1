"""`fbtui compare --plain`: the summary table, the config diff and a text chart per tag.

Rich renderables only (no Textual): this runs where stdout is a file or a pipe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from fbtui.tb.compare import (
    METRICS,
    SUMMARY_COLUMNS,
    CompareRun,
    SummaryRow,
    best_in_columns,
    config_diff,
    format_value,
    plot_values,
    summary_row,
    summary_value,
    thin,
    x_values,
)
from fbtui.tb.smoothing import y_range
from fbtui.tui import fmt

MARKERS = "●x+o*#%@"
BEST_MARK = "*"  # after the best value of a column when there is no reverse video
COLORS = ["red", "green", "yellow", "blue", "magenta", "cyan", "bright_red", "bright_green"]


def fmt_number(v: float | None, key: str | None = None, digits: int = 4) -> str:
    """A summary cell: '—' when missing, metrics as the dashboard writes them (scientific
    notation for a diverged run's '9.58e+62', never 32 digits)."""
    if v is None or not np.isfinite(v):
        return "—"
    if key == "wall_time_s":
        return fmt_duration(v)
    if key == "epochs":
        return f"{int(v)}"
    if key == "img_per_s":
        return fmt.metric(v, 1 if digits >= 4 else 0)
    return fmt.metric(v, digits)


def _finite_num(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def summary_rows(runs: Sequence[CompareRun]) -> list[SummaryRow]:
    """`summary_row` of each run, with what its event scalars cannot tell taken from
    status.json: a metric missing or not finite there (a diverged run's 9.6e+62 MSE is
    inf as a float32 event value) from status.json's `best`/`last`, and the wall time of a
    run whose scalars span one evaluation from its `started` to its last scalar."""
    rows = []
    for run in runs:
        row = summary_row(run)
        if row.source == "scalars" and run.status:
            for group, key in (("best", "best"), ("last", "last")):
                figures = run.status.get(key)
                if not isinstance(figures, dict):
                    continue
                mine = getattr(row, group)
                for m in METRICS:
                    v = mine.get(m)
                    if v is None or not math.isfinite(v):
                        mine[m] = _finite_num(figures.get(m)) if m in figures else v
            from fbtui.runs.status import active_seconds

            started = _finite_num(run.status.get("started"))
            walls = [run.scalars(t).wall_times for t in run.tags()]
            ends = [float(w[-1]) for w in walls if len(w)]
            # training time to the last scalar: a resumed run's idle days do not count
            active = active_seconds(run.status, max(ends), "running") if ends else None
            if active is not None:
                row.wall_time_s = max(row.wall_time_s or 0.0, active)
            elif started is not None and ends and max(ends) >= started:
                row.wall_time_s = max(row.wall_time_s or 0.0, max(ends) - started)
        rows.append(row)
    return rows


def fmt_duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def summary_table(runs: Sequence[CompareRun], width: int = 80, *, mark: bool = False) -> Table:
    """Best/last test metrics per run, best per column in reverse video.

    `mark`: also put BEST_MARK after each best value, for output without colour or
    styles (a pipe, a file) where reverse video is lost. Runs are columns when that fits
    the width (easier to read for a few runs), rows otherwise.
    """
    rows = summary_rows(runs)
    best = best_in_columns(rows)
    transposed = 12 + sum(max(len(r.run), 7) + 3 for r in rows) <= width
    cells = [
        [
            fmt_number(summary_value(row, group, key), key or group, 4 if transposed else 3)
            for _, group, key in SUMMARY_COLUMNS
        ]
        for row in rows
    ]
    if mark:  # a space after the others keeps the digits aligned
        names = [name for name, _, _ in SUMMARY_COLUMNS]
        for i, row_cells in enumerate(cells):
            for c, name in enumerate(names):
                row_cells[c] += BEST_MARK if best.get(name) == i else " "
    name_width = max(len(r.run) for r in rows)
    if transposed:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("")
        for i, row in enumerate(rows):
            table.add_column(Text(row.run, style=COLORS[i % len(COLORS)]), justify="right")
        for c, (name, _, _) in enumerate(SUMMARY_COLUMNS):
            table.add_row(
                name,
                *(
                    Text(cells[i][c], style="bold reverse" if best.get(name) == i else "")
                    for i in range(len(rows))
                ),
            )
        return table
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=0)  # the box adds 1 space
    table.add_column("run", overflow="fold", min_width=min(name_width, 12), max_width=20)
    for name, _, _ in SUMMARY_COLUMNS:
        header = {"epochs": "ep"}.get(name, name.replace(" ", "\n"))
        table.add_column(header, justify="right", no_wrap=True)
    for i, row in enumerate(rows):
        table.add_row(
            Text(row.run, style=COLORS[i % len(COLORS)]),
            *(
                Text(cells[i][c], style="bold reverse" if best.get(name) == i else "")
                for c, (name, _, _) in enumerate(SUMMARY_COLUMNS)
            ),
        )
    return table


def diff_table(runs: Sequence[CompareRun]) -> RenderableType:
    with_config = [r for r in runs if r.config]
    diff = config_diff(runs)
    if len(with_config) < 2:
        return Text("Config diff: needs at least two runs with a config.toml.", style="dim")
    if not diff:
        return Text("Config diff: the configs are identical.", style="dim")
    table = Table(title="Config diff: keys that differ", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("key")
    for r in with_config:
        table.add_column(r.name, overflow="fold")
    for key, values in diff:
        table.add_row(key, *(format_value(v) for v in values))
    return table


def text_chart(
    runs: Sequence[CompareRun],
    tag: str,
    *,
    smoothing: float = 0.0,
    x_axis: str = "step",
    width: int = 60,
    height: int = 8,
) -> Text:
    """A character plot of `tag` with one marker per run (readable without colour)."""
    curves = []
    for i, run in enumerate(runs):
        s = run.scalars(tag)
        if len(s) == 0:
            continue
        x, y = thin(x_values(s, x_axis), plot_values(s, smoothing, False), width * 3)
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.any():
            curves.append((i, x[ok], y[ok]))
    out = Text()
    out.append(tag, style="bold")
    out.append(f"   x: {x_axis}", style="dim")
    if not curves:
        return out.append("  (no finite points)\n", style="dim")
    xs = np.concatenate([c[1] for c in curves])
    lo, hi = y_range(np.concatenate([c[2] for c in curves]))
    x0, x1 = x_limits(xs)
    grid = [[" "] * width for _ in range(height)]
    styles = [[""] * width for _ in range(height)]
    for i, x, y in curves:
        cx = ((x - x0) / (x1 - x0) * (width - 1)).round()
        # clipped: a diverged run's 2e27 beside a 0.3 would overflow the int cast
        cy = np.clip(((y - lo) / (hi - lo) * (height - 1)).round(), -1, height)
        for c, r in zip(cx.astype(int).tolist(), cy.astype(int).tolist(), strict=True):
            if 0 <= r < height:  # outliers beyond the robust range are left off
                grid[height - 1 - r][c] = MARKERS[i % len(MARKERS)]
                styles[height - 1 - r][c] = COLORS[i % len(COLORS)]
    out.append("\n")
    labels = [f"{hi:>10.4g} ┤", *([" " * 10 + " │"] * (height - 2)), f"{lo:>10.4g} ┤"]
    for r in range(height):
        out.append(labels[r] if height > 1 else f"{lo:>10.4g} ┤")
        for c in range(width):
            out.append(grid[r][c], style=styles[r][c])
        out.append("\n")
    left = f"{x0:.6g}" if x_axis != "wall" else "start"
    right = f"{x1:.6g}" if x_axis != "wall" else "end"
    out.append(" " * 11 + "└" + "─" * width + "\n")
    out.append(" " * 12 + left + " " * max(1, width - len(left) - len(right)) + right + "\n")
    return out


def x_limits(xs: np.ndarray) -> tuple[float, float]:
    """The x range of the points; one step (or one wall time) is padded to a real range
    with the point in the middle, so the axis never reads `3 … 3`."""
    x0, x1 = float(np.min(xs)), float(np.max(xs))
    if x1 > x0:
        return x0, x1
    if 0 <= x0 < 1:  # steps and relative times do not go below 0
        return 0.0, max(2.0 * x0, 1.0)
    return x0 - 1.0, x1 + 1.0


def legend(runs: Sequence[CompareRun]) -> Text:
    out = Text("runs: ")
    for i, r in enumerate(runs):
        out.append(f"{MARKERS[i % len(MARKERS)]} {r.name}", style=COLORS[i % len(COLORS)])
        out.append("   ")
    return out


def render_plain(
    runs: Sequence[CompareRun],
    tags: Sequence[str],
    console: Console,
    *,
    smoothing: float = 0.0,
    x_axis: str = "step",
    width: int | None = None,
) -> None:
    """Print everything --plain shows (the CLI prints reader warnings first, on stderr:
    see `fbtui.tb.compare.reader_warnings`)."""
    chart_width = max(20, min(100, (width or console.width) - 14))
    # no colour system (a pipe, a file, TERM=dumb): styles are dropped, so mark the best
    mark = console.color_system is None
    best = f"best marked {BEST_MARK}" if mark else "best in reverse video"
    console.print(Text(f"Summary: test metrics, {best}", style="bold"))
    console.print(summary_table(runs, width or console.width, mark=mark))
    console.print(diff_table(runs))
    console.print()
    console.print(legend(runs))
    if smoothing:
        console.print(Text(f"smoothing {smoothing:g} (TensorBoard EMA)", style="dim"))
    for tag in tags:
        console.print(
            Group(text_chart(runs, tag, smoothing=smoothing, x_axis=x_axis, width=chart_width))
        )
