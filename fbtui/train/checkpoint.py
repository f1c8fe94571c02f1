"""Checkpoints: plain state_dicts written atomically, loaded with weights_only=True."""

from __future__ import annotations

import contextlib
import errno
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from fbtui.errors import RunError


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[str]:
    """A temporary name beside `path` (a name remove_stale_temps knows) for the block to
    fill; then os.replace onto `path`. On any failure the temporary file is removed and
    `path` keeps its previous content."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """torch.save to a temporary file in the same folder, fsync, then os.replace: a crash
    or a full disk mid-write leaves the previous checkpoint intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _replacing(path) as tmp, open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())


# os.link fails with these where the filesystem has no hard links (some FUSE, SMB, FAT
# mounts): link_checkpoint copies instead. Anything else (ENOSPC, EIO) is a real error.
_NO_HARD_LINKS = {errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.ENOSYS}


def link_checkpoint(src: Path, dst: Path) -> None:
    """Make `dst` the same checkpoint as `src` without writing it again: a hard link under
    a temporary name, then os.replace, so `dst` is always a whole checkpoint (the old one
    or the new one). Where hard links are not supported, an fsynced copy.

    Safe because checkpoints are never written in place: the next save of `src` replaces
    its directory entry and leaves the inode `dst` shares untouched. best.pt costs no
    second torch.save this way (135 ms for mobilenet_v2, more for VGG16)."""
    src, dst = Path(src), Path(dst)
    with _replacing(dst) as tmp:
        os.unlink(tmp)  # os.link will not overwrite; the unique name is what mkstemp gave
        try:
            os.link(src, tmp)
        except OSError as e:
            if e.errno not in _NO_HARD_LINKS:
                raise
            with open(src, "rb") as fin, open(tmp, "xb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
                fout.flush()
                os.fsync(fout.fileno())


def remove_stale_temps(folder: Path) -> int:
    """Delete the temporary files of checkpoint writes that never finished (a process
    killed mid-write leaves one, as large as a checkpoint); returns how many. Only the
    run's own trainer calls this, at start, when no write of its own can be in flight."""
    removed = 0
    for tmp in Path(folder).glob(".*.pt.*.tmp"):
        try:
            tmp.unlink()
            removed += 1
        except OSError:
            pass
    return removed


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint without ever running pickled code (weights_only=True).

    Raises RunError with a clear message for missing, truncated or unsafe files."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).splitlines()[0] if str(e) else ""
        raise RunError(
            f"{path}: refused to load: the file is not a plain state_dict checkpoint and could "
            f"run code if unpickled ({first}). fbtui only loads weights_only checkpoints; "
            f"re-save it with torch.save(model.state_dict(), ...) from a trusted session."
        ) from None
    except Exception as e:  # noqa: BLE001 - torn bytes fail in many ways (IndexError, KeyError…)
        raise RunError(f"{path}: unreadable checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict):
        raise RunError(f"{path}: expected a dict of tensors, found {type(state).__name__}")
    return state


def model_state(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The model weights in an fbtui checkpoint, or the checkpoint itself if it is a bare
    state_dict (what `torch.save(model.state_dict())` scripts write)."""
    inner = ckpt.get("model")
    return inner if isinstance(inner, dict) else ckpt
