"""Tensor-encoded scalars (TF2, new_style) and the template fast path's exactness."""

import math
import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fbtui.tb import LogdirReader
from fbtui.tb._proto import Event, Summary, TensorProto
from fbtui.tb.batch import decode_batch
from fbtui.tb.fastpath import TemplateBook, learn_template
from fbtui.tb.records import encode_record, split_records
from fbtui.tb.writer import EventFileWriter, scalar_event, tensor_event

DT_FLOAT, DT_DOUBLE, DT_INT32, DT_INT64, DT_BFLOAT16, DT_HALF, DT_STRING = 1, 2, 3, 9, 14, 19, 7


def _f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _tensors(x):
    """The ways writers store one number x as a tensor, with the value read back."""
    half = np.float16(x)
    bf16_bits = np.array([x], np.float32).view(np.uint32)[0] >> 16
    bf16 = float((np.array([bf16_bits], np.uint32) << 16).view(np.float32)[0])
    return [
        (TensorProto(dtype=DT_FLOAT, float_val=[x]), _f32(x)),  # torch new_style
        (TensorProto(dtype=DT_DOUBLE, double_val=[x]), x),
        (TensorProto(dtype=DT_FLOAT, tensor_content=struct.pack("<f", x)), _f32(x)),  # TF2
        (TensorProto(dtype=DT_DOUBLE, tensor_content=struct.pack("<d", x)), x),
        (TensorProto(dtype=DT_HALF, tensor_content=half.tobytes()), float(half)),
        (TensorProto(dtype=DT_HALF, half_val=[int(half.view(np.uint16))]), float(half)),
        (TensorProto(dtype=DT_BFLOAT16, half_val=[int(bf16_bits)]), bf16),
        (TensorProto(dtype=DT_INT32, int_val=[int(x)]), float(int(x))),
        (TensorProto(dtype=DT_INT64, int64_val=[int(x)]), float(int(x))),
        (TensorProto(dtype=DT_INT32, tensor_content=struct.pack("<i", int(x))), float(int(x))),
    ]


def test_tf2_tensor_scalars_every_encoding(tmp_path):
    xs = [1.5, -3.0, 1000.25, 0.0, 42.0]
    expected: dict[str, list[float]] = {}
    with EventFileWriter(tmp_path / "events.out.tfevents.1.host") as w:
        for step, x in enumerate(xs):
            for k, (tensor, want) in enumerate(_tensors(x)):
                tag = f"enc{k}"
                # TF1 sends a tag's metadata only with its first value
                plugin = "scalars" if step == 0 else None
                w.write_event(tensor_event(tag, tensor, step, 50.0 + step, plugin=plugin))
                expected.setdefault(tag, []).append(want)
    for fast in (True, False):
        r = LogdirReader.load(tmp_path, fast=fast)
        assert r.warnings == []
        assert sorted(r.tags()) == sorted(expected)
        for tag, want in expected.items():
            s = r.scalars(tag)
            assert s.steps.tolist() == list(range(len(xs)))
            assert s.values.tolist() == want, tag
            assert s.wall_times.tolist() == [50.0 + i for i in range(len(xs))]


def test_non_scalar_tensors_are_ignored(tmp_path):
    with EventFileWriter(tmp_path / "events.out.tfevents.1.host") as w:
        hist = TensorProto(dtype=DT_DOUBLE, tensor_content=np.arange(6.0).tobytes())
        hist.tensor_shape.dim.add(size=2)
        hist.tensor_shape.dim.add(size=3)
        w.write_event(tensor_event("h", hist, 1, 1.0, plugin="histograms"))
        # later values of a histogram tag come without metadata: still not a scalar
        one = TensorProto(dtype=DT_FLOAT, float_val=[1.0])
        w.write_event(tensor_event("h", one, 2, 2.0, plugin=None))
        text = TensorProto(dtype=DT_STRING, string_val=[b"hi"])
        w.write_event(tensor_event("t", text, 1, 1.0, plugin="text"))
        w.write_event(tensor_event("ok", one, 1, 1.0, plugin=None))  # no metadata at all
    r = LogdirReader.load(tmp_path)
    assert r.tags() == ["ok"]
    assert r.scalars("ok").values.tolist() == [1.0]


def test_multi_value_summary_and_other_events(tmp_path):
    with EventFileWriter(tmp_path / "events.out.tfevents.1.host") as w:
        w.write_event(
            Event(
                wall_time=3.0,
                step=4,
                summary=Summary(
                    value=[
                        Summary.Value(tag="a", simple_value=1.0),
                        Summary.Value(tag="b", simple_value=2.0),
                    ]
                ),
            )
        )
        w.write_event(Event(wall_time=3.0, step=5, graph_def=b"\x00\x01"))
    r = LogdirReader.load(tmp_path)
    assert r.tags() == ["a", "b"]
    assert r.scalars("b").steps.tolist() == [4]


