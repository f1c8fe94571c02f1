"""The main screen: runs table on top, the selected run's live view and the GPU panel below.

Threads read, the main thread paints: the runs root is listed in an exclusive worker every
couple of seconds, launches/stops/resumes run in their own workers, and every result comes
back as a message handled here.
"""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from fbtui.runs import RunInfo, pid_to_run
from fbtui.tui.alerts import run_alerts
from fbtui.tui.run_lister import RunLister
from fbtui.tui.widgets.metrics_panel import MetricsPanel
from fbtui.tui.widgets.run_table import RunTable

# Alerts worth a notification when the dashboard opens (the ones that changed while the
# researcher was away); older failures are only flagged in the table.
_NOTIFY_AT_START = {"lost", "stale", "input"}
_RESUMABLE = {"stopped", "failed", "failed (lost)", "diverged"}


def _is_kfold(run) -> bool:
    return run.kind == "group" and (run.path / "kfold.json").is_file()


def _is_sweep(run) -> bool:
    return run.kind == "group" and run.summary.get("kind") == "sweep"


def _stoppable(run) -> bool:
    """fbtui runs and k-fold groups (through their running fold) stop and resume."""
    return run.kind == "fbtui" or _is_kfold(run)


class DashboardScreen(Screen):
    """Runs, live view, GPU panel, footer."""

    # Footer order matters at 80 columns: what does not fit is listed by `?`.
    BINDINGS = [
        Binding("n", "new_run", "New"),
        Binding("s", "stop", "Stop"),
        Binding("r", "resume", "Resume"),
        Binding("c", "compare", "Compare"),
        Binding("l", "log", "Log"),
        Binding("slash", "filter", "Filter"),
        Binding("q", "app.quit", "Quit"),
        Binding("t", "tags", "Tags"),
        Binding("question_mark", "keys", "Keys"),
        Binding("o", "sort", "Sort", show=False),
        Binding("right_square_bracket", "next_chart", "Next chart", show=False),
        Binding("left_square_bracket", "prev_chart", "Prev chart", show=False),
        Binding("ctrl+r", "refresh", "Refresh", show=False),
    ]

    class RunsListed(Message):
        """A listing of the runs root finished (posted from the listing worker)."""

        def __init__(self, runs: list[RunInfo], error: str = "") -> None:
            self.runs = runs
            self.error = error
            super().__init__()

    class GpuPanelReady(Message):
        """The GPU panel's module is imported."""

    class ActionDone(Message):
        """A launch, stop or resume worker finished."""

        def __init__(self, message: str, severity: str = "information", select: Path | None = None):
            self.message = message
            self.severity = severity
            self.select = select
            super().__init__()

    def __init__(self, settings) -> None:
        super().__init__()
        self.settings = settings
        self._listed_once = False
        self._alerted: set[tuple[str, str]] = set()
        self._pending_select: Path | None = settings.watch
        self._busy: set[str] = set()  # runs with a stop/resume in flight
        self._pid_map: dict[int, str] = {}  # live runs' pids, for the GPU panel
        self._gpu_ready = False
        self._lister = settings.lister or RunLister(settings.runs_dir)
        self._title = ""
        self._states: dict[str, str] = {}  # run path -> state at the last listing

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(self._title_text(), id="title")
        box = Input(placeholder="filter runs: words in name, state or flag", id="filter")
        box.cursor_blink = not self.settings.test_mode
        yield box
        yield RunTable(id="runs", clock=self.settings.clock)
        with Horizontal(id="live"):
            yield MetricsPanel(id="metrics", settings=self.settings)
            # the GPU panel is mounted after the first listing, so its first poll already
            # knows which run owns each GPU process
            yield Vertical(id="gpu-box")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#filter").display = False
        self.query_one(RunTable).focus()
        # the listing started with the app (while Textual imported): paint it in the first
        # frame; a slow runs root (network disk, thousands of runs) arrives from the worker
        runs = self._lister.take_prefetched(timeout=0.5)
        if runs is not None:
            self.on_dashboard_screen_runs_listed(self.RunsListed(runs))
        else:
            self.refresh_runs()
        if self.settings.list_every_s:
            self.set_interval(self.settings.list_every_s, self.refresh_runs)

    def on_resize(self) -> None:
        self.set_class(self.size.width >= 110, "-wide")

    def _title_text(self, runs: list[RunInfo] | None = None) -> str:
        root = str(self.settings.runs_dir)
        where = f"{self.settings.host}:{root}" if self.settings.host else root
        parts = [f"[b]fbtui[/b] {where}"]
        if runs is not None:
            live = sum(1 for r in runs if r.state == "running")
            parts.append(f"{len(runs)} runs, {live} live")
            table = self.query_one(RunTable)
            parts.append(f"sort: {table.sort_label}")
            if table.filter_text:
                parts.append(f"filter: {table.filter_text!r}")
            if table.marked:
                parts.append(f"{len(table.marked)} marked")
        return " · ".join(parts)

    def _update_title(self) -> None:
        table = self.query_one(RunTable)
        text = self._title_text(list(table.runs.values()))
        if text != self._title:  # re-listed every 2 s: repaint only what changed
            self._title = text
            self.query_one("#title", Static).update(text, layout=False)

    # -- listing ----------------------------------------------------------------------------

    def refresh_runs(self, full: bool = False) -> None:
        """List the runs root in a worker (an unfinished listing is superseded); `full`
        re-reads every run rather than only the ones that changed."""
        if full:
            self._lister.invalidate()
        self._list_runs()

    @work(thread=True, group="runs", exclusive=True)
    def _list_runs(self) -> None:
        try:
            runs = self._lister.list()
            error = ""
        except OSError as e:  # a vanished or unreadable runs root is a state, not a crash
            runs, error = [], f"cannot list {self.settings.runs_dir}: {e}"
        self.post_message(self.RunsListed(runs, error))

    def on_dashboard_screen_runs_listed(self, event: RunsListed) -> None:
        table = self.query_one(RunTable)
        table.show_runs(event.runs)
        panel = self.query_one(MetricsPanel)
        current = table.current
        if current is not None and panel.run is not None and current.path == panel.run.path:
            panel.show_run(current)  # same run, newer listing: a group's state follows
        self._update_title()
        self._notify_alerts(event.runs)
        self._set_gpu_owners(event.runs)
        if event.error and not self._listed_once:
            self.notify(event.error, severity="error")
        first = not self._listed_once
        self._listed_once = True
        if first:  # once the runs are painted: the GPU panel's import must not delay them
            self.call_after_refresh(self._import_gpu_panel)
        if self._pending_select is not None:
            if table.select_path(self._pending_select):
                self._pending_select = None
            elif not self.settings.list_every_s:
                self._pending_select = None

    @work(thread=True, group="gpu-import")
    def _import_gpu_panel(self) -> None:
        # the NVML bindings take a few hundred ms to import: not on the UI thread
        import fbtui.tui.widgets.gpu_panel  # noqa: F401

        self.post_message(self.GpuPanelReady())

    def on_dashboard_screen_gpu_panel_ready(self) -> None:
        self._gpu_ready = True
        self._mount_gpu_panel()

    def _mount_gpu_panel(self) -> None:
        """Once imported and once the runs are listed (its first poll names the runs)."""
        if not (self._gpu_ready and self._listed_once) or self.query("#gpu"):
            return
        from fbtui.tui.widgets.gpu_panel import GpuPanel

        self.query_one("#gpu-box").mount(
            GpuPanel(id="gpu", pid_to_run=self._gpu_owners, interval=self.settings.gpu_every_s)
        )

    def _set_gpu_owners(self, runs: list[RunInfo]) -> None:
        # replaced whole, never mutated: the GPU poll thread reads it
        self._pid_map = pid_to_run(runs)

    def _gpu_owners(self) -> dict[int, str]:
        return self._pid_map

    def _notify_alerts(self, runs: list[RunInfo]) -> None:
        if self._listed_once:  # a run seen live that finished while we watched
            for run in runs:
                if run.state == "finished" and self._states.get(str(run.path), "").startswith(
                    "running"
                ):
                    mse = run.best.get("mse")
                    best = f": best test mse {mse:.4f}" if isinstance(mse, (int, float)) else ""
                    self.notify(f"{run.name} finished{best}", timeout=8)
        self._states = {str(r.path): r.state for r in runs}
        fresh = []
        for run in runs:
            for alert in run_alerts(run):
                key = (str(run.path), alert.kind)
                if key in self._alerted:
                    continue
                self._alerted.add(key)
                if self._listed_once or alert.kind in _NOTIFY_AT_START:
                    fresh.append(alert)
        if len(fresh) > 3:
            worst = "error" if any(a.severity == "error" for a in fresh) else "warning"
            flags = ", ".join(sorted({a.flag for a in fresh}))
            self.notify(
                f"{len(fresh)} runs need attention ({flags}); filter the table with / and a flag",
                severity=worst,
            )
            return
        for alert in fresh:
            self.notify(alert.message, severity=alert.severity, timeout=8)

    # -- selection ------------------------------------------------------------------------

    def on_run_table_selected(self, event: RunTable.Selected) -> None:
        self.query_one(MetricsPanel).show_run(event.run)

    def on_run_table_marked(self, event: RunTable.Marked) -> None:
        self._update_title()

    def on_run_table_opened(self, event: RunTable.Opened) -> None:
        from fbtui.tui.screens.run_details import RunDetailsScreen

        self.app.push_screen(RunDetailsScreen(event.run))

    # -- filter and sort ------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(RunTable).set_filter(event.value)
        self._update_title()

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        box = self.query_one("#filter", Input)
        if not event.value.strip():
            box.display = False
        self.query_one(RunTable).focus()

    def key_escape(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display:
            box.value = ""
            box.display = False
            self.query_one(RunTable).set_filter("")
            self.query_one(RunTable).focus()
            self._update_title()

    def action_sort(self) -> None:
        label = self.query_one(RunTable).cycle_sort()
        self._update_title()
        self.notify(f"sorted by {label}", timeout=2)

    def action_refresh(self) -> None:
        self.refresh_runs(full=True)
        self.query_one(MetricsPanel).poll_now()

    # -- charts ---------------------------------------------------------------------------

    def action_tags(self) -> None:
        from fbtui.tui.screens.tag_picker import TagPickerScreen

        panel = self.query_one(MetricsPanel)
        if not panel.tags:
            self.notify("no scalars in this run yet", severity="warning")
            return

        def chosen(tag: str | None) -> None:
            if tag:
                panel.show_tag(tag)

        self.app.push_screen(TagPickerScreen(panel.tags, panel.latest_values()), chosen)

    def action_keys(self) -> None:
        from fbtui.tui.screens.keys_help import KeysHelpScreen

        self.app.push_screen(KeysHelpScreen())

    def action_next_chart(self) -> None:
        self.query_one(MetricsPanel).cycle(1)

    def action_prev_chart(self) -> None:
        self.query_one(MetricsPanel).cycle(-1)

    # -- run actions ----------------------------------------------------------------------

    def _current(self) -> RunInfo | None:
        run = self.query_one(RunTable).current
        if run is None:
            self.notify("no run selected", severity="warning")
        return run

    def action_new_run(self) -> None:
        from fbtui.tui.screens.new_run import NewRunScreen

        def chosen(choice: tuple[Path, list[str]] | None) -> None:
            if choice is not None:
                config, overrides = choice
                self.notify(f"starting {config.name} …", timeout=3)
                self._launch(config, overrides)

        self.app.push_screen(
            NewRunScreen(self.settings.experiments_dir, blink=not self.settings.test_mode), chosen
        )

    @work(thread=True, group="launch")
    def _launch(self, config: Path, overrides: list[str]) -> None:
        from fbtui.runs.launch import run_cli_detached
        from fbtui.tui.screens.new_run import launch_kind

        sweep = launch_kind(config, overrides) == "sweep"
        if sweep:  # `fbtui sweep` starts its queue detached by itself
            argv = ["sweep", str(config), "--runs-dir", str(self.settings.runs_dir)]
        else:
            argv = ["run", str(config), "--detach", "--runs-dir", str(self.settings.runs_dir)]
        for item in overrides:
            argv += ["--set", item]
        try:
            rc, out = run_cli_detached(argv, timeout=self.settings.launch_timeout_s)
        except Exception as e:  # noqa: BLE001 - a failed launch is reported, never fatal
            self.post_message(self.ActionDone(f"could not start {config.name}: {e}", "error"))
            return
        # stdout holds the run (or sweep) folder; the output is stdout then stderr
        folders = [Path(ln.strip()) for ln in out.splitlines() if ln.strip()]
        last = next((d for d in reversed(folders) if d.is_dir()), None)
        if rc == 0 and last is not None:
            what = "the sweep " if sweep else ""
            how = "its queue runs detached" if sweep else "detached"
            self.post_message(self.ActionDone(f"started {what}{last.name} ({how})", select=last))
        else:
            detail = out.strip() or f"exit code {rc}"
            self.post_message(
                self.ActionDone(f"could not start {config.name}:\n{detail[-800:]}", "error")
            )

    def action_stop(self) -> None:
        from fbtui.tui.screens.confirm import ConfirmScreen

        run = self._current()
        if run is None:
            return
        if _is_sweep(run):
            self._confirm_cancel_sweep(run)
            return
        if not _stoppable(run) or not run.state.startswith("running"):
            self.notify(f"{run.name} is {run.state}: nothing to stop", severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.notify(f"stopping {run.name} (it saves a checkpoint) …", timeout=3)
                self._stop(run.path)

        self.app.push_screen(
            ConfirmScreen(
                f"Stop {run.name}?\nIt saves a checkpoint and becomes 'stopped'; r resumes it."
            ),
            confirmed,
        )

    def _confirm_cancel_sweep(self, run) -> None:
        from fbtui.tui.screens.confirm import ConfirmScreen

        if run.state in ("finished", "cancelled") or run.state.startswith("failed"):
            self.notify(f"{run.name} is {run.state}: nothing to stop", severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.notify(f"cancelling the queue of {run.name} …", timeout=3)
                self._queue(run.path, "cancel")

        self.app.push_screen(
            ConfirmScreen(
                f"Cancel the sweep {run.name}?\nIts running members save a checkpoint and "
                "stop; queued ones stay queued. r resumes the queue."
            ),
            confirmed,
        )

    @work(thread=True, group="queue")
    def _queue(self, path: Path, verb: str) -> None:
        """`fbtui queue cancel|resume SWEEP`, as from the shell (resume spawns the queue
        runner detached, so it outlives the dashboard)."""
        from fbtui.runs.launch import run_cli_detached

        argv = ["queue", "--runs-dir", str(self.settings.runs_dir), verb, str(path)]
        try:
            rc, out = run_cli_detached(argv, timeout=self.settings.launch_timeout_s)
        except Exception as e:  # noqa: BLE001 - reported, never fatal
            rc, out = 1, str(e)
        finally:
            self._busy.discard(str(path))
        # the CLI wraps its sentence at 80 columns: one line again for the notification
        said = " ".join(out.split())[-300:] or f"exit code {rc}"
        if rc == 0:
            self.post_message(self.ActionDone(f"{verb} {path.name}: {said}", select=path))
        else:
            self.post_message(
                self.ActionDone(f"could not {verb} {path.name}:\n{out[-800:]}", "error")
            )

    @work(thread=True, group="stop")
    def _stop(self, path: Path) -> None:
        from fbtui.runs.launch import stop_run

        try:
            state = stop_run(path, wait=30.0)
        except Exception as e:  # noqa: BLE001 - RunError and OSError alike: tell, don't crash
            self.post_message(self.ActionDone(f"stop {path.name}: {e}", "error"))
            return
        self.post_message(self.ActionDone(f"{path.name}: {state}", "information"))

    def action_resume(self) -> None:
        run = self._current()
        if run is None:
            return
        if _is_sweep(run):
            if run.state == "finished":
                self.notify(f"{run.name} is finished: nothing to resume", severity="warning")
                return
            if str(run.path) in self._busy:
                return
            self._busy.add(str(run.path))
            self.notify(f"resuming the queue of {run.name} …", timeout=3)
            self._queue(run.path, "resume")
            return
        if not _stoppable(run):
            self.notify(f"{run.name} is a plain TensorBoard logdir: only fbtui runs resume")
            return
        if run.state not in _RESUMABLE:
            self.notify(f"{run.name} is {run.state}: nothing to resume", severity="warning")
            return
        if str(run.path) in self._busy:
            return
        self._busy.add(str(run.path))
        self.notify(f"resuming {run.name} …", timeout=3)
        self._resume(run.path)

    @work(thread=True, group="resume")
    def _resume(self, path: Path) -> None:
        from fbtui.runs.launch import run_cli_detached

        argv = ["resume", str(path), "--detach", "--runs-dir", str(self.settings.runs_dir)]
        try:
            rc, out = run_cli_detached(argv, timeout=self.settings.launch_timeout_s)
        except Exception as e:  # noqa: BLE001
            rc, out = 1, str(e)
        finally:
            self._busy.discard(str(path))
        if rc == 0:
            self.post_message(self.ActionDone(f"resumed {path.name} (detached)", select=path))
        else:
            self.post_message(
                self.ActionDone(f"could not resume {path.name}:\n{out[-800:]}", "error")
            )

    def on_dashboard_screen_action_done(self, event: ActionDone) -> None:
        self.notify(event.message, severity=event.severity, timeout=8)
        if event.select is not None:
            self._pending_select = event.select
        self.refresh_runs(full=True)
        self.query_one(MetricsPanel).poll_now()

    def action_log(self) -> None:
        from fbtui.tui.screens.log_tail import LogTailScreen, log_path

        run = self._current()
        if run is None:
            return
        path, why = log_path(run)  # a sweep's queue.log, a k-fold group's current fold
        if path is None:
            self.notify(why, severity="warning")
            return
        self.app.push_screen(LogTailScreen(run, self.settings, path))

    def action_compare(self) -> None:
        table = self.query_one(RunTable)
        runs = table.marked_runs() or ([table.current] if table.current else [])
        if not runs:
            self.notify("mark runs with space, then press c", severity="warning")
            return
        from fbtui.tui.compare_screen import open_compare_screen

        self.app.push_screen(
            open_compare_screen(
                [r.path for r in runs],
                poll_every_s=None if self.settings.test_mode else 2.0,
                test_mode=self.settings.test_mode,
            )
        )
