"""The compare screen: any number of runs or logdirs, one chart per tag, side by side.

Use it standalone (`fbtui compare`, via `make_compare_app`) or push it from another app:

    app.push_screen(open_compare_screen([path_a, path_b]))

Opening the runs and polling them happen in thread workers (the readers only touch the
disk); the main thread repaints from the messages they post. Keyboard only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from fbtui.errors import UserError
from fbtui.tb.compare import X_AXES, CompareRun, all_tags, open_runs, summary_row
from fbtui.tui.compare.widgets import (
    SMOOTHING_LEVELS,
    ComparePlot,
    ConfigDiffTable,
    SummaryTable,
    TagChart,
    ViewSettings,
    run_color,
)

MAX_CHARTS = 60  # a filter that matches more shows the first ones (and says so)


class CompareScreen(Screen[None]):
    """Runs overlaid per tag, a summary table and a config diff, in three tabs."""

    DEFAULT_CSS = """
    CompareScreen #compare-top { height: 1; }
    CompareScreen #tag-filter { width: 1fr; }
    CompareScreen #compare-status { height: 1; padding: 0 1; color: $text-muted; }
    CompareScreen #legend { height: auto; padding: 0 1; }
    CompareScreen #charts { height: 1fr; }
    CompareScreen #charts-note, CompareScreen #config-note, CompareScreen #summary-note {
        height: auto; padding: 0 1; color: $text-muted;
    }
    CompareScreen TabbedContent { height: 1fr; }
    CompareScreen TabPane { padding: 0; }
    CompareScreen DataTable { height: auto; max-height: 100%; }
    CompareScreen Input.-invalid { color: $error; }
    """

    # Short descriptions, one footer entry per key pair, a compact footer: fits 80 columns.
    BINDINGS = [
        Binding("escape,q", "close", "Back", key_display="q"),
        Binding("slash", "focus_filter", "Filter"),
        Binding("left_square_bracket", "smoothing(-1)", "Smooth", key_display="[ ]"),
        Binding("right_square_bracket", "smoothing(1)", "Smooth+", show=False),
        Binding("r", "toggle_raw", "Raw"),
        Binding("x", "cycle_x", "X axis"),
        Binding("l", "toggle_log", "Log y"),
        Binding("o", "toggle_outliers", "Outliers"),
        Binding("0,home", "reset_zoom", "Reset", key_display="0", tooltip="Reset zoom and pan"),
        Binding("1", "show_tab('charts')", "Tabs", key_display="1-3"),
        Binding("2", "show_tab('summary')", "Summary", show=False),
        Binding("3", "show_tab('config')", "Config", show=False),
    ]

    class Loaded(Message):
        """The runs were opened (or could not be: `error`)."""

        def __init__(self, runs: list[CompareRun], error: str | None) -> None:
            super().__init__()
            self.runs = runs
            self.error = error

    class Polled(Message):
        """A poll found new points in at least one run."""

    def __init__(
        self,
        paths: Sequence[str | Path] | None = None,
        *,
        runs: Sequence[CompareRun] | None = None,
        view: ViewSettings | None = None,
        poll_every_s: float | None = 2.0,
        test_mode: bool = False,
    ) -> None:
        super().__init__()
        self.paths = [Path(p) for p in paths or []]
        self.runs: list[CompareRun] = list(runs or [])
        self.view = view or ViewSettings()
        self.poll_every_s = poll_every_s
        self.test_mode = test_mode
        self.tags: list[str] = []
        self._charts: list[TagChart] = []  # the current ones (removed ones may linger a frame)

    # -- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Input(
            value=self.view.tag_pattern,
            placeholder="tag filter (regex) — press / to edit, Enter to apply",
            id="tag-filter",
            compact=True,
        )
        yield Static(id="compare-status")
        with TabbedContent(id="compare-tabs", initial="charts"):
            with TabPane("Charts", id="charts"):
                yield Static(id="legend")
                yield VerticalScroll(id="charts-scroll")
            with TabPane("Summary", id="summary"):
                yield SummaryTable(id="summary-table", cursor_type="row", zebra_stripes=False)
                yield Static(id="summary-note")
            with TabPane("Config diff", id="config"):
                yield ConfigDiffTable(id="config-table", cursor_type="row")
                yield Static(id="config-note")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#tag-filter", Input).cursor_blink = not self.test_mode
        self.query_one("#charts-scroll").focus()
        if self.runs:
            self._show_runs()
        elif self.paths:
            self.query_one("#compare-status", Static).update(f"reading {len(self.paths)} run(s)…")
            self._load(self.paths)
        if self.poll_every_s:
            self.set_interval(self.poll_every_s, self._poll)

    # -- workers (disk) ------------------------------------------------------------------

    @work(thread=True, group="compare-load", exclusive=True)
    def _load(self, paths: list[Path]) -> None:
        try:
            runs, error = open_runs(paths), None
        except UserError as e:
            runs, error = [], str(e)
        self.post_message(self.Loaded(runs, error))

    def _poll(self) -> None:
        if self.runs:
            self._poll_worker(list(self.runs))

    @work(thread=True, group="compare-poll", exclusive=True)
    def _poll_worker(self, runs: list[CompareRun]) -> None:
        changed = False
        for run in runs:
            if get_current_worker().is_cancelled:
                return
            changed |= run.reader.poll()
            if run.kind == "fbtui":
                run.refresh_files()
        if changed:
            self.post_message(self.Polled())

    def on_compare_screen_loaded(self, message: Loaded) -> None:
        if message.error:
            self.query_one("#compare-status", Static).update(f"[b red]error:[/] {message.error}")
            self.notify(message.error, severity="error", timeout=10)
            return
        self.runs = message.runs
        self._show_runs()

    def on_compare_screen_polled(self, _: Polled) -> None:
        self._show_runs(redraw_only=True)

    # -- painting ------------------------------------------------------------------------

    def _show_runs(self, redraw_only: bool = False) -> None:
        legend = self.query_one("#legend", Static)
        parts = []
        for i, run in enumerate(self.runs):
            parts.append(f"[{run_color(i)}]━━ {_escape(run.name)}[/]")
        legend.update("  ".join(parts) or "no runs")
        if not self._update_tags(force=not redraw_only):
            self._redraw_charts()  # same charts: new points
        self.query_one(SummaryTable).show(self.runs, self.size.width or 80)
        self.query_one("#summary-note", Static).update(self._run_notes())
        message = self.query_one(ConfigDiffTable).show(self.runs)
        self.query_one("#config-table").display = message is None
        self.query_one("#config-note", Static).update(message or "")
        self._update_status()

    def _run_notes(self) -> str:
        lines = []
        for i, run in enumerate(self.runs):
            source = summary_row(run).source
            kind = "fbtui run" if run.kind == "fbtui" else "TensorBoard logdir"
            warn = (
                f" · [b yellow]{len(run.reader.warnings)} warnings[/]"
                if run.reader.warnings
                else ""
            )
            lines.append(
                f"[{run_color(i)}]{_escape(run.name)}[/]: {kind}, numbers from {source}{warn}"
            )
        return "\n".join(lines)

    def _update_tags(self, force: bool = False) -> bool:
        """Rebuild the charts if the tag set changed; True when it did (they draw on mount)."""
        try:
            pattern = re.compile(self.view.tag_pattern) if self.view.tag_pattern else None
        except re.error:
            return False  # the input shows it is invalid; keep the last good set
        tags = all_tags(self.runs, pattern)
        if tags == self.tags and not force:
            return False
        self.tags = tags
        scroll = self.query_one("#charts-scroll", VerticalScroll)
        scroll.remove_children()
        shown = tags[:MAX_CHARTS]
        charts = self._charts = [TagChart(tag, self.runs, self.view) for tag in shown]
        if charts:
            scroll.mount_all(charts)
        if not tags:
            scroll.mount(Static("No scalar tags match the filter.", id="charts-note"))
        elif len(tags) > len(shown):
            scroll.mount(
                Static(
                    f"{len(tags) - len(shown)} more tags: narrow the filter (/).", id="charts-note"
                )
            )
        self.call_after_refresh(self._redraw_charts)

    def _redraw_charts(self) -> None:
        for chart in self._charts:
            if chart.is_mounted:
                chart.draw(self.runs, self.view)
            else:  # mounting: it draws itself then, with these
                chart.runs, chart.view = list(self.runs), self.view

    def _update_status(self) -> None:
        text = f"{_count(len(self.runs), 'run')} · {_count(len(self.tags), 'tag')}"
        text += f" · {self.view.describe()}"
        warned = sum(len(run.reader.warnings) for run in self.runs)
        if warned:  # records were skipped: say so where the eye is (details: Summary tab)
            text += f" · [b yellow]{warned} reader warning{'s' if warned > 1 else ''}[/]"
        self.query_one("#compare-status", Static).update(text)

    # -- keys ----------------------------------------------------------------------------

    def action_close(self) -> None:
        if isinstance(self.focused, Input):  # leave the filter, not the screen
            self.query_one("#charts-scroll").focus()
            return
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.app.exit()

    def action_focus_filter(self) -> None:
        self.query_one("#tag-filter", Input).focus()

    def action_smoothing(self, direction: int) -> None:
        current = self.view.smoothing
        if direction > 0:
            higher = [w for w in SMOOTHING_LEVELS if w > current + 1e-9]
            self.view.smoothing = higher[0] if higher else SMOOTHING_LEVELS[-1]
        else:
            lower = [w for w in SMOOTHING_LEVELS if w < current - 1e-9]
            self.view.smoothing = lower[-1] if lower else 0.0
        self._view_changed()

    def action_toggle_raw(self) -> None:
        self.view.show_raw = not self.view.show_raw
        self._view_changed()

    def action_cycle_x(self) -> None:
        self.view.x_axis = X_AXES[(X_AXES.index(self.view.x_axis) + 1) % len(X_AXES)]
        self._view_changed()

    def action_toggle_log(self) -> None:
        self.view.log_y = not self.view.log_y
        self._view_changed()

    def action_toggle_outliers(self) -> None:
        self.view.ignore_outliers = not self.view.ignore_outliers
        self._view_changed()

    def action_reset_zoom(self) -> None:
        """Undo every chart's zoom and pan (Tab focuses a chart; +/- and arrows move it)."""
        for chart in self._charts:
            for plot in chart.query(ComparePlot):
                plot.action_reset_scales()

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def _view_changed(self) -> None:
        self._redraw_charts()
        self._update_status()

    @on(Input.Changed, "#tag-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        # validate while typing; charts are rebuilt on Enter (each rebuild mounts plots)
        try:
            re.compile(event.value)
        except re.error:
            event.input.add_class("-invalid")
        else:
            event.input.remove_class("-invalid")

    @on(Input.Submitted, "#tag-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if event.input.has_class("-invalid"):
            self.notify("not a valid regular expression", severity="warning")
            return
        self.view.tag_pattern = event.value
        self._update_tags()
        self._update_status()
        self.query_one("#charts-scroll").focus()


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


def open_compare_screen(
    paths: Sequence[str | Path], *, view: ViewSettings | None = None, **kwargs
) -> CompareScreen:
    """A compare screen for these folders, to push from any app (reads in a worker)."""
    return CompareScreen(paths, view=view, **kwargs)


class CompareApp(App[None]):
    """`fbtui compare` in a terminal: the compare screen alone."""

    TITLE = "fbtui compare"
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, screen: CompareScreen, *, theme: str | None = None, test_mode: bool = False):
        super().__init__()
        self._screen = screen
        self._theme_name = theme
        self._test_mode = test_mode

    def get_default_screen(self) -> CompareScreen:
        return self._screen

    def on_mount(self) -> None:
        from fbtui.tui.app import pick_theme

        self.theme = self._theme_name or pick_theme(
            None if self._test_mode else self.console.color_system
        )


def make_compare_app(
    paths: Sequence[str | Path] = (),
    *,
    runs: Sequence[CompareRun] | None = None,
    view: ViewSettings | None = None,
    poll_every_s: float | None = 2.0,
    theme: str | None = None,
    test_mode: bool = False,
) -> CompareApp:
    """The one factory for the CLI and the tests (test mode: no polling, no blinking)."""
    if test_mode:
        poll_every_s = None
    screen = CompareScreen(
        paths, runs=runs, view=view, poll_every_s=poll_every_s, test_mode=test_mode
    )
    return CompareApp(screen, theme=theme, test_mode=test_mode)


def _count(n: int, noun: str) -> str:
    """'1 run', '3 runs', '0 tags'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
