"""The runs table: one row per run folder, sortable, filterable, with marks and alert flags.

It only renders the `RunInfo`s it is given (`show_runs`); listing happens in a worker of the
screen that owns it. Posts `RunTable.Selected` when the highlighted run changes and
`RunTable.Opened` on enter.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from fbtui.runs import RunInfo
from fbtui.runs.layout import stamp_time, strip_stamp
from fbtui.tui import fmt
from fbtui.tui.alerts import run_alerts

#: State colours picked from the 16 ANSI colours so they stay distinct over TERM=xterm.
STATE_STYLE = {
    "running": "bold green",
    "running (stale)": "bold yellow",
    "queued": "cyan",
    "finished": "bright_blue",  # plain blue is near-unreadable on black with 16 colours
    "stopped": "yellow",
    "failed": "bold red",
    "failed (lost)": "bold red",
    "diverged": "bold magenta",
    "unreadable": "red",
    "logdir": "dim",
}

#: (key, label) of each sort order, in the order `o` cycles through them.
SORTS = (
    ("started", "newest"),
    ("name", "name"),
    ("state", "state"),
    ("mse", "best mse"),
    ("pc", "best pc"),
)

# (key, label, width when narrow, width when wide); None: the flexible name column
COLUMNS = (
    ("mark", " ", 1, 1),
    ("name", "run", None, None),
    ("state", "state", 15, 15),
    ("epoch", "epoch", 6, 7),
    ("mse", "mse", 5, 6),
    ("pc", "pc", 5, 6),
    ("started", "started", 5, 11),
    ("dur", "time", 6, 6),
)
_EPOCH = [c[0] for c in COLUMNS].index("epoch")
_METRIC_COLUMNS = {k: i for i, (k, *_) in enumerate(COLUMNS) if k in ("mse", "pc")}
WIDE = 100  # from this many columns on, full start times and 4-decimal metrics


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


# a run folder's `-YYYYmmdd-HHMMSS[-k]` suffix (fbtui.runs.layout names folders so)
_STAMP = re.compile(r"^(?P<stem>.+)-(?P<date>\d{8}-\d{6})(?P<k>-\d+)?$")


def short_stamp(part: str) -> str:
    """One folder name with only the time of day of its timestamp: 'good-191948'."""
    m = _STAMP.match(part)
    return f"{m['stem']}-{m['date'][9:]}{m['k'] or ''}" if m else part


def display_name(
    name: str, width: int, *, strip: bool | None = None, keep_time: bool = False
) -> str:
    """The run name in `width` cells.

    `strip`: drop the folders' timestamps (the started column shows the time). The table
    decides it once for all rows (every name whole when they all fit, else none with its
    timestamp), so names are shortened consistently; None: only when `name` does not fit.
    `keep_time`: when stripping, keep the time of day ('good-191948'): the table asks for
    it where stripped names would collide, so runs of one config stay apart.
    A `group/member` name keeps its member part whole where it can and shortens the group
    part (`sw-sweep…/lr0.01-s0`), so the members of a sweep or k-fold stay apart."""
    if strip is None:
        strip = len(name) > width
    parts = name.split("/")
    if strip:
        parts = [short_stamp(p) if keep_time else strip_stamp(p) for p in parts]
    name = "/".join(parts)
    if len(name) <= width:
        return name
    if keep_time and len(parts) == 1 and (m := re.search(r"-\d{6}(-\d+)?$", name)):
        # shorten the stem, never the time that tells the run apart
        tail = m.group(0)
        if width - len(tail) >= 2:
            return _cut(name[: -len(tail)], width - len(tail)) + tail
    if len(parts) > 1:
        head, tail = "/".join(parts[:-1]), "/" + parts[-1]
        if tail == "/":  # a group row: 'name/'
            return _cut(head, width - 1) + "/"
        room = width - len(tail)
        if room >= 4:  # a recognisable piece of the group, then the whole member
            return _cut(head, room) + tail
        return _cut(parts[-1], width)
    return _cut(name, width)


def colliding_names(labels: Iterable[str]) -> dict[str, str]:
    """Names that read the same without their timestamps ('good-20250615-110000' and
    'good-20250615-120000' both 'good'): 'time' for those told apart by the time of day
    ('good-110000'), 'whole' for those that need the whole timestamp."""
    labels = list(labels)

    def stripped(x: str) -> str:
        return "/".join(strip_stamp(p) for p in x.split("/"))

    def timed(x: str) -> str:
        return "/".join(short_stamp(p) for p in x.split("/"))

    same = Counter(stripped(x) for x in labels)
    colliding = [x for x in labels if same[stripped(x)] > 1]
    same_time = Counter(timed(x) for x in colliding)
    return {x: "time" if same_time[timed(x)] == 1 else "whole" for x in colliding}


def _label(run: RunInfo) -> str:
    """The name as listed: a group's with a trailing '/' (its members follow as 'g/m')."""
    return run.name + ("/" if run.kind == "group" else "")


