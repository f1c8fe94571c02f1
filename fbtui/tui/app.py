"""The dashboard application and its one factory, `make_app`, used by the CLI and the tests.

Import cost matters (DESIGN §2): the dashboard must paint quickly on a machine that only
holds logs, so nothing here (or below) imports torch, torchvision or the trainer.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from fbtui.tui.run_lister import RunLister

#: The wall clock of test mode: durations and ETAs are computed against it, so snapshots
#: never change with the time of day (2025-06-15 12:00:00 UTC).
TEST_NOW = 1_750_000_000.0


@dataclass
class Settings:
    """Everything the dashboard's screens need to know about their surroundings."""

    runs_dir: Path
    experiments_dir: Path
    test_mode: bool = False
    watch: Path | None = None  # the run to select at start
    clock: Callable[[], float] = time.time
    host: str = ""  # shown in the title bar; empty in test mode
    list_every_s: float | None = 2.0  # runs root re-listing; None: only on demand
    poll_every_s: float | None = 1.0  # the selected run's events and status
    gpu_every_s: float | None = 1.0
    launch_timeout_s: float = 600.0
    lister: RunLister | None = None  # lists the runs root; its first listing prefetched
    extra: dict = field(default_factory=dict)


class DashboardApp(App[None]):
    """`fbtui dashboard`: the runs table, the selected run's live view and the GPU panel."""

    CSS_PATH = "app.tcss"
    TITLE = "fbtui"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("q", "quit", "Quit", priority=False)]

    def __init__(self, settings: Settings, *, theme: str | None = None) -> None:
        super().__init__()
        self.settings = settings
        self._theme_name = theme

    def get_default_screen(self):
        from fbtui.tui.screens.dashboard import DashboardScreen

        return DashboardScreen(self.settings)

    def on_mount(self) -> None:
        self.theme = self._theme_name or pick_theme(
            None if self.settings.test_mode else self.console.color_system
        )


def pick_theme(color_system: str | None) -> str:
    """The theme for a terminal's colour system (None: unknown, as in tests).

    With 16 colours (TERM=xterm and friends) the ANSI theme uses the terminal's own
    palette, so nothing is approximated into unreadable near-blacks."""
    return "ansi-dark" if color_system in ("standard", "windows") else "textual-dark"


def make_app(
    runs_dir: Path | str,
    experiments_dir: Path | str,
    *,
    test_mode: bool = False,
    watch: Path | str | None = None,
    theme: str | None = None,
    clock: Callable[[], float] | None = None,
    list_every_s: float | None = None,
    poll_every_s: float | None = None,
    gpu_every_s: float | None = None,
    lister: RunLister | None = None,
) -> DashboardApp:
    """Build the dashboard. `test_mode` fixes the clock at `TEST_NOW`, hides the host name,
    stops the cursor blinking and, unless intervals are given, polls only at start, so
    Pilot and snapshot tests see the same frame every time. `lister` (default: a new one)
    lists the runs root; its first listing starts now, so the first frame can show it."""
    if lister is None:
        lister = RunLister(Path(runs_dir))
    lister.prefetch()
    if test_mode:
        settings = Settings(
            runs_dir=Path(runs_dir),
            experiments_dir=Path(experiments_dir),
            test_mode=True,
            watch=Path(watch) if watch else None,
            clock=clock or (lambda: TEST_NOW),
            host="",
            list_every_s=list_every_s,
            poll_every_s=poll_every_s,
            gpu_every_s=gpu_every_s,
            lister=lister,
        )
    else:
        settings = Settings(
            runs_dir=Path(runs_dir),
            experiments_dir=Path(experiments_dir),
            watch=Path(watch) if watch else None,
            clock=clock or time.time,
            host=socket.gethostname(),
            list_every_s=list_every_s or 2.0,
            poll_every_s=poll_every_s or 1.0,
            gpu_every_s=gpu_every_s or 1.0,
            lister=lister,
        )
    return DashboardApp(settings, theme=theme)
