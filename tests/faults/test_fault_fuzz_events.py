"""Fuzzed event files: random truncations, byte flips, zeroed and repeated stretches and
forged lengths. The fbtui.tb reader never raises, never hangs (a per-case time bound),
never invents a point, and reads the same whether the bytes come at once or bit by bit."""

from __future__ import annotations

import os
import shutil
import signal
import struct
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fbtui.tb import LogdirReader
from fbtui.tb.records import HEADER, masked_crc32c
from fbtui.tb.writer import (
    EventFileWriter,
    file_version_event,
    scalar_event,
    session_start_event,
    tensor_event,
)

CASE_SECONDS = 5.0  # generous on a loaded 2-core machine; a case takes milliseconds
N_CASES = int(os.environ.get("FBTUI_FUZZ_EVENTS", "1000"))
CASES = {"events": 0}
# several tags of one length, as a real run has (the fast path hashes on length)
TAGS = ("train/loss", "test/mse", "test/mae", "lr", "test_AF/mse", "test_AM/mse", "test_CM/mse")


def _value(k: int, step: int) -> float:
    return struct.unpack("<f", struct.pack("<f", (k + 1) / (step + 3.0)))[0]


def _build_base() -> tuple[bytes, set[tuple[str, int, float]], list[int]]:
    """A run's event file: scalars, a TF2-style tensor scalar, and a purge (resume) at 30."""
    from fbtui.tb._proto import TensorProto

    tmp = Path(tempfile.mkdtemp()) / "events.out.tfevents.1750000000.host"
    points: set[tuple[str, int, float]] = set()
    with EventFileWriter(tmp, wall_time=1.75e9) as w:

        def scalars(lo: int, hi: int) -> None:
            for s in range(lo, hi):
                for k, tag in enumerate(TAGS):
                    v = _value(k, s)
                    w.write_event(scalar_event(tag, v, s, 1.75e9 + s))
                    points.add((tag, s, v))
                if s % 7 == 0:
                    t = TensorProto(dtype=1, float_val=[_value(9, s)])  # DT_FLOAT
                    t.tensor_shape.SetInParent()
                    w.write_event(tensor_event("tf2/acc", t, s, 1.75e9 + s))
                    points.add(("tf2/acc", s, _value(9, s)))

        scalars(1, 36)
        w.write_event(file_version_event(1.75e9 + 40, step=30))  # what purge_step=30 writes
        w.write_event(session_start_event(1.75e9 + 40, 30))
        scalars(30, 46)
    data = tmp.read_bytes()
    shutil.rmtree(tmp.parent)
    # record boundaries, for forging lengths with a valid header CRC
    starts, pos = [], 0
    while pos < len(data):
        starts.append(pos)
        pos += struct.unpack_from("<Q", data, pos)[0] + HEADER + 4
    return data, points, starts


BASE, POINTS, STARTS = _build_base()


@st.composite
def damage(draw) -> tuple[bytes, bool]:
    """BASE with 1-6 random injuries; and whether a newer file follows it (then the reader
    treats it as finished: no more bytes will come)."""
    data = bytearray(BASE)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "flip", "cut", "zero", "repeat", "forge", "junk"]))
        n = len(data)
        if n == 0:
            break
        at = draw(st.integers(0, n - 1))
        if op == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif op == "cut":
            del data[at:]
        elif op == "zero":
            size = draw(st.integers(1, 64))
            data[at : at + size] = bytes(len(data[at : at + size]))
        elif op == "repeat":  # a stretch written twice (a retried write)
            size = draw(st.integers(1, 200))
            data[at:at] = data[at : at + size]
        elif op == "junk":
            data[at:at] = draw(st.binary(min_size=1, max_size=40))
        else:  # a header that passes its CRC but claims an absurd or wrong length
            start = draw(st.sampled_from([s for s in STARTS if s + HEADER <= n] or [0]))
            if start + HEADER > n:
                continue
            length = draw(
                st.one_of(
                    st.sampled_from([0, 1, 2**31, 2**40, 2**63, 2**64 - 1]),
                    st.integers(0, 4096),
                )
            )
            head = struct.pack("<Q", length)
            data[start : start + HEADER] = head + struct.pack("<I", masked_crc32c(head))
    return bytes(data), draw(st.booleans())


