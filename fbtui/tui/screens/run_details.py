"""`enter`: one run's details — summary, resolved config and the predictions scatter.

Files are read in a worker (predictions.csv of the full test split is a few thousand rows)
and the result painted when it arrives.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.syntax import Syntax
from rich.table import Table
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static, TabbedContent, TabPane
from textual_plot import HiResMode, LegendLocation, PlotWidget

from fbtui.metrics import score_metrics
from fbtui.runs import RunInfo, describe
from fbtui.runs.layout import CONFIG, PREDICTIONS
from fbtui.tui import fmt
from fbtui.tui.widgets.chart import CompactFormatter

METRICS = ("mse", "mae", "rmse", "pc")

_GROUP = re.compile(r"^(AF|AM|CF|CM)\d", re.IGNORECASE)
_OLD_GROUP = {"fty": "AF", "mty": "AM", "ftw": "CF", "mtw": "CM"}
GROUP_STYLE = {"AF": "red", "AM": "blue", "CF": "green", "CM": "yellow", "": "white"}


def group_of(filename: str) -> str:
    """SCUT-FBP5500 subgroup from an image name (AF/AM/CF/CM), '' when unknown."""
    name = Path(filename).name
    m = _GROUP.match(name)
    if m:
        return m.group(1).upper()
    return _OLD_GROUP.get(name[:3].lower(), "")


@dataclass
class Predictions:
    """predictions.csv as arrays, with its metrics."""

    target: np.ndarray
    prediction: np.ndarray
    groups: list[str]
    metrics: dict[str, float] = field(default_factory=dict)


def read_predictions(path: Path) -> Predictions | None:
    """Read `filename,target,prediction,...`; None when missing or empty. Raises ValueError
    naming the row when a number does not parse."""
    try:
        f = open(path, newline="", encoding="utf-8")
    except FileNotFoundError:
        return None
    target, pred, groups = [], [], []
    with f:
        for i, row in enumerate(csv.DictReader(f), start=2):
            try:
                target.append(float(row["target"]))
                pred.append(float(row["prediction"]))
            except (KeyError, TypeError, ValueError):
                raise ValueError(
                    f"{path.name} row {i}: expected numeric target,prediction"
                ) from None
            groups.append(group_of(row.get("filename") or ""))
    if not target:
        return None
    t, p = np.asarray(target), np.asarray(pred)
    return Predictions(t, p, groups, score_metrics(t, p))


def kind_text(run: RunInfo) -> str:
    """'fbtui run', 'TensorBoard logdir', 'sweep' or 'k-fold group'."""
    if run.kind == "group":
        return "sweep" if run.summary.get("kind") == "sweep" else "k-fold group"
    return {"fbtui": "fbtui run", "logdir": "TensorBoard logdir"}.get(run.kind, run.kind)


def summary_table(run: RunInfo) -> Table:
    """State, times and metrics of one run as a two-column table."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    status, summary = run.status, run.summary

    def row(key: str, value: Any) -> None:
        if value not in (None, "", {}):
            table.add_row(key, str(value))

    row("run", run.name)
    row("folder", run.path)
    row("kind", kind_text(run))
    row("state", run.state)
    row("error", status.get("error") or run.error)
    row("started", fmt.timestamp(run.started))
    row("wall time", fmt.duration(summary.get("wall_time_s") or run.duration))
    if run.epochs:
        row("epoch", f"{run.epoch}/{run.epochs}")
    row("step", status.get("step"))
    row("device", status.get("device"))
    row("host / pid", f"{status.get('host', '')} {status.get('pid', '')}".strip())
    b = run.best
    if b:
        row(
            "best (test)",
            f"mse {fmt.metric(b.get('mse'))}  mae {fmt.metric(b.get('mae'))}  "
            f"rmse {fmt.metric(b.get('rmse'))}  pc {fmt.metric(b.get('pc'))}  epoch {b.get('epoch', '?')}",
        )
    final = summary.get("final") or status.get("last") or {}
    if final:
        row(
            "last (test)",
            f"mse {fmt.metric(final.get('mse'))}  mae {fmt.metric(final.get('mae'))}  "
            f"rmse {fmt.metric(final.get('rmse'))}  pc {fmt.metric(final.get('pc'))}",
        )
    if run.kind == "group" and summary.get("kind") != "sweep":
        for label, block in (
            ("final epoch (mean ± std)", summary.get("final_epoch")),
            ("best epoch (mean ± std)", summary),  # the older top-level keys
        ):
            row(label, mean_std_text(block))
    ips = summary.get("img_per_s") or status.get("img_per_s")
    if isinstance(ips, (int, float)):
        row("images/s", f"{ips:.0f}")
    row(
        "train / test images",
        _pair(
            summary.get("train_images") or status.get("train_images"),
            summary.get("test_images") or status.get("test_images"),
        ),
    )
    return table


