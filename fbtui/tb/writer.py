"""A minimal event-file writer (protobuf + our framing): for tests and benchmarks.

Training uses tensorboardX; this exists because it can produce a million records in
seconds (tensorboardX manages ~8k scalars/s) and can write shapes on purpose: TF2-style
tensor scalars, purge markers, broken records.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path

from fbtui.tb._proto import Event, SessionLog, Summary, SummaryMetadata, TensorProto
from fbtui.tb.records import encode_record


def scalar_event(tag: str, value: float, step: int, wall_time: float) -> Event:
    """Event{wall_time, step, summary{value{tag, simple_value}}} (tensorboardX's shape)."""
    return Event(
        wall_time=wall_time,
        step=step,
        summary=Summary(value=[Summary.Value(tag=tag, simple_value=value)]),
    )


def tensor_event(
    tag: str, tensor: TensorProto, step: int, wall_time: float, plugin: str | None = "scalars"
) -> Event:
    """A tensor-valued summary (TF2 / new_style), with plugin metadata unless None."""
    value = Summary.Value(tag=tag, tensor=tensor)
    if plugin is not None:
        value.metadata.CopyFrom(
            SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name=plugin))
        )
    return Event(wall_time=wall_time, step=step, summary=Summary(value=[value]))


def file_version_event(wall_time: float, step: int = 0) -> Event:
    return Event(wall_time=wall_time, step=step, file_version="brain.Event:2")


def session_start_event(wall_time: float, step: int) -> Event:
    return Event(wall_time=wall_time, step=step, session_log=SessionLog(status=SessionLog.START))


def event_file_name(wall_time: float, suffix: str = "") -> str:
    """tensorboardX's naming: events.out.tfevents.<10-digit time>.<host><suffix>."""
    return f"events.out.tfevents.{int(wall_time):010d}.{socket.gethostname()}{suffix}"


class EventFileWriter:
    """Appends framed records to one file; `write_event` and `write_raw` (for broken ones)."""

    def __init__(self, path: str | os.PathLike, *, file_version: bool = True, wall_time=None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "ab")  # noqa: SIM115 - closed by close()
        if file_version:
            self.write_event(file_version_event(time.time() if wall_time is None else wall_time))

    def write_event(self, event: Event) -> None:
        self._fh.write(encode_record(event.SerializeToString()))

    def write_payload(self, payload: bytes) -> None:
        self._fh.write(encode_record(payload))

    def write_raw(self, data: bytes) -> None:
        self._fh.write(data)

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> EventFileWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ScalarPayloads:
    """Serialised scalar Events, byte-identical to protobuf's, without protobuf per record.

    Protobuf serialises one Event per tag (and step-varint length); after that only the
    wall time, step and value bytes change, so later payloads are assembled by slicing.
    A test checks the result equals `scalar_event(...).SerializeToString()`.
    """

    def __init__(self) -> None:
        self._tails: dict[str, bytes] = {}

    def __call__(self, tag: str, value: float, step: int, wall_time: float) -> bytes:
        if step <= 0 or wall_time == 0.0:  # proto3 leaves zeros out: let protobuf do these
            return scalar_event(tag, value, step, wall_time).SerializeToString()
        tail = self._tails.get(tag)
        if tail is None:
            ref = scalar_event(tag, 1.0, 1, 1.0).SerializeToString()
            tail = self._tails[tag] = ref[11:-4]  # after 09 <8> 10 01; before the float
        return b"".join(
            (b"\x09", _double.pack(wall_time), b"\x10", _varint(step), tail, _float.pack(value))
        )


_double = struct.Struct("<d")
_float = struct.Struct("<f")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def write_scalar_log(
    path: str | os.PathLike,
    tags: list[str],
    steps: int,
    *,
    start_wall: float = 1.7e9,
    seconds_per_step: float = 0.01,
) -> int:
    """Write `steps` x len(tags) simple_value scalars quickly; returns the point count.

    The value of tag k at step s is `synthetic_value(k, s)` (exact in float32).
    """
    payload = ScalarPayloads()
    count = 0
    with open(path, "wb") as fh:
        fh.write(encode_record(file_version_event(start_wall).SerializeToString()))
        chunk: list[bytes] = []
        for s in range(steps):
            wall = start_wall + s * seconds_per_step
            for k, tag in enumerate(tags):
                chunk.append(encode_record(payload(tag, synthetic_value(k, s), s, wall)))
                count += 1
            if len(chunk) >= 65536:
                fh.write(b"".join(chunk))
                chunk.clear()
        fh.write(b"".join(chunk))
    return count


def synthetic_value(k: int, step: int) -> float:
    """A float32-representable value for tag k at `step` (exact after a round trip)."""
    return _float.unpack(_float.pack((k + 1) * 1000.0 / (step + 10.0)))[0]
