"""DistributedDataParallel for runs launched by torchrun (`fbtui run --nproc N`).

Every rank runs the same `train_run`; this module holds what differs under DDP, so the
training loop only grows small `if ddp:` blocks:

* `setup` joins the process group: NCCL when the run trains on CUDA (each rank on its
  LOCAL_RANK GPU), gloo on CPUs. Small control messages (the stop flag, the NaN check)
  always travel over gloo on CPU tensors, so agreeing on them never waits for the GPU.
* (`build_loaders(..., rank, world)` gives each rank its slice of the per-epoch
  permutation — EpochSampler, padded to a multiple of the world size, like
  DistributedSampler — and of the test split, ShardSampler, without padding.)
* `wrap` adds SyncBatchNorm (model.sync_bn, CUDA only) and the DDP wrapper.
* `gather_predictions` collects every rank's test predictions, so metrics and
  predictions.csv cover the whole test split exactly once.
* `agree_stop` turns SIGTERM on any rank into a stop of every rank at the same step.
* `launch_info` gathers every rank's pid (and its torchrun agent's) for status.json.

Only rank 0 writes the run folder; the trainer disables the writers on the other ranks.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from fbtui.errors import UserError

log = logging.getLogger("fbtui.train")

_control: Any = None  # the gloo group for control flags (None: the default group is gloo)


def world_size() -> int:
    """Processes in the job (1 when not launched by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_ddp() -> bool:
    """True in a torchrun worker of a job with more than one process."""
    return world_size() > 1


def local_pids() -> list[int]:
    """This process and, under torchrun, its agent (the parent that forwards SIGTERM)."""
    pids = [os.getpid()]
    if "TORCHELASTIC_RUN_ID" in os.environ:
        pids.append(os.getppid())
    return pids


def setup(device: torch.device) -> torch.device:
    """Join the process group and return this rank's device.

    Backend: NCCL when training on CUDA, gloo otherwise. Non-zero ranks log warnings to
    stderr (the run's train.log) with a rank prefix; only rank 0 writes the file log."""
    global _control
    if device.type == "cuda":
        if local_rank() >= torch.cuda.device_count():
            raise UserError(
                f"--nproc asks for more processes per node than this node has GPUs "
                f"({torch.cuda.device_count()}): use --nproc {torch.cuda.device_count()} or fewer"
            )
        device = torch.device("cuda", local_rank())
        torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl", device_id=device)
        _control = dist.new_group(backend="gloo")
    else:
        dist.init_process_group(backend="gloo")
        _control = None
    log.info(
        "distributed: %d processes, backend %s, rank 0 on %s",
        world_size(),
        dist.get_backend(),
        device,
    )
    if rank() > 0:
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        handler.setFormatter(logging.Formatter(f"[rank {rank()}] %(levelname)s %(message)s"))
        log.addHandler(handler)
    return device


def teardown() -> None:
    """Leave the process group (safe to call when it was never joined)."""
    global _control
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _control = None


def check_resume(resume: dict | None, world: int) -> None:
    """A run resumes with the world size it was trained with: the data order of an epoch,
    the batch offset of a mid-epoch checkpoint and the step schedule all depend on it."""
    if resume is None:
        return
    before = int(resume.get("world_size", 1))
    if before != world:
        raise UserError(
            f"this run was trained with {before} process(es) and is being resumed with "
            f"{world}: resume it with --nproc/--nnodes giving {before} processes in all "
            f"(the epoch's data order and the step schedule depend on it)"
        )


def share_checkpoint(state: dict | None) -> dict | None:
    """Every rank resumes from rank 0's checkpoint. Ranks that do not see the same file
    (another node without a shared filesystem) receive it from rank 0."""
    have = [None] * world_size()
    dist.all_gather_object(have, state is not None, group=_control)
    if not have[0]:
        return None  # rank 0 starts fresh: so does everyone
    if all(have):
        return state  # the same run folder, read by every rank
    box = [state if rank() == 0 else None]
    dist.broadcast_object_list(box, src=0, group=_control)
    return box[0]


def launch_info() -> dict[str, Any]:
    """world size and every rank's pid, gathered on all ranks (status.json reads it).

    `pids` holds the processes on rank 0's node (the ranks and their torchrun agent):
    `fbtui stop` signals them and the GPU panel attributes them. Pids of other nodes are
    meaningless on this host, so they are only listed under `ranks`."""
    me = {
        "rank": rank(),
        "local_rank": local_rank(),
        "node": int(os.environ.get("GROUP_RANK", "0")),
        "host": os.uname().nodename,
        "pid": os.getpid(),
        "agent": os.getppid() if "TORCHELASTIC_RUN_ID" in os.environ else None,
    }
    ranks: list[Any] = [None] * world_size()
    dist.all_gather_object(ranks, me, group=_control)
    node0 = ranks[0]["node"]
    pids: list[int] = []
    for r in ranks:
        if r["node"] == node0:
            pids += [p for p in (r["pid"], r["agent"]) if p and p not in pids]
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size())))
    return {
        "world_size": world_size(),
        "nproc_per_node": local_world,
        "nnodes": max(1, world_size() // max(1, local_world)),
        "pids": pids,
        "ranks": ranks,
    }


def wrap(model: torch.nn.Module, cfg, device: torch.device) -> torch.nn.Module:
    """SyncBatchNorm when model.sync_bn (CUDA only), then DistributedDataParallel.
    The wrapped model's `.module` is the plain model (checkpoints, evaluation, score)."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    if cfg.model.sync_bn:
        if device.type == "cuda":
            # keeps the Parameter objects, so the optimizer built on them stays valid
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model).to(device)
        elif rank() == 0:
            log.warning(
                "model.sync_bn: SyncBatchNorm needs CUDA; on CPU each rank normalises "
                "its own batch (plain BatchNorm)"
            )
    return DDP(model, device_ids=[device.index] if device.type == "cuda" else None)


def _any(value: int) -> int:
    flag = torch.tensor([value], dtype=torch.int64)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=_control)
    return int(flag.item())


def any_rank(flag: bool) -> bool:
    """True on every rank when `flag` is true on any rank (call on all ranks)."""
    return bool(_any(int(flag)))


def agree_stop(stop) -> bool:
    """Whether any rank got a stop signal; on every rank, at the same step. Marks `stop`
    requested (with the signal's name) on ranks that did not get it themselves."""
    signum = _any(int(signal.Signals[stop.signal]) if stop.requested and stop.signal else 0)
    if signum and not stop.requested:
        stop.requested, stop.signal = True, signal.Signals(signum).name
    return bool(signum)


def sync_buffers(model: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics) before evaluation,
    so each shard is scored by the model that rank 0 checkpoints."""
    for buf in model.buffers():
        dist.broadcast(buf, src=0)


def gather_predictions(idx, pred, dists, stds):
    """Every rank's test predictions, ordered by image index (each image exactly once)."""
    parts: list[Any] = [None] * world_size()
    dist.all_gather_object(parts, (idx, pred, dists, stds), group=_control)
    idx = np.concatenate([p[0] for p in parts])
    order = np.argsort(idx, kind="stable")
    if len(np.unique(idx)) != len(idx):
        raise RuntimeError("a test image was scored by two ranks: the test shards overlap")

    def cat(k: int):
        return None if parts[0][k] is None else np.concatenate([p[k] for p in parts])[order]

    return idx[order], cat(1), cat(2), cat(3)
