"""TFRecord framing: split a byte buffer into CRC-checked record payloads.

A record is ``uint64 length (LE) · uint32 masked CRC32C(length bytes) · payload ·
uint32 masked CRC32C(payload)``. Every CRC is computed by the `crc32c` package (C, with
SSE4.2 where the CPU has it); the only Python work per record is one slice, one dict
look-up and one C call, because header CRCs repeat (a log has few distinct lengths) and
the payload CRCs are masked and compared in one numpy operation.
"""

from __future__ import annotations

import functools
import struct
from array import array
from dataclasses import dataclass, field

import crc32c
import numpy as np

HEADER = 12  # uint64 length + uint32 masked crc of the length
FOOTER = 4  # uint32 masked crc of the payload
_MASK_DELTA = 0xA282EAD8
_u64 = struct.Struct("<Q")
_u32 = struct.Struct("<I")
# A header whose length is this large is treated as garbage while resynchronising
# (TensorBoard has no limit, but no real summary comes near 1 GiB).
MAX_RESYNC_LENGTH = 1 << 30
WAITING = "corrupt data (no valid record after it yet)"
_U32_CODE = "I" if array("I").itemsize == 4 else "L"  # a 4-byte unsigned C array


def masked_crc32c(data: bytes) -> int:
    """TensorFlow's masked CRC32C of `data`."""
    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _mask_array(crcs: np.ndarray) -> np.ndarray:
    c = crcs.astype(np.uint32, copy=False)
    return ((c >> np.uint32(15)) | (c << np.uint32(17))) + np.uint32(_MASK_DELTA)


@functools.lru_cache(maxsize=4096)
def _header(length: int) -> bytes:
    header = _u64.pack(length)
    return header + _u32.pack(masked_crc32c(header))


def encode_record(payload: bytes) -> bytes:
    """Frame one payload as a TFRecord (what every TensorBoard writer does)."""
    return b"".join((_header(len(payload)), payload, _u32.pack(masked_crc32c(payload))))


@dataclass
class Problem:
    """A stretch of a file that could not be used, with the reason."""

    offset: int  # relative to the start of the scanned buffer
    length: int
    reason: str


@dataclass
class Framing:
    """Result of `split_records`: payload positions relative to the buffer."""

    starts: np.ndarray  # int64 offsets of the payloads that passed both CRCs
    lengths: np.ndarray  # int64 payload lengths
    record_offsets: np.ndarray  # int64 offsets of those records' headers
    consumed: int  # bytes fully handled; the rest (a partial record) waits for more data
    problems: list[Problem] = field(default_factory=list)
    need: int = 0  # bytes the pending partial record needs in total (0 = unknown/none)


class HeaderCache:
    """Header bytes (length + its masked CRC) already verified, mapped to the record size."""

    LIMIT = 65536

    def __init__(self) -> None:
        self._sizes: dict[bytes, int] = {}

    def size(self, header: bytes) -> int | None:
        """Whole record size for a verified 12-byte header, or None if its CRC fails."""
        got = self._sizes.get(header)
        if got is not None:
            return got
        if masked_crc32c(header[:8]) != _u32.unpack_from(header, 8)[0]:
            return None
        if len(self._sizes) >= self.LIMIT:  # a pathological log: stay bounded
            self._sizes.clear()
        got = self._sizes[header] = _u64.unpack_from(header)[0] + HEADER + FOOTER
        return got


def _walk(
    buf: bytes,
    pos: int,
    cache: HeaderCache,
    starts: list[int],
    payloads: list[bytes],
    limit: int = 1 << 62,
) -> tuple[int, str]:
    """Collect up to `limit` records from `pos`, checking each header's CRC as it goes;
    return (pos, why it stopped: 'limit', 'end', 'partial' or 'bad-header')."""
    n = len(buf)
    get = cache._sizes.get
    append = starts.append
    keep = payloads.append
    for _ in range(limit):
        header = buf[pos : pos + HEADER]
        size = get(header)
        if size is None:
            if len(header) < HEADER:
                return pos, "end"
            size = cache.size(header)
            if size is None:
                return pos, "bad-header"
        end = pos + size
        if end > n:
            return pos, "partial"
        append(pos)
        keep(buf[pos + HEADER : end - FOOTER])  # bytes: the CRCs are taken in one C loop
        pos = end
    return pos, "limit"


# Records shorter than this take the fast path (every scalar, most histograms); their
# header CRCs are looked up in a table built once with crc32c.
FAST_MAX = 16384


@functools.lru_cache(maxsize=1)
def _length_crcs() -> np.ndarray:
    """Masked CRC32C of the 8 length bytes, for every length below FAST_MAX."""
    return np.array([masked_crc32c(_u64.pack(n)) for n in range(FAST_MAX)], dtype=np.uint32)


def _dash(buf: bytes, pos: int, limit: int, starts: list[int], payloads: list[bytes]) -> None:
    """Follow the length fields from `pos` without checking anything (checked afterwards,
    all at once, by `_accept`). Stops at the buffer's end, at a length >= FAST_MAX (a
    big record, or garbage) or after `limit` records."""
    unpack = _u64.unpack_from
    append = starts.append
    keep = payloads.append
    try:
        for _ in range(limit):
            (length,) = unpack(buf, pos)
            if length >= FAST_MAX:
                return
            append(pos)
            pos += HEADER
            keep(buf[pos : pos + length])
            pos += length + FOOTER
    except struct.error:  # fewer than 8 bytes left
        return


