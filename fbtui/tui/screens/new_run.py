"""`n`: pick an experiment file and optional overrides; the dashboard then starts it detached
(a sweep, through `fbtui sweep`, when an override lists several values).

The overrides are checked against the experiment file (in a worker: the config schema
imports pydantic) before the dialog closes, so a typo is shown under the overrides box
and what was typed stays there to fix."""

from __future__ import annotations

import shlex
from pathlib import Path

import tomllib
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
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


#: Cells of the dialog's option list a prompt may use (dialog 76 - border, padding and a
#: scrollbar); notes past it end in an ellipsis instead of wrapping under the file name.
PROMPT_WIDTH = 68
#: Rows of the dialog besides the experiment list (border, title, prompts, input, hint).
OTHER_ROWS = 14


def one_line(text: str, width: int) -> str:
    """`text` on one line of at most `width` cells: whitespace collapsed, then cut with …"""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + "…"


def is_sweep(overrides: list[str]) -> bool:
    """True when an override lists several values (`train.lr=0.01,0.04`): the dialog then
    starts a sweep, one run per combination, as `fbtui sweep --set` does. Commas inside
    brackets or quotes belong to one value (`schedule.milestones=[140,185]`)."""
    from fbtui.errors import ConfigError
    from fbtui.sweep.grid import split_values  # plain Python (fbtui.config: pydantic)

    for item in overrides:
        try:
            if len(split_values(item.partition("=")[2])) > 1:
                return True
        except ConfigError:
            continue  # unbalanced brackets: load_config names the problem
    return False


def launch_kind(config: Path, overrides: list[str]) -> str:
    """ "sweep" when an override lists several values that only make sense as a sweep
    (`train.lr=0.01,0.04` is no float), else "run": a comma inside one string value
    (`experiment.notes=a, b`, a path) stays one run, as `fbtui run --set` takes it."""
    if not is_sweep(overrides):
        return "run"
    from fbtui.config import load_config  # pydantic: only when a run is started
    from fbtui.errors import UserError

    try:
        load_config(config, overrides)
    except UserError:
        return "sweep"
    return "run"


def check_overrides(config: Path, overrides: list[str]) -> str:
    """Why `fbtui run config --set ...` (or `fbtui sweep`, for lists) would refuse these
    overrides ('' when it would not)."""
    from fbtui.config import load_config  # pydantic: only when a run is started
    from fbtui.errors import UserError

    try:
        if launch_kind(config, overrides) == "sweep":
            from fbtui.sweep.create import plan_sweep

            plan_sweep(config, overrides)  # every member's config, nothing written
        else:
            load_config(config, overrides)
    except UserError as e:
        return str(e)
    return ""


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
                f"[b]New run[/b] from {self.experiments_dir}/ · detached: survives closing ssh",
                classes="dialog-title",
            )
            if self.experiments:
                width = max(len(p.name) for p, _ in self.experiments)
                room = PROMPT_WIDTH - width - 2
                options = []
                for p, notes in self.experiments:
                    prompt = Text(f"{p.name:<{width}}  ", no_wrap=True, overflow="ellipsis")
                    prompt.append(one_line(notes, room) if room > 1 else "", style="dim")
                    options.append(Option(prompt, id=str(p)))
                yield OptionList(*options, id="experiments")
            else:
                yield Static(
                    f"no experiment files (*.toml) in {self.experiments_dir}; "
                    "pass --experiments DIR",
                    id="experiments-empty",
                )
            yield Static("", id="chosen")
            yield Static(
                "overrides (optional), e.g. train.lr=0.04 model.dropout=0.5\n"
                "[dim]values with commas start a sweep: train.lr=0.01,0.04 experiment.seed=0,1[/]"
            )
            box = Input(placeholder="key=value …", id="overrides")
            box.cursor_blink = self.blink
            yield box
            yield Static("", id="new-run-error")
            yield Static("enter: choose / launch · tab: switch · esc: cancel", classes="hint")

    class Checked(Message):
        """The overrides were checked against the experiment file (error '' when fine)."""

        def __init__(self, config: Path, overrides: list[str], error: str) -> None:
            self.config = config
            self.overrides = overrides
            self.error = error
            super().__init__()

    def on_mount(self) -> None:
        self.query_one("#chosen").display = False
        self.query_one("#new-run-error").display = False
        self._fit()
        if self.experiments:
            self.query_one(OptionList).focus()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        # the list gives up rows first, so the hint line stays on a 24-row screen
        if self.experiments:
            rows = max(3, self.app.size.height - OTHER_ROWS)
            self.query_one(OptionList).styles.max_height = min(12, rows)

    def _error(self, text: str) -> None:
        error = self.query_one("#new-run-error", Static)
        error.update(Text(text, style="red") if text else "")
        error.display = bool(text)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.choice = Path(str(event.option.id))
        chosen = self.query_one("#chosen", Static)
        chosen.update(
            f"experiment: [b]{self.choice.name}[/b] — add overrides, then enter to launch"
        )
        chosen.display = True
        self.query_one("#overrides", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.choice is None:
            if not self.experiments:
                self._error("no experiment to start")
                return
            lst = self.query_one(OptionList)
            index = lst.highlighted if lst.highlighted is not None else 0
            self.choice = self.experiments[index][0]
        try:
            overrides = parse_overrides(event.value)
        except ValueError as e:
            self._error(str(e))
            return
        self._error("")
        self._check(self.choice, overrides)

    @work(thread=True, group="new-run-check", exclusive=True)
    def _check(self, config: Path, overrides: list[str]) -> None:
        self.post_message(self.Checked(config, overrides, check_overrides(config, overrides)))

    def on_new_run_screen_checked(self, event: Checked) -> None:
        if event.error:  # stay open: the typed overrides are kept to fix
            self._error(event.error)
            self.query_one("#overrides", Input).focus()
            return
        self.dismiss((event.config, event.overrides))

    def action_cancel(self) -> None:
        self.dismiss(None)
