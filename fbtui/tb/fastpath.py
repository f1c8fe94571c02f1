"""Vectorised decoding of the common record shape: one scalar per Event.

Almost every record in a training log is ``Event{wall_time, step, summary{value{tag,
<one number>}}}``, and all records of one tag share their bytes except the wall time,
the step and the number. So:

* the head ``09 <8-byte wall_time> [10 <varint step>]`` is parsed for all records at
  once with numpy;
* the rest (the *tail*) is compared with templates: byte strings learned by decoding one
  record with protobuf, where the position of the number was found by changing those
  bytes and checking that protobuf then reads exactly the changed number and nothing
  else (the same check covers the wall time and step bytes);
* a record whose tail equals a template everywhere but the number therefore decodes, by
  construction, to what protobuf returns for it; anything else goes to protobuf.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
from google.protobuf.message import DecodeError

from fbtui.tb._proto import Event
from fbtui.tb.events import (
    CONTENT_DTYPES,
    DT_DOUBLE,
    DT_FLOAT,
    SCALARS_PLUGIN,
    decode_content,
    value_plugin,
)

MAX_TEMPLATES = 4096  # a log with more distinct scalar shapes just uses protobuf more


@dataclass(frozen=True)
class Template:
    """A record tail with a hole where the number goes."""

    tag: str
    prefix: bytes  # tail bytes before the number
    suffix: bytes  # tail bytes after it
    kind: str  # numpy dtype of the number ('<f4', '<f8', ..., or 'bf16')
    stepped: bool  # learned from a head with a step field; matched only against such heads

    @property
    def width(self) -> int:
        return 2 if self.kind == "bf16" else np.dtype(self.kind).itemsize

    @property
    def length(self) -> int:
        return len(self.prefix) + self.width + len(self.suffix)


def _varint(data: bytes, pos: int) -> tuple[int, int] | None:
    """(value as uint64, end) of the varint at `pos`, or None if it runs past `data`."""
    result = 0
    for i in range(10):
        if pos + i >= len(data):
            return None
        byte = data[pos + i]
        result |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos + i + 1
    return None


def split_head(payload: bytes) -> int | None:
    """Length of the ``09 wall [10 step]`` head, or None if the payload starts otherwise."""
    if len(payload) < 10 or payload[0] != 0x09:
        return None
    if payload[9] != 0x10:
        return 9
    got = _varint(payload, 10)
    return None if got is None else got[1]


def _number_site(value) -> tuple[str, bytes] | None:
    """(numpy kind, encoded bytes) of the one number in a scalar Summary.Value."""
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return "<f4", struct.pack("<f", value.simple_value)
    if kind != "tensor" or value_plugin(value) != SCALARS_PLUGIN:
        return None  # metadata-less tensors depend on earlier records: protobuf only
    t = value.tensor
    if t.tensor_content:
        code = CONTENT_DTYPES.get(t.dtype)
        if code is None or t.dtype == 10:  # bool content is not a free number
            return None
        return code, bytes(t.tensor_content)
    if t.dtype == DT_FLOAT and len(t.float_val) == 1 and not t.double_val:
        return "<f4", struct.pack("<f", t.float_val[0])
    if t.dtype == DT_DOUBLE and len(t.double_val) == 1 and not t.float_val:
        return "<f8", struct.pack("<d", t.double_val[0])
    return None


def _probe_values(width: int, original: bytes) -> list[bytes]:
    """Two byte patterns for the number that differ from the original and each other."""
    out = [bytes([fill]) * width for fill in (0x3C, 0x41, 0x47)]
    return [p for p in out if p != original][:2]


def _same_but(event, other, value_kind: str) -> bool:
    """Whether `other` equals `event` once its number is put back."""
    probe = Event()
    probe.CopyFrom(other)
    src = event.summary.value[0]
    dst = probe.summary.value[0]
    if value_kind == "simple_value":
        dst.simple_value = src.simple_value
    else:
        dst.tensor.CopyFrom(src.tensor)
    return probe == event


def learn_template(payload: bytes, event) -> Template | None:
    """A template for records shaped like `payload`, or None if it is not that shape.

    Only accepted after protobuf confirms, by parsing modified copies of `payload`, that
    the head bytes are exactly the wall time and step and that the chosen bytes are
    exactly the number.
    """
    if event.WhichOneof("what") != "summary" or len(event.summary.value) != 1:
        return None
    head = split_head(payload)
    if head is None:
        return None
    value = event.summary.value[0]
    site = _number_site(value)
    if site is None:
        return None
    kind, number = site
    tail = payload[head:]
    width = len(number)
    positions = [i for i in range(len(tail) - width + 1) if tail[i : i + width] == number]
    # the number usually comes last; if its bytes also occur earlier (in the tag ...),
    # each candidate is tried and only a position protobuf confirms is used
    for at in reversed(positions):
        if _number_verified(payload, head + at, kind, width, number, event):
            if not _head_verified(payload, head, event):
                return None
            return Template(value.tag, tail[:at], tail[at + width :], kind, head > 9)
    return None


def _number_verified(payload: bytes, at: int, kind: str, width: int, number: bytes, event) -> bool:
    value_kind = event.summary.value[0].WhichOneof("value")
    for probe in _probe_values(width, number):
        changed = payload[:at] + probe + payload[at + width :]
        try:
            other = Event.FromString(changed)
        except DecodeError:
            return False
        if len(other.summary.value) != 1:
            return False
        got = _read_number(other.summary.value[0], kind)
        if got is None or not _same_number(got, decode_content(probe, kind)):
            return False
        if not _same_but(event, other, value_kind):
            return False
    return True


def _read_number(value, kind: str) -> float | None:
    if value.WhichOneof("value") == "simple_value":
        return float(value.simple_value)
    t = value.tensor
    if t.tensor_content:
        return decode_content(bytes(t.tensor_content), kind)
    if t.float_val:
        return float(t.float_val[0])
    if t.double_val:
        return float(t.double_val[0])
    return None


def _same_number(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)


def _head_verified(payload: bytes, head: int, event) -> bool:
    """Changing the wall-time and step bytes changes exactly wall_time and step."""
    wall = struct.unpack_from("<d", payload, 1)[0]
    step = 0 if head == 9 else _varint(payload, 10)[0]
    if step >= 1 << 63:
        step -= 1 << 64
    if not (_same_number(wall, event.wall_time) and step == event.step):
        return False
    new_wall = struct.pack("<d", 12345.678 if wall != 12345.678 else 8765.4321)
    changed = bytearray(payload)
    changed[1:9] = new_wall
    if head > 9:  # replace the step by another varint of the same length
        n = head - 10
        alt = bytearray(b"\x81" * (n - 1) + b"\x01") if n > 1 else bytearray(b"\x05")
        if bytes(alt) == payload[10:head]:
            alt[-1] = 0x02
        changed[10:head] = alt
        new_step = _varint(bytes(changed), 10)[0]
    else:
        new_step = 0
    try:
        other = Event.FromString(bytes(changed))
    except DecodeError:
        return False
    if other.wall_time != struct.unpack("<d", new_wall)[0] or other.step != new_step:
        return False
    other.wall_time = event.wall_time
    other.step = event.step
    return other == event


class TemplateBook:
    """Templates by tail length, shared by every file of one reader."""

    def __init__(self) -> None:
        self.by_length: dict[int, list[Template]] = {}
        self.count = 0
        self._known: set[Template] = set()

    def add(self, template: Template) -> bool:
        if template in self._known or self.count >= MAX_TEMPLATES:
            return False
        self._known.add(template)
        self.by_length.setdefault(template.length, []).append(template)
        self.count += 1
        return True


@dataclass
class Heads:
    """Vectorised head parse of a batch of payloads."""

    rows: np.ndarray  # indices (into the batch) of payloads with a parsable head
    wall: np.ndarray  # float64
    step: np.ndarray  # int64
    tail_start: np.ndarray  # absolute offsets in the buffer
    tail_len: np.ndarray
    stepped: np.ndarray  # bool: the head has a step field


def parse_heads(buf: bytes, starts: np.ndarray, lengths: np.ndarray) -> Heads:
    """Parse ``09 wall [10 varint]`` for every payload that starts that way."""
    arr = np.frombuffer(buf, np.uint8)
    n = len(buf)
    rows = np.flatnonzero((lengths >= 10) & (arr[starts] == 0x09))
    s = starts[rows]
    e = s + lengths[rows]
    wall = np.ndarray((n - 7,), dtype="<f8", buffer=buf, strides=(1,))[s + 1]
    has_step = arr[s + 9] == 0x10
    step = np.zeros(len(rows), dtype=np.uint64)
    tail = s + 9
    ok = np.ones(len(rows), dtype=bool)

    idx = np.flatnonzero(has_step)
    pos = s[idx] + 10
    # Steps below 2**28 (varints of at most 4 bytes) in one go: read 4 bytes at once
    # (always inside `buf`: the payload CRC follows every payload) ...
    word = np.ndarray((n - 3,), dtype="<u4", buffer=buf, strides=(1,))[pos]
    # continuation bits, cumulated: more[i] = bytes 0..i all have their top bit set
    more0 = (word >> np.uint32(7)) & np.uint32(1)
    more1 = more0 & (word >> np.uint32(15))
    more2 = more1 & (word >> np.uint32(23))
    more3 = more2 & (word >> np.uint32(31))
    size = (1 + more0 + more1 + more2 + more3).astype(np.int64)  # 5: longer than 4 bytes
    low7 = np.uint32(0x7F)
    value = (
        (word & low7)
        | (more0 * (((word >> np.uint32(8)) & low7) << np.uint32(7)))
        | (more1 * (((word >> np.uint32(16)) & low7) << np.uint32(14)))
        | (more2 * (((word >> np.uint32(24)) & low7) << np.uint32(21)))
    ).astype(np.uint64)
    short = size <= 4
    step[idx[short]] = value[short]
    tail[idx[short]] = pos[short] + size[short]
    # ... and the rare longer ones byte by byte.
    idx, pos = idx[~short], pos[~short]
    for i in range(10):
        if len(idx) == 0:
            break
        byte = arr[pos + i].astype(np.uint64)
        # (bits past 64 fall off the uint64, as protobuf truncates them too)
        step[idx] |= (byte & np.uint64(0x7F)) << np.uint64(7 * i)
        done = byte < 0x80
        tail[idx[done]] = pos[done] + i + 1
        idx, pos = idx[~done], pos[~done]
    ok[idx] = False  # a varint longer than 10 bytes
    ok &= tail <= e  # the varint ran past the payload
    keep = np.flatnonzero(ok)
    return Heads(
        rows[keep],
        wall[keep],
        step[keep].view(np.int64),
        tail[keep],
        (e - tail)[keep],
        has_step[keep],
    )


def match_templates(
    buf: bytes, heads: Heads, book: TemplateBook, only: np.ndarray | None = None
) -> list[tuple[Template, np.ndarray, np.ndarray]]:
    """Match tails against the book: [(template, head indices, numbers)].

    `only` restricts the attempt to these head indices.
    """
    found: list[tuple[Template, np.ndarray, np.ndarray]] = []
    candidates = np.arange(len(heads.rows)) if only is None else only
    if len(candidates) == 0 or not book.by_length:
        return found
    lens = heads.tail_len[candidates]
    # one stable sort groups the candidates by tail length (radix sort on small ints)
    small = lens.astype(np.uint16) if len(lens) and lens.max() < 65536 else lens
    order = np.argsort(small, kind="stable")
    sorted_lens = lens[order]
    for length, templates in book.by_length.items():
        lo, hi = np.searchsorted(sorted_lens, [length, length + 1])
        if lo == hi:
            continue
        group = candidates[order[lo:hi]]
        if len(templates) <= FEW_TEMPLATES:
            _match_few(buf, heads, group, templates, found)
        else:
            _match_many(buf, heads, group, templates, found)
    return found


FEW_TEMPLATES = 4  # up to this many per tail length: compare each; beyond: hash first


def _void_at(buf: bytes, at: np.ndarray, size: int) -> np.ndarray:
    view = np.ndarray(
        (len(buf) - size + 1,), dtype=np.dtype((np.void, size)), buffer=buf, strides=(1,)
    )
    return view[at]


def _match_few(buf, heads, group, templates, found) -> None:
    """Compare every row of one tail length with each template in turn."""
    t0 = heads.tail_start[group]
    stepped = heads.stepped[group]
    left = np.ones(len(group), dtype=bool)
    gathered: dict[tuple[int, int], np.ndarray] = {}
    for tpl in templates:
        hit = left & (stepped == tpl.stepped)
        for off, part in ((0, tpl.prefix), (len(tpl.prefix) + tpl.width, tpl.suffix)):
            if part:
                key = (off, len(part))
                if key not in gathered:
                    gathered[key] = _void_at(buf, t0 + off, len(part))
                hit &= gathered[key] == np.void(part)
        if not hit.any():
            continue
        at = t0[hit] + len(tpl.prefix)
        found.append((tpl, group[hit], _read_numbers(buf, at, tpl.kind)))
        left &= ~hit
        if not left.any():
            break


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _keys(buf: bytes, at: np.ndarray, size: int) -> np.ndarray:
    """A 64-bit hash of the `size` bytes at each offset (equal bytes, equal hash)."""
    key = np.full(len(at), np.uint64(size), dtype=np.uint64)
    if size == 0:
        return key
    u64 = np.ndarray((len(buf) - 7,), dtype="<u8", buffer=buf, strides=(1,))
    if size < 8:  # read the 8 bytes ending at the pattern's end, keep its bytes
        words = [u64[at + size - 8] >> np.uint64(8 * (8 - size))]
    else:
        offsets = list(range(0, size - 7, 8)) + ([size - 8] if size % 8 else [])
        words = [u64[at + o] for o in offsets]
    for w in words:
        key = (key ^ w) * _MIX  # wraps modulo 2**64, which is all a hash needs
    return key


def _template_key(tpl: Template) -> np.uint64:
    pad = b"\0" * 16
    one = np.array([16], dtype=np.int64)
    k1 = _keys(pad + tpl.prefix + pad, one, len(tpl.prefix))
    k2 = _keys(pad + tpl.suffix + pad, one, len(tpl.suffix))
    return ((k1 * _MIX) ^ k2)[0]  # array arithmetic: wraps without a warning


def _match_many(buf, heads, group, templates, found) -> None:
    """Many templates of one tail length (hundreds of tags): hash each row's fixed bytes,
    look the hash up among the templates', then confirm byte for byte."""
    t0 = heads.tail_start[group]
    stepped = heads.stepped[group]
    shapes: dict[tuple[int, int, bool], list[Template]] = {}
    for tpl in templates:
        shapes.setdefault((len(tpl.prefix), len(tpl.suffix), tpl.stepped), []).append(tpl)
    left = np.ones(len(group), dtype=bool)
    for (p, q, step_kind), tpls in shapes.items():
        width = tpls[0].length - p - q
        rows = np.flatnonzero(left & (stepped == step_kind))
        if len(rows) == 0:
            continue
        at = t0[rows]
        keys = (_keys(buf, at, p) * _MIX) ^ _keys(buf, at + p + width, q)
        tkeys = np.array([_template_key(t) for t in tpls], dtype=np.uint64)
        order = np.argsort(tkeys)
        tkeys = tkeys[order]
        idx = np.minimum(np.searchsorted(tkeys, keys), len(tkeys) - 1)
        hit = tkeys[idx] == keys
        rows, idx = rows[hit], idx[hit]
        if len(rows) == 0:
            continue
        by_tpl = np.argsort(idx, kind="stable")
        rows, idx = rows[by_tpl], idx[by_tpl]
        cuts = np.flatnonzero(np.diff(idx)) + 1
        for chunk_rows, chunk_idx in zip(np.split(rows, cuts), np.split(idx, cuts), strict=True):
            tpl = tpls[int(order[chunk_idx[0]])]
            a = t0[chunk_rows]
            ok = np.ones(len(a), dtype=bool)
            if p:
                ok &= _void_at(buf, a, p) == np.void(tpl.prefix)
            if q:
                ok &= _void_at(buf, a + p + width, q) == np.void(tpl.suffix)
            if ok.any():
                confirmed = chunk_rows[ok]
                left[confirmed] = False
                found.append((tpl, group[confirmed], _read_numbers(buf, a[ok] + p, tpl.kind)))


def _read_numbers(buf: bytes, at: np.ndarray, kind: str) -> np.ndarray:
    n = len(buf)
    if kind == "bf16":
        u16 = np.ndarray((n - 1,), dtype="<u2", buffer=buf, strides=(1,))[at]
        return (u16.astype(np.uint32) << np.uint32(16)).view("<f4").astype(np.float64)
    dtype = np.dtype(kind)
    view = np.ndarray((n - dtype.itemsize + 1,), dtype=dtype, buffer=buf, strides=(1,))
    return view[at].astype(np.float64)
