"""The selected run's live view: latest figures, progress with ETA, and charts against step.

A thread worker (group "metrics", exclusive) polls the run's event files through the
incremental reader of `fbtui.tb` — an unchanged run costs a stat — and its status.json,
and posts `MetricsPanel.Appended`; the handler repaints only the charts whose tags changed.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static
from textual_plot import HiResMode, NumericAxisFormatter, PlotWidget

from fbtui.runs import RunInfo
from fbtui.runs.status import UnreadableStatus, effective_state, read_status
from fbtui.tb import LogdirReader, ScalarSeries, smooth
from fbtui.tui import fmt
from fbtui.tui.alerts import INPUT_BOUND_FRAC, INPUT_HINT
from fbtui.tui.widgets.run_table import STATE_STYLE

#: The charts shown first, in order; each is a group of tags drawn on one chart.
DEFAULT_VIEWS: tuple[tuple[str, ...], ...] = (("train/loss", "test/mse"), ("lr",))
#: Line colours, from the 8 basic ANSI names (readable with 16 colours).
LINE_STYLES = ("green", "yellow", "cyan", "magenta", "red", "blue")
#: Figures in the figures line: (tag, label, digits).
FIGURES = (
    ("train/loss", "loss", 4),
    ("test/mse", "test mse", 4),
    ("test/mae", "mae", 3),
    ("test/pc", "pc", 3),
)
CHART_MIN_WIDTH = 36  # below this a chart is unreadable: show fewer, wider ones
MAX_POINTS = 2000  # per line; more are thinned before plotting


def thin(steps: np.ndarray, values: np.ndarray, limit: int = MAX_POINTS):
    """At most ~`limit` points, evenly strided, always keeping the last one."""
    n = len(steps)
    if n <= limit:
        return steps, values
    idx = np.unique(np.append(np.linspace(0, n - 1, limit).astype(np.int64), n - 1))
    return steps[idx], values[idx]


def chart_views(tags: list[str]) -> list[tuple[str, ...]]:
    """Default charts that have data, then one chart per remaining tag (sorted)."""
    present = set(tags)
    views = []
    used: set[str] = set()
    for view in DEFAULT_VIEWS:
        have = tuple(t for t in view if t in present)
        if have:
            views.append(have)
            used.update(have)
    views += [(t,) for t in sorted(present - used)]
    return views


@dataclass
class RunProgress:
    """Epoch/step progress and the ETA, from status.json and the step rate seen so far."""

    step: int = 0
    total: int = 0
    epoch: int = 0
    epochs: int = 0
    eta_s: float | None = None

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total) if self.total else 0.0


def progress_of(status: dict[str, Any], rate: float | None) -> RunProgress:
    """Where a run is. `rate` is steps/s measured from heartbeats (None: unknown yet)."""
    spe = status.get("steps_per_epoch")
    epochs = status.get("epochs") or 0
    step = status.get("step") or 0
    if not isinstance(spe, int) or spe <= 0 or not isinstance(step, int):
        return RunProgress(epoch=status.get("epoch") or 0, epochs=epochs)
    total = spe * epochs
    epoch = min(epochs, step // spe + (1 if step < total else 0)) if epochs else 0
    if status.get("state") == "finished":
        step, epoch = total, epochs
    eta = None
    if rate and rate > 0 and status.get("state") == "running":
        eta = max(0.0, (total - step) / rate)
    return RunProgress(step=step, total=total, epoch=epoch, epochs=epochs, eta_s=eta)


class StepRate:
    """Steps per second from (heartbeat time, step) pairs of status.json — the trainer's
    own clock, so the ETA does not depend on when the dashboard happened to look."""

    def __init__(self, window_s: float = 120.0) -> None:
        self.window_s = window_s
        self.points: list[tuple[float, int]] = []

    def add(self, status: dict[str, Any]) -> None:
        t, step = status.get("updated"), status.get("step")
        if not isinstance(t, (int, float)) or not isinstance(step, int):
            return
        if self.points and (t <= self.points[-1][0] or step < self.points[-1][1]):
            if step < self.points[-1][1]:  # resumed from an earlier checkpoint
                self.points.clear()
            else:
                return
        self.points.append((float(t), step))
        while len(self.points) > 2 and t - self.points[0][0] > self.window_s:
            self.points.pop(0)

    def rate(self, status: dict[str, Any], now: float) -> float | None:
        if len(self.points) >= 2:
            (t0, s0), (t1, s1) = self.points[0], self.points[-1]
            if t1 > t0 and s1 > s0:
                return (s1 - s0) / (t1 - t0)
        # before two heartbeats: the average since the start (includes set-up time)
        started, step = status.get("started"), status.get("step")
        if isinstance(started, (int, float)) and isinstance(step, int) and step and now > started:
            return step / (now - started)
        return None


@dataclass
class Snapshot:
    """What one poll found: every tag's series when anything changed, and the status."""

    series: dict[str, ScalarSeries] | None = None  # None: no scalar changed
    status: dict[str, Any] | None = None
    state: str = ""
    error: str = ""


