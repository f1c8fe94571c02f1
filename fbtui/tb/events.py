"""Decode one Event protobuf into scalar points and purge requests (the reference path).

Everything here goes through tensorboardX's generated `Event` class; the vectorised
template path in `fastpath.py` must return exactly what this module returns, and the
tests check that on every writer's output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from google.protobuf.message import DecodeError

from fbtui.tb._proto import Event, SessionLog

SCALARS_PLUGIN = "scalars"

# TensorFlow DataType enum values (tensorboardX/proto/types.proto; 22/23 are newer TF)
DT_FLOAT, DT_DOUBLE, DT_INT32, DT_UINT8, DT_INT16, DT_INT8 = 1, 2, 3, 4, 5, 6
DT_INT64, DT_BOOL, DT_BFLOAT16, DT_UINT16, DT_HALF, DT_UINT32, DT_UINT64 = (
    9,
    10,
    14,
    17,
    19,
    22,
    23,
)
# numpy dtype of `tensor_content` for each numeric DataType
CONTENT_DTYPES: dict[int, str] = {
    DT_FLOAT: "<f4",
    DT_DOUBLE: "<f8",
    DT_HALF: "<f2",
    DT_BFLOAT16: "bf16",  # no numpy dtype: the top half of a float32
    DT_INT8: "<i1",
    DT_UINT8: "<u1",
    DT_INT16: "<i2",
    DT_UINT16: "<u2",
    DT_INT32: "<i4",
    DT_UINT32: "<u4",
    DT_INT64: "<i8",
    DT_UINT64: "<u8",
    DT_BOOL: "<u1",
}


def decode_content(raw: bytes, kind: str) -> float:
    """One number from little-endian `tensor_content` bytes of numpy kind `kind`."""
    if kind == "bf16":
        bits = np.frombuffer(raw, "<u2").astype(np.uint32) << np.uint32(16)
        return float(bits.view("<f4")[0])
    return float(np.frombuffer(raw, kind)[0])


def _num_elements(tensor) -> int:
    count = 1
    for dim in tensor.tensor_shape.dim:
        count *= dim.size
    return count


def tensor_scalar(tensor) -> float | None:
    """The single number in a TensorProto, or None if it is not one numeric element."""
    if tensor.tensor_shape.unknown_rank or _num_elements(tensor) != 1:
        return None
    dtype = tensor.dtype
    kind = CONTENT_DTYPES.get(dtype)
    if kind is None:
        return None
    if tensor.tensor_content:
        width = 2 if kind == "bf16" else np.dtype(kind).itemsize
        if len(tensor.tensor_content) != width:
            return None
        return decode_content(tensor.tensor_content, kind)
    if dtype == DT_FLOAT and tensor.float_val:
        return float(tensor.float_val[0])
    if dtype == DT_DOUBLE and tensor.double_val:
        return float(tensor.double_val[0])
    if dtype in (DT_HALF, DT_BFLOAT16) and tensor.half_val:
        raw = int(tensor.half_val[0]) & 0xFFFF  # the 16 bits, stored in an int32
        return decode_content(raw.to_bytes(2, "little"), kind)
    if dtype in (DT_INT32, DT_INT16, DT_INT8, DT_UINT8, DT_UINT16) and tensor.int_val:
        return float(tensor.int_val[0])
    if dtype == DT_INT64 and tensor.int64_val:
        return float(tensor.int64_val[0])
    if dtype == DT_BOOL and tensor.bool_val:
        return float(tensor.bool_val[0])
    return None


@dataclass
class Decoded:
    """What one record contributes: scalar points, a purge step, or a problem."""

    points: list[tuple[str, float]] = field(default_factory=list)  # (tag, value)
    step: int = 0
    wall_time: float = 0.0
    purge_step: int | None = None  # drop earlier points with step >= this
    problem: str | None = None
    event: object | None = None  # the parsed Event (for template learning)


def value_plugin(value) -> str:
    """The plugin named in a Summary.Value's metadata ('' when absent)."""
    if value.HasField("metadata"):
        return value.metadata.plugin_data.plugin_name
    return ""


def decode_event(payload: bytes, plugins: dict[str, str]) -> Decoded:
    """Decode one record payload with protobuf.

    `plugins` maps tag -> plugin name for one directory: TF1 writers send a tag's metadata
    only with its first value, so later metadata-less values inherit it from here.
    """
    try:
        event = Event.FromString(payload)
    except DecodeError as e:
        return Decoded(problem=f"record is not an Event protobuf ({e})")
    out = Decoded(step=event.step, wall_time=event.wall_time, event=event)
    what = event.WhichOneof("what")
    if what == "file_version":
        # tensorboardX/torch purge_step writes Event(step=N, file_version=...); a plain
        # file header has step 0, which cannot be told from "no step", so only N > 0 counts
        if event.step > 0:
            out.purge_step = event.step
    elif what == "session_log":
        if event.session_log.status == SessionLog.START:
            out.purge_step = event.step  # as TensorBoard's EventAccumulator does
    elif what == "summary":
        for value in event.summary.value:
            number = scalar_of(value, plugins)
            if number is not None:
                out.points.append((value.tag, number))
    return out


def scalar_of(value, plugins: dict[str, str]) -> float | None:
    """The scalar a Summary.Value holds, or None when it holds something else."""
    plugin = value_plugin(value)
    if plugin:
        plugins.setdefault(value.tag, plugin)
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(value.simple_value)
    if kind != "tensor":
        return None
    plugin = plugin or plugins.get(value.tag, "")
    if plugin not in ("", SCALARS_PLUGIN):
        return None  # a histogram, text, hparams ... stored as a tensor
    return tensor_scalar(value.tensor)
