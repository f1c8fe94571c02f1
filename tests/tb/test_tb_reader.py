"""LogdirReader: incremental polling, resumes, corruption, odd files, discovery."""

import builtins
import os
import subprocess
import sys
import time

import numpy as np

from fbtui.tb import LogdirReader, find_logdirs
from fbtui.tb.records import encode_record
from fbtui.tb.writer import (
    EventFileWriter,
    ScalarPayloads,
    file_version_event,
    scalar_event,
    session_start_event,
    synthetic_value,
    write_scalar_log,
)

NAME = "events.out.tfevents.{}.host"


def _records(tag, steps, base=0.0):
    return [
        encode_record(scalar_event(tag, base + s, s, 100.0 + s).SerializeToString()) for s in steps
    ]


def test_poll_reads_only_new_bytes_and_waits_for_half_records(tmp_path):
    path = tmp_path / NAME.format(1)
    recs = [encode_record(file_version_event(1.0).SerializeToString())] + _records("x", range(10))
    data = b"".join(recs)
    r = LogdirReader(tmp_path)
    # feed the file in uneven pieces, cutting records anywhere
    cuts = [0, 5, 30, 31, 77, 120, len(data) - 3, len(data)]
    seen = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        with open(path, "ab") as fh:
            fh.write(data[a:b])
        r.poll()
        seen.append(len(r.scalars("x")))
        assert r.warnings == []
    assert seen == sorted(seen) and seen[-1] == 10
    s = r.scalars("x")
    assert s.steps.tolist() == list(range(10))
    assert s.values.tolist() == [float(i) for i in range(10)]
    assert r.stats["bytes"] == len(data)


def test_unchanged_poll_is_a_stat_only_and_fast(tmp_path, monkeypatch):
    write_scalar_log(tmp_path / NAME.format(1), ["a", "b"], 1000)
    (tmp_path / "config.toml").write_text("x = 1\n")
    r = LogdirReader.load(tmp_path)
    assert len(r.scalars("a")) == 1000
    opened = []
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    times = []
    for _ in range(50):
        t = time.perf_counter()
        assert r.poll() is False
        times.append(time.perf_counter() - t)
    assert opened == []
    assert min(times) < 1e-3, times  # typically ~30 us


def test_new_files_and_new_subfolders_are_found(tmp_path):
    r = LogdirReader(tmp_path)
    assert r.poll() is False and r.tags() == []
    with EventFileWriter(tmp_path / NAME.format(1)) as w:
        w.write_event(scalar_event("loss", 1.0, 1, 1.0))
    assert r.poll() is True and r.tags() == ["loss"]
    # add_scalars starts writing a sub-run later in training
    with EventFileWriter(tmp_path / "acc" / "val" / NAME.format(2)) as w:
        w.write_event(scalar_event("acc", 0.5, 3, 1.0))
    assert r.poll() is True
    assert r.tags() == ["acc/val", "loss"]
    # a resumed run opens a second file in the same folder
    with EventFileWriter(tmp_path / NAME.format(3)) as w:
        w.write_event(scalar_event("loss", 0.5, 2, 2.0))
    r.poll()
    assert r.scalars("loss").steps.tolist() == [1, 2]
    assert [p.name for p in r.event_files()] == [NAME.format(1), NAME.format(3), NAME.format(2)]


def test_files_are_read_in_name_order(tmp_path):
    # written out of order on purpose: the older file (by name) must come first
    with EventFileWriter(tmp_path / NAME.format(2000000000)) as w:
        w.write_event(scalar_event("x", 2.0, 2, 2.0))
    with EventFileWriter(tmp_path / NAME.format(1000000000)) as w:
        w.write_event(scalar_event("x", 1.0, 1, 1.0))
    assert LogdirReader.load(tmp_path).scalars("x").values.tolist() == [1.0, 2.0]


def test_purge_applies_inside_one_batch_and_across_polls(tmp_path):
    path = tmp_path / NAME.format(1)
    parts = [
        _records("x", range(10)),
        [encode_record(session_start_event(5.0, 6).SerializeToString())],
        _records("x", range(6, 9), base=100.0),
    ]
    whole = b"".join(b"".join(p) for p in parts)
    path.write_bytes(whole)
    one = LogdirReader.load(tmp_path).scalars("x")
    assert one.steps.tolist() == list(range(9))
    assert one.values.tolist() == [float(i) for i in range(6)] + [100.0 + i for i in range(6, 9)]
    # the same bytes arriving record by record give the same curve
    path.unlink()
    r = LogdirReader(tmp_path)
    for rec in [rec for p in parts for rec in p]:
        with open(path, "ab") as fh:
            fh.write(rec)
        r.poll()
    inc = r.scalars("x")
    np.testing.assert_array_equal(inc.steps, one.steps)
    np.testing.assert_array_equal(inc.values, one.values)


