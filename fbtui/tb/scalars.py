"""Scalar series: the public value type, and the growable per-tag store behind it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ScalarSeries:
    """One tag's points in record order (after purges), as numpy arrays."""

    tag: str
    steps: np.ndarray  # int64
    wall_times: np.ndarray  # float64, seconds since the epoch
    values: np.ndarray  # float64 (float32 simple_values widen exactly)

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def relative_times(self) -> np.ndarray:
        """Seconds since the first point (TensorBoard's 'relative' x axis)."""
        if len(self.wall_times) == 0:
            return self.wall_times.copy()
        return self.wall_times - self.wall_times[0]

    def last(self) -> float | None:
        return float(self.values[-1]) if len(self.values) else None

    @classmethod
    def empty(cls, tag: str) -> ScalarSeries:
        return cls(tag, np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.float64))


class SeriesStore:
    """Appends in chunks, concatenates lazily (and once) when read.

    `series()` returns the same object until points are added or purged, so callers can
    detect change by identity.
    """

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._series: ScalarSeries | None = ScalarSeries.empty(tag)
        self._renamed: ScalarSeries | None = None  # the same arrays under an exposed name

    def __len__(self) -> int:
        return sum(len(c[0]) for c in self._chunks)

    def extend(self, steps: np.ndarray, walls: np.ndarray, values: np.ndarray) -> None:
        if len(steps):
            self._chunks.append((steps, walls, values))
            self._series = self._renamed = None

    def purge(self, min_step: int) -> int:
        """Drop points with step >= min_step; return how many went."""
        dropped = 0
        kept = []
        for steps, walls, values in self._chunks:
            keep = steps < min_step
            if keep.all():
                kept.append((steps, walls, values))
                continue
            dropped += int(len(keep) - keep.sum())
            if keep.any():
                kept.append((steps[keep], walls[keep], values[keep]))
        if dropped:
            self._chunks = kept
            self._series = self._renamed = None
        return dropped

    def series(self, name: str | None = None) -> ScalarSeries:
        if self._series is None:
            if len(self._chunks) > 1:
                self._chunks = [tuple(np.concatenate(c) for c in zip(*self._chunks, strict=True))]
            if self._chunks:
                steps, walls, values = self._chunks[0]
                for a in (steps, walls, values):
                    a.setflags(write=False)  # shared with every caller: keep it intact
                self._series = ScalarSeries(self.tag, steps, walls, values)
            else:
                self._series = ScalarSeries.empty(self.tag)
        if name is not None and name != self._series.tag:
            # cached, so a caller can tell "new points" by object identity
            if self._renamed is None or self._renamed.tag != name:
                s = self._series
                self._renamed = ScalarSeries(name, s.steps, s.wall_times, s.values)
            return self._renamed
        return self._series
