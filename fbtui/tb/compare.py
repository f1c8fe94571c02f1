"""Comparing runs: open run folders or logdirs, summarise, diff configs, export CSV.

UI-free (stdlib + numpy): `fbtui compare --plain`, the compare screen and a notebook all
use these functions. A *fbtui run* is a folder with config.toml / summary.json /
status.json next to its event files; any other folder with event files (at any depth,
see `LogdirReader`) is a *plain logdir* and gets its numbers from the scalars alone.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import tomllib

from fbtui.errors import RunError, UserError
from fbtui.tb.reader import LogdirReader
from fbtui.tb.scalars import ScalarSeries
from fbtui.tb.smoothing import smooth

METRICS = ("mse", "mae", "rmse", "pc")
LOWER_IS_BETTER = {"mse": True, "mae": True, "rmse": True, "pc": False}
X_AXES = ("step", "relative", "wall")


class RunNotFoundError(RunError):
    """A compare argument names no folder."""


class NoEventFilesError(RunError):
    """A folder to compare holds no TensorBoard event files."""


class BadTagPatternError(UserError):
    """--tag is not a valid regular expression."""


@dataclass
class CompareRun:
    """One run (or logdir) in a comparison."""

    name: str
    path: Path
    reader: LogdirReader
    kind: str = "logdir"  # "fbtui" when config/summary/status files are present
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)

    def scalars(self, tag: str) -> ScalarSeries:
        return self.reader.scalars(tag)

    def tags(self) -> list[str]:
        return self.reader.tags()

    def refresh_files(self) -> None:
        """Re-read summary.json and status.json (they change while a run trains)."""
        self.summary = _read_json(self.path / "summary.json")
        self.status = _read_json(self.path / "status.json")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def display_names(paths: Sequence[Path]) -> list[str]:
    """Shortest trailing path parts that tell the runs apart (folder names usually)."""
    parts = [Path(p).resolve().parts for p in paths]
    for depth in range(1, max((len(p) for p in parts), default=1) + 1):
        names = [Path(*p[-depth:]).as_posix() for p in parts]
        if len(set(names)) == len(names):
            return names
    return [f"{n} #{i + 1}" for i, n in enumerate(names)]


def open_run(path: str | Path, name: str | None = None) -> CompareRun:
    """Open and read one run folder or logdir; raise a UserError if there is nothing to read."""
    path = Path(path)
    if not path.exists():
        raise RunNotFoundError(f"{path}: no such run folder or logdir")
    reader = LogdirReader(path)
    reader.poll()
    if not reader.event_files():
        raise NoEventFilesError(
            f"{path}: no TensorBoard event files (events.out.tfevents.*) in this folder "
            "or its subfolders; pass a run folder or a TensorBoard logdir"
        )
    run = CompareRun(name or path.name, path, reader)
    if path.is_dir() and any(
        (path / f).exists() for f in ("config.toml", "summary.json", "status.json")
    ):
        run.kind = "fbtui"
        run.config = _read_toml(path / "config.toml")
        run.refresh_files()
    return run


MAX_WARNINGS_SHOWN = 20  # per run; the rest are counted


def reader_warnings(runs: Iterable[CompareRun], limit: int = MAX_WARNINGS_SHOWN) -> list[str]:
    """One line per thing the readers skipped (a bad CRC, a truncated file), run by run:
    `warning: RUN: PATH @ byte N: MESSAGE`, then `… and K more` past `limit` per run."""
    lines = []
    for run in runs:
        warnings = list(run.reader.warnings)
        lines += [f"warning: {run.name}: {w}" for w in warnings[:limit]]
        if len(warnings) > limit:
            lines.append(f"warning: {run.name}: … and {len(warnings) - limit} more")
    return lines


RUN_FILES = ("config.toml", "summary.json", "status.json")


def _is_run_folder(path: Path) -> bool:
    return any((path / f).exists() for f in RUN_FILES)


def expand_paths(paths: Sequence[str | Path]) -> list[Path]:
    """A folder that holds run folders (the runs root, a sweep, a k-fold group) and no
    event files of its own stands for those runs; anything else stands for itself."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir() and not _is_run_folder(p) and not any(p.glob("*tfevents*")):
            children = sorted(c for c in p.iterdir() if c.is_dir() and _is_run_folder(c))
            if children:
                out.extend(children)
                continue
        out.append(p)
    return out