def test_purge_is_per_folder(tmp_path):
    # PyTorch #42379: add_scalars sub-writers never see purge_step; neither do we purge them
    with EventFileWriter(tmp_path / "m" / "a" / NAME.format(1)) as w:
        for s in range(5):
            w.write_event(scalar_event("m", float(s), s, 1.0))
    with EventFileWriter(tmp_path / NAME.format(1)) as w:
        for s in range(5):
            w.write_event(scalar_event("loss", float(s), s, 1.0))
        w.write_event(file_version_event(2.0, step=2))
    r = LogdirReader.load(tmp_path)
    assert r.scalars("loss").steps.tolist() == [0, 1]
    assert r.scalars("m/a").steps.tolist() == [0, 1, 2, 3, 4]


def test_flipped_byte_in_a_file_skips_one_record_with_a_warning(tmp_path):
    recs = _records("x", range(20))
    data = bytearray(b"".join(recs))
    hit = sum(len(r) for r in recs[:7]) + 20  # inside record 7's payload
    data[hit] ^= 0x01
    (tmp_path / NAME.format(1)).write_bytes(bytes(data))
    r = LogdirReader.load(tmp_path)
    assert r.scalars("x").steps.tolist() == [s for s in range(20) if s != 7]
    assert len(r.warnings) == 1 and "CRC" in r.warnings[0].message
    assert r.warnings[0].offset == sum(len(r) for r in recs[:7])


def test_flipped_length_byte_resyncs_at_the_next_record(tmp_path):
    recs = _records("x", range(20))
    data = bytearray(b"".join(recs))
    data[sum(len(r) for r in recs[:4]) + 1] ^= 0x40  # record 4's length field
    (tmp_path / NAME.format(1)).write_bytes(bytes(data))
    r = LogdirReader.load(tmp_path)
    assert r.scalars("x").steps.tolist() == [s for s in range(20) if s != 4]
    assert len(r.warnings) == 1


def test_empty_file_garbage_file_and_non_event_payload(tmp_path):
    (tmp_path / NAME.format(1)).write_bytes(b"")
    (tmp_path / NAME.format(2)).write_bytes(b"PK\x03\x04 definitely a zip file, not events" * 4)
    with EventFileWriter(tmp_path / NAME.format(3)) as w:
        w.write_payload(b"\xff\xff\xff")  # valid framing, not an Event
        w.write_event(scalar_event("ok", 1.0, 1, 1.0))
    (tmp_path / "notes.txt").write_text("not an event file name: ignored silently")
    r = LogdirReader.load(tmp_path)
    assert r.tags() == ["ok"]
    messages = [str(w) for w in r.warnings]
    assert any(NAME.format(2) in m for m in messages)
    assert any(NAME.format(3) in m and "Event" in m for m in messages)
    assert not any(NAME.format(1) in m or "notes" in m for m in messages)


def test_empty_file_alone(tmp_path):
    (tmp_path / NAME.format(1)).write_bytes(b"")
    r = LogdirReader.load(tmp_path)
    assert r.tags() == [] and r.warnings == [] and len(r.event_files()) == 1


def test_cut_file_is_silent_while_live_and_reported_once_superseded(tmp_path):
    recs = _records("x", range(5))
    data = b"".join(recs)
    (tmp_path / NAME.format(1)).write_bytes(data[:-7])
    r = LogdirReader.load(tmp_path)
    assert r.scalars("x").steps.tolist() == [0, 1, 2, 3] and r.warnings == []
    with EventFileWriter(tmp_path / NAME.format(2)) as w:  # the writer restarted
        w.write_event(scalar_event("x", 9.0, 9, 9.0))
    r.poll()
    assert r.scalars("x").steps.tolist() == [0, 1, 2, 3, 9]
    assert len(r.warnings) == 1 and "truncated" in r.warnings[0].message


def test_a_file_that_shrinks_is_read_again(tmp_path):
    path = tmp_path / NAME.format(1)
    path.write_bytes(b"".join(_records("x", range(5))))
    r = LogdirReader.load(tmp_path)
    path.write_bytes(b"".join(_records("x", range(2), base=50.0)))
    r.poll()
    r.poll()
    assert r.scalars("x").values.tolist() == [50.0, 51.0]


