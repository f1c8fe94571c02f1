"""`l`: the tail of a run's train.log, followed live (new lines appear as they are written).

A sweep shows its queue.log; a k-fold group its running fold's train.log (else the last
fold's). Long lines wrap, so nothing is cut at 80 columns."""

from __future__ import annotations

import re
import threading
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, RichLog, Static

from fbtui.runs import RunInfo, read_status
from fbtui.runs.layout import KFOLD, LOG

QUEUE_LOG = "queue.log"  # a sweep's runner log (fbtui.sweep.folder.LOG)

#: How much of an existing log to show on opening.
TAIL_BYTES = 256 * 1024
MAX_LINES = 5000
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def clean_line(line: str) -> str:
    """What a terminal would show of one log line: no escape codes, last \\r segment."""
    line = _ANSI.sub("", line)
    if "\r" in line:
        line = line.rstrip("\r").rsplit("\r", 1)[-1]
    return line


def _fold_names(group: Path) -> list[str]:
    """A k-fold group's fold folders in order, from kfold.json (else its subfolders)."""
    import json

    names: list[str] = []
    try:
        data = json.loads((group / KFOLD).read_text(encoding="utf-8"))
        for r in data.get("runs") or []:
            name = r.get("run") if isinstance(r, dict) else r
            if isinstance(name, str):
                names.append(name)
    except (OSError, ValueError, AttributeError):
        pass
    if not names:
        try:
            names = sorted(p.name for p in group.iterdir() if p.is_dir())
        except OSError:
            return []
    return names


def log_path(run: RunInfo) -> tuple[Path | None, str]:
    """(the log to show for a run, '') or (None, why there is none)."""
    if run.kind == "group" and run.summary.get("kind") == "sweep":
        path = run.path / QUEUE_LOG
        return (path, "") if path.is_file() else (None, f"{run.name} has no {QUEUE_LOG} yet")
    if run.kind == "group":
        logs = [run.path / f / LOG for f in _fold_names(run.path)]
        logs = [p for p in logs if p.is_file()]
        if not logs:
            return None, f"{run.name}: no fold has a {LOG} yet"
        for p in logs:
            try:
                if (read_status(p.parent) or {}).get("state") == "running":
                    return p, ""
            except Exception:  # noqa: BLE001 - a torn status: not the running fold
                continue
        return logs[-1], ""
    path = run.path / LOG
    return (path, "") if path.is_file() else (None, f"{run.name} has no {LOG}")


class LogFollower:
    """Reads whole lines appended to a file since the last call; survives truncation."""

    def __init__(self, path: Path, tail_bytes: int = TAIL_BYTES) -> None:
        self.path = Path(path)
        self.offset: int | None = None
        self.tail_bytes = tail_bytes
        self._partial = b""
        self._lock = threading.Lock()  # a slow read may overlap the next poll

    def read(self) -> tuple[list[str], bool]:
        """(new lines, reset): reset is True when the file was replaced or truncated."""
        with self._lock:
            return self._read()

    def _read(self) -> tuple[list[str], bool]:
        try:
            size = self.path.stat().st_size
        except OSError:
            return [], False
        reset = False
        if self.offset is None:
            self.offset = max(0, size - self.tail_bytes)
            skip_first = self.offset > 0  # a cut-off first line is not shown
        else:
            skip_first = False
            if size < self.offset:
                self.offset, self._partial, reset = 0, b"", True
        if size == self.offset:
            return [], reset
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(size - self.offset)
        self.offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()  # an unfinished last line waits for its newline
        if skip_first and lines:
            lines = lines[1:]
        return [clean_line(b.decode("utf-8", "replace")) for b in lines], reset


class LogTailScreen(Screen):
    """Full-screen log of one run; esc or q goes back."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
        Binding("end", "bottom", "Follow"),
    ]

    class Lines(Message):
        """New lines read by the follower worker."""

        def __init__(self, lines: list[str], reset: bool) -> None:
            self.lines = lines
            self.reset = reset
            super().__init__()

    def __init__(self, run: RunInfo, settings, path: Path | None = None) -> None:
        super().__init__()
        self.run = run
        self.settings = settings
        self.path = Path(path) if path is not None else run.path / LOG
        self.follower = LogFollower(self.path)

    def compose(self) -> ComposeResult:
        try:
            shown = self.path.relative_to(self.run.path)
        except ValueError:
            shown = self.path
        title = Text.assemble(("log", "bold"), f" {self.run.name}/{shown}")
        yield Static(title, id="title")
        # wrapped: a long line reads whole at 80 columns rather than cut at the edge
        yield RichLog(max_lines=MAX_LINES, wrap=True, min_width=20, id="log")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(RichLog).focus()
        self._read()
        if self.settings.poll_every_s:
            self.set_interval(self.settings.poll_every_s, self._read)

    @work(thread=True, group="log", exclusive=True)
    def _read(self) -> None:
        lines, reset = self.follower.read()
        if lines or reset:
            self.post_message(self.Lines(lines, reset))

    def on_log_tail_screen_lines(self, event: Lines) -> None:
        log = self.query_one(RichLog)
        if event.reset:
            log.clear()
        for line in event.lines:
            log.write(Text(line))

    def action_bottom(self) -> None:
        log = self.query_one(RichLog)
        log.auto_scroll = True
        log.scroll_end(animate=False)

    def action_back(self) -> None:
        self.app.pop_screen()
