"""Widgets of the compare screen: a chart per tag, the summary table, the config diff."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widgets import DataTable, Static
from textual_plot import (
    AxisFormatter,
    DurationFormatter,
    HiResMode,
    NumericAxisFormatter,
    PlotWidget,
)

from fbtui.tb.compare import (
    SUMMARY_COLUMNS,
    CompareRun,
    best_in_columns,
    config_diff,
    format_value,
    plot_values,
    summary_value,
    thin,
    x_values,
)
from fbtui.tb.smoothing import y_range
from fbtui.tui import fmt
from fbtui.tui.compare.plain import fmt_number, summary_rows, x_limits
from fbtui.tui.widgets.chart import CompactFormatter, StepFormatter

# Named ANSI colours: with a 16-colour terminal (or the ansi theme) these are the
# terminal's own palette, so every run stays readable.
RUN_COLORS = ["red", "green", "yellow", "blue", "magenta", "cyan", "bright_red", "bright_green"]
SMOOTHING_LEVELS = [0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999]


def run_color(i: int) -> str:
    return RUN_COLORS[i % len(RUN_COLORS)]


@dataclass
class ViewSettings:
    """What the compare screen's keys change."""

    smoothing: float = 0.6
    x_axis: str = "step"  # step | relative | wall
    log_y: bool = False
    ignore_outliers: bool = True  # TensorBoard's 5th-95th percentile y range
    tag_pattern: str = ""
    show_raw: bool = True  # the unsmoothed curve, faint, behind the smoothed one

    def describe(self) -> str:
        raw = " · raw" if self.show_raw and self.smoothing > 0 else ""
        return (
            f"smoothing {self.smoothing:g}{raw} · x {self.x_axis} · "
            f"log-y {'on' if self.log_y else 'off'}"
            f" · outliers {'ignored' if self.ignore_outliers else 'shown'}"
        )


class LogAxisFormatter(AxisFormatter):
    """Ticks on log10(y), labelled with y itself."""

    def __init__(self) -> None:
        self._numeric = NumericAxisFormatter()

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        return self._numeric.get_ticks(min_, max_, max_ticks)

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        return [f"{10.0**t:.3g}" for t in ticks]


class ClockAxisFormatter(AxisFormatter):
    """Wall-clock ticks (local time): HH:MM, with the date once the span passes a day."""

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        span = max(max_ - min_, 1.0)
        steps = [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400, 604800]
        step = next((s for s in steps if span / s <= max(max_ticks - 1, 1)), steps[-1])
        first = np.ceil(min_ / step) * step
        return [float(t) for t in np.arange(first, max_ + step / 2, step)]

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        if not ticks:
            return []
        fmt = "%m-%d %H:%M" if ticks[-1] - ticks[0] >= 86400 else "%H:%M"
        if len(ticks) > 1 and ticks[1] - ticks[0] < 60:
            fmt = "%H:%M:%S"
        return [time.strftime(fmt, time.localtime(t)) for t in ticks]


def _short(v: float) -> str:
    if not np.isfinite(v):
        return str(v)
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
        return fmt.metric(v, 4, 8)  # '9.58e+62', as the summary and the dashboard
    return f"{v:.4g}" if abs(v) >= 1 else f"{v:.4f}"


class ComparePlot(PlotWidget, inherit_bindings=False):
    """textual-plot's PlotWidget with its keys kept (+/- zoom, arrows pan) but out of the
    footer (seven more entries do not fit 80 columns), and without its `r`: on the
    compare screen `r` toggles the raw curves, and `0` resets every chart's zoom/pan."""

    BINDINGS = [
        Binding("+", "zoom_in", "Zoom in", show=False),
        Binding("-", "zoom_out", "Zoom out", show=False),
        Binding("ctrl+equals_sign", "zoom_x_in", "Zoom X in", show=False),
        Binding("ctrl+minus", "zoom_x_out", "Zoom X out", show=False),
        Binding("ctrl+shift+equals_sign", "zoom_y_in", "Zoom Y in", show=False),
        Binding("ctrl+shift+minus", "zoom_y_out", "Zoom Y out", show=False),
        Binding("left", "pan_left", "Pan left", show=False),
        Binding("right", "pan_right", "Pan right", show=False),
        Binding("up", "pan_up", "Pan up", show=False),
        Binding("down", "pan_down", "Pan down", show=False),
    ]


