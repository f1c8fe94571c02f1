"""Incremental reader of one TensorBoard logdir (a run folder or any writer's logdir).

`LogdirReader(path).poll()` reads what was appended since the last poll: each event
file's byte offset is remembered, a poll of an unchanged run costs one `stat` per
directory and per event file, and a half-written last record stays for the next poll.

Sub-runs. TensorBoard shows every directory holding event files as its own run; this
reader folds a logdir's subdirectories into the one run and names their tags so that
`add_scalars` reads naturally:

* ``logdir/main/sub/`` (tensorboardX) and ``logdir/main_sub/`` (torch.utils.tensorboard),
  both holding tag ``main``, become tag ``main/sub``;
* any other subdirectory ``rel`` (e.g. Keras' ``train/``, ``validation/``) gives
  ``rel/tag``.

Purges follow TensorBoard per directory: a `SessionLog.START` at step N, or a
`file_version` event with step N > 0 (what `purge_step=N` writes), drops the points read
before it with step >= N. Thread-safe: a worker thread may poll while another reads.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fbtui.tb.batch import BatchResult, decode_batch
from fbtui.tb.fastpath import TemplateBook
from fbtui.tb.records import WAITING, HeaderCache, split_records
from fbtui.tb.scalars import ScalarSeries, SeriesStore

CHUNK = 64 << 20  # bytes read and decoded at a time, bounding memory on huge files
MAX_DIRS = 512  # a logdir walk stops here (someone pointed us at a home directory)
MAX_WARNINGS = 1000
_SKIP_DIRS = {"__pycache__", "node_modules", "checkpoints"}


def is_event_file(name: str) -> bool:
    """TensorBoard's rule: an events file has 'tfevents' in its base name."""
    return "tfevents" in name and not name.startswith(".")


@dataclass(frozen=True)
class TbWarning:
    """Something in the logs that was skipped; reading went on."""

    path: Path
    offset: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}" if self.offset is None else f"{self.path} @ byte {self.offset}"
        return f"{where}: {self.message}"


@dataclass
class _EventFile:
    path: Path
    offset: int = 0  # bytes consumed
    size: int = -1  # size at the last read
    need: int = 0  # bytes the pending partial record needs
    closed: bool = False  # a newer file exists: the writer has moved on


@dataclass
class _EventDir:
    path: Path
    rel: str  # posix path relative to the logdir ('' for the logdir itself)
    files: dict[str, _EventFile] = field(default_factory=dict)
    stores: dict[str, SeriesStore] = field(default_factory=dict)
    plugins: dict[str, str] = field(default_factory=dict)
    headers: HeaderCache = field(default_factory=HeaderCache)


def expose_tag(rel: str, tag: str) -> str:
    """The name a subdirectory's tag gets (see the module docstring)."""
    if not rel:
        return tag
    if rel.startswith(tag + "/"):  # tensorboardX add_scalars: logdir/main/sub
        return rel
    flat = tag.replace("/", "_") + "_"
    rest = rel[len(flat) :]
    if rel.startswith(flat) and rest and "/" not in rest:  # torch: logdir/main_sub
        return f"{tag}/{rest}"
    return f"{rel}/{tag}"


