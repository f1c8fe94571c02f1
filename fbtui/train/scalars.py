"""The trainer's scalar log: tensorboardX, flushed every few seconds, purge-aware on resume."""

from __future__ import annotations

from pathlib import Path


class ScalarLog:
    """A thin wrapper over tensorboardX's SummaryWriter (which queues events and writes them
    from its own thread, off the training loop's hot path). Disabled on non-zero ranks."""

    def __init__(
        self, run_dir: Path, flush_secs: float, purge_step: int | None, enabled: bool = True
    ):
        self.writer = None
        if enabled:
            from tensorboardX import SummaryWriter

            self.writer = SummaryWriter(
                logdir=str(run_dir),
                flush_secs=max(1, int(round(flush_secs))),
                max_queue=1000,
                purge_step=purge_step,
            )

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.writer is None:
            return
        for tag, value in values.items():
            if value is None:
                continue
            self.writer.add_scalar(tag, float(value), global_step=step)

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