def state_text(run: RunInfo) -> str:
    """The state cell: the state, plus the input-bound flag of a live run."""
    if any(a.kind == "input" for a in run_alerts(run)):
        return f"{run.state} ⚠input"
    return run.state


_STATE_ORDER = {
    "running": 0,
    "running (stale)": 1,
    "failed (lost)": 2,
    "diverged": 3,
    "failed": 4,
    "queued": 5,
    "stopped": 6,
    "finished": 7,
}


def _num(value) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _best(run: RunInfo, key: str) -> float | None:
    """The figure shown (and sorted by) in the mse/pc columns: a run's best epoch; a k-fold
    group's final-epoch mean over its folds (the protocol figure, kfold.json
    `final_epoch`), else the older best-epoch mean; a sweep's members' mean."""
    if run.kind != "group":
        return _num(run.best.get(key)) if isinstance(run.best, dict) else None
    final = run.summary.get("final_epoch")
    final_mean = final.get("mean") if isinstance(final, dict) else None
    if isinstance(final_mean, dict) and _num(final_mean.get(key)) is not None:
        return _num(final_mean.get(key))
    mean = run.summary.get("mean")
    return _num(mean.get(key)) if isinstance(mean, dict) else None


def sort_key(run: RunInfo, order: str):
    """A sort key for one of SORTS; missing figures sort last."""
    if order == "name":
        return (0, run.name.lower())
    if order == "state":
        return (_STATE_ORDER.get(run.state, 9), -(sort_time(run) or 0.0))
    if order == "mse":
        v = _best(run, "mse")
        return (v is None, v if v is not None else 0.0)
    if order == "pc":
        v = _best(run, "pc")
        return (v is None, -(v if v is not None else 0.0))
    t = sort_time(run)
    return (t is None, -(t or 0.0), run.name)


def sort_time(run: RunInfo) -> float | None:
    """When a run began, for the newest-first order: its start, else (queued, just
    created) status.json's `created`, else the folder name's timestamp."""
    if run.started is not None:
        return run.started
    created = run.status.get("created") or run.summary.get("created")
    if isinstance(created, (int, float)) and not isinstance(created, bool):
        return float(created)
    return stamp_time(run.name)


def epoch_text(run: RunInfo) -> str:
    """The epoch cell: '3/10'."""
    return f"{run.epoch}/{run.epochs}" if run.epochs else ""


def _same(a, b) -> bool:
    """Cell equality including the style (rich's Text.__eq__ ignores the base style)."""
    if isinstance(a, Text) and isinstance(b, Text):
        return a.plain == b.plain and a.style == b.style and a.spans == b.spans
    return a == b


def run_duration(run: RunInfo, now: float) -> float | None:
    """Training time so far (live) or in total (ended); a stopped run's idle days before
    its resume do not count (status.json active_s)."""
    return run.duration_at(now)


