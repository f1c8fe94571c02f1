"""Foreground progress for `fbtui run`: epoch and step bars, loss, lr, images/s, ETA, best."""

from __future__ import annotations

import math
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from fbtui.train.trainer import DATA_WAIT_WARN, Reporter


class RichReporter(Reporter):
    def __init__(self, console: Console | None = None):
        self.console = console or Console()
        self.progress: Progress | None = None
        self.warned_input = False

    def start(self, cfg, run_dir: Path, epochs: int, steps_per_epoch: int, step: int) -> None:
        self.console.print(
            f"[bold]run[/] {run_dir}  ([dim]{cfg.model.backbone}, {cfg.model.head} head, {cfg.train.optimizer} lr {cfg.train.lr:g}, {cfg.schedule.name}[/])"
        )
        self.spe = steps_per_epoch
        self.cached = cfg.data.cache != "none"
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=self.console,
            transient=False,
        )
        self.progress.start()
        self.t_epoch = self.progress.add_task(
            "epoch", total=epochs, completed=step // steps_per_epoch, info=""
        )
        self.t_step = self.progress.add_task(
            "step ", total=steps_per_epoch, completed=step % steps_per_epoch, info=""
        )

    def step(self, step: int, epoch: int, values: dict[str, float]) -> None:
        if not self.progress:
            return
        done = step - epoch * self.spe
        info = f"loss {values['train/loss']:.4f}  lr {values['lr']:.3g}  {values['perf/img_per_s']:.0f} img/s"
        self.progress.update(self.t_step, completed=done, info=info)
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
        info = f"test mse {metrics['mse']:.4f} pc {metrics['pc']:.3f}  best mse {best.get('mse', math.nan):.4f} (ep {best.get('epoch')})"
        self.progress.update(self.t_epoch, completed=epoch + 1, info=info)
        self.progress.update(self.t_step, completed=0)

    def message(self, text: str) -> None:
        (self.progress.console if self.progress else self.console).print(text)

    def close(self) -> None:
        if self.progress:
            self.progress.stop()
            self.progress = None
