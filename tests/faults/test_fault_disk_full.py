"""A full disk in the middle of a checkpoint write: the previous checkpoint survives, the
run is `failed` with the reason, and no temporary file is left behind."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands

load_commands()
runner = CliRunner()


def _path_of(f) -> Path:
    """The file behind an open file object (checkpoints are written through os.fdopen)."""
    return Path(os.readlink(f"/proc/self/fd/{f.fileno()}"))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_enospc_in_a_checkpoint_write(tmp_path, tiny_toml, monkeypatch):
    """The 2nd write of last.pt fails half-way: the 1st stays intact."""
    target, nth = "last.pt", 2
    import torch

    real_save = torch.save
    seen: dict[str, object] = {"writes": 0}

    def full_disk(obj, f, *a, **kw):
        path = _path_of(f)
        if f".{target}." in path.name:
            seen["writes"] += 1
            if seen["writes"] == nth:
                old = path.parent / target
                seen["before"] = _sha(old) if old.exists() else None
                f.write(b"\0" * 4096)  # part of it reached the disk
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, f, *a, **kw)

    monkeypatch.setattr(torch, "save", full_disk)
    res = runner.invoke(app, ["run", str(tiny_toml(n=80, epochs=3)), "--runs-dir", str(tmp_path)])
    run = next(p for p in tmp_path.iterdir() if p.is_dir())
    assert "before" in seen, "the failing write never happened"

    assert res.exit_code == 1, res.output
    assert "No space left on device" in res.output, res.output
    assert "Traceback" not in res.output
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "failed"
    assert "No space left on device" in status["error"], status
    assert "No space left on device" in (run / "train.log").read_text()
    # the previous checkpoint is intact and loads
    from fbtui.train.checkpoint import load_checkpoint

    ck = run / "checkpoints" / target
    if seen["before"] is None:
        assert not ck.exists()
    else:
        assert _sha(ck) == seen["before"]
        assert load_checkpoint(ck)["epoch"] == nth - 1
    leftovers = [p.name for p in run.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    # and `fbtui runs` tells why
    out = runner.invoke(app, ["runs", "--runs-dir", str(tmp_path), "--json"])
    assert "No space left on device" in json.loads(out.output)[0]["error"]


def test_enospc_linking_best(tmp_path, tiny_toml, monkeypatch):
    """best.pt is a hard link to the fresh last.pt (no second write); a full disk while
    linking it fails the run with the reason and leaves no temporary file, and last.pt,
    written just before, is whole."""
    from fbtui.train import checkpoint as ck

    def full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ck.os, "link", full)
    res = runner.invoke(app, ["run", str(tiny_toml(n=80, epochs=2)), "--runs-dir", str(tmp_path)])
    run = next(p for p in tmp_path.iterdir() if p.is_dir())
    assert res.exit_code == 1 and "No space left on device" in res.output, res.output
    assert "Traceback" not in res.output
    assert json.loads((run / "status.json").read_text())["state"] == "failed"
    assert not (run / "checkpoints" / "best.pt").exists()
    assert ck.load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 1
    assert [p.name for p in run.rglob("*") if p.name.endswith(".tmp")] == []


def test_enospc_also_for_status_json(tmp_path, tiny_toml, monkeypatch):
    """The disk is so full that even status.json cannot be written: the trainer still
    ends with exit 1 and the first error's reason on the terminal and in train.log, and
    the listing shows the run as `failed (lost)` once its process is gone."""
    import torch

    import fbtui.runs.status as status_mod

    real_save = torch.save
    real_json = status_mod.json.dump
    full = {"on": False}

    def save(obj, f, *a, **kw):
        if ".last.pt." in _path_of(f).name and full.get("armed"):
            full["on"] = True
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        full["armed"] = True
        return real_save(obj, f, *a, **kw)

    def dump(obj, fp, *a, **kw):
        if full["on"]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_json(obj, fp, *a, **kw)

    monkeypatch.setattr(torch, "save", save)
    monkeypatch.setattr(status_mod.json, "dump", dump)
    res = runner.invoke(app, ["run", str(tiny_toml(n=80, epochs=3)), "--runs-dir", str(tmp_path)])
    run = next(p for p in tmp_path.iterdir() if p.is_dir())
    assert res.exit_code == 1, res.output
    assert "No space left on device" in res.output and "Traceback" not in res.output
    assert "No space left on device" in (run / "train.log").read_text()
    assert [p.name for p in run.rglob("*") if p.name.endswith(".tmp")] == []
    log = (run / "train.log").read_text()
    assert "could not record the outcome in status.json" in log
    # the status write that failed did not tear the last good status.json; once the
    # process is gone, listings show the run as lost (here the test process is its pid)
    from fbtui.runs.status import effective_state, read_status

    status = read_status(run)
    assert status["state"] == "running" and status["pid"] == os.getpid()
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert effective_state({**status, "pid": gone.pid, "pids": [gone.pid]}) == "failed (lost)"