class CaseTimeout(Exception):
    pass


@contextmanager
def time_bound(seconds: float):
    """Raise CaseTimeout in this thread after `seconds`; restores any timer pytest-timeout
    had set (it uses SIGALRM too)."""

    def on_alarm(signum, frame):  # noqa: ARG001
        raise CaseTimeout(f"a case took over {seconds} s: the reader hangs")

    old_handler = signal.signal(signal.SIGALRM, on_alarm)
    old_timer = signal.setitimer(signal.ITIMER_REAL, seconds)
    t0 = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_timer[0] > 0:
            left = old_timer[0] - (time.monotonic() - t0)
            signal.setitimer(signal.ITIMER_REAL, max(0.001, left), old_timer[1])


def _read(reader: LogdirReader) -> dict[str, list[tuple[int, float]]]:
    out = {}
    for tag in reader.tags():
        s = reader.scalars(tag)
        out[tag] = list(zip(s.steps.tolist(), s.values.tolist(), strict=True))
    return out


def _write_case(folder: Path, data: bytes, older: bool) -> Path:
    path = folder / "events.out.tfevents.1750000000.host"
    path.write_bytes(data)
    if older:  # a newer, intact file: the writer moved on, the damaged one is final
        with EventFileWriter(folder / "events.out.tfevents.1750000999.host", wall_time=1.75e9) as w:
            w.write_event(scalar_event("later", 1.0, 99, 1.75e9 + 99))
    return path


def _no_invented_points(got: dict[str, list[tuple[int, float]]]) -> None:
    for tag, pts in got.items():
        for step, value in pts:
            if tag == "later":
                assert (step, value) == (99, 1.0)
                continue
            assert (tag, step, value) in POINTS, f"invented point {tag} {step} {value}"


@settings(
    max_examples=N_CASES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=damage(), chunks=st.lists(st.integers(1, 400), min_size=1, max_size=8))
def test_reader_survives_damaged_event_files(case, chunks):
    check_damaged(case, chunks)


@pytest.mark.soak
@pytest.mark.timeout(1200)
@settings(max_examples=3000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(case=damage(), chunks=st.lists(st.integers(1, 400), min_size=1, max_size=8))
def test_reader_survives_damaged_event_files_soak(case, chunks):
    check_damaged(case, chunks)


def check_damaged(case, chunks) -> None:
    data, older = case
    folder = Path(tempfile.mkdtemp(prefix="fbtui-fuzz-tb-"))
    try:
        _write_case(folder, data, older)
        with time_bound(CASE_SECONDS):
            fast = LogdirReader.load(folder)
            slow = LogdirReader.load(folder, fast=False)
            got = _read(fast)
            assert got == _read(slow)  # the template fast path agrees with protobuf
            _no_invented_points(got)
            # bit by bit: a live reader polling a file that grows in odd-sized chunks
            if not older:
                inc_dir = folder / "inc"
                inc_dir.mkdir()
                path = inc_dir / "events.out.tfevents.1750000000.host"
                live = LogdirReader(inc_dir)
                pos = 0
                with open(path, "wb") as f:
                    for size in [*chunks, len(data)]:
                        f.write(data[pos : pos + size])
                        f.flush()
                        pos += size
                        live.poll()
                        _no_invented_points(_read(live))
                        if pos >= len(data):
                            break
                live.poll()
                assert _read(live) == got
        CASES["events"] += 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_event_fuzz_case_count():
    """After the fuzz tests of this file (same process): hypothesis really ran them."""
    if CASES["events"] == 0:
        pytest.skip("the fuzz test did not run in this process")
    assert CASES["events"] >= N_CASES
    print(f"fuzzed event files: {CASES['events']}")


def test_intact_base_reads_completely():
    """The oracle itself: the undamaged file gives every point, the purge applied."""
    folder = Path(tempfile.mkdtemp())
    try:
        _write_case(folder, BASE, older=False)
        got = _read(LogdirReader.load(folder))
        assert [s for s, _ in got["train/loss"]] == list(range(1, 30)) + list(range(30, 46))
        _no_invented_points(got)
    finally:
        shutil.rmtree(folder)
