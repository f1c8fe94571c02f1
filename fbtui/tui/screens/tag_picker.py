"""Pick any scalar tag of the watched run to chart (`t` on the dashboard)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from fbtui.tui import fmt


class TagPickerScreen(ModalScreen[str | None]):
    """An option list of tags with their latest values; enter picks, escape cancels."""

    BINDINGS = [Binding("escape,q", "cancel", "Cancel")]  # q: not the app's quit

    def __init__(self, tags: list[str], latest: dict[str, float] | None = None) -> None:
        super().__init__()
        self.tags = list(tags)
        self.latest = latest or {}

    def compose(self) -> ComposeResult:
        width = max((len(t) for t in self.tags), default=10)
        options = [
            Option(f"{tag:<{width}}  {fmt.metric(self.latest.get(tag), 4)}", id=tag)
            for tag in self.tags
        ]
        with Vertical(id="dialog", classes="picker"):
            yield Static("[b]Chart a tag[/b]  enter: show · esc: cancel", classes="dialog-title")
            yield OptionList(*options, id="tags")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