class TagChart(Vertical):
    """One tag: a title with every run's last value, and the runs overlaid on a plot."""

    DEFAULT_CSS = """
    TagChart { height: 12; }
    TagChart > .chart-title { height: 1; padding: 0 1; }
    TagChart > PlotWidget { height: 11; }
    """

    def __init__(
        self, tag: str, runs: Sequence[CompareRun] = (), view: ViewSettings | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.tag = tag
        self.runs = list(runs)
        self.view = view or ViewSettings()

    def compose(self) -> ComposeResult:
        yield Static(Text(self.tag, style="bold"), classes="chart-title")
        plot = ComparePlot(allow_pan_and_zoom=True)
        # before mount, without watchers: the plot applies them when it mounts
        plot.set_reactive(PlotWidget.margin_top, 0)
        plot.set_reactive(PlotWidget.margin_bottom, 1)
        yield plot

    def on_mount(self) -> None:
        self.draw()

    def draw(
        self, runs: Sequence[CompareRun] | None = None, view: ViewSettings | None = None
    ) -> None:
        """Replot every run's curve for this tag (with new runs/settings if given)."""
        if runs is not None:
            self.runs = list(runs)
        if view is not None:
            self.view = view
        runs, view = self.runs, self.view
        try:
            plot = self.query_one(PlotWidget)
            title_widget = self.query_one(".chart-title", Static)
        except NoMatches:  # not composed yet (it draws on mount) or being removed
            return
        plot.clear()
        title = Text(self.tag, style="bold")
        plotted = []
        xs = []  # each curve's first and last x, for the x range
        width = max(plot.size.width, 60)
        for i, run in enumerate(runs):
            s = run.scalars(self.tag)
            if len(s) == 0:
                continue
            title.append("  ")
            title.append(f"{_short(float(s.values[-1]))}", style=run_color(i))
            x = x_values(s, view.x_axis)
            y = plot_values(s, view.smoothing, view.log_y)
            ok = np.isfinite(x) & np.isfinite(y)
            if not ok.any():
                continue
            plotted.append(y[ok])
            xs += [x[ok].min(), x[ok].max()]
            if view.show_raw and view.smoothing > 0:  # as TensorBoard: raw faint underneath
                raw = plot_values(s, 0.0, view.log_y)
                keep = np.isfinite(x) & np.isfinite(raw)
                plotted.append(raw[keep])  # the y range covers it (outliers still ignored)
                rx, ry = thin(x[keep], raw[keep], width * 4)
                plot.plot(rx, ry, line_style=f"dim {run_color(i)}", hires_mode=HiResMode.BRAILLE)
            tx, ty = thin(x[ok], y[ok], width * 4)
            plot.plot(tx, ty, line_style=run_color(i), hires_mode=HiResMode.BRAILLE, label=run.name)
        title_widget.update(title)
        if plotted:
            lo, hi = y_range(np.concatenate(plotted), view.ignore_outliers)
            plot.set_ylimits(lo, hi)
        else:
            plot.set_ylimits(None, None)
        if xs and min(xs) == max(xs):  # one step: padded, the point in the middle
            plot.set_xlimits(*x_limits(np.array(xs)))
        else:
            plot.set_xlimits(None, None)
        label_width = max(4, plot.margin_left - 1)  # the plot cuts longer labels
        plot.set_y_formatter(
            LogAxisFormatter() if view.log_y else CompactFormatter(width=label_width, max_ticks=10)
        )
        x_formatter = {
            "step": StepFormatter,  # whole steps: never '2.5' on a short run
            "relative": DurationFormatter,
            "wall": ClockAxisFormatter,
        }[view.x_axis]()
        if isinstance(x_formatter, StepFormatter):
            x_formatter.max_ticks = 10  # as many as the stock formatter gives
        plot.set_x_formatter(x_formatter)


class SummaryTable(DataTable):
    """Best and last test metrics per run, the best of each metric in reverse video.

    A few runs are columns (metrics down the side: fits 80 columns); many runs are rows.
    """

    def show(self, runs: Sequence[CompareRun], width: int = 80) -> None:
        rows = summary_rows(runs)
        best = best_in_columns(rows)
        self.clear(columns=True)
        cells = [
            [
                fmt_number(summary_value(row, group, key), key or group)
                for _, group, key in SUMMARY_COLUMNS
            ]
            for row in rows
        ]
        if 12 + sum(max(len(r.run), 7) + 2 for r in rows) <= width:
            self.add_column("", key="metric")
            for i, row in enumerate(rows):
                self.add_column(Text(row.run, style=run_color(i), justify="right"), key=f"run{i}")
            for c, (title, _, _) in enumerate(SUMMARY_COLUMNS):
                self.add_row(
                    title,
                    *(self._cell(cells[i][c], best.get(title) == i) for i in range(len(rows))),
                    key=title,
                )
            return
        self.add_column("run", key="run")
        for title, _, _ in SUMMARY_COLUMNS:
            self.add_column(title, key=title)
        for i, row in enumerate(rows):
            self.add_row(
                Text(row.run, style=run_color(i)),
                *(
                    self._cell(cells[i][c], best.get(t) == i)
                    for c, (t, _, _) in enumerate(SUMMARY_COLUMNS)
                ),
                key=str(i),
            )

    @staticmethod
    def _cell(text: str, best: bool) -> Text:
        return Text(text, style="bold reverse" if best else "", justify="right")


class ConfigDiffTable(DataTable):
    """Only the config keys that differ between the runs' config.toml files."""

    def show(self, runs: Sequence[CompareRun]) -> str | None:
        """Fill the table; return a message when there is nothing to tabulate."""
        self.clear(columns=True)
        with_config = [(i, r) for i, r in enumerate(runs) if r.config]
        if len(with_config) < 2:
            return "A config diff needs at least two runs with a config.toml (fbtui runs)."
        diff = config_diff(runs)
        if not diff:
            return "The runs' configs are identical."
        self.add_column("key", key="key")
        for i, r in with_config:
            self.add_column(Text(r.name, style=run_color(i)), key=f"run{i}")
        for key, values in diff:
            self.add_row(key, *(format_value(v) for v in values), key=key)
        return None
