"""`l`: the tail of a run's train.log, followed live (new lines appear as they are written)."""

from __future__ import annotations

import re
import threading
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Log, Static

from fbtui.runs import RunInfo
from fbtui.runs.layout import LOG

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

    def __init__(self, run: RunInfo, settings) -> None:
        super().__init__()
        self.run = run
        self.settings = settings
        self.follower = LogFollower(run.path / LOG)

    def compose(self) -> ComposeResult:
        yield Static(f"[b]log[/b] {self.run.name}/{LOG}", id="title")
        yield Log(max_lines=MAX_LINES, highlight=False, id="log")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(Log).focus()
        self._read()
        if self.settings.poll_every_s:
            self.set_interval(self.settings.poll_every_s, self._read)

    @work(thread=True, group="log", exclusive=True)
    def _read(self) -> None:
        lines, reset = self.follower.read()
        if lines or reset:
            self.post_message(self.Lines(lines, reset))

    def on_log_tail_screen_lines(self, event: Lines) -> None:
        log = self.query_one(Log)
        if event.reset:
            log.clear()
        log.write_lines(event.lines)

    def action_bottom(self) -> None:
        log = self.query_one(Log)
        log.auto_scroll = True
        log.scroll_end(animate=False)

    def action_back(self) -> None:
        self.app.pop_screen()
