"""The selected run's live view: latest figures, progress with ETA, and charts against step.

A thread worker (group "metrics", exclusive) polls the run's event files through the
incremental reader of `fbtui.tb` — an unchanged run costs a stat — and its status.json,
and posts `MetricsPanel.Appended`; the handler repaints only the charts whose tags changed.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static
from textual_plot import HiResMode, PlotWidget

from fbtui.runs import RunInfo
from fbtui.runs.status import UnreadableStatus, effective_state, read_status
from fbtui.tb.smoothing import smooth
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

    def rate(self, status: dict[str, Any]) -> float | None:
        if len(self.points) >= 2:
            (t0, s0), (t1, s1) = self.points[0], self.points[-1]
            if t1 > t0 and s1 > s0:
                return (s1 - s0) / (t1 - t0)
        # before two heartbeats: the average since the start (includes set-up time)
        started, t, step = status.get("started"), status.get("updated"), status.get("step")
        if isinstance(started, (int, float)) and isinstance(t, (int, float)) and step:
            if t > started:
                return step / (t - started)
        return None


@dataclass
class Snapshot:
    """What one poll found: changed series (full copies) and the status."""

    series: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    status: dict[str, Any] | None = None
    state: str = ""
    error: str = ""


class RunSource:
    """One run's scalars and status, read incrementally. Thread-safe (one poll at a time)."""

    def __init__(self, path: Path) -> None:
        from fbtui.tb import LogdirReader

        self.path = Path(path)
        self.reader = LogdirReader(self.path)
        self.lock = threading.Lock()

    def poll(self, first: bool) -> Snapshot:
        with self.lock:
            snap = Snapshot()
            try:
                changed = self.reader.poll()
            except OSError as e:
                snap.error = f"cannot read events: {e}"
                changed = None
            tags = list(self.reader.tags())
            snap.tags = tags
            wanted = tags if first or changed is None else _changed_tags(changed, tags)
            for tag in wanted:
                steps, values = self.reader.scalars(tag)
                snap.series[tag] = (np.asarray(steps), np.asarray(values, dtype=np.float64))
            try:
                status = read_status(self.path)
            except UnreadableStatus as e:
                status, snap.error = None, str(e)
            if status:
                snap.status = status
                snap.state = effective_state(status)
            return snap


def _changed_tags(changed, tags: list[str]) -> list[str]:
    if isinstance(changed, bool) or isinstance(changed, int):
        return tags if changed else []
    return [t for t in tags if t in set(changed)]


class Chart(Vertical):
    """A title line and a plot of one group of tags against step."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.view: tuple[str, ...] = ()

    def compose(self) -> ComposeResult:
        yield Static("", classes="chart-title")
        plot = PlotWidget(allow_pan_and_zoom=False)
        plot.can_focus = False
        plot.margin_top = 0
        plot.margin_bottom = 1
        plot.margin_left = 7
        yield plot

    def paint(self, view: tuple[str, ...], data: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        self.view = view
        plot = self.query_one(PlotWidget)
        plot.clear()
        title = Text()
        for i, tag in enumerate(view):
            style = LINE_STYLES[i % len(LINE_STYLES)]
            steps, values = data.get(tag, (np.empty(0), np.empty(0)))
            if i:
                title.append(" · ")
            title.append(tag, style=f"bold {style}")
            if len(values):
                title.append(f" {_short(values[-1])}")
            if not len(steps):
                continue
            steps, values = thin(steps, values)
            noisy = tag.startswith("train/") and len(values) > 8
            if noisy:
                plot.plot(steps, values, line_style=f"dim {style}", hires_mode=HiResMode.BRAILLE)
                values = smooth(values)
            plot.plot(steps, values, line_style=style, hires_mode=HiResMode.BRAILLE)
        title.no_wrap = True
        title.overflow = "ellipsis"
        self.query_one(".chart-title", Static).update(title)


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
        self.data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.tags: list[str] = []
        self.status: dict[str, Any] = {}
        self.state = ""
        self.view_offset = 0  # first chart view shown
        self.rate = StepRate()
        self._first_poll = True
        self._polling = False
        self._slots = 1
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
        return {t: float(v[-1]) for t, (_, v) in self.data.items() if len(v)}

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
        changed = set(snap.series)
        self.data.update(snap.series)
        if snap.tags != self.tags:
            self.tags = snap.tags
            changed.add("*")
        if snap.status is not None:
            self.status = snap.status
            self.state = snap.state
            self.rate.add(snap.status)
        self._error = snap.error
        self._paint_text()
        self._paint_charts(changed=changed)

    # -- painting -------------------------------------------------------------------------

    def on_resize(self) -> None:
        slots = max(1, min(3, self.query_one("#charts").size.width // CHART_MIN_WIDTH))
        if slots != self._slots:
            self._slots = slots
            self._paint_charts(force=True)

    def _paint_charts(self, changed: set[str] | None = None, force: bool = False) -> None:
        box = self.query_one("#charts", Horizontal)
        views = self.views
        shown = [
            views[(self.view_offset + i) % len(views)] for i in range(min(self._slots, len(views)))
        ]
        charts = list(box.query(Chart))
        if len(charts) != len(shown):
            box.remove_children()
            charts = [Chart(classes="chart") for _ in shown]
            if charts:
                box.mount(*charts)
            force = True
            # charts paint once mounted
            self.call_after_refresh(self._paint_charts, None, True)
            return
        for chart, view in zip(charts, shown, strict=True):
            if force or chart.view != view or (changed and ("*" in changed or set(view) & changed)):
                chart.paint(view, self.data)

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
        figures.update(self._figures_text())
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

    def _figures_text(self) -> Text:
        latest = self.latest_values()
        text = Text(no_wrap=True, overflow="ellipsis")
        for tag, label, digits in FIGURES:
            if tag in latest:
                if text:
                    text.append("  ")
                text.append(f"{label} ", style="dim")
                text.append(fmt.metric(latest[tag], digits), style="bold")
        lr = latest.get("lr", self.status.get("lr"))
        if isinstance(lr, (int, float)):
            text.append("  lr ", style="dim")
            text.append(fmt.lr(lr), style="bold")
        ips = self.status.get("img_per_s", latest.get("perf/img_per_s"))
        if isinstance(ips, (int, float)):
            text.append("  ", style="dim")
            text.append(f"{ips:.0f}", style="bold")
            text.append(" img/s", style="dim")
        if not text:
            text.append(
                "no scalars yet" if not self.tags else f"{len(self.tags)} tags", style="dim"
            )
        return text

    def _progress_renderable(self):
        run = self.run
        if run is None or run.kind != "fbtui" or not self.status:
            steps = [int(s[-1]) for s, _ in self.data.values() if len(s)]
            if run is not None and run.kind == "logdir":
                last = f" · last step {max(steps)}" if steps else ""
                return Text(f"TensorBoard logdir · {len(self.tags)} tags{last}", style="dim")
            return Text("")
        p = progress_of(self.status, self.rate.rate(self.status))
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