def open_runs(paths: Sequence[str | Path]) -> list[CompareRun]:
    """Open every path once, in order (errors name the first bad one); folders of runs
    are expanded (see `expand_paths`)."""
    unique: dict[Path, Path] = {}
    for p in expand_paths(paths):
        unique.setdefault(Path(p).resolve(), Path(p))
    paths = list(unique.values())
    return [open_run(p, n) for p, n in zip(paths, display_names(paths), strict=True)]


def compile_tag_filter(pattern: str | None) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as e:
        raise BadTagPatternError(
            f"--tag {pattern!r} is not a valid regular expression: {e}"
        ) from None


def all_tags(runs: Iterable[CompareRun], pattern: re.Pattern[str] | str | None = None) -> list[str]:
    """The union of the runs' tags, sorted, filtered by `re.search(pattern, tag)`."""
    if isinstance(pattern, str):
        pattern = compile_tag_filter(pattern)
    tags = sorted({t for r in runs for t in r.tags()})
    return [t for t in tags if pattern is None or pattern.search(t)]


# -- summary ---------------------------------------------------------------------------


@dataclass
class SummaryRow:
    run: str
    best: dict[str, float | None]  # metric -> value at the best epoch
    last: dict[str, float | None]
    epochs: int | None
    wall_time_s: float | None
    img_per_s: float | None
    source: str  # "summary.json" | "scalars" | "status.json"


SUMMARY_COLUMNS = (
    [(f"best {m}", "best", m) for m in METRICS]
    + [(f"last {m}", "last", m) for m in METRICS]
    + [("epochs", "epochs", None), ("wall", "wall_time_s", None), ("img/s", "img_per_s", None)]
)


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _metric_dict(d: Any) -> dict[str, float | None]:
    d = d if isinstance(d, dict) else {}
    return {m: _num(d.get(m)) for m in METRICS}


def summary_row(run: CompareRun) -> SummaryRow:
    """Best/last test metrics, epochs, wall time and throughput of one run.

    summary.json (written when a run ends) wins; a running or plain run is summarised
    from its scalars: `best` is every test metric at the step with the lowest test/mse.
    """
    s = run.summary
    if s.get("best") or s.get("final"):
        return SummaryRow(
            run.name,
            _metric_dict(s.get("best")),
            _metric_dict(s.get("final")),
            int(s["epochs"]) if _num(s.get("epochs")) is not None else None,
            _num(s.get("wall_time_s")),
            _num(s.get("img_per_s")),
            "summary.json",
        )
    series = {m: run.scalars(f"test/{m}") for m in METRICS}
    last = {m: (float(series[m].values[-1]) if len(series[m]) else None) for m in METRICS}
    best: dict[str, float | None] = dict.fromkeys(METRICS)
    mse = series["mse"]
    finite = np.isfinite(mse.values) if len(mse) else np.zeros(0, bool)
    if finite.any():
        at = int(np.flatnonzero(finite)[np.argmin(mse.values[finite])])
        step = int(mse.steps[at])
        for m in METRICS:
            hit = np.flatnonzero(series[m].steps == step)
            best[m] = float(series[m].values[hit[-1]]) if len(hit) else None
    epochs = _num(run.status.get("epoch"))
    walls = [run.scalars(t).wall_times for t in run.tags()]
    walls = [w for w in walls if len(w)]
    wall = float(max(w[-1] for w in walls) - min(w[0] for w in walls)) if walls else None
    ips = run.scalars("perf/img_per_s").values
    ips = ips[np.isfinite(ips)]
    return SummaryRow(
        run.name,
        best,
        last,
        int(epochs) if epochs is not None else (len(mse) or None),
        wall,
        float(np.mean(ips)) if len(ips) else None,
        "scalars",
    )


