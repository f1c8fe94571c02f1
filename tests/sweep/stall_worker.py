"""`python tests/sweep/stall_worker.py RUN_DIR`: the sweep's member worker, stalled once
mid-run (test only; the queue runs it when FBTUI_TEST_SWEEP_WORKER names this file).

The member named by STALL_RUN stalls for good right after it saved checkpoints/last.pt
for an epoch >= 1, and creates the file STALL_MARKER then, so the test knows that the
member is mid-run with a checkpoint and can kill it. Once the marker exists (the
resumed queue), every member trains normally. Without these variables it is the worker.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def install_stall(run_dir: Path) -> None:
    marker = Path(os.environ.get("STALL_MARKER", "/nonexistent/marker"))
    if run_dir.name != os.environ.get("STALL_RUN") or marker.exists():
        return
    import fbtui.train.trainer as trainer

    real_save = trainer.save_checkpoint

    def save_then_stall(state, path):
        real_save(state, path)
        if Path(path).name == "last.pt" and int(state.get("epoch", 0)) >= 1:
            marker.write_text(f"{run_dir.name}: stalled after last.pt of epoch {state['epoch']}")
            while True:  # until the test's SIGKILL
                time.sleep(60)

    trainer.save_checkpoint = save_then_stall


def main(argv: list[str]) -> int:
    if len(argv) == 1:
        install_stall(Path(argv[0]))
    from fbtui.train.worker import main as worker_main

    return worker_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
