"""TFRecord framing: CRCs, partial records, corruption and resynchronisation."""

import struct

import crc32c
import numpy as np
import pytest

from fbtui.tb.records import HeaderCache, encode_record, masked_crc32c, split_records


def _payloads(n=5):
    return [bytes([i]) * (3 + 7 * i) for i in range(n)]


def _file(payloads):
    return b"".join(encode_record(p) for p in payloads)


def _got(buf, framing):
    return [
        buf[s : s + n]
        for s, n in zip(framing.starts.tolist(), framing.lengths.tolist(), strict=True)
    ]


def test_masked_crc_matches_tensorflow_definition():
    # CRC-32C check value, then TensorFlow's mask: rotate right 15, add 0xa282ead8
    assert crc32c.crc32c(b"123456789") == 0xE3069283
    c = 0xE3069283
    assert masked_crc32c(b"123456789") == (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def test_encode_record_layout():
    rec = encode_record(b"abc")
    assert struct.unpack("<Q", rec[:8])[0] == 3
    assert struct.unpack("<I", rec[8:12])[0] == masked_crc32c(rec[:8])
    assert rec[12:15] == b"abc"
    assert struct.unpack("<I", rec[15:])[0] == masked_crc32c(b"abc")


def test_roundtrip_and_empty():
    payloads = _payloads() + [b""]
    buf = _file(payloads)
    fr = split_records(buf)
    assert _got(buf, fr) == payloads
    assert fr.consumed == len(buf) and fr.problems == []
    empty = split_records(b"")
    assert len(empty.starts) == 0 and empty.consumed == 0 and empty.problems == []


def test_every_cut_point_keeps_whole_records_and_waits_for_the_rest():
    payloads = _payloads()
    buf = _file(payloads)
    bounds = np.cumsum([0] + [len(encode_record(p)) for p in payloads])
    for cut in range(len(buf) + 1):
        fr = split_records(buf[:cut])
        whole = int(np.searchsorted(bounds, cut, side="right") - 1)
        assert _got(buf, fr) == payloads[:whole], cut
        assert fr.consumed == bounds[whole], cut
        assert fr.problems == [], cut  # a live writer's partial record is no error
        final = split_records(buf[:cut], final=True)
        assert _got(buf, final) == payloads[:whole]
        assert bool(final.problems) == (cut != bounds[whole])


def test_partial_record_reports_how_many_bytes_it_needs():
    rec = encode_record(b"x" * 100)
    fr = split_records(rec[:50])
    assert fr.consumed == 0 and fr.need == len(rec)


@pytest.mark.parametrize("where", ["length", "length_crc", "payload", "payload_crc"])
def test_one_flipped_byte_skips_only_that_record(where):
    payloads = _payloads(6)
    records = [encode_record(p) for p in payloads]
    k = 3
    offset = {"length": 1, "length_crc": 9, "payload": 13, "payload_crc": len(records[k]) - 2}[
        where
    ]
    bad = bytearray(records[k])
    bad[offset] ^= 0x10
    records[k] = bytes(bad)
    buf = b"".join(records)
    fr = split_records(buf, final=True)
    assert _got(buf, fr) == payloads[:k] + payloads[k + 1 :]
    assert len(fr.problems) == 1
    assert fr.problems[0].offset == sum(len(r) for r in records[:k])
    assert fr.consumed == len(buf)


def test_flipping_any_byte_never_returns_a_corrupt_payload():
    payloads = _payloads(4)
    buf = _file(payloads)
    for i in range(len(buf)):
        bad = bytearray(buf)
        bad[i] ^= 0x5A
        fr = split_records(bytes(bad), final=True)
        got = _got(bytes(bad), fr)
        assert set(got) <= set(payloads)
        assert len(got) >= len(payloads) - 2  # at most the hit record (and one on resync)
        assert fr.problems


def test_garbage_is_reported_and_live_garbage_is_not_consumed():
    junk = b"this is not a tfrecord file at all, just text\n" * 3
    fr = split_records(junk)
    assert len(fr.starts) == 0 and fr.consumed == 0 and fr.problems
    fr = split_records(junk, final=True)
    assert fr.consumed == len(junk) and fr.problems


def test_resync_after_garbage_in_the_middle():
    payloads = _payloads(4)
    buf = encode_record(payloads[0]) + b"\x00" * 40 + b"\xff" * 9 + _file(payloads[1:])
    fr = split_records(buf)
    assert _got(buf, fr) == payloads
    assert [p.offset for p in fr.problems] == [len(encode_record(payloads[0]))]


def test_header_cache_checks_crc_once_per_distinct_header():
    cache = HeaderCache()
    rec = encode_record(b"abcd")
    assert cache.size(rec[:12]) == len(rec)
    bad = bytearray(rec[:12])
    bad[10] ^= 1
    assert cache.size(bytes(bad)) is None


def test_big_records_between_small_ones_and_long_runs():
    # big ones (>= FAST_MAX) take the checked one-by-one path; thousands of small ones
    # cross the fast path's growing batch limits
    from fbtui.tb.records import FAST_MAX

    payloads = []
    for i in range(5000):
        payloads.append(i.to_bytes(4, "little") * (1 + i % 7))
        if i % 997 == 0:
            payloads.append(bytes([i % 251]) * (FAST_MAX + i))
    buf = _file(payloads)
    fr = split_records(buf)
    assert _got(buf, fr) == payloads and fr.problems == [] and fr.consumed == len(buf)
    # corrupt one small record's length deep into a long run, and one big record's
    records = [encode_record(p) for p in payloads]
    bad = [bytearray(r) for r in records]
    bad[3000][2] ^= 0x01
    big = next(i for i, p in enumerate(payloads) if len(p) >= FAST_MAX and i > 3100)
    bad[big][0] ^= 0x01
    buf = b"".join(bytes(r) for r in bad)
    fr = split_records(buf, final=True)
    assert _got(buf, fr) == [p for i, p in enumerate(payloads) if i not in (3000, big)]
    assert len(fr.problems) == 2
