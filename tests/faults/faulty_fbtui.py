"""`python tests/faults/faulty_fbtui.py ARGS...`: the fbtui CLI with fault hooks (test only).

The kill -9 tests run `fbtui run` and `fbtui resume` through this wrapper so that a kill
can be aimed at a moment that is otherwise a few milliseconds wide. Hooks, by environment:

* FAULT_SAMPLE_SLEEP=S  every training sample takes S more seconds to load (a slower loop,
  so that kills at random times land in every phase; the data themselves are unchanged).
* FAULT_STALL_SAVE=EPOCH:WHICH:WHERE  the first write of checkpoint WHICH (best, last or
  any) whose state is at epoch >= EPOCH stalls for good: WHERE = "mid" after half of the
  bytes reached the temporary file (before fsync and os.replace), "after" once the
  checkpoint is in place (before the trainer goes on).
  FAULT_MARKER=path is created when the stall begins, so the test knows when to kill.

Torch uses one thread, so that every process of a test computes bit-identical results.
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path


def _install_hooks() -> None:
    import torch

    torch.set_num_threads(1)
    sleep = float(os.environ.get("FAULT_SAMPLE_SLEEP") or 0)
    if sleep > 0:
        from fbtui.data.dataset import FaceDataset

        real_get = FaceDataset.__getitem__

        def slow_get(self, i):
            time.sleep(sleep)
            return real_get(self, i)

        FaceDataset.__getitem__ = slow_get

    stall = os.environ.get("FAULT_STALL_SAVE", "")
    if not stall:
        return
    min_epoch, which, where = stall.split(":")
    marker = Path(os.environ["FAULT_MARKER"])

    def aimed_at(state, path) -> bool:
        """The first write of a `which` checkpoint (best, last, any) for epoch >= min_epoch."""
        name = Path(path).name
        right_file = which == "any" or f"{which}.pt" in name
        return right_file and int(state.get("epoch", -1)) >= int(min_epoch)

    def stall_now(what: str) -> None:
        marker.write_text(what)
        while True:  # until SIGKILL
            time.sleep(60)

    import fbtui.train.checkpoint as ckpt_mod
    import fbtui.train.trainer as trainer_mod

    if where == "mid":
        real_torch = ckpt_mod.torch

        class HalfWrite:
            """torch as the checkpoint module sees it, whose save() stalls half-way."""

            def __getattr__(self, name):
                return getattr(real_torch, name)

            def save(self, obj, f, *a, **kw):
                path = os.readlink(f"/proc/self/fd/{f.fileno()}")  # the temporary file
                if not aimed_at(obj, path):
                    return real_torch.save(obj, f, *a, **kw)
                buf = io.BytesIO()
                real_torch.save(obj, buf, *a, **kw)
                data = buf.getvalue()
                f.write(data[: len(data) // 2])
                f.flush()
                stall_now(f"mid-write of {Path(path).name} (epoch {obj.get('epoch')})")

        ckpt_mod.torch = HalfWrite()
    else:
        real_save = trainer_mod.save_checkpoint

        def save_then_stall(state, path):
            real_save(state, path)
            if aimed_at(state, path):
                stall_now(f"after {Path(path).name} (epoch {state.get('epoch')})")

        trainer_mod.save_checkpoint = save_then_stall


def main() -> None:
    _install_hooks()
    from fbtui.cli.main import main as cli_main

    cli_main(sys.argv[1:])


if __name__ == "__main__":
    main()
