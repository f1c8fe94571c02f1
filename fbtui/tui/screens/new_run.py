"""`n`: pick an experiment file and optional overrides; the dashboard then starts it detached."""

from __future__ import annotations

import shlex
from pathlib import Path

import tomllib
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option


def list_experiments(folder: Path) -> list[tuple[Path, str]]:
    """The experiment files (*.toml) in `folder`, sorted, with their `experiment.notes`."""
    out = []
    try:
        files = sorted(p for p in Path(folder).glob("*.toml") if p.is_file())
    except OSError:
        return []
    for path in files:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            notes = str((data.get("experiment") or {}).get("notes", ""))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            notes = f"(unreadable: {str(e)[:60]})"
        out.append((path, notes))
    return out


def parse_overrides(text: str) -> list[str]:
    """`train.lr=0.04 model.dropout=0.5` → ['train.lr=0.04', 'model.dropout=0.5'].

    Raises ValueError naming the first item that is not `dotted.key=value`."""
    try:
        items = shlex.split(text)
    except ValueError as e:
        raise ValueError(f"overrides: {e}") from None
    for item in items:
        key, sep, _ = item.partition("=")
        if not sep or not key or " " in key or not key.replace(".", "").replace("_", "").isalnum():
            raise ValueError(f"override {item!r}: expected key=value, e.g. train.lr=0.04")
    return items


class NewRunScreen(ModalScreen[tuple[Path, list[str]] | None]):
    """Dismisses with (experiment file, overrides), or None on escape."""

    BINDINGS = [Binding("escape,q", "cancel", "Cancel")]  # q: not the app's quit

    def __init__(self, experiments_dir: Path, *, blink: bool = True) -> None:
        super().__init__()
        self.blink = blink
        self.experiments_dir = Path(experiments_dir)
        self.experiments = list_experiments(self.experiments_dir)
        self.choice: Path | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="new-run"):
            yield Static(
                f"[b]New run[/b] from {self.experiments_dir}/ — started detached: it keeps "
                "training when the dashboard or ssh closes",
                classes="dialog-title",
            )
            if self.experiments:
                width = max(len(p.name) for p, _ in self.experiments)
                yield OptionList(
                    *[
                        Option(f"{p.name:<{width}}  [dim]{notes}[/]", id=str(p))
                        for p, notes in self.experiments
                    ],
                    id="experiments",
                )
            else:
                yield Static(
                    f"no experiment files (*.toml) in {self.experiments_dir}; "
                    "pass --experiments DIR",
                    id="experiments-empty",
                )
            yield Static("", id="chosen")
            yield Static("overrides (optional), e.g. train.lr=0.04 model.dropout=0.5")
            box = Input(placeholder="key=value …", id="overrides")
            box.cursor_blink = self.blink
            yield box
            yield Static("", id="new-run-error")
            yield Static("enter: choose / launch · tab: switch · esc: cancel", classes="hint")

    def on_mount(self) -> None:
        if self.experiments:
            self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.choice = Path(str(event.option.id))
        self.query_one("#chosen", Static).update(
            f"experiment: [b]{self.choice.name}[/b] — add overrides, then enter to launch"
        )
        self.query_one("#overrides", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        error = self.query_one("#new-run-error", Static)
        if self.choice is None:
            if not self.experiments:
                error.update("[red]no experiment to start[/]")
                return
            lst = self.query_one(OptionList)
            index = lst.highlighted if lst.highlighted is not None else 0
            self.choice = self.experiments[index][0]
        try:
            overrides = parse_overrides(event.value)
        except ValueError as e:
            error.update(f"[red]{e}[/]")
            return
        self.dismiss((self.choice, overrides))

    def action_cancel(self) -> None:
        self.dismiss(None)