class LogdirReader:
    """Reads the scalars of one logdir (or one event file) incrementally."""

    def __init__(self, path: str | os.PathLike, *, fast: bool = True) -> None:
        self.path = Path(path)
        self.fast = fast  # False: every record through protobuf (the tests' reference)
        self.warnings: list[TbWarning] = []
        self.version = 0  # bumps whenever a poll changed anything
        self.stats = {"records": 0, "fast": 0, "slow": 0, "bytes": 0, "purged": 0}
        self._warned: set[tuple] = set()
        self._dirs: dict[Path, _EventDir] = {}
        self._dir_mtimes: dict[Path, int] = {}
        self._book = TemplateBook()
        self._names: dict[str, tuple[_EventDir, str]] | None = None
        self._walked = False
        # poll() may run in a worker thread while the UI thread reads series
        self._lock = threading.RLock()

    # -- public API ---------------------------------------------------------------------

    def poll(self) -> bool:
        """Read whatever is new; return whether any scalar, tag or warning changed."""
        with self._lock:
            return self._poll()

    def _poll(self) -> bool:
        before = (self.version, len(self.warnings))
        changed = self._discover()
        for edir in sorted(self._dirs.values(), key=lambda d: d.rel):
            names = sorted(edir.files)
            for i, name in enumerate(names):
                changed |= self._poll_file(edir, edir.files[name], closed=i < len(names) - 1)
        if changed:
            self.version += 1
            self._names = None
        return changed or len(self.warnings) != before[1]

    def tags(self) -> list[str]:
        """Every scalar tag seen so far, sorted."""
        with self._lock:
            return sorted(self._name_map())

    def scalars(self, tag: str) -> ScalarSeries:
        """The points of `tag` (an empty series for a tag this logdir does not have).

        The arrays are read-only and never change afterwards; a later poll that adds
        points hands out a new series object.
        """
        with self._lock:
            got = self._name_map().get(tag)
            if got is None:
                return ScalarSeries.empty(tag)
            edir, raw = got
            return edir.stores[raw].series(tag)

    def all_scalars(self) -> dict[str, ScalarSeries]:
        with self._lock:
            return {tag: self.scalars(tag) for tag in self.tags()}

    def event_files(self) -> list[Path]:
        """Event files found, in reading order."""
        with self._lock:
            out = []
            for edir in sorted(self._dirs.values(), key=lambda d: d.rel):
                out.extend(edir.files[n].path for n in sorted(edir.files))
            return out

    @classmethod
    def load(cls, path: str | os.PathLike, **kwargs) -> LogdirReader:
        """A reader that has already polled once."""
        reader = cls(path, **kwargs)
        reader.poll()
        return reader

    # -- discovery ----------------------------------------------------------------------

    def _warn(self, path: Path, offset: int | None, message: str) -> None:
        key = (str(path), offset, message)
        if key in self._warned or len(self.warnings) >= MAX_WARNINGS:
            return
        self._warned.add(key)
        self.warnings.append(TbWarning(path, offset, message))

    def _discover(self) -> bool:
        """Find new directories and event files; costs one stat per known directory."""
        if self.path.is_file() or (not self._walked and is_event_file(self.path.name)):
            if not self._dirs:
                edir = self._dirs[self.path.parent] = _EventDir(self.path.parent, "")
                edir.files[self.path.name] = _EventFile(self.path)
                return True
            return False
        if not self._walked:
            self._walked = True
            if not self.path.is_dir():
                self._warn(self.path, None, "not a directory")
                return False
            return self._scan(self.path)
        changed = False
        for directory, mtime in list(self._dir_mtimes.items()):
            try:
                now = os.stat(directory).st_mtime_ns
            except OSError:
                continue  # removed: keep what was read
            if now != mtime:
                changed |= self._scan(directory)
        return changed

    def _scan(self, directory: Path) -> bool:
        """(Re)list one directory, walking into subdirectories not seen before."""
        changed = False
        stack = [directory]
        while stack:
            here = stack.pop()
            try:
                self._dir_mtimes[here] = os.stat(here).st_mtime_ns
                entries = list(os.scandir(here))
            except OSError as e:
                self._warn(here, None, f"cannot list directory ({e.strerror})")
                continue
            for entry in entries:
                try:
                    if entry.is_dir():
                        sub = Path(entry.path)
                        if entry.name.startswith(".") or entry.name in _SKIP_DIRS:
                            continue
                        if sub not in self._dir_mtimes:
                            if len(self._dir_mtimes) >= MAX_DIRS:
                                self._warn(
                                    self.path, None, f"more than {MAX_DIRS} folders; rest skipped"
                                )
                                continue
                            self._dir_mtimes[sub] = 0
                            stack.append(sub)
                    elif entry.is_file() and is_event_file(entry.name):
                        edir = self._dirs.get(here)
                        if edir is None:
                            rel = here.relative_to(self.path).as_posix()
                            edir = self._dirs[here] = _EventDir(here, "" if rel == "." else rel)
                        if entry.name not in edir.files:
                            edir.files[entry.name] = _EventFile(Path(entry.path))
                            changed = True
                except OSError:
                    continue
        return changed

    # -- reading ------------------------------------------------------------------------

    def _poll_file(self, edir: _EventDir, ef: _EventFile, *, closed: bool) -> bool:
        try:
            size = os.stat(ef.path).st_size
        except OSError:
            return False
        newly_closed = closed and not ef.closed
        ef.closed = closed
        if size == ef.size and not (newly_closed and ef.offset < size):
            return False  # the common case: nothing new, one stat
        if size < ef.offset:
            self._warn(ef.path, None, "file shrank; reading its folder again from the start")
            self._reset(edir)
            return True
        ef.size = size
        return self._read(edir, ef, size)

    def _reset(self, edir: _EventDir) -> None:
        """Forget a directory's points and offsets; the next poll re-reads every file."""
        edir.stores.clear()
        edir.plugins.clear()
        for ef in edir.files.values():
            ef.offset, ef.size, ef.need = 0, -1, 0

    def _read(self, edir: _EventDir, ef: _EventFile, size: int) -> bool:
        changed = False
        try:
            fh = open(ef.path, "rb")  # noqa: SIM115 - closed in finally
        except OSError as e:
            self._warn(ef.path, None, f"cannot open ({e.strerror})")
            return False
        try:
            while ef.offset < size:
                fh.seek(ef.offset)
                buf = fh.read(min(size - ef.offset, max(CHUNK, ef.need)))
                if not buf:
                    break
                last = ef.offset + len(buf) >= size
                framing = split_records(buf, edir.headers, final=last and ef.closed)
                for p in framing.problems:
                    if p.reason == WAITING and not last:
                        continue  # the next window has more bytes to resync on
                    self._warn(ef.path, ef.offset + p.offset, p.reason)
                if len(framing.starts):
                    batch = decode_batch(
                        buf,
                        framing.starts,
                        framing.lengths,
                        self._book,
                        edir.plugins,
                        fast=self.fast,
                    )
                    for seq, message in batch.problems:
                        self._warn(ef.path, ef.offset + int(framing.record_offsets[seq]), message)
                    changed |= self._apply(edir, batch)
                    self.stats["records"] += len(framing.starts)
                self.stats["bytes"] += framing.consumed
                ef.offset += framing.consumed
                if last:
                    ef.need = framing.need  # a partial record waits for the writer
                    break
                # mid-file: a record or a corrupt stretch longer than the window widens it
                ef.need = max(framing.need, 2 * len(buf)) if framing.consumed == 0 else 0
        except OSError as e:
            self._warn(ef.path, ef.offset, f"read failed ({e.strerror})")
        finally:
            fh.close()
        return changed

    def _apply(self, edir: _EventDir, batch: BatchResult) -> bool:
        self.stats["fast"] += batch.fast
        self.stats["slow"] += batch.slow
        changed = bool(batch.tags)
        if batch.purges:
            # everything stored came before this batch, so every purge in it applies
            lowest = min(step for _, step in batch.purges)
            for store in edir.stores.values():
                dropped = store.purge(lowest)
                self.stats["purged"] += dropped
                changed |= dropped > 0
        for tag, pts in batch.tags.items():
            step, wall, value = pts.step, pts.wall, pts.value
            if batch.purges:
                drop = np.zeros(len(step), dtype=bool)
                for seq, purge_step in batch.purges:
                    drop |= (pts.seq < seq) & (step >= purge_step)
                if drop.any():
                    self.stats["purged"] += int(drop.sum())
                    step, wall, value = step[~drop], wall[~drop], value[~drop]
            store = edir.stores.get(tag)
            if store is None:
                store = edir.stores[tag] = SeriesStore(tag)
            store.extend(step, wall, value)
        return changed

    def _name_map(self) -> dict[str, tuple[_EventDir, str]]:
        if self._names is None:
            names: dict[str, tuple[_EventDir, str]] = {}
            for edir in sorted(self._dirs.values(), key=lambda d: d.rel):
                for tag in sorted(edir.stores):
                    name = expose_tag(edir.rel, tag)
                    if name in names:  # two sources would merge into one curve: keep apart
                        name = f"{name} [{edir.rel or '.'}]"
                    names[name] = (edir, tag)
            self._names = names
        return self._names


def find_logdirs(root: str | os.PathLike, max_depth: int = 6) -> list[Path]:
    """Directories under `root` (itself included) that directly hold event files, sorted."""
    root = Path(root)
    found: list[Path] = []
    stack = [(root, 0)]
    while stack:
        here, depth = stack.pop()
        try:
            entries = list(os.scandir(here))
        except OSError:
            continue
        if any(e.is_file() and is_event_file(e.name) for e in entries):
            found.append(here)
        if depth < max_depth:
            stack.extend(
                (Path(e.path), depth + 1)
                for e in entries
                if e.is_dir() and not e.name.startswith(".") and e.name not in _SKIP_DIRS
            )
    return sorted(found)
