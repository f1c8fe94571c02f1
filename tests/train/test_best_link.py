"""best.pt shares last.pt's file (no second torch.save): the link is atomic, survives the
next save of last.pt, falls back to a copy without hard links, and a kill between the two
is repaired on resume."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.train import checkpoint as ck

load_commands()
runner = CliRunner()


def test_link_then_save_leaves_best_untouched(tmp_path):
    last, best = tmp_path / "last.pt", tmp_path / "best.pt"
    ck.save_checkpoint({"epoch": 1, "w": torch.ones(3)}, last)
    ck.link_checkpoint(last, best)
    assert os.path.samefile(last, best)
    ck.save_checkpoint({"epoch": 2, "w": torch.zeros(3)}, last)  # replaces the entry
    assert not os.path.samefile(last, best)
    assert ck.load_checkpoint(best)["epoch"] == 1
    assert torch.equal(ck.load_checkpoint(best)["w"], torch.ones(3))
    assert ck.load_checkpoint(last)["epoch"] == 2
    ck.link_checkpoint(last, best)  # over an existing best.pt
    assert ck.load_checkpoint(best)["epoch"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]


@pytest.mark.parametrize("code", [errno.EPERM, errno.EXDEV, errno.ENOTSUP])
def test_copy_where_there_are_no_hard_links(tmp_path, monkeypatch, code):
    last, best = tmp_path / "last.pt", tmp_path / "best.pt"
    ck.save_checkpoint({"epoch": 3}, last)

    def no_links(src, dst):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(ck.os, "link", no_links)
    ck.link_checkpoint(last, best)
    assert not os.path.samefile(last, best)
    assert best.read_bytes() == last.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]


def test_a_real_error_is_raised_and_leaves_nothing(tmp_path, monkeypatch):
    last, best = tmp_path / "last.pt", tmp_path / "best.pt"
    ck.save_checkpoint({"epoch": 1}, last)
    ck.link_checkpoint(last, best)
    before = best.read_bytes()
    ck.save_checkpoint({"epoch": 2}, last)

    def full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ck.os, "link", full)
    with pytest.raises(OSError, match="No space"):
        ck.link_checkpoint(last, best)
    assert best.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]


def _run(root: Path) -> Path:
    return next(p for p in root.iterdir() if p.is_dir())


def test_a_run_writes_best_as_a_link(tmp_path, tiny_toml, monkeypatch):
    """One torch.save per epoch, and best.pt is last.pt's file when the last epoch is best."""
    saves: list[str] = []
    real = torch.save

    def counting(obj, f, *a, **kw):
        saves.append(Path(os.readlink(f"/proc/self/fd/{f.fileno()}")).name)
        return real(obj, f, *a, **kw)

    monkeypatch.setattr(torch, "save", counting)
    cfg = tiny_toml(n=80, epochs=3)
    res = runner.invoke(app, ["run", str(cfg), "--runs-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    run = _run(tmp_path)
    assert len(saves) == 3 and all(s.startswith(".last.pt.") for s in saves), saves
    best_epoch = json.loads((run / "summary.json").read_text())["best"]["epoch"]
    last, best = run / "checkpoints" / "last.pt", run / "checkpoints" / "best.pt"
    assert ck.load_checkpoint(best)["epoch"] == best_epoch
    assert os.path.samefile(last, best) == (best_epoch == 3)


def test_resume_repairs_a_kill_between_last_and_best(tmp_path, tiny_toml):
    """last.pt says its epoch is the best, best.pt is older (killed before the link):
    resume makes them one file again before training on."""
    cfg = tiny_toml(n=80, epochs=2)
    res = runner.invoke(app, ["run", str(cfg), "--runs-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    run = _run(tmp_path)
    last, best = run / "checkpoints" / "last.pt", run / "checkpoints" / "best.pt"
    state = ck.load_checkpoint(last)
    # as if killed after epoch 1's last.pt, before its link: best.pt still an older state
    state.update(epoch=1, best={**state["best"], "epoch": 1})
    ck.save_checkpoint(state, last)
    ck.save_checkpoint({**state, "epoch": 0, "stale": torch.ones(1)}, best)
    st = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps({**st, "state": "stopped"}))
    res = runner.invoke(app, ["resume", str(run)])
    assert res.exit_code == 0, res.output
    assert "stale" not in ck.load_checkpoint(best)
    assert "best.pt made the same file as last.pt again" in (run / "train.log").read_text()