def mean_std_text(block: Any) -> str:
    """'mse 0.3187±0.0141  pc 0.8712±0.0100 (5 folds)' from a kfold.json block with
    `mean`/`std`/`n` (the final-epoch one or the top-level best-epoch one); '' without."""
    if not isinstance(block, dict) or not isinstance(block.get("mean"), dict):
        return ""
    mean, std = block["mean"], block.get("std") if isinstance(block.get("std"), dict) else {}
    parts = []
    for m in METRICS:
        if m in mean and fmt.metric(mean[m]):
            sd = fmt.metric(std.get(m))
            parts.append(f"{m} {fmt.metric(mean[m])}" + (f"±{sd}" if sd else ""))
    if not parts:
        return ""
    n = block.get("n")
    return "  ".join(parts) + (f"  ({n} fold{'' if n == 1 else 's'})" if isinstance(n, int) else "")


def _pair(a: Any, b: Any) -> str:
    return "" if a is None and b is None else f"{a} / {b}"


class RunDetailsScreen(Screen):
    """Tabs: Summary, Config, Predictions. 1/2/3 switch, esc goes back."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
        Binding("1", "tab('summary')", "Summary"),
        Binding("2", "tab('config')", "Config"),
        Binding("3", "tab('predictions')", "Predictions"),
    ]

    class Loaded(Message):
        """The run's files, read by the loader worker."""

        def __init__(self, run: RunInfo, config: str | None, preds: Predictions | None, error: str):
            self.run = run
            self.config = config
            self.preds = preds
            self.error = error
            super().__init__()

    def __init__(self, run: RunInfo) -> None:
        super().__init__()
        self.run = run

    def compose(self) -> ComposeResult:
        yield Static(f"[b]details[/b] {self.run.name}", id="title")
        with TabbedContent(initial="summary"):
            with TabPane("Summary", id="summary"):
                with VerticalScroll():
                    yield Static(summary_table(self.run), id="summary-body")
            with TabPane("Config", id="config"):
                with VerticalScroll():
                    yield Static("reading …", id="config-body")
            with TabPane("Predictions", id="predictions"):
                yield Static("reading …", id="pred-title")
                plot = PlotWidget(id="pred-plot", allow_pan_and_zoom=False)
                plot.can_focus = False
                # labels that fit the margin (a diverged run predicts 1e31, not '499999999')
                plot.set_x_formatter(CompactFormatter(width=7, max_ticks=9))
                plot.set_y_formatter(CompactFormatter(width=9, max_ticks=10))
                yield plot
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, group="details", exclusive=True)
    def _load(self) -> None:
        run = describe(self.run.path) if self.run.kind != "group" else self.run
        run.name = self.run.name
        config = None
        try:
            config = (self.run.path / CONFIG).read_text(encoding="utf-8")
        except FileNotFoundError:
            pass
        except (OSError, UnicodeDecodeError) as e:
            config = f"# cannot read {CONFIG}: {e}"
        error = ""
        preds = None
        try:
            preds = read_predictions(self.run.path / PREDICTIONS)
        except (OSError, ValueError) as e:
            error = str(e)
        self.post_message(self.Loaded(run, config, preds, error))

    def on_run_details_screen_loaded(self, event: Loaded) -> None:
        self.run = event.run
        self.query_one("#summary-body", Static).update(summary_table(event.run))
        body = self.query_one("#config-body", Static)
        if event.config is None:
            body.update(
                f"no {CONFIG}: "
                + (
                    "a plain TensorBoard logdir"
                    if event.run.kind == "logdir"
                    else "not written yet"
                )
            )
        else:
            body.update(Syntax(event.config, "toml", theme="ansi_dark", background_color="default"))
        self._paint_predictions(event.preds, event.error)

    def _paint_predictions(self, preds: Predictions | None, error: str) -> None:
        title = self.query_one("#pred-title", Static)
        plot = self.query_one("#pred-plot", PlotWidget)
        if preds is None:
            title.update(error or f"no {PREDICTIONS} (written at the best epoch of fbtui runs)")
            plot.display = False
            return
        m = preds.metrics
        # short enough for 80 columns (the axes say prediction against target)
        title.update(
            f"{len(preds.target)} test images · mse {fmt.metric(m['mse'])}"
            f" · mae {fmt.metric(m['mae'])} · pc {fmt.metric(m['pc'])}"
        )
        plot.clear()
        lo = float(min(preds.target.min(), preds.prediction.min(), 1.0))
        hi = float(max(preds.target.max(), preds.prediction.max(), 5.0))
        plot.plot(
            [lo, hi],
            [lo, hi],
            line_style="bright_black",
            hires_mode=HiResMode.BRAILLE,
            label="y = x",
        )
        groups = np.asarray(preds.groups)
        for g in sorted(set(preds.groups)):
            mask = groups == g
            plot.scatter(
                preds.target[mask],
                preds.prediction[mask],
                marker_style=GROUP_STYLE.get(g, "white"),
                hires_mode=HiResMode.BRAILLE,
                label=g or "test",
            )
        plot.set_xlabel("target")
        plot.set_ylabel("prediction")
        plot.show_legend(LegendLocation.TOPLEFT)
        if math.isfinite(lo) and math.isfinite(hi):
            plot.set_xlimits(lo, hi)
            plot.set_ylimits(lo, hi)

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_back(self) -> None:
        self.app.pop_screen()
