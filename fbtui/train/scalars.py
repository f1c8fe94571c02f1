"""The trainer's scalar log: tensorboardX event records, flushed every few seconds,
purge-aware on resume."""

from __future__ import annotations

import os
import time
from pathlib import Path


class ScalarLog:
    """Writes scalars with tensorboardX's EventsWriter, synchronously. Disabled on
    non-zero ranks.

    Not SummaryWriter: its events go through a queue to a writer thread, and its flush()
    does not wait for that queue, so a checkpoint could land while the steps it covers were
    still queued; a kill -9 then lost them for good (the resumed run purges from the
    checkpoint's step on). A few scalars per logging interval cost microseconds to write
    here, and `flush()` really means "on disk" (the trainer flushes before each
    checkpoint)."""

    def __init__(
        self, run_dir: Path, flush_secs: float, purge_step: int | None, enabled: bool = True
    ):
        self.writer = None
        self.flush_secs = max(0.1, float(flush_secs))
        self._flushed = time.monotonic()
        if not enabled:
            return
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event, SessionLog

        _after_existing_files(Path(run_dir))
        self.writer = EventsWriter(os.path.join(str(run_dir), "events"))
        if purge_step is not None:  # what SummaryWriter(purge_step=N) writes
            now = time.time()
            self.writer.write_event(
                Event(wall_time=now, step=purge_step, file_version="brain.Event:2")
            )
            self.writer.write_event(
                Event(
                    wall_time=now,
                    step=purge_step,
                    session_log=SessionLog(status=SessionLog.START),
                )
            )
        self.flush()

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.writer is None:
            return
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.summary import scalar

        now = time.time()
        for tag, value in values.items():
            if value is None:
                continue
            self.writer.write_event(
                Event(wall_time=now, step=int(step), summary=scalar(tag, float(value)))
            )
        if time.monotonic() - self._flushed >= self.flush_secs:
            self.flush()

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            self._flushed = time.monotonic()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _after_existing_files(run_dir: Path) -> None:
    """Wait (at most a second) until a new event file's name sorts after every existing
    one: the name holds the time in whole seconds, an equal name would truncate the older
    file, and readers apply a purge only to the files sorted before it."""
    newest = 0
    for p in run_dir.glob("events.out.tfevents.*"):
        stamp = p.name.split(".")[3]
        if stamp.isdigit():
            newest = max(newest, int(stamp))
    while int(time.time()) <= newest and time.time() > newest - 2:
        time.sleep(0.05)
