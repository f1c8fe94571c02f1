"""`GpuPanel`: each GPU's load, memory, temperature and power with short histories, and
the processes on it with the fbtui run that owns them.

NVML is never touched on the main thread: the panel polls in a thread worker (group "gpu")
and posts `GpuPanel.Sampled`, whose handler paints. An app that samples elsewhere can pass
`poll=False` and call `update_samples()` itself from a message handler.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Mapping, Sequence

from rich.text import Text
from textual import work
from textual.message import Message
from textual.widget import Widget
from textual.worker import Worker, WorkerState, get_current_worker

from fbtui.gpu import Backend, GpuMonitor, GpuSample, History, NoGpu
from fbtui.gpu.format import gib, mem_compact, num, short_name, sparkline
from fbtui.tui.widgets.run_table import display_name

HELP = (
    "kernel busy: % of time at least one kernel ran (NVML utilisation; not how full the GPU "
    "is). SM active: % of SMs busy over the last interval (GPM, Hopper and newer)."
)

_VALUE_W = 10  # the right-hand figure column
# Colours are the 8 basic ANSI names so the panel reads the same with 16 colours.
_SPARK = "green"


# Row labels with room, and in a very narrow column.
_WIDE = {
    "util": "kernel busy",
    "sm": "SM active",
    "mem": "memory",
    "temp": "temp",
    "power": "power",
}
_NARROW = {"util": "busy", "sm": "SM", "mem": "mem", "temp": "temp", "power": "power"}


def _row(label: str, label_w: int, series: Sequence[float], lo, hi, value: Text, width: int):
    spark_w = max(width - label_w - _VALUE_W - 2, 0)
    line = Text(label.ljust(label_w)[:label_w], style="bold")
    line.append(" ")
    line.append(sparkline(series, spark_w, lo, hi), style=_SPARK)
    line.append(" ")
    value.align("right", _VALUE_W)
    line.append_text(value)
    return line


def _level(value: float | None, warn: float, bad: float) -> str:
    if value is None:
        return "dim"
    return "red" if value >= bad else "yellow" if value >= warn else ""


def _no_gpu_lines(reason: str, width: int) -> list[Text]:
    """'no NVIDIA GPU (NVML not found)' as a bold head and its reason wrapped below, so a
    30-column panel shows it whole."""
    if len(reason) <= width:
        return [Text(reason, style="bold"), Text("(everything else works)", style="dim")]
    m = re.match(r"^(?P<head>.*?)\s*\((?P<why>.*)\)$", reason)
    head, why = (m.group("head"), m.group("why")) if m else (reason, "")
    lines = [Text(t, style="bold") for t in textwrap.wrap(head, width) or [""]]
    lines += [Text(t) for t in textwrap.wrap(why, width)]
    lines.append(Text("(everything else works)", style="dim"))
    return lines


def gpu_lines(
    samples: Sequence[GpuSample],
    history: History,
    width: int,
    *,
    no_gpu: str | None = None,
    error: str | None = None,
    waiting: bool = False,
) -> list[Text]:
    """The panel's lines at `width` columns (never wider; nothing wraps)."""
    width = max(width, 1)
    if no_gpu:
        lines = _no_gpu_lines(no_gpu, width)
    elif waiting:
        lines = [Text("GPU: sampling…", style="dim")]
    elif not samples:
        lines = [Text(error or "no GPU devices", style="bold")]
    else:
        lines = []
        label_w = 11 if width >= 30 else 5  # 'kernel busy' when there is room, else 'busy'
        for s in samples:
            lines.extend(_device_lines(s, history, width, label_w))
        if error:
            lines.append(Text(error, style="bold red"))
    for line in lines:
        line.truncate(width, overflow="ellipsis")
        line.no_wrap = True
    return lines


def _device_lines(s: GpuSample, history: History, width: int, label_w: int) -> list[Text]:
    series = lambda metric: history.series(s.index, metric)  # noqa: E731
    title = Text(f"GPU{s.index} ", style="bold")
    title.append(short_name(s.name))
    if s.mig:
        title.append(" MIG", style="bold yellow")
    lines = [title]

    labels = _WIDE if label_w >= 11 else _NARROW
    busy = Text("n/a (MIG)" if s.mig else num(s.util_pct, "%"), style="bold")
    lines.append(_row(labels["util"], label_w, series("util_pct"), 0, 100, busy, width))
    if s.gpm:
        active = Text(num(s.sm_active_pct, "%"), style="bold")
        lines.append(_row(labels["sm"], label_w, series("sm_active_pct"), 0, 100, active, width))

    frac = s.mem_used / s.mem_total if s.mem_used is not None and s.mem_total else None
    mem = Text(f"{gib(s.mem_used)}/{gib(s.mem_total)}G", style=_level(frac, 0.9, 0.97))
    lines.append(_row(labels["mem"], label_w, series("mem_used"), 0, s.mem_total, mem, width))

    temp = Text(num(s.temp_c, "°C"), style=_level(s.temp_c, 75, 85))
    lines.append(_row(labels["temp"], label_w, series("temp_c"), 20, 100, temp, width))

    pfrac = s.power_w / s.power_limit_w if s.power_w is not None and s.power_limit_w else None
    power = Text(f"{num(s.power_w)}/{num(s.power_limit_w)}W", style=_level(pfrac, 0.95, 1.05))
    lines.append(
        _row(labels["power"], label_w, series("power_w"), 0, s.power_limit_w, power, width)
    )

    if s.processes:
        lines.append(Text(f"{'pid':>7} {'mem':>6} run", style="dim"))
        for p in sorted(s.processes, key=lambda p: -(p.used_mem or 0)):
            line = Text(f"{p.pid:>7} {mem_compact(p.used_mem):>6} ")
            if p.run:  # too long: without its timestamp first, as the runs table does
                line.append(display_name(p.run, max(1, width - len(line))), style="bold")
            else:
                line.append(f"({p.name or '?'})", style="dim")
            lines.append(line)
    return lines


