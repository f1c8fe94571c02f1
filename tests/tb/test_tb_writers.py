"""Every value each real writer wrote comes back, from the fast path and from protobuf."""

import math

import numpy as np
import pytest

from fbtui.tb import LogdirReader

F32 = np.float32
VALUES = [0.5, -1.25, 3.0e-8, 1.0e30, 0.0, -0.0, math.inf, -math.inf, math.nan, 7.0]
STEPS = [0, 1, 2, 127, 128, 300, 16384, 2**21 + 5, 2**35, 7]


def _both(path):
    """Read with templates and with protobuf only; they must agree bit for bit."""
    fast, slow = LogdirReader.load(path), LogdirReader.load(path, fast=False)
    assert fast.tags() == slow.tags()
    for tag in fast.tags():
        a, b = fast.scalars(tag), slow.scalars(tag)
        np.testing.assert_array_equal(a.steps, b.steps)
        np.testing.assert_array_equal(a.wall_times, b.wall_times)
        np.testing.assert_array_equal(a.values.view(np.uint64), b.values.view(np.uint64))
    assert fast.warnings == [] and slow.warnings == []
    return fast


def _check(series, steps, values, walls=None, dtype=F32):
    np.testing.assert_array_equal(series.steps, np.array(steps, dtype=np.int64))
    want = np.array(values, dtype=dtype).astype(np.float64)
    np.testing.assert_array_equal(series.values, want)  # NaN == NaN here
    if walls is not None:
        np.testing.assert_array_equal(series.wall_times, np.array(walls, dtype=np.float64))


def test_tensorboardx_add_scalar(tmp_path):
    from tensorboardX import SummaryWriter

    walls = [1.7e9 + 0.25 * i for i in range(len(VALUES))]
    with SummaryWriter(str(tmp_path)) as w:
        for v, s, t in zip(VALUES, STEPS, walls, strict=True):
            w.add_scalar("train/loss", v, s, walltime=t)
            w.add_scalar("lr", v * 2, s, walltime=t)
        w.add_histogram("weights", np.arange(10.0), 0)  # not a scalar: ignored
        w.add_text("notes", "hello", 0)
    r = _both(tmp_path)
    assert r.tags() == ["lr", "train/loss"]
    _check(r.scalars("train/loss"), STEPS, VALUES, walls)
    _check(r.scalars("lr"), STEPS, [v * 2 for v in VALUES], walls)
    assert r.stats["fast"] > 0  # the template path did the bulk


def test_tensorboardx_add_scalars_subfolders(tmp_path):
    from tensorboardX import SummaryWriter

    with SummaryWriter(str(tmp_path)) as w:
        for i in range(20):
            w.add_scalars(
                "metrics/acc", {"train": i * 0.5, "test": i * 0.25}, i, walltime=100.0 + i
            )
            w.add_scalar("loss", 1.0 / (i + 1), i, walltime=100.0 + i)
    r = _both(tmp_path)
    # logdir/metrics/acc/train holds tag "metrics/acc" -> "metrics/acc/train"
    assert r.tags() == ["loss", "metrics/acc/test", "metrics/acc/train"]
    _check(r.scalars("metrics/acc/train"), range(20), [i * 0.5 for i in range(20)])
    _check(r.scalars("metrics/acc/test"), range(20), [i * 0.25 for i in range(20)])
    _check(r.scalars("loss"), range(20), [1.0 / (i + 1) for i in range(20)])


@pytest.fixture(scope="module")
def torch_writer():
    tb = pytest.importorskip("torch.utils.tensorboard")
    return tb.SummaryWriter


@pytest.mark.parametrize("new_style", [False, True])
def test_torch_add_scalar_old_and_new_style(tmp_path, torch_writer, new_style):
    walls = [1.6e9 + i for i in range(len(VALUES))]
    w = torch_writer(str(tmp_path))
    for v, s, t in zip(VALUES, STEPS, walls, strict=True):
        w.add_scalar("test/mse", v, s, walltime=t, new_style=new_style)
    w.close()
    r = _both(tmp_path)
    assert r.tags() == ["test/mse"]
    _check(r.scalars("test/mse"), STEPS, VALUES, walls)


def test_torch_new_style_double_precision(tmp_path, torch_writer):
    vals = [0.1, 1 / 3, 1e-300, math.pi]
    w = torch_writer(str(tmp_path))
    for i, v in enumerate(vals):
        w.add_scalar("pc", v, i, new_style=True, double_precision=True)
    w.close()
    r = _both(tmp_path)
    _check(r.scalars("pc"), range(4), vals, dtype=np.float64)


def test_torch_add_scalars_underscore_folders(tmp_path, torch_writer):
    w = torch_writer(str(tmp_path))
    for i in range(10):
        w.add_scalars("loss/split", {"train": i + 0.5, "test": i + 0.75}, i)
    w.close()
    r = _both(tmp_path)
    # torch writes logdir/loss_split_train holding tag "loss/split"
    assert r.tags() == ["loss/split/test", "loss/split/train"]
    _check(r.scalars("loss/split/train"), range(10), [i + 0.5 for i in range(10)])


@pytest.mark.parametrize("writer", ["tensorboardX", "torch"])
def test_purge_step_resume_drops_the_overlap(tmp_path, writer, request):
    if writer == "torch":
        cls = request.getfixturevalue("torch_writer")
    else:
        from tensorboardX import SummaryWriter as cls
    w = cls(str(tmp_path), filename_suffix=".a")
    for i in range(10):
        w.add_scalar("loss", float(i), i, walltime=1000.0 + i)
    w.close()
    # "crashed" after step 9, resumed from the checkpoint of step 6
    w = cls(str(tmp_path), purge_step=6, filename_suffix=".b")
    for i in range(6, 12):
        w.add_scalar("loss", 100.0 + i, i, walltime=2000.0 + i)
    w.close()
    r = _both(tmp_path)
    assert len(r.event_files()) == 2
    s = r.scalars("loss")
    _check(s, range(12), [float(i) for i in range(6)] + [100.0 + i for i in range(6, 12)])
    assert r.stats["purged"] == 4
