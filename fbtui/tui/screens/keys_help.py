"""`?`: every key of the dashboard, including the ones the footer has no room for."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = (
    ("↑ ↓ pgup pgdn", "move through the runs; the live view follows"),
    ("enter", "details: summary, config, predictions scatter"),
    ("space", "mark a run (for compare)"),
    ("c", "compare the marked runs (or the selected one)"),
    ("n", "new run: pick an experiment, add overrides (a,b: a sweep); detached"),
    ("s", "stop the selected run (it saves a checkpoint); a sweep: cancel it"),
    ("r", "resume a stopped, failed or lost run, or a sweep's queue"),
    ("l", "the run's log, followed live"),
    ("/", "filter runs by words in name, state or flag (esc clears)"),
    ("o", "sort: newest, name, state, best mse, best pc (again: reversed)"),
    ("t", "chart any tag of the run"),
    ("[  ]", "previous / next charts"),
    ("ctrl+r", "re-read everything now"),
    ("q", "quit (training goes on; reopen the dashboard to re-attach)"),
)


class KeysHelpScreen(ModalScreen[None]):
    """A table of keys; any of esc, q or ? closes it."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, what in KEYS:
            table.add_row(key, what)
        with Vertical(id="dialog", classes="keys"):
            yield Static("[b]Keys[/b]", classes="dialog-title")
            yield Static(table)

    def action_close(self) -> None:
        self.dismiss(None)
