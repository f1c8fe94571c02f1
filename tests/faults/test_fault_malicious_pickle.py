"""A checkpoint whose pickle would run code (a __reduce__ that creates a marker folder)
is refused without running it, with a clear message, wherever fbtui loads weights:
`fbtui resume`, `model.init_from`, `model.pretrained = <path>`, `fbtui predict`,
`fbtui calibrate`."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.config import load_config, to_toml

load_commands()
runner = CliRunner()
# torch notes that the bare pickle uses protocol 4; it is refused all the same
pytestmark = pytest.mark.filterwarnings("ignore:Detected pickle protocol")


class Payload:
    """Unpickling this calls os.mkdir(marker): proof that pickled code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def evil_torch_checkpoint(path: Path, marker: Path) -> Path:
    """An fbtui-shaped checkpoint (real tensors) with the payload tucked inside."""
    state = {
        "model": {"head.weight": torch.zeros(1, 8)},
        "epoch": 1,
        "step": 3,
        "extra": [Payload(marker)],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def evil_plain_pickle(path: Path, marker: Path) -> Path:
    """Not even torch's zip format: a bare pickle, as `pickle.dump` writes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump({"model": Payload(marker)}, f)
    return path


MAKERS = [evil_torch_checkpoint, evil_plain_pickle]


@pytest.fixture
def marker(tmp_path) -> Path:
    m = tmp_path / "PWNED"
    yield m
    assert not m.exists(), "the pickled payload ran"


def _refused(res, *needles: str) -> None:
    assert res.exit_code == 2, (res.output, res.exception)
    assert "Traceback" not in res.output
    flat = " ".join(res.output.split())
    for n in needles:
        assert n in flat, (n, res.output)


def _run_folder(tmp_path: Path, tiny_toml, state: str = "stopped") -> Path:
    run = tmp_path / "runs" / "tiny-20250615-120000"
    (run / "checkpoints").mkdir(parents=True)
    cfg = load_config(tiny_toml(n=40, epochs=2))
    (run / "config.toml").write_text(to_toml(cfg))
    (run / "status.json").write_text(
        json.dumps({"state": state, "epoch": 1, "epochs": 2, "step": 3, "steps_per_epoch": 3})
    )
    return run


def test_the_payload_works(tmp_path, marker):
    """The control: loaded the unsafe way, the file does run its code."""
    path = evil_torch_checkpoint(tmp_path / "evil.pt", marker)
    torch.load(path, weights_only=False)
    assert marker.exists()
    marker.rmdir()


@pytest.mark.parametrize("make", MAKERS, ids=lambda f: f.__name__)
def test_resume_refuses(tmp_path, tiny_toml, marker, make):
    run = _run_folder(tmp_path, tiny_toml)
    make(run / "checkpoints" / "last.pt", marker)
    res = runner.invoke(app, ["resume", str(run)])
    _refused(res, "last.pt", "refused to load")
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "failed" and "refused to load" in status["error"]


@pytest.mark.parametrize("make", MAKERS, ids=lambda f: f.__name__)
def test_init_from_refuses(tmp_path, tiny_toml, marker, make):
    evil = make(tmp_path / "shared" / "evil.pt", marker)
    res = runner.invoke(
        app,
        [
            "run",
            str(tiny_toml(n=40, epochs=1)),
            "--runs-dir",
            str(tmp_path / "runs"),
            "--set",
            f'model.init_from="{evil}"',
        ],
    )
    _refused(res, "evil.pt", "refused to load")


def test_init_from_a_run_folder_refuses(tmp_path, tiny_toml, marker):
    donor = _run_folder(tmp_path, tiny_toml, state="finished")
    evil_torch_checkpoint(donor / "checkpoints" / "best.pt", marker)
    res = runner.invoke(
        app,
        [
            "run",
            str(tiny_toml(n=40, epochs=1)),
            "--runs-dir",
            str(tmp_path / "other"),
            "--set",
            f'model.init_from="{donor}"',
        ],
    )
    _refused(res, "best.pt", "refused to load")


@pytest.mark.parametrize("make", MAKERS, ids=lambda f: f.__name__)
def test_pretrained_path_refuses(tmp_path, tiny_toml, marker, make):
    evil = make(tmp_path / "weights" / "evil.pth", marker)
    res = runner.invoke(
        app,
        [
            "run",
            str(tiny_toml(n=40, epochs=1)),
            "--runs-dir",
            str(tmp_path / "runs"),
            "--set",
            f'model.pretrained="{evil}"',
        ],
    )
    _refused(res, "model.pretrained", "evil.pth", "weights_only")


@pytest.mark.parametrize("make", MAKERS, ids=lambda f: f.__name__)
def test_predict_refuses(tmp_path, tiny_toml, marker, make):
    run = _run_folder(tmp_path, tiny_toml, state="finished")
    make(run / "checkpoints" / "best.pt", marker)
    photo = tmp_path / "face.png"
    Image.new("RGB", (40, 40), (200, 150, 120)).save(photo)
    res = runner.invoke(app, ["predict", str(run), str(photo)])
    _refused(res, "best.pt", "refused to load")


def test_calibrate_refuses(tmp_path, tiny_toml, marker):
    from fbtui.data import synthesize

    run = _run_folder(tmp_path, tiny_toml, state="finished")
    evil_torch_checkpoint(run / "checkpoints" / "best.pt", marker)
    data = synthesize(tmp_path / "SCUT-FBP5500_v2", n=20, seed=3, size=32)
    res = runner.invoke(app, ["calibrate", str(run), str(data)])
    _refused(res, "best.pt", "refused to load")