def summary_value(row: SummaryRow, group: str, key: str | None) -> float | None:
    if key is None:
        v = getattr(row, group)
        return None if v is None else float(v)
    return getattr(row, group).get(key)


def best_in_columns(rows: Sequence[SummaryRow]) -> dict[str, int]:
    """Column title -> index of the row holding the best value (metrics and img/s only)."""
    out: dict[str, int] = {}
    if len(rows) < 2:
        return out
    for title, group, key in SUMMARY_COLUMNS:
        if key is None and group != "img_per_s":
            continue  # more epochs or a longer run is not "better"
        lower = LOWER_IS_BETTER.get(key, False) if key else False
        values = [summary_value(r, group, key) for r in rows]
        valid = [(v, i) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
        if len(valid) >= 2:
            out[title] = (min(valid) if lower else max(valid))[1]
    return out


# -- config diff ---------------------------------------------------------------------------


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested TOML tables -> dotted keys (arrays of tables are kept as values)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


MISSING = object()


def config_diff(runs: Sequence[CompareRun]) -> list[tuple[str, list[Any]]]:
    """[(dotted key, [value per run])] for keys whose values differ, sorted by key.

    Only runs with a config.toml take part; a key absent from some of them differs
    (the value is `MISSING` there).
    """
    flat = [flatten(r.config) for r in runs if r.config]
    if len(flat) < 2:
        return []
    keys = sorted(set().union(*flat))
    diff = []
    for key in keys:
        values = [f.get(key, MISSING) for f in flat]
        if any(v != values[0] or (v is MISSING) != (values[0] is MISSING) for v in values[1:]):
            diff.append((key, values))
    return diff


def format_value(v: Any) -> str:
    if v is MISSING:
        return "—"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


# -- series for plotting ----------------------------------------------------------------


def x_values(series: ScalarSeries, axis: str) -> np.ndarray:
    """x for `axis`: step, seconds since the first point ('relative'), or wall time."""
    if axis == "step":
        return series.steps.astype(np.float64)
    if axis == "relative":
        return series.relative_times
    if axis == "wall":
        return series.wall_times
    raise ValueError(f"unknown x axis {axis!r}; expected one of {X_AXES}")


def plot_values(series: ScalarSeries, weight: float, log_y: bool) -> np.ndarray:
    """Smoothed (TensorBoard's EMA) y; with log_y, log10 and non-positive values dropped."""
    y = smooth(series.values, weight) if weight > 0 else series.values.astype(np.float64)
    if log_y:
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.where(y > 0, np.log10(np.where(y > 0, y, 1.0)), np.nan)
    return y


def thin(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ~max_points points, keeping each bucket's first, min and max (spikes stay)."""
    n = len(x)
    if n <= max_points or max_points < 4:
        return x, y
    buckets = max(1, max_points // 3)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    keep = [edges[:-1], [n - 1]]
    filled = np.where(np.isfinite(y), y, np.nan)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if hi - lo > 2:
            seg = filled[lo:hi]
            if np.isfinite(seg).any():
                keep.append([lo + int(np.nanargmin(seg)), lo + int(np.nanargmax(seg))])
    idx = np.unique(np.concatenate([np.asarray(k, dtype=np.int64) for k in keep]))
    return x[idx], y[idx]


# -- CSV ----------------------------------------------------------------------------------


def write_csv(runs: Sequence[CompareRun], tags: Sequence[str], out: TextIO) -> int:
    """Every raw point (no smoothing) as run,tag,step,wall_time,value; returns rows written.

    Floats are written with repr(), which round-trips exactly.
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["run", "tag", "step", "wall_time", "value"])
    rows = 0
    for run in runs:
        for tag in tags:
            s = run.scalars(tag)
            for step, wall, value in zip(
                s.steps.tolist(), s.wall_times.tolist(), s.values.tolist(), strict=True
            ):
                writer.writerow([run.name, tag, step, repr(wall), repr(value)])
                rows += 1
    return rows
