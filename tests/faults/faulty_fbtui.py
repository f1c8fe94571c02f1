"""`python tests/faults/faulty_fbtui.py ARGS...`: the fbtui CLI with fault hooks (test only).

The kill -9 tests run `fbtui run` and `fbtui resume` through this wrapper so that a kill
can be aimed at a moment that is otherwise a few milliseconds wide. Hooks, by environment:

* FAULT_SAMPLE_SLEEP=S  every training sample takes S more seconds to load (a slower loop,
  so that kills at random times land in every phase; the data themselves are unchanged).
* FAULT_STALL_SAVE=K:WHERE  the K-th checkpoint write of this process stalls for good:
  WHERE = "mid" after half of the bytes reached the temporary file (before fsync and
  os.replace), "after" once the checkpoint is in place (before the trainer goes on).
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
    k, where = stall.split(":")
    target = int(k)
    marker = Path(os.environ["FAULT_MARKER"])
    count = [0]

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
                count[0] += 1
                if count[0] != target:
                    return real_torch.save(obj, f, *a, **kw)
                buf = io.BytesIO()
                real_torch.save(obj, buf, *a, **kw)
                data = buf.getvalue()
                f.write(data[: len(data) // 2])
                f.flush()
                stall_now(f"mid {getattr(f, 'name', '?')}")

        ckpt_mod.torch = HalfWrite()
    else:
        real_save = trainer_mod.save_checkpoint

        def save_then_stall(state, path):
            real_save(state, path)
            count[0] += 1
            if count[0] == target:
                stall_now(f"after {path}")

        trainer_mod.save_checkpoint = save_then_stall


def main() -> None:
    _install_hooks()
    from fbtui.cli.main import main as cli_main

    cli_main(sys.argv[1:])


if __name__ == "__main__":
    main()
