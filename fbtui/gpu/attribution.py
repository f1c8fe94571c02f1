"""Which fbtui run owns a GPU process.

The dashboard builds `pid_to_run` from the run folders' status.json (`pid`, and `pids` for
multi-process runs: every torchrun rank); `attribute` also walks each GPU pid's parents in
/proc, so a rank whose own pid was not recorded still maps to the run of its launcher.

Containers: NVML reports *host* pids, while status.json holds the pids the trainer saw in
its own pid namespace. Inside a container (without `--pid=host`) the two do not match and
GPU processes show without a run — and a host pid that happens to equal an unrelated
container pid could be attributed wrongly. Attribution is a hint, never a control path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping

from fbtui.gpu.sample import GpuProcess, GpuSample


def proc_parent(pid: int) -> int | None:
    """The parent pid from /proc/<pid>/stat, or None (no such process, not Linux)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # comm may hold spaces and parentheses: the fields resume after the last ')'
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        ppid = int(fields[1])
    except (IndexError, ValueError):
        return None
    return ppid if ppid > 1 else None


def owner(
    pid: int,
    pid_to_run: Mapping[int, str],
    parent_of: Callable[[int], int | None] | None = proc_parent,
    max_depth: int = 8,
) -> str | None:
    """The run owning `pid` directly or through one of its first `max_depth` ancestors."""
    seen = set()
    for _ in range(max_depth + 1):
        if pid in pid_to_run:
            return pid_to_run[pid]
        if parent_of is None or pid in seen:
            return None
        seen.add(pid)
        parent = parent_of(pid)
        if parent is None:
            return None
        pid = parent
    return None


def attribute(
    processes: Iterable[GpuProcess],
    pid_to_run: Mapping[int, str],
    *,
    parent_of: Callable[[int], int | None] | None = proc_parent,
) -> list[GpuProcess]:
    """The processes with `run` set where a run owns the pid (see the module docstring).

    `parent_of=None` disables the walk up the process tree.
    """
    return [
        dataclasses.replace(p, run=owner(p.pid, pid_to_run, parent_of) if pid_to_run else None)
        for p in processes
    ]


def attribute_samples(
    samples: Iterable[GpuSample],
    pid_to_run: Mapping[int, str],
    *,
    parent_of: Callable[[int], int | None] | None = proc_parent,
) -> list[GpuSample]:
    """`attribute` applied to every sample's processes."""
    return [
        dataclasses.replace(
            s, processes=tuple(attribute(s.processes, pid_to_run, parent_of=parent_of))
        )
        for s in samples
    ]


def pid_map(runs: Iterable[tuple[str, Mapping]], *, live_only: bool = True) -> dict[int, str]:
    """pid -> run name from (run name, status.json dict) pairs, reading `pid` and `pids`.

    With `live_only`, a status whose `state` is set and is not `running` is skipped: the
    pids of finished runs may since belong to other programs.
    """
    out: dict[int, str] = {}
    for name, status in runs:
        if live_only and status.get("state", "running") != "running":
            continue
        pids = list(status.get("pids") or [])
        if status.get("pid") is not None:
            pids.append(status["pid"])
        for pid in pids:
            try:
                out[int(pid)] = name
            except (TypeError, ValueError):
                continue  # a malformed status file must not break the GPU panel
    return out
