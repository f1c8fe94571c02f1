"""The selected run's live view: latest figures, progress with ETA, and charts against step.

A thread worker (group "metrics", exclusive) polls the run's event files through the
incremental reader of `fbtui.tb` — an unchanged run costs a stat — and its status.json,
and posts `MetricsPanel.Appended`; the handler repaints only the charts whose tags changed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from fbtui.runs import RunInfo
from fbtui.runs.status import UnreadableStatus, effective_state, read_status
from fbtui.tui import fmt
from fbtui.tui.alerts import INPUT_BOUND_FRAC, INPUT_HINT
from fbtui.tui.widgets.run_table import STATE_STYLE

if TYPE_CHECKING:  # the reader (protobuf) and the plot widget (numpy) load off the first frame
    from fbtui.tb import ScalarSeries
    from fbtui.tui.widgets.chart import Chart

#: The charts shown first, in order; each is a group of tags drawn on one chart.
DEFAULT_VIEWS: tuple[tuple[str, ...], ...] = (("train/loss", "test/mse"), ("lr",))
#: Figures in the figures line: (tag, label, digits).
FIGURES = (
    ("train/loss", "loss", 4),
    ("test/mse", "test mse", 4),
    ("test/mae", "mae", 3),
    ("test/pc", "pc", 3),
)
CHART_MIN_WIDTH = 36  # below this a chart is unreadable: show fewer, wider ones


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
    done = status.get("epoch")  # completed epochs, as the run table and `fbtui runs` count
    state = status.get("state")
    if isinstance(done, int) and epochs:
        # running: the epoch in progress ("in epoch 36", as train.log says); otherwise the
        # completed ones, so a stopped run reads 35/80 here and in the table alike
        epoch = min(epochs, done + 1) if state == "running" else min(epochs, done)
    else:
        epoch = min(epochs, step // spe + (1 if step < total else 0)) if epochs else 0
    if state == "finished":
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
        from fbtui.tb import LogdirReader  # in the poll thread: protobuf loads off the UI

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
        self._painted_run: RunInfo | None = None  # the RunInfo the text lines show
        self._shown: dict[str | None, object] = {}  # what each text line shows now
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
            # the listing's fresh view of the same run: a group (sweep, k-fold) has no
            # status.json of its own, so its state and figures come only from here
            changed = (run.state, run.best) != (self.run.state, self.run.best)
            self.run = run
            if changed and not self.state:
                self._paint_text()
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
            # after the next paint: the first read imports the event reader and numpy in
            # its thread, which would slow the frame that shows the selection
            self.call_after_refresh(self._first_read, self.generation)

    def _first_read(self, generation: int) -> None:
        if generation == self.generation and self.run is not None and self._first_poll:
            self._poll(self.run.path, generation, first=True)

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
            if snap.series:  # the plot widget's module loads here, not on the UI thread
                import fbtui.tui.widgets.chart  # noqa: F401
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
        if (
            snap.series is None
            and snap.status == self.status
            and snap.state == self.state
            and snap.error == self._error
            and self.run is self._painted_run
        ):
            return  # polled every second; the trainer beats every few: nothing to repaint
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
            from fbtui.tui.widgets.chart import Chart

            self._charts = [Chart(view, self.data, classes="chart") for view in shown]
            if self._charts:
                self.query_one("#charts", Horizontal).mount(*self._charts)
            return
        for chart, view in zip(self._charts, shown, strict=True):
            if force or chart.view != view or (changed and ("*" in changed or set(view) & changed)):
                chart.show(view, self.data)

    def _put(self, widget: Static, key: object, content, *, layout: bool = False) -> None:
        """Update a line only when what it shows changed, and without a layout pass where
        its height cannot change: a live run repaints every second."""
        if self._shown.get(widget.id) == key:
            return
        self._shown[widget.id] = key
        widget.update(content, layout=layout)

    def _show_hint(self, text: Text | None) -> None:
        hint = self.query_one("#hint", Static)
        if text is None:
            if hint.display:
                hint.display = False
            return
        self._put(hint, text.markup, text)
        if not hint.display:
            hint.display = True

    def _paint_text(self) -> None:
        self._painted_run = self.run
        head = self.query_one("#run-head", Static)
        figures = self.query_one("#figures", Static)
        progress = self.query_one("#progress", Static)
        run = self.run
        if run is None:
            # short enough for the panel at 80 columns; the title bar shows the runs root
            text = "no runs yet — press [b]n[/b] to start one"
            self._put(head, text, text)
            self._put(figures, "", "", layout=True)
            self._put(progress, "", "")
            self._show_hint(None)
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
        self._put(head, line.markup, line)
        text = self._figures_text(max(20, figures.size.width or self.size.width))
        # one line or two: a layout pass only when that changes
        lines = text.plain.count("\n")
        self._put(figures, text.markup, text, layout=lines != self._shown.get("figures-lines"))
        self._shown["figures-lines"] = lines
        key, renderable = self._progress()
        self._put(progress, key, renderable)
        wait = self.status.get("data_wait_frac") if state.startswith("running") else None
        if isinstance(wait, (int, float)) and wait > INPUT_BOUND_FRAC:
            self._show_hint(
                Text(
                    f"⚠ input-bound: {wait:.0%} of step time waiting for data — {INPUT_HINT}",
                    style="bold yellow",
                )
            )
        elif state in ("failed", "failed (lost)", "diverged") and self.status.get("error"):
            self._show_hint(Text(f"{state}: {self.status['error']}", style="red"))
        elif self._error:
            self._show_hint(Text(self._error, style="red"))
        else:
            self._show_hint(None)

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

    def _progress(self) -> tuple[object, Any]:
        """(what it shows, as a comparable key; the renderable) for the progress line."""
        run = self.run
        if run is None or run.kind != "fbtui" or not self.status:
            steps = [int(s.steps[-1]) for s in self.data.values() if len(s)]
            if run is not None and run.kind == "logdir":
                last = f" · last step {max(steps)}" if steps else ""
                text = f"TensorBoard logdir · {len(self.tags)} tags{last}"
                return text, Text(text, style="dim")
            return "", Text("")
        p = progress_of(self.status, self.rate.rate(self.status, self.clock()))
        if not p.total:
            text = f"epoch {p.epoch}/{p.epochs}" if p.epochs else "waiting for the first step"
            return text, Text(text, style="dim")
        right = f"step {p.step}/{p.total}"
        if self.state.startswith("running"):
            right += f"  {fmt.eta(p.eta_s)}"
        left = f"epoch {p.epoch}/{p.epochs}"
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(no_wrap=True)
        grid.add_column(ratio=1)
        grid.add_column(no_wrap=True)
        grid.add_row(
            left,
            ProgressBar(
                total=p.total,
                completed=p.step,
                complete_style="green",
                finished_style="bright_blue",
            ),
            right,
        )
        return (left, p.step, p.total, right), grid
