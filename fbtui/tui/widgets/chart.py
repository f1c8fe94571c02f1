"""One chart: a title line with the latest values and a textual-plot `PlotWidget` of one
group of tags against step (noisy train curves drawn raw and dimmed, smoothed on top)."""

from __future__ import annotations

import math
from contextlib import ExitStack

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widgets import Static
from textual_hires_canvas import Canvas
from textual_plot import HiResMode, NumericAxisFormatter, PlotWidget

from fbtui.tb import ScalarSeries, smooth, y_range
from fbtui.tui import fmt

#: Line colours, from the 8 basic ANSI names (readable with 16 colours).
LINE_STYLES = ("green", "yellow", "cyan", "magenta", "red", "blue")
# Per line; more are thinned before plotting. Braille has 2 dots per cell, so this is
# enough for any chart up to 300 columns, and the cost of a repaint stays bounded.
MAX_POINTS = 600


def thin(steps: np.ndarray, values: np.ndarray, limit: int = MAX_POINTS):
    """At most ~`limit` points, evenly strided, always keeping the last one."""
    n = len(steps)
    if n <= limit:
        return steps, values
    idx = np.unique(np.append(np.linspace(0, n - 1, limit).astype(np.int64), n - 1))
    return steps[idx], values[idx]


def compact_number(x: float) -> str:
    """A step count in at most ~5 cells: 950, 1.2k, 15k, 1.2M."""
    a = abs(x)
    for div, unit in ((1e6, "M"), (1e3, "k")):
        if a >= div:
            text = f"{x / div:.1f}".rstrip("0").rstrip(".")
            return f"{text}{unit}"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:g}"


class CompactFormatter(NumericAxisFormatter):
    """Ticks at nice values, at most `max_ticks` of them, each labelled in at most `width`
    cells (scientific notation when the values are huge or tiny: '1.5e27', not a cut
    '149999'). The plot cuts longer labels to its left margin silently."""

    def __init__(self, width: int = 6, max_ticks: int = 8) -> None:
        self.width = width
        self.max_ticks = max_ticks

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        if not (math.isfinite(min_) and math.isfinite(max_)) or max_ <= min_:
            return []
        ticks = super().get_ticks(min_, max_, max_ticks)
        while len(ticks) > max(1, self.max_ticks):
            ticks = ticks[::2]
        return ticks

    def get_labels_for_ticks(self, ticks) -> list[str]:
        return fmt.axis_labels(ticks, self.width)


class StepFormatter(CompactFormatter):
    """x ticks at whole steps (never '2.5' on a short run), few enough for the chart's
    width, labelled compactly (1.2k, 15k)."""

    def __init__(self, max_ticks: int = 5) -> None:
        super().__init__(width=5, max_ticks=max_ticks)

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        ticks = super().get_ticks(min_, max_, max_ticks)
        if len(ticks) > 1 and ticks[1] - ticks[0] < 1:  # a few steps: one tick per step
            ticks = [float(t) for t in range(math.ceil(min_), math.floor(max_) + 1)]
            while len(ticks) > max(1, self.max_ticks):
                ticks = ticks[::2]
        return [t for t in ticks if float(t).is_integer()]

    def get_labels_for_ticks(self, ticks) -> list[str]:
        return [compact_number(t) for t in ticks]


def step_limits(steps: list[np.ndarray]) -> tuple[float | None, float | None]:
    """The x range for these steps; a single step gets one step either side (textual-plot
    would pad it by 1e-6 and label every tick with the same step)."""
    finite = [s[np.isfinite(s)] for s in steps if len(s)]
    finite = [s for s in finite if len(s)]
    if not finite:
        return None, None
    lo = float(min(s.min() for s in finite))
    hi = float(max(s.max() for s in finite))
    if hi > lo:
        return None, None  # autoscale
    return (0.0, 2.0 * lo) if lo > 0 else (lo - 1.0, hi + 1.0)


class StyledOnceCanvas(Canvas):
    """A Canvas that works out its base style once per repaint. The stock one asks for
    `rich_style` on every line, and each ask walks the DOM up to the screen blending
    backgrounds: a third of the cost of repainting a live chart."""

    _style_now: Style | None = None

    def render_lines(self, crop):
        self._style_now = None  # styles may have changed since the last repaint
        try:
            return super().render_lines(crop)
        finally:
            self._style_now = None

    @property
    def rich_style(self) -> Style:
        if self._style_now is None:
            self._style_now = super().rich_style
        return self._style_now


