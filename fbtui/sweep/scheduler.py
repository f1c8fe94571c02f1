"""The queue's decision, as a pure function: which members to start now, and on which GPU.

No I/O and no clock, so every rule is tested directly: members run in sweep order, at most
`slots` at a time; a member is started at most once per runner (a member the user stopped,
or whose worker died, waits for `fbtui queue resume`); with two or more GPUs each start
goes to the least-busy GPU, so `--parallel N` on N GPUs pins one member per GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fbtui.sweep.folder import BUSY, STARTABLE


@dataclass(frozen=True)
class Member:
    """What the scheduler knows about one member."""

    name: str
    state: str  # effective run state, or "starting" (launched, worker not up yet)
    gpu: str | None = None  # the GPU a busy member was pinned to
    pinnable: bool = True  # False: its config names a device (cpu, cuda:1): never pinned
    attempted: bool = False  # already started by this runner


@dataclass(frozen=True)
class Start:
    name: str
    gpu: str | None  # CUDA_VISIBLE_DEVICES for the worker; None: leave the environment


def resolve_parallel(parallel: int, n_gpus: int) -> int:
    """Members at a time: `--parallel N`, or 0 for one per GPU (1 without GPUs)."""
    if parallel < 0:
        raise ValueError("parallel must be >= 0")
    return parallel or max(1, n_gpus)


def plan_starts(
    members: Sequence[Member],
    slots: int,
    gpus: Sequence[str] = (),
    *,
    paused: bool = False,
    retry_failed: bool = False,
) -> list[Start]:
    """The members to start now, in sweep order, with their GPU.

    `slots` is the number of members allowed at once; busy members (running, stale or
    starting) take one each. `gpus` are the CUDA_VISIBLE_DEVICES ids to pin to; with fewer
    than two nothing is pinned. `retry_failed` also restarts members that failed with an
    error (never diverged ones: the same settings would diverge again)."""
    if paused:
        return []
    startable = set(STARTABLE) | ({"failed"} if retry_failed else set())
    busy = [m for m in members if m.state in BUSY]
    free = slots - len(busy)
    if free <= 0:
        return []
    pin = len(gpus) >= 2
    load = {g: 0 for g in gpus}
    for m in busy:
        if m.gpu in load:
            load[m.gpu] += 1
    starts: list[Start] = []
    for m in members:
        if len(starts) >= free:
            break
        if m.attempted or m.state not in startable:
            continue
        gpu = None
        if pin and m.pinnable:
            gpu = min(gpus, key=lambda g: (load[g], list(gpus).index(g)))
            load[gpu] += 1
        starts.append(Start(m.name, gpu))
    return starts


def has_work(members: Sequence[Member], retry_failed: bool = False) -> bool:
    """True while something is busy or still startable by this runner."""
    startable = set(STARTABLE) | ({"failed"} if retry_failed else set())
    return any(m.state in BUSY or (m.state in startable and not m.attempted) for m in members)