def _accept(buf: bytes, starts: list[int]) -> tuple[np.ndarray, np.ndarray, int]:
    """(offsets, lengths, count) of the leading records whose headers verify and that
    lie wholly inside `buf`."""
    offsets = np.array(starts, dtype=np.int64)
    n = len(buf)
    lengths = _lengths_at(buf, offsets)
    inside = offsets + HEADER + lengths + FOOTER <= n
    u32 = np.ndarray((n - 3,), dtype="<u4", buffer=buf, offset=0, strides=(1,))
    crc_at = np.minimum(offsets + 8, n - 4)  # a header cut short fails `inside` anyway
    good = inside & (_length_crcs()[lengths] == u32[crc_at])
    count = len(good) if good.all() else int(np.argmin(good))
    return offsets, lengths, count


def _resync(buf: bytes, pos: int, cache: HeaderCache) -> int | None:
    """First offset after `pos` where a whole record with both CRCs valid starts."""
    n = len(buf)
    p = pos + 1
    if p + HEADER + FOOTER > n:
        return None
    view = np.frombuffer(buf, np.uint8)
    # Cheap filter first: real lengths are < 4 GiB, so the top 4 length bytes are 0.
    zeros = np.flatnonzero(
        (view[p + 4 : n - 11] == 0)
        & (view[p + 5 : n - 10] == 0)
        & (view[p + 6 : n - 9] == 0)
        & (view[p + 7 : n - 8] == 0)
    )
    for q in (zeros + p).tolist():
        size = cache.size(buf[q : q + HEADER])
        if size is None or size - HEADER - FOOTER > MAX_RESYNC_LENGTH or q + size > n:
            continue
        payload = buf[q + HEADER : q + size - FOOTER]
        if masked_crc32c(payload) == _u32.unpack_from(buf, q + size - FOOTER)[0]:
            return q
    return None


def split_records(buf: bytes, cache: HeaderCache | None = None, *, final: bool = False) -> Framing:
    """Split `buf` into CRC-checked payloads.

    Records whose payload CRC fails are skipped (reported in `problems`); a header whose
    CRC fails starts a search for the next valid record (also reported). A partial record
    at the end is left unconsumed, unless `final` says no more bytes will ever come, in
    which case it is reported as truncated.
    """
    cache = cache or HeaderCache()
    n = len(buf)
    parts: list[np.ndarray] = []  # record offsets, in order
    payloads: list[bytes] = []
    problems: list[Problem] = []
    pos = 0
    need = 0
    limit = 256  # grows while the fast path keeps succeeding
    while True:
        # Fast: walk the lengths blindly, then verify every header in one numpy step.
        walked: list[int] = []
        dashed: list[bytes] = []
        _dash(buf, pos, limit, walked, dashed)
        if walked:
            offsets, lengths, count = _accept(buf, walked)
            if count:
                parts.append(offsets[:count])
                payloads.extend(dashed[:count] if count < len(dashed) else dashed)
                pos = int(offsets[count - 1] + HEADER + lengths[count - 1] + FOOTER)
            limit = min(limit * 4, 1 << 16) if count == len(walked) else 256
            if count == len(walked) and len(walked) == limit // 4:
                continue  # stopped by the limit only: keep dashing
        # Slow: one record with its header checked by itself (big record, end, partial,
        # corruption), then back to the fast path.
        single: list[int] = []
        pos, why = _walk(buf, pos, cache, single, payloads, limit=1)
        if single:
            parts.append(np.array(single, dtype=np.int64))
        if why == "limit":
            continue
        if why == "bad-header":
            nxt = _resync(buf, pos, cache)
            if nxt is None:
                if final:
                    problems.append(Problem(pos, n - pos, "corrupt data, no valid record after it"))
                    pos = n
                else:  # leave it: more bytes may complete a record to resync on
                    problems.append(Problem(pos, n - pos, WAITING))
                break
            problems.append(Problem(pos, nxt - pos, "corrupt record header (CRC mismatch)"))
            pos = nxt
            continue
        if why == "partial":
            need = _u64.unpack_from(buf, pos)[0] + HEADER + FOOTER
        if final and pos < n:
            problems.append(Problem(pos, n - pos, "truncated record at end of file"))
            pos = n
        break

    offsets = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    if len(offsets):
        lengths = _lengths_at(buf, offsets)
        payload_starts = offsets + HEADER
        payload_ends = payload_starts + lengths
        ok = _payload_crcs_ok(buf, payloads, payload_ends)
        if not ok.all():
            for i in np.flatnonzero(~ok).tolist():
                problems.append(
                    Problem(
                        int(offsets[i]), int(lengths[i]) + HEADER + FOOTER, "payload CRC mismatch"
                    )
                )
            offsets, payload_starts, lengths = offsets[ok], payload_starts[ok], lengths[ok]
    else:
        payload_starts = lengths = offsets
    problems.sort(key=lambda p: p.offset)
    return Framing(payload_starts, lengths, offsets, pos, problems, need)


def _lengths_at(buf: bytes, offsets: np.ndarray) -> np.ndarray:
    """uint64 lengths at arbitrary (unaligned) offsets, vectorised."""
    n = len(buf)
    if n < 8:
        return np.zeros(0, np.int64)
    u64 = np.ndarray((n - 7,), dtype="<u8", buffer=buf, offset=0, strides=(1,))
    return u64[offsets].astype(np.int64)


def _payload_crcs_ok(buf: bytes, payloads: list[bytes], ends: np.ndarray) -> np.ndarray:
    """Check every payload's masked CRC32C: one C call per record, compared in numpy."""
    # array('I', iterator) fills a C array in C: the cheapest way to collect 1M CRCs
    computed = np.frombuffer(array(_U32_CODE, map(crc32c.crc32c, payloads)), dtype=np.uint32)
    n = len(buf)
    u32 = np.ndarray((n - 3,), dtype="<u4", buffer=buf, offset=0, strides=(1,))
    return _mask_array(computed) == u32[ends]