class Plot(PlotWidget):
    """textual-plot's widget, drawn in one frame per update.

    The stock widget draws its canvases inside its own `render`, which marks the canvases
    dirty again: every update cost two frames, the second repainting the whole plot. A
    live chart updates every couple of seconds, so `draw_now` draws the canvases when the
    data is set, and the frame that follows paints them once."""

    def on_mount(self) -> None:
        # the stock widget composes plain canvases (runs after PlotWidget.on_mount)
        for canvas in self.query(Canvas):
            if type(canvas) is Canvas:
                canvas.__class__ = StyledOnceCanvas

    def draw_now(self) -> None:
        if getattr(self, "_needs_rerender", True) and self.is_mounted and self.size:
            with ExitStack() as stack:
                # one refresh per canvas, not one per pixel run, tick and label drawn
                for canvas in self.query(Canvas):
                    stack.enter_context(canvas.batch_refresh())
                self.render()


class Chart(Vertical):
    """A title line and a plot of one group of tags against step."""

    def __init__(self, view: tuple[str, ...], data: dict[str, ScalarSeries], **kwargs) -> None:
        super().__init__(**kwargs)
        self.view = view
        self.data = data
        self._ready = False
        self._title = ""

    def compose(self) -> ComposeResult:
        yield Static("", classes="chart-title")
        plot = Plot(allow_pan_and_zoom=False)
        plot.can_focus = False
        # set_reactive: the watchers need the plot's grid, which exists only once mounted
        plot.set_reactive(PlotWidget.margin_top, 0)
        plot.set_reactive(PlotWidget.margin_bottom, 1)
        plot.set_reactive(PlotWidget.margin_left, 7)
        self.x_formatter = StepFormatter()
        plot.set_x_formatter(self.x_formatter)
        plot.set_y_formatter(CompactFormatter(width=6, max_ticks=8))  # margin_left 7
        yield plot

    def on_mount(self) -> None:
        self.call_after_refresh(self._first_render)

    def _first_render(self) -> None:
        self._ready = True
        self._paint()

    def _max_ticks(self) -> int:
        # a label takes up to 5 cells; keep two cells between neighbours
        return max(2, (self.size.width - 9) // 7) if self.size.width else 5

    def on_resize(self) -> None:
        if self._max_ticks() != self.x_formatter.max_ticks and self._ready:
            self._paint()  # the ticks are drawn with the plot: draw it again

    def show(self, view: tuple[str, ...], data: dict[str, ScalarSeries]) -> None:
        """Chart these tags (painted now, or as soon as the plot is mounted)."""
        self.view, self.data = view, data
        if self._ready:
            self._paint()

    def _paint(self) -> None:
        if not self.is_attached:
            return
        try:
            plot = self.query_one(Plot)
            plot.query_one("#legend")
            title_box = self.query_one(".chart-title", Static)
        except NoMatches:  # the plot composes on the next refresh
            self.call_after_refresh(self._paint)
            return
        self.x_formatter.max_ticks = self._max_ticks()
        plot.clear()
        title = Text()
        shown: list[np.ndarray] = []
        steps_shown: list[np.ndarray] = []
        for i, tag in enumerate(self.view):
            style = LINE_STYLES[i % len(LINE_STYLES)]
            series = self.data.get(tag)
            if i:
                title.append(" · ")
            title.append(tag, style=f"bold {style}")
            if series is None or not len(series):
                continue
            title.append(f" {_short(float(series.values[-1]))}")
            shown.append(series.values)
            steps_shown.append(np.asarray(series.steps, dtype=float))
            steps, values = thin(series.steps, series.values)
            if tag.startswith("train/") and len(series) > 8:  # noisy: raw dim, smoothed bright
                plot.plot(steps, values, line_style=f"dim {style}", hires_mode=HiResMode.BRAILLE)
                # smoothed over every point, then thinned like the raw line
                steps, values = thin(series.steps, smooth(series.values))
            plot.plot(steps, values, line_style=style, hires_mode=HiResMode.BRAILLE)
        plot.set_ylimits(*chart_y_range(shown))
        plot.set_xlimits(*step_limits(steps_shown))
        plot.draw_now()
        title.no_wrap = True
        title.overflow = "ellipsis"
        if title.markup != self._title:
            self._title = title.markup
            title_box.update(title, layout=False)


def chart_y_range(series: list[np.ndarray]) -> tuple[float | None, float | None]:
    """TensorBoard's y range (outliers beyond the 5th-95th percentiles ignored, padded),
    except that a flat line (a constant learning rate) gets a range around its value."""
    if not series:
        return None, None
    values = np.concatenate(series)
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return None, None
    lo, hi = float(finite.min()), float(finite.max())
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return (lo * 0.5, lo * 1.5) if lo > 0 else (lo * 1.5, lo * 0.5) if lo < 0 else (-1.0, 1.0)
    return y_range(finite)


def _short(v: float) -> str:
    if not math.isfinite(v):
        return str(v)
    a = abs(v)
    return f"{v:.3g}" if a and (a < 1e-3 or a >= 1e4) else f"{v:.4f}".rstrip("0").rstrip(".")