def test_templates_are_learned_and_verified():
    ev = scalar_event("train/loss", 0.25, 1234, 1.7e9)
    tpl = learn_template(ev.SerializeToString(), ev)
    assert tpl is not None and tpl.tag == "train/loss" and tpl.kind == "<f4" and tpl.stepped
    assert tpl.suffix == b""
    # a tag whose bytes contain the value's bytes does not confuse it
    value = struct.unpack("<f", b"abcd")[0]
    ev2 = scalar_event("xabcd", value, 1, 1.0)
    tpl2 = learn_template(ev2.SerializeToString(), ev2)
    assert tpl2 is not None and tpl2.prefix.endswith(b"xabcd\x15")
    # non-scalar events never become templates
    fv = Event(wall_time=1.0, step=3, file_version="brain.Event:2")
    assert learn_template(fv.SerializeToString(), fv) is None


def _decode(payloads, fast):
    buf = b"".join(encode_record(p) for p in payloads)
    fr = split_records(buf)
    return decode_batch(buf, fr.starts, fr.lengths, TemplateBook(), {}, fast=fast)


def _same(a, b):
    assert a.tags.keys() == b.tags.keys()
    assert a.purges == b.purges
    for tag in a.tags:
        x, y = a.tags[tag], b.tags[tag]
        for field in ("seq", "step", "wall", "value"):
            np.testing.assert_array_equal(
                getattr(x, field).view(np.uint64 if field in ("wall", "value") else np.int64),
                getattr(y, field).view(np.uint64 if field in ("wall", "value") else np.int64),
            )


tags = st.text(min_size=0, max_size=40)
numbers = st.floats(width=32, allow_nan=True, allow_infinity=True)
steps = st.integers(min_value=-(2**63), max_value=2**63 - 1)
walls = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(range(4)), numbers, steps, walls, st.sampled_from(range(5))),
        min_size=1,
        max_size=40,
    ),
    st.lists(tags, min_size=4, max_size=4),
)
def test_fast_path_equals_protobuf_on_random_records(records, tag_names):
    payloads = []
    for k, value, step, wall, kind in records:
        tag = tag_names[k]
        if kind == 0:
            ev = scalar_event(tag, value, step, wall)
        elif kind == 1:
            ev = tensor_event(tag, TensorProto(dtype=DT_FLOAT, float_val=[value]), step, wall)
        elif kind == 2:
            content = struct.pack("<d", value)
            ev = tensor_event(tag, TensorProto(dtype=DT_DOUBLE, tensor_content=content), step, wall)
        elif kind == 3:
            ev = Event(wall_time=wall, step=step, session_log={"status": 1})
        else:
            ev = Event(wall_time=wall, step=step, file_version="brain.Event:2")
        payloads.append(ev.SerializeToString())
    # twice over, so templates learned in the first half are used in the second
    payloads = payloads + payloads
    _same(_decode(payloads, fast=True), _decode(payloads, fast=False))


def test_fast_path_handles_every_step_varint_length():
    payloads = []
    for step in [
        0,
        1,
        127,
        128,
        2**14,
        2**21,
        2**28 - 1,
        2**28,
        2**35,
        2**56,
        2**63 - 1,
        -1,
        -(2**63),
    ]:
        for tag in ("a", "loss"):
            payloads.append(scalar_event(tag, 1.5, step, 7.0).SerializeToString())
    fast, slow = _decode(payloads * 2, True), _decode(payloads * 2, False)
    _same(fast, slow)
    assert fast.fast > len(payloads)
    assert fast.tags["a"].step[:4].tolist() == [0, 1, 127, 128]
    assert not math.isnan(fast.tags["a"].value[0])


def test_hundreds_of_tags_use_templates_and_agree(tmp_path):
    # many tags of one tail length take the hashed matcher; protobuf sees ~2 records a tag
    from fbtui.tb.writer import write_scalar_log

    tags = [f"layer{i:03d}/grad_norm" for i in range(120)] + [f"x{i}" for i in range(7)]
    write_scalar_log(tmp_path / "events.out.tfevents.1.host", tags, 40)
    fast = LogdirReader.load(tmp_path)
    slow = LogdirReader.load(tmp_path, fast=False)
    assert fast.tags() == slow.tags() and len(fast.tags()) == len(tags)
    for tag in fast.tags():
        np.testing.assert_array_equal(fast.scalars(tag).values, slow.scalars(tag).values)
        np.testing.assert_array_equal(fast.scalars(tag).steps, slow.scalars(tag).steps)
    assert fast.stats["slow"] <= 2 * len(tags) + 16  # first record per tag and head kind, about
