"""Bad images in a data set (extends tests/train/test_run_bad_data.py, which covers a
corrupt header and a missing file): `fbtui data check` lists every kind; training stops
naming a file that only fails when decoded, or skips them all with data.skip_bad and
says how many."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.data import synthesize

load_commands()
runner = CliRunner()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("scut") / "SCUT-FBP5500_v2", n=40, seed=2, size=32)


def _copy(pristine, dest):
    root = dest / "SCUT-FBP5500_v2"
    shutil.copytree(pristine, root)
    return root


def _spoil(root) -> dict[str, str]:
    """Four kinds of bad image; returns name -> kind."""
    imgs = sorted((root / "Images").iterdir())
    good = imgs[0].read_bytes()
    spoiled = {
        imgs[3].name: "truncated",  # the header parses; the pixels run out
        imgs[7].name: "garbage",
        imgs[11].name: "empty",
        imgs[15].name: "text",
    }
    imgs[3].write_bytes(good[: len(good) // 3])
    imgs[7].write_bytes(bytes(range(256)) * 4)
    imgs[11].write_bytes(b"")
    imgs[15].write_text("this is a README, not a face\n")
    return spoiled


def _truncate_one(root) -> str:
    """Cut a JPEG's pixel data but keep its end marker, so the check at open (header and
    end marker) passes and only a full decode, in the data loader, finds it."""
    from fbtui.data.images import header_problem, load_image
    from fbtui.errors import DataError

    victim = sorted((root / "Images").iterdir())[5]
    data = victim.read_bytes()
    for keep in range(len(data) - 2, len(data) // 4, -8):
        for cut in (data[:keep], data[:keep] + b"\xff\xd9"):
            victim.write_bytes(cut)
            if header_problem(victim) is None:
                try:
                    load_image(victim)
                except DataError:
                    return victim.name
    raise AssertionError("no cut of this JPEG passes the open check but fails to decode")


def test_data_check_lists_every_bad_image(tmp_path, pristine):
    root = _copy(pristine, tmp_path)
    spoiled = _spoil(root)
    res = runner.invoke(app, ["data", "check", str(root)])
    assert res.exit_code == 2, res.output
    for name in spoiled:
        assert name in res.output, (name, res.output)
    assert f"{len(spoiled)} unreadable image(s)" in res.output
    assert "data.skip_bad" in res.output  # says what to do about it
    res = runner.invoke(app, ["data", "check", str(root), "--json"])
    report = json.loads(res.stdout if hasattr(res, "stdout") else res.output)
    assert {u["name"] for u in report["unreadable"]} == set(spoiled)
    assert all(u["reason"] for u in report["unreadable"])


def _run(tmp_path, tiny_toml, root, *sets):
    args = ["run", str(tiny_toml(epochs=1)), "--runs-dir", str(tmp_path / "runs")]
    args += ["--set", f'data.root="{root}"']
    for s in sets:
        args += ["--set", s]
    return runner.invoke(app, args)


@pytest.mark.parametrize("workers", [0, 1])
def test_training_stops_naming_an_image_that_fails_to_decode(
    tmp_path, tiny_toml, pristine, workers
):
    """Only a full decode finds a truncated JPEG, so it surfaces mid-epoch, inside the
    data loader (in a worker process with num_workers > 0): still one clean paragraph."""
    root = _copy(pristine, tmp_path)
    name = _truncate_one(root)
    res = _run(tmp_path, tiny_toml, root, f"data.num_workers={workers}")
    assert res.exit_code == 2, (res.output, res.exception)
    assert name in res.output and "data.skip_bad" in res.output
    assert "Traceback" not in res.output and "DataLoader worker" not in res.output
    runs = list((tmp_path / "runs").iterdir()) if (tmp_path / "runs").exists() else []
    for run in runs:  # if training had started, the run says why it failed
        status = json.loads((run / "status.json").read_text())
        assert status["state"] == "failed" and name in status["error"], status
        assert "Traceback" not in status["error"]


def test_skip_bad_trains_without_them_and_says_how_many(tmp_path, tiny_toml, pristine):
    root = _copy(pristine, tmp_path)
    spoiled = _spoil(root)
    res = _run(tmp_path, tiny_toml, root, "data.skip_bad=true")
    assert res.exit_code == 0, (res.output, res.exception)
    assert f"skipped {len(spoiled)} unreadable" in res.output, res.output
    run = next((tmp_path / "runs").iterdir())
    log = (run / "train.log").read_text()
    assert f"skipped {len(spoiled)} unreadable" in log
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "finished"
    assert status["train_images"] + status["test_images"] == 40 - len(spoiled)
