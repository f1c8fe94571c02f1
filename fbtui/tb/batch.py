"""Decode a batch of record payloads: templates first, protobuf for the rest."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fbtui.tb.events import decode_event
from fbtui.tb.fastpath import TemplateBook, learn_template, match_templates, parse_heads

MAX_LEARN_FAILURES = 4  # per tag and batch (e.g. a loss logged as NaN has no template)


@dataclass
class TagPoints:
    """Points of one tag in one batch, in record order."""

    seq: np.ndarray  # int64 record index within the batch
    step: np.ndarray  # int64
    wall: np.ndarray  # float64
    value: np.ndarray  # float64


@dataclass
class BatchResult:
    tags: dict[str, TagPoints] = field(default_factory=dict)
    purges: list[tuple[int, int]] = field(default_factory=list)  # (seq, step), in order
    problems: list[tuple[int, str]] = field(default_factory=list)  # (seq, message)
    fast: int = 0  # records decoded by templates
    slow: int = 0  # records decoded by protobuf


def decode_batch(
    buf: bytes,
    starts: np.ndarray,
    lengths: np.ndarray,
    book: TemplateBook,
    plugins: dict[str, str],
    *,
    fast: bool = True,
) -> BatchResult:
    """Decode the payloads `buf[starts[i] : starts[i] + lengths[i]]` in record order.

    With `fast=False` every record goes through protobuf (the tests' reference).
    """
    count = len(starts)
    result = BatchResult()
    done = np.zeros(count, dtype=bool)
    parts: dict[str, list[tuple[np.ndarray, ...]]] = {}

    def take(found, heads) -> None:
        for tpl, hidx, values in found:
            rows = heads.rows[hidx]
            done[rows] = True
            parts.setdefault(tpl.tag, []).append((rows, heads.step[hidx], heads.wall[hidx], values))
            result.fast += len(rows)

    heads = None
    if fast and count:
        heads = parse_heads(buf, starts, lengths)
        found = match_templates(buf, heads, book)
        take(found, heads)

    slow_points: dict[str, list[tuple[int, int, float, float]]] = {}
    failures: dict[str, int] = {}  # per tag: a NaN-logging tag must not stop the others
    fresh: list = []  # templates learned since the last pass
    todo = np.flatnonzero(~done).tolist()
    # a big batch seen with an empty book learns its first templates before the first
    # pass over it (one pass instead of one per tag)
    next_rematch = 1 if len(todo) < 4096 else 64
    decoded_since = 0
    for i in todo:
        if done[i]:  # matched by a template learned earlier in this loop
            continue
        start = int(starts[i])
        payload = buf[start : start + int(lengths[i])]
        got = decode_event(payload, plugins)
        done[i] = True
        result.slow += 1
        decoded_since += 1
        if got.problem:
            result.problems.append((i, got.problem))
            continue
        if got.purge_step is not None:
            result.purges.append((i, got.purge_step))
        for tag, value in got.points:
            slow_points.setdefault(tag, []).append((i, got.step, got.wall_time, value))
        if heads is None or len(got.points) != 1:
            continue
        tag = got.points[0][0]
        if failures.get(tag, 0) >= MAX_LEARN_FAILURES:
            continue
        tpl = learn_template(payload, got.event)
        if tpl is None:
            failures[tag] = failures.get(tag, 0) + 1
            continue
        if book.add(tpl):
            fresh.append(tpl)
            if len(fresh) < next_rematch and decoded_since < 256:
                continue  # learn a few more before paying for a pass over the batch
        elif not fresh:
            continue
        # A pass over the unmatched rows with the templates learned since the last one:
        # after 1, 2, 4, 8 ... new templates (or 256 decoded rows), or as soon as a row
        # turns out to fit a known template (the rows after it probably do too).
        solo = TemplateBook()
        for t in fresh:
            solo.add(t)
        pending = np.flatnonzero(~done[heads.rows])
        take(match_templates(buf, heads, solo, only=pending), heads)
        next_rematch, fresh, decoded_since = 2 * max(next_rematch, len(fresh)), [], 0

    for tag, items in slow_points.items():
        arr = np.array(items, dtype=[("s", "i8"), ("st", "i8"), ("w", "f8"), ("v", "f8")])
        parts.setdefault(tag, []).append((arr["s"], arr["st"], arr["w"], arr["v"]))
    for tag, chunks in parts.items():
        if len(chunks) == 1:
            seq, step, wall, value = chunks[0]
        else:
            seq, step, wall, value = (np.concatenate(c) for c in zip(*chunks, strict=True))
            order = np.argsort(seq, kind="stable")
            seq, step, wall, value = seq[order], step[order], wall[order], value[order]
        result.tags[tag] = TagPoints(seq, step, wall, value)
    return result
