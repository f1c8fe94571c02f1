"""Foreground progress for `fbtui run`: epoch and step bars, loss, lr, images/s, ETA, best.

Laid out for the terminal's width (80 columns included): the counts, elapsed time and ETA
always show; the bar shrinks first, then the info text drops its less important fields.
At the end both bars say how the run ended instead of an ETA."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column
from rich.text import Text

from fbtui.train.trainer import DATA_WAIT_WARN, Reporter

BAR_MIN, BAR_MAX = 8, 40
#: the widest info text worth giving up bar width for (the epoch row's full form)
INFO_WANT = 48
ELAPSED_W = 7  # h:mm:ss
ETA_W = 11  # "eta h:mm:ss"


class EtaColumn(ProgressColumn):
    """`eta 0:01:23` while running; nothing once the task has ended (no `-:--:--`)."""

    def render(self, task: Task) -> Text:
        if task.fields.get("ended") or task.finished:
            return Text("")
        remaining = task.time_remaining
        if remaining is None:
            return Text("eta  …", style="progress.remaining")
        return Text(f"eta {timedelta(seconds=int(remaining))}", style="progress.remaining")


def fit(forms: list[str], width: int) -> str:
    """The first (most complete) form that fits in `width` cells, else the last, cropped."""
    for form in forms:
        if len(form) <= width:
            return form
    return forms[-1][: max(0, width)]


def layout(width: int, counts_w: int) -> tuple[int, int, bool]:
    """(bar width, info width, show elapsed) for a terminal `width` cells wide."""
    show_elapsed = True
    for _ in range(2):
        fixed = 5 + counts_w + ETA_W + (ELAPSED_W if show_elapsed else 0)
        gaps = 5 if show_elapsed else 4  # one space between the columns
        room = width - 1 - fixed - gaps  # - 1: never write into the last cell
        bar = max(BAR_MIN, min(BAR_MAX, room - INFO_WANT))
        info = room - bar
        if info >= 20 or not show_elapsed:
            return bar, max(0, info), show_elapsed
        show_elapsed = False  # a narrow terminal: the loss matters more than the clock
    return bar, max(0, info), show_elapsed


class RichReporter(Reporter):
    def __init__(self, console: Console | None = None):
        self.console = console or Console()
        self.progress: Progress | None = None
        self.warned_input = False
        self.epoch_done = 0
        self.step_done = 0

    def start(self, cfg, run_dir: Path, epochs: int, steps_per_epoch: int, step: int) -> None:
        self.console.print(
            f"[bold]run[/] {run_dir}  ([dim]{cfg.model.backbone}, {cfg.model.head} head, {cfg.train.optimizer} lr {cfg.train.lr:g}, {cfg.schedule.name}[/])"
        )
        self.spe = steps_per_epoch
        self.epochs = epochs
        self.cached = cfg.data.cache != "none"
        counts_w = 2 * len(str(max(epochs, steps_per_epoch))) + 1
        bar_w, self.info_w, show_elapsed = layout(self.console.width, counts_w)
        columns: list = [
            TextColumn("{task.description}", table_column=Column(no_wrap=True, width=5)),
            BarColumn(bar_width=bar_w, table_column=Column(no_wrap=True, width=bar_w)),
            MofNCompleteColumn(table_column=Column(no_wrap=True, width=counts_w, justify="right")),
        ]
        if show_elapsed:
            columns.append(TimeElapsedColumn(table_column=Column(no_wrap=True, width=ELAPSED_W)))
        columns += [
            EtaColumn(table_column=Column(no_wrap=True, width=ETA_W)),
            TextColumn(
                "{task.fields[info]}",
                table_column=Column(no_wrap=True, width=self.info_w, overflow="ellipsis"),
            ),
        ]
        self.progress = Progress(*columns, console=self.console, transient=False)
        self.progress.start()
        self.epoch_done = step // steps_per_epoch
        self.step_done = step % steps_per_epoch
        self.t_epoch = self.progress.add_task(
            "epoch", total=epochs, completed=self.epoch_done, info="", ended=False
        )
        self.t_step = self.progress.add_task(
            "step", total=steps_per_epoch, completed=self.step_done, info="", ended=False
        )

    def step(self, step: int, epoch: int, values: dict[str, float]) -> None:
        if not self.progress:
            return
        self.step_done = step - epoch * self.spe
        loss, lr, ips = values["train/loss"], values["lr"], values["perf/img_per_s"]
        info = fit(
            [
                f"loss {loss:.4f}  lr {lr:.3g}  {ips:.0f} img/s",
                f"loss {loss:.4f} lr {lr:.3g} {ips:.0f} img/s",
                f"loss {loss:.4f} lr {lr:.3g}",
                f"loss {loss:.4f}",
            ],
            self.info_w,
        )
        self.progress.update(self.t_step, completed=self.step_done, info=info)
        if values["perf/data_wait_frac"] > DATA_WAIT_WARN and not self.warned_input:
            self.warned_input = True
            self.message(
                f"[yellow]input-bound:[/] {values['perf/data_wait_frac']:.0%} of step time waits for data; "
                + (
                    "raise data.num_workers"
                    if self.cached
                    else 'raise data.num_workers or set data.cache = "memory"'
                )
            )

    def epoch(self, epoch: int, metrics: dict[str, float], best: dict[str, float]) -> None:
        if not self.progress:
            return
        mse, pc = metrics["mse"], metrics["pc"]
        bmse, bep = best.get("mse", math.nan), best.get("epoch")
        info = fit(
            [
                f"test mse {mse:.4f} pc {pc:.3f}  best mse {bmse:.4f} (ep {bep})",
                f"mse {mse:.4f} pc {pc:.3f} best {bmse:.4f}@{bep}",
                f"mse {mse:.4f} best {bmse:.4f}@{bep}",
                f"mse {mse:.4f}",
            ],
            self.info_w,
        )
        self.epoch_done = epoch + 1
        self.progress.update(self.t_epoch, completed=self.epoch_done, info=info)
        if self.epoch_done < self.epochs:  # the last epoch's step bar stays full
            self.step_done = 0
            self.progress.update(self.t_step, completed=0)

    def finish(self, state: str, detail: str = "") -> None:
        """Leave both bars in the run's end state: full when finished; where it stopped
        otherwise, with the state in place of the ETA and the clocks stopped."""
        if not self.progress:
            return
        if state == "finished":
            self.progress.update(self.t_epoch, completed=self.epochs, ended=True)
            self.progress.update(self.t_step, completed=self.spe, ended=True)
        else:
            done = f"{self.epoch_done} of {self.epochs} epochs done"
            self.progress.update(
                self.t_epoch, ended=True, info=fit([f"{state}: {done}", state], self.info_w)
            )
            self.progress.update(self.t_step, ended=True, info=fit([detail, ""], self.info_w))
        for task in (self.t_epoch, self.t_step):
            self.progress.stop_task(task)

    def message(self, text: str) -> None:
        (self.progress.console if self.progress else self.console).print(text)

    def close(self) -> None:
        if self.progress:
            self.progress.stop()
            self.progress = None