class RunSource:
    """One run's scalars and status, read incrementally. Thread-safe (one poll at a time)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.reader = LogdirReader(self.path)
        self.lock = threading.Lock()

    def poll(self, first: bool) -> Snapshot:
        """Read what is new. Unchanged event files cost a stat each; the series handed
        out are immutable, so the main thread may keep them while the next poll runs."""
        with self.lock:
            snap = Snapshot()
            try:
                changed = self.reader.poll()
            except OSError as e:
                snap.error, changed = f"cannot read events: {e}", False
            if changed or first:
                snap.series = {t: self.reader.scalars(t) for t in self.reader.tags()}
            if self.reader.warnings:
                snap.error = f"{len(self.reader.warnings)} event-file warnings; last: {self.reader.warnings[-1]}"
            try:
                status = read_status(self.path)
            except UnreadableStatus as e:
                status, snap.error = None, str(e)
            if status:
                snap.status = status
                snap.state = effective_state(status)
            return snap


def compact_number(x: float) -> str:
    """A step count in at most ~5 cells: 950, 1.2k, 15k, 1.2M."""
    a = abs(x)
    for div, unit in ((1e6, "M"), (1e3, "k")):
        if a >= div:
            text = f"{x / div:.1f}".rstrip("0").rstrip(".")
            return f"{text}{unit}"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:g}"


class StepFormatter(NumericAxisFormatter):
    """x ticks at nice steps, few enough for the chart's width, labelled compactly."""

    def __init__(self) -> None:
        self.max_ticks = 5

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        ticks = super().get_ticks(min_, max_, max_ticks)
        while len(ticks) > self.max_ticks:
            ticks = ticks[::2]
        return ticks

    def get_labels_for_ticks(self, ticks) -> list[str]:
        return [compact_number(t) for t in ticks]