class RunTable(DataTable):
    """Runs as rows, keyed by folder path."""

    BINDINGS = [
        Binding("enter", "open", "Details"),
        Binding("space", "toggle_mark", "Mark", key_display="␣"),
    ]

    class Selected(Message):
        """The highlighted run changed (None: the table is empty)."""

        def __init__(self, table: RunTable, run: RunInfo | None) -> None:
            self.table = table
            self.run = run
            super().__init__()

        @property
        def control(self) -> RunTable:
            return self.table

    class Opened(Message):
        """Enter was pressed on a run."""

        def __init__(self, table: RunTable, run: RunInfo) -> None:
            self.table = table
            self.run = run
            super().__init__()

        @property
        def control(self) -> RunTable:
            return self.table

    class Marked(Message):
        """The set of marked runs changed."""

        def __init__(self, table: RunTable, count: int) -> None:
            self.table = table
            self.count = count
            super().__init__()

        @property
        def control(self) -> RunTable:
            return self.table

    def __init__(self, *, clock: Callable[[], float] = time.time, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.clock = clock
        self.runs: dict[str, RunInfo] = {}  # every run listed, by path
        self.marked: set[str] = set()
        self.filter_text = ""
        self.sort_index = 0
        self.sort_reverse = False
        self._order: list[str] = []  # row keys as shown
        self._name_width = 0
        self._strip = False  # every name without its timestamp (see display_name)
        # labels whose stripped names would collide: 'time' (keep the time of day) or
        # 'whole' (keep the timestamp: the times collide too)
        self._keep: dict[str, str] = {}
        self._layout: tuple = ()
        self._selected_key: str | None = None
        self._drawn: dict[str, tuple] = {}  # row key -> `_stamp` when its cells were set

    # -- public API ----------------------------------------------------------------------

    @property
    def sort_by(self) -> str:
        return SORTS[self.sort_index][0]

    @property
    def sort_label(self) -> str:
        return SORTS[self.sort_index][1] + (" ↑" if self.sort_reverse else "")

    @property
    def current(self) -> RunInfo | None:
        """The run under the cursor."""
        if not self._order or not (0 <= self.cursor_row < len(self._order)):
            return None
        return self.runs.get(self._order[self.cursor_row])

    @property
    def shown(self) -> list[RunInfo]:
        """The runs shown, in table order."""
        return [self.runs[k] for k in self._order]

    def marked_runs(self) -> list[RunInfo]:
        """Marked runs still on disk, in table order (hidden ones included)."""
        order = self._sorted(self.runs.values())
        return [r for r in order if str(r.path) in self.marked]

    def show_runs(self, runs: Iterable[RunInfo]) -> None:
        """Replace the listing; keeps the cursor on the same run where it still exists."""
        self.runs = {str(r.path): r for r in runs}
        self.marked &= set(self.runs)
        self._refresh_rows()

    def select_path(self, path: Path | str) -> bool:
        """Move the cursor to a run (clearing the filter if it hides it)."""
        key = str(path)
        if key not in self.runs:  # the same folder spelt differently (relative, symlink)
            target = Path(path).resolve()
            key = next((k for k in self.runs if Path(k).resolve() == target), "")
            if not key:
                return False
        if key not in self._order:
            self.filter_text = ""
            self._refresh_rows()
        self.move_cursor(row=self._order.index(key))
        self._post_selected()
        return True

    def set_filter(self, text: str) -> None:
        """Show only runs whose name, state or alert flags contain `text` (case-insensitive)."""
        self.filter_text = text.strip()
        self._refresh_rows()

    def cycle_sort(self) -> str:
        """Next sort order (after the last one, the same orders reversed); returns its label."""
        if self.sort_index == len(SORTS) - 1:
            self.sort_index, self.sort_reverse = 0, not self.sort_reverse
        else:
            self.sort_index += 1
        self._refresh_rows()
        return self.sort_label

    def action_toggle_mark(self) -> None:
        run = self.current
        if run is None:
            return
        key = str(run.path)
        self.marked ^= {key}
        self.update_cell(key, "mark", self._mark_cell(key))
        self.post_message(self.Marked(self, len(self.marked)))
        if self.cursor_row < len(self._order) - 1:
            self.move_cursor(row=self.cursor_row + 1)

    # -- rendering ------------------------------------------------------------------------

    def _sorted(self, runs: Iterable[RunInfo]) -> list[RunInfo]:
        return sorted(runs, key=lambda r: sort_key(r, self.sort_by), reverse=self.sort_reverse)

    def _matches(self, run: RunInfo) -> bool:
        if not self.filter_text:
            return True
        hay = " ".join([run.name, run.state, run.kind, *(a.flag for a in run_alerts(run))])
        return all(word in hay.lower() for word in self.filter_text.lower().split())

    def _mark_cell(self, key: str) -> Text:
        return Text("●", style="bold cyan") if key in self.marked else Text(" ")

    def _width(self) -> int:
        # before the first layout the table has no size yet: it spans the screen, so the
        # terminal's width gives the first frame its final columns (no second paint)
        if self.size.width:
            return self.size.width
        try:
            return self.app.size.width or 80
        except Exception:  # noqa: BLE001 - not attached to an app (unit use)
            return 80

    @property
    def wide(self) -> bool:
        return self._width() >= WIDE

    def _cells(self, run: RunInfo) -> list:
        key = str(run.path)
        wide = self.wide
        epoch = epoch_text(run)
        started = fmt.started(run.started) if wide else fmt.started_short(run.started, self.clock())
        return [
            self._mark_cell(key),
            Text(
                self._name_text(_label(run)),
                style="italic" if run.kind == "logdir" else "",
            ),
            Text(state_text(run), style=STATE_STYLE.get(run.state, "")),
            Text(epoch, justify="right"),
            Text(self._metric_text(run, "mse", wide), justify="right"),
            Text(self._metric_text(run, "pc", wide), justify="right"),
            started,
            Text(fmt.duration_coarse(run_duration(run, self.clock())), justify="right"),
        ]

    @staticmethod
    def _metric_text(run: RunInfo, key: str, wide: bool) -> str:
        """A figure in its column's usual width, in scientific notation when it is huge or
        tiny ('1e+63'): never cut into a plausible-looking number."""
        col = COLUMNS[_METRIC_COLUMNS[key]]
        return fmt.metric(_best(run, key), 4 if wide else 3, col[3] if wide else col[2])

    def _widths(self, width: int) -> list[int | None]:
        wide = width >= WIDE
        widths = [c[3] if wide else c[2] for c in COLUMNS]
        # the epoch column fits its longest cell: '109/200' never loses a digit
        longest = max((len(epoch_text(r)) for r in self.runs.values()), default=0)
        widths[_EPOCH] = max(widths[_EPOCH] or 0, longest)
        # likewise a figure that needs more cells than usual ('-0.002' in 5 columns)
        for key, i in _METRIC_COLUMNS.items():
            longest = max(
                (len(self._metric_text(r, key, wide)) for r in self.runs.values()), default=0
            )
            widths[i] = max(widths[i] or 0, longest)
        return widths

    def _name_width_for(self, width: int) -> int:
        fixed = sum(w for w in self._widths(width) if w) + 2 * len(COLUMNS) * self.cell_padding
        # one cell for the vertical scrollbar when there are many runs
        return max(8, width - fixed - 1)

    def on_resize(self) -> None:
        if self._layout_for(self.size.width) != self._layout:
            self._refresh_rows(rebuild_columns=True)

    def _layout_for(self, width: int) -> tuple:
        """What the columns depend on: their widths, whether names lose timestamps and
        which names keep their time of day because they would collide without it."""
        name_width = self._name_width_for(width)
        labels = [_label(r) for r in self.runs.values()]
        strip = any(len(label) > name_width for label in labels)
        keep = colliding_names(labels) if strip else {}
        return (tuple(self._widths(width)), name_width, strip, keep)

    def _name_text(self, label: str) -> str:
        mode = self._keep.get(label)
        if mode == "whole":
            return display_name(label, self._name_width, strip=False)
        return display_name(label, self._name_width, strip=self._strip, keep_time=mode == "time")

    def _refresh_rows(self, rebuild_columns: bool = False) -> None:
        layout = self._layout_for(self._width())
        if rebuild_columns or not self.columns or layout != self._layout:
            self._layout = layout
            widths, self._name_width, self._strip, self._keep = layout
            self.clear(columns=True)
            self._order = []
            for (key, label, *_), w in zip(COLUMNS, widths, strict=True):
                self.add_column(label, key=key, width=w or self._name_width)
        keep = self._selected_key or (str(self.current.path) if self.current else None)
        order = [str(r.path) for r in self._sorted(self.runs.values()) if self._matches(r)]
        if order != self._order:
            self.clear()
            for key in order:
                self.add_row(*self._cells(self.runs[key]), key=key)
            self._order = order
            if keep in order:
                self.move_cursor(row=order.index(keep), animate=False)
            self._drawn = {key: self._stamp(key) for key in order}
        else:
            for key in order:
                stamp = self._stamp(key)
                drawn = self._drawn.get(key)
                # re-listed every 2 s: a run whose RunInfo is the very object drawn (the
                # lister re-reads only changed runs) needs its cells only when the clock
                # moved a minute (durations, dates) or the table changed around it
                if drawn is not None and drawn[0] is stamp[0] and drawn[1:] == stamp[1:]:
                    continue
                self._drawn[key] = stamp
                for (col, *_), cell in zip(COLUMNS, self._cells(self.runs[key]), strict=True):
                    if not _same(self.get_cell(key, col), cell):
                        self.update_cell(key, col, cell)
        self._post_selected()

    def _stamp(self, key: str) -> tuple:
        """What a row's cells depend on, the RunInfo compared by identity."""
        return (self.runs[key], self.wide, self._layout, key in self.marked, self.clock() // 60)

    def _post_selected(self) -> None:
        run = self.current
        key = str(run.path) if run else None
        if key != self._selected_key:
            self._selected_key = key
            self.post_message(self.Selected(self, run))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._post_selected()

    def action_open(self) -> None:
        run = self.current
        if run is not None:
            self.post_message(self.Opened(self, run))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()  # a mouse click: the same as enter
        self.action_open()