class GpuPanel(Widget):
    """Live GPU figures; see the module docstring.

    Args:
        backend: a `fbtui.gpu` backend (tests: `FakeBackend`), a `NoGpu`, or None to open
            NVML (or $FBTUI_FAKE_GPU) inside the poll thread.
        pid_to_run: returns {pid: run name} (e.g. built with `fbtui.gpu.pid_map` from the
            live runs' status.json); called from the poll thread, so return a snapshot.
        interval: seconds between polls (default: the fake's hint, else 1 s).
        history: samples kept per figure for the sparklines.
        poll: False to sample elsewhere and feed `update_samples()`.
        max_polls: stop after this many polls (deterministic snapshots); the fake's
            `max_polls` applies when not given.
    """

    DEFAULT_CSS = """
    GpuPanel {
        height: auto;
        padding: 0 1;
    }
    """

    class Sampled(Message):
        """One poll's samples (posted from the poll thread; bubbles to the app)."""

        def __init__(
            self,
            panel: GpuPanel,
            samples: list[GpuSample],
            no_gpu: str | None = None,
            error: str | None = None,
        ) -> None:
            super().__init__()
            self.panel = panel
            self.samples = samples
            self.no_gpu = no_gpu
            self.error = error

        @property
        def control(self) -> GpuPanel:
            return self.panel

    def __init__(
        self,
        backend: Backend | NoGpu | None = None,
        *,
        pid_to_run: Callable[[], Mapping[int, str]] | None = None,
        interval: float | None = None,
        history: int = 120,
        poll: bool = True,
        max_polls: int | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._backend = backend
        self._pid_to_run = pid_to_run
        self._interval = interval
        self._poll = poll
        self._max_polls = max_polls
        self.history = History(history)
        self.samples: list[GpuSample] = []
        self.no_gpu: str | None = backend.reason if isinstance(backend, NoGpu) else None
        self.error: str | None = None
        self.polls = 0  # samples received
        self._waiting = self.no_gpu is None
        self._cached: tuple[int, list[Text]] | None = None
        self._height = -1  # lines at the last repaint
        self.tooltip = HELP

    # -- data in ---------------------------------------------------------------------------

    def update_samples(
        self,
        samples: Sequence[GpuSample],
        no_gpu: str | None = None,
        error: str | None = None,
    ) -> None:
        """Show one poll's samples and extend the histories. Call on the main thread."""
        self.samples = list(samples)
        self.no_gpu = no_gpu
        self.error = error
        self._waiting = False
        if samples:
            self.history.add(samples)
        self.polls += 1
        self._repaint()

    def _repaint(self) -> None:
        # polled every second: a layout pass (the whole screen reflowed, the runs table's
        # scrollbar repainted) only when the panel's height changes, e.g. a new process
        self._cached = None
        height = len(self._lines(self.content_size.width)) if self.content_size.width else -1
        self.refresh(layout=height < 0 or height != self._height)
        self._height = height

    def on_mount(self) -> None:
        if self._poll and self.no_gpu is None:
            self._poll_loop()

    def on_gpu_panel_sampled(self, message: Sampled) -> None:
        if message.panel is self:  # a nested panel's message bubbling up is not ours
            self.update_samples(message.samples, message.no_gpu, message.error)

    @work(thread=True, group="gpu", exclusive=True, exit_on_error=False)
    def _poll_loop(self) -> None:
        worker = get_current_worker()
        monitor = GpuMonitor(self._backend, history=1)  # opens NVML here, off the UI thread
        try:
            if monitor.no_gpu:
                self.post_message(self.Sampled(self, [], no_gpu=monitor.no_gpu))
                return
            interval = self._interval or getattr(monitor.backend, "interval", None) or 1.0
            limit = self._max_polls or getattr(monitor.backend, "max_polls", None)
            n = 0
            while not worker.is_cancelled and (limit is None or n < limit):
                samples = monitor.poll(self._runs())
                n += 1
                self.post_message(self.Sampled(self, samples, error=monitor.last_error))
                if worker.cancelled_event.wait(interval):
                    break
        finally:
            monitor.close()

    def _runs(self) -> Mapping[int, str]:
        if self._pid_to_run is None:
            return {}
        try:
            return dict(self._pid_to_run())
        except Exception:  # a run folder mid-write must not stop the GPU panel
            return {}

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "gpu" and event.state == WorkerState.ERROR:
            self.error = f"GPU panel: {event.worker.error}"
            self._repaint()

    # -- painting --------------------------------------------------------------------------

    def _lines(self, width: int) -> list[Text]:
        # computed once per poll and width (layout asks for the height, then render)
        if self._cached is not None and self._cached[0] == width:
            return self._cached[1]
        lines = gpu_lines(
            self.samples,
            self.history,
            width,
            no_gpu=self.no_gpu,
            error=self.error,
            waiting=self._waiting,
        )
        self._cached = (width, lines)
        return lines

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self._lines(width))

    def render(self) -> Text:
        return Text("\n").join(self._lines(self.content_size.width))