class Chart(Vertical):
    """A title line and a plot of one group of tags against step."""

    def __init__(self, view: tuple[str, ...], data: dict[str, ScalarSeries], **kwargs) -> None:
        super().__init__(**kwargs)
        self.view = view
        self.data = data
        self._ready = False

    def compose(self) -> ComposeResult:
        yield Static("", classes="chart-title")
        plot = PlotWidget(allow_pan_and_zoom=False)
        plot.can_focus = False
        # set_reactive: the watchers need the plot's grid, which exists only once mounted
        plot.set_reactive(PlotWidget.margin_top, 0)
        plot.set_reactive(PlotWidget.margin_bottom, 1)
        plot.set_reactive(PlotWidget.margin_left, 7)
        self.x_formatter = StepFormatter()
        plot.set_x_formatter(self.x_formatter)
        yield plot

    def on_mount(self) -> None:
        self.call_after_refresh(self._first_render)

    def _first_render(self) -> None:
        self._ready = True
        self._paint()

    def on_resize(self) -> None:
        # a label takes up to 5 cells; keep two cells between neighbours
        self.x_formatter.max_ticks = max(2, (self.size.width - 9) // 7)

    def show(self, view: tuple[str, ...], data: dict[str, ScalarSeries]) -> None:
        """Chart these tags (painted now, or as soon as the plot is mounted)."""
        self.view, self.data = view, data
        if self._ready:
            self._paint()

    def _paint(self) -> None:
        if not self.is_attached:
            return
        try:
            plot = self.query_one(PlotWidget)
            plot.query_one("#legend")
            title_box = self.query_one(".chart-title", Static)
        except NoMatches:  # the plot composes on the next refresh
            self.call_after_refresh(self._paint)
            return
        plot.clear()
        title = Text()
        for i, tag in enumerate(self.view):
            style = LINE_STYLES[i % len(LINE_STYLES)]
            series = self.data.get(tag)
            if i:
                title.append(" · ")
            title.append(tag, style=f"bold {style}")
            if series is None or not len(series):
                continue
            title.append(f" {_short(float(series.values[-1]))}")
            steps, values = thin(series.steps, series.values)
            if tag.startswith("train/") and len(values) > 8:  # noisy: raw dim, smoothed bright
                plot.plot(steps, values, line_style=f"dim {style}", hires_mode=HiResMode.BRAILLE)
                values = smooth(values)
            plot.plot(steps, values, line_style=style, hires_mode=HiResMode.BRAILLE)
        title.no_wrap = True
        title.overflow = "ellipsis"
        title_box.update(title)


def _short(v: float) -> str:
    if not math.isfinite(v):
        return str(v)
    a = abs(v)
    return f"{v:.3g}" if a and (a < 1e-3 or a >= 1e4) else f"{v:.4f}".rstrip("0").rstrip(".")


class MetricsPanel(Widget):
    """Live view of one run. `show_run(run)` switches; `poll_now()` reads at once."""

    class Appended(Message):
        """New points and/or a new status for the watched run (posted by the poll worker)."""

        def __init__(self, panel: MetricsPanel, generation: int, snapshot: Snapshot) -> None:
            self.panel = panel
            self.generation = generation
            self.snapshot = snapshot
            super().__init__()

        @property
        def control(self) -> MetricsPanel:
            return self.panel

    def __init__(self, *, settings, **kwargs) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.run: RunInfo | None = None
        self.source: RunSource | None = None
        self.generation = 0
        self.data: dict[str, ScalarSeries] = {}
        self.tags: list[str] = []
        self.status: dict[str, Any] = {}
        self.state = ""
        self.view_offset = 0  # first chart view shown
        self.rate = StepRate()
        self._first_poll = True
        self._polling = False
        self._slots = 1
        self._charts: list[Chart] = []
        self._error = ""
        self._source_lock = threading.Lock()
        self.clock: Callable[[], float] = settings.clock

    def compose(self) -> ComposeResult:
        yield Static("", id="run-head")
        yield Static("", id="figures")
        yield Static("", id="progress")
        yield Static("", id="hint")
        yield Horizontal(id="charts")

    def on_mount(self) -> None:
        self.query_one("#hint").display = False
        self._paint_text()
        if self.settings.poll_every_s:
            self.set_interval(self.settings.poll_every_s, self._tick)

    # -- public ---------------------------------------------------------------------------

    @property
    def views(self) -> list[tuple[str, ...]]:
        return chart_views(self.tags)

    def show_run(self, run: RunInfo | None) -> None:
        """Show another run (None: nothing selected); reading starts at once."""
        if run is not None and self.run is not None and run.path == self.run.path:
            self.run = run
            return
        self.run = run
        self.generation += 1
        with self._source_lock:
            self.source = None
        self.data, self.tags, self.status, self.state = {}, [], {}, ""
        self.rate = StepRate()
        self.view_offset = 0
        self._first_poll = True
        self._polling = False
        self._paint_text()
        self._paint_charts(force=True)
        if run is not None:
            self._poll(run.path, self.generation, first=True)

    def poll_now(self) -> None:
        if self.run is not None:
            self._poll(self.run.path, self.generation, first=self._first_poll)

    def show_tag(self, tag: str) -> None:
        """Make the chart of `tag` the first one shown."""
        for i, view in enumerate(self.views):
            if tag in view:
                self.view_offset = i
                self._paint_charts(force=True)
                return

    def cycle(self, delta: int) -> None:
        """Shift the charts shown by one view (wrapping around)."""
        n = len(self.views)
        if n:
            self.view_offset = (self.view_offset + delta) % n
            self._paint_charts(force=True)

    def latest_values(self) -> dict[str, float]:
        return {t: float(s.values[-1]) for t, s in self.data.items() if len(s)}

    # -- polling --------------------------------------------------------------------------

    def _tick(self) -> None:
        if self.run is not None and not self._polling:
            self._poll(self.run.path, self.generation, first=self._first_poll)

    @work(thread=True, group="metrics", exclusive=True)
    def _poll(self, path: Path, generation: int, first: bool) -> None:
        self._polling = True
        try:
            with self._source_lock:
                source = self.source
                if source is None or source.path != path:
                    source, first = RunSource(path), True  # a fresh reader: send everything
                    if generation == self.generation:
                        self.source = source
            snap = source.poll(first)
        except Exception as e:  # noqa: BLE001 - a bad log must never take the dashboard down
            snap = Snapshot(error=f"{type(e).__name__}: {e}")
        finally:
            self._polling = False
        self.post_message(self.Appended(self, generation, snap))

    def on_metrics_panel_appended(self, event: Appended) -> None:
        if event.generation != self.generation:
            return  # a result for a run no longer watched
        snap = event.snapshot
        self._first_poll = False
        changed: set[str] = set()
        if snap.series is not None:
            # the reader hands out a new series object exactly when a tag got points
            changed = {t for t, s in snap.series.items() if self.data.get(t) is not s}
            if sorted(snap.series) != self.tags:
                self.tags = sorted(snap.series)
                changed.add("*")
            self.data = snap.series
        if snap.status is not None:
            self.status = snap.status
            self.state = snap.state
            self.rate.add(snap.status)
        self._error = snap.error
        self._paint_text()
        if changed:
            self._paint_charts(changed=changed)

    # -- painting -------------------------------------------------------------------------

    def on_resize(self) -> None:
        slots = max(1, min(3, self.query_one("#charts").size.width // CHART_MIN_WIDTH))
        if slots != self._slots:
            self._slots = slots
            self._paint_charts(force=True)

    def _paint_charts(self, changed: set[str] | None = None, force: bool = False) -> None:
        views = self.views
        shown = [
            views[(self.view_offset + i) % len(views)] for i in range(min(self._slots, len(views)))
        ]
        if len(self._charts) != len(shown):
            # the charts we mounted ourselves: the DOM may still hold ones being removed
            for chart in self._charts:
                chart.remove()
            self._charts = [Chart(view, self.data, classes="chart") for view in shown]
            if self._charts:
                self.query_one("#charts", Horizontal).mount(*self._charts)
            return
        for chart, view in zip(self._charts, shown, strict=True):
            if force or chart.view != view or (changed and ("*" in changed or set(view) & changed)):
                chart.show(view, self.data)

    def _paint_text(self) -> None:
        head = self.query_one("#run-head", Static)
        figures = self.query_one("#figures", Static)
        progress = self.query_one("#progress", Static)
        hint = self.query_one("#hint", Static)
        run = self.run
        if run is None:
            head.update(f"no runs under {self.settings.runs_dir} — press [b]n[/b] to start one")
            figures.update("")
            progress.update("")
            hint.display = False
            return
        state = self.state or run.state
        line = Text()
        line.append(run.name, style="bold")
        line.append("  ")
        line.append(state, style=STATE_STYLE.get(state, ""))
        best = (self.status.get("best") if self.status else None) or run.best
        if best:
            line.append(
                f"  best mse {fmt.metric(best.get('mse'))} pc {fmt.metric(best.get('pc'), 3)}"
                f" @ epoch {best.get('epoch', '?')}",
                style="dim",
            )
        line.no_wrap = True
        line.overflow = "ellipsis"
        head.update(line)
        figures.update(self._figures_text(max(20, figures.size.width or self.size.width)))
        progress.update(self._progress_renderable())
        wait = self.status.get("data_wait_frac") if state.startswith("running") else None
        if isinstance(wait, (int, float)) and wait > INPUT_BOUND_FRAC:
            hint.update(
                Text(
                    f"⚠ input-bound: {wait:.0%} of step time waiting for data — {INPUT_HINT}",
                    style="bold yellow",
                )
            )
            hint.display = True
        elif self._error:
            hint.update(Text(self._error, style="red"))
            hint.display = True
        else:
            hint.display = False

    def _figure_chunks(self) -> list[Text]:
        latest = self.latest_values()
        chunks = []
        for tag, label, digits in FIGURES:
            if tag in latest:
                chunks.append(
                    Text.assemble((f"{label} ", "dim"), (fmt.metric(latest[tag], digits), "bold"))
                )
        lr = latest.get("lr", self.status.get("lr"))
        if isinstance(lr, (int, float)):
            chunks.append(Text.assemble(("lr ", "dim"), (fmt.lr(lr), "bold")))
        ips = self.status.get("img_per_s", latest.get("perf/img_per_s"))
        if isinstance(ips, (int, float)):
            chunks.append(Text.assemble((f"{ips:.0f}", "bold"), (" img/s", "dim")))
        if not chunks:
            chunks.append(
                Text("no scalars yet" if not self.tags else f"{len(self.tags)} tags", style="dim")
            )
        return chunks

    def _figures_text(self, width: int) -> Text:
        """The figures, packed into lines of `width` cells, never splitting one."""
        lines: list[Text] = [Text()]
        for chunk in self._figure_chunks():
            line = lines[-1]
            if line and len(line) + 2 + len(chunk) > width:
                lines.append(Text())
                line = lines[-1]
            if line:
                line.append("  ")
            line.append_text(chunk)
        return Text("\n").join(lines[:2])

    def _progress_renderable(self):
        run = self.run
        if run is None or run.kind != "fbtui" or not self.status:
            steps = [int(s.steps[-1]) for s in self.data.values() if len(s)]
            if run is not None and run.kind == "logdir":
                last = f" · last step {max(steps)}" if steps else ""
                return Text(f"TensorBoard logdir · {len(self.tags)} tags{last}", style="dim")
            return Text("")
        p = progress_of(self.status, self.rate.rate(self.status, self.clock()))
        if not p.total:
            return Text(
                f"epoch {p.epoch}/{p.epochs}" if p.epochs else "waiting for the first step",
                style="dim",
            )
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(no_wrap=True)
        grid.add_column(ratio=1)
        grid.add_column(no_wrap=True)
        right = f"step {p.step}/{p.total}"
        if self.state.startswith("running"):
            right += f"  {fmt.eta(p.eta_s)}"
        grid.add_row(
            f"epoch {p.epoch}/{p.epochs}",
            ProgressBar(
                total=p.total, completed=p.step, complete_style="green", finished_style="blue"
            ),
            right,
        )
        return grid