def test_single_file_path_and_big_file_in_chunks(tmp_path, monkeypatch):
    import fbtui.tb.reader as reader

    monkeypatch.setattr(reader, "CHUNK", 4096)  # force many chunks and straddling records
    path = tmp_path / NAME.format(1)
    n = write_scalar_log(path, ["train/loss", "lr"], 3000)
    r = LogdirReader.load(path)
    assert n == 6000 and r.tags() == ["lr", "train/loss"]
    s = r.scalars("lr")
    assert s.steps.tolist() == list(range(3000))
    assert s.values.tolist() == [synthetic_value(1, i) for i in range(3000)]
    np.testing.assert_allclose(s.wall_times, 1.7e9 + np.arange(3000) * 0.01)


def test_unknown_tag_is_an_empty_series(tmp_path):
    write_scalar_log(tmp_path / NAME.format(1), ["a"], 3)
    s = LogdirReader.load(tmp_path).scalars("nope")
    assert len(s) == 0 and s.values.dtype == np.float64


def test_find_logdirs(tmp_path):
    for rel in ["r1", "r2/sub", "r3/deep/er"]:
        with EventFileWriter(tmp_path / rel / NAME.format(1)) as w:
            w.write_event(scalar_event("a", 1.0, 1, 1.0))
    (tmp_path / "empty").mkdir()
    (tmp_path / ".hidden").mkdir()
    with EventFileWriter(tmp_path / ".hidden" / NAME.format(1)):
        pass
    got = [p.relative_to(tmp_path).as_posix() for p in find_logdirs(tmp_path)]
    assert got == ["r1", "r2/sub", "r3/deep/er"]


def test_scalar_payloads_are_byte_identical_to_protobuf():
    make = ScalarPayloads()
    for tag in ["a", "train/loss", "é/ü", "x" * 300]:
        for step in [0, 1, 127, 128, 300, 2**21, 2**40, -3]:
            for value in [0.0, 1.5, -0.0, float("inf")]:
                for wall in [0.0, 1.7e9]:
                    want = scalar_event(tag, value, step, wall).SerializeToString()
                    assert make(tag, value, step, wall) == want


def test_import_does_not_pull_torch_textual_or_tensorboard():
    code = (
        "import sys, fbtui.tb, fbtui.tb.writer\n"
        "bad = [m for m in ('torch', 'textual', 'tensorboard', 'tensorboardX') if m in sys.modules]\n"
        "assert not bad, bad\n"
        # and tensorboardX still imports normally afterwards, sharing the same protobufs
        "from tensorboardX import SummaryWriter\n"
        "import tensorboardX.proto.event_pb2 as e, fbtui.tb._proto as p\n"
        "assert e.Event is p.Event\n"
    )
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


def test_a_corrupt_stretch_across_read_windows_is_skipped(tmp_path, monkeypatch):
    import fbtui.tb.reader as reader

    monkeypatch.setattr(reader, "CHUNK", 1000)
    good = b"".join(_records("x", range(100)))
    data = good[:2000] + b"\xa5" * 3000 + good[2000:]  # garbage longer than a window
    (tmp_path / NAME.format(1)).write_bytes(data)
    r = LogdirReader.load(tmp_path)
    steps = r.scalars("x").steps.tolist()
    assert steps[0] == 0 and steps[-1] == 99 and len(steps) >= 97
    assert len(r.warnings) >= 1
    assert not any("yet" in w.message for w in r.warnings)


def test_polling_from_a_thread_while_reading(tmp_path):
    import threading

    path = tmp_path / NAME.format(1)
    r = LogdirReader(tmp_path)
    stop = threading.Event()

    def writer_and_poller():
        for chunk in range(50):
            with open(path, "ab") as fh:
                fh.write(b"".join(_records("x", range(chunk * 20, chunk * 20 + 20))))
            r.poll()
        stop.set()

    t = threading.Thread(target=writer_and_poller)
    t.start()
    while not stop.is_set():
        s = r.scalars("x")
        assert np.all(np.diff(s.steps) == 1)  # always a consistent prefix
    t.join()
    assert len(r.scalars("x")) == 1000


def test_expose_tag_rules():
    from fbtui.tb import expose_tag

    assert expose_tag("", "train/loss") == "train/loss"
    assert expose_tag("acc/train", "acc") == "acc/train"  # tensorboardX add_scalars
    assert expose_tag("loss_split_train", "loss/split") == "loss/split/train"  # torch
    assert expose_tag("validation", "epoch_loss") == "validation/epoch_loss"  # Keras sub-run
    assert expose_tag("loss_a/b", "loss") == "loss_a/b/loss"
