"""Plain data: one GPU's figures at one poll, its processes, and the no-GPU state."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

GIB = 1 << 30


@dataclass(frozen=True)
class GpuProcess:
    """A process holding a context on a GPU.

    `pid` is the pid as NVML reports it: inside a container that is the *host* pid, which
    does not match the pids the container sees (see `fbtui.gpu.attribution`).
    """

    pid: int
    used_mem: int | None = None  # bytes; None where the driver does not say (e.g. WDDM, MIG)
    name: str | None = None  # process name where NVML can tell
    kind: str = "compute"  # "compute", "graphics" or "compute+graphics"
    run: str | None = None  # the fbtui run owning the pid, set by `attribute()`


@dataclass(frozen=True)
class GpuSample:
    """One device at one poll. Every optional figure is None when NVML cannot give it.

    `util_pct` is NVML's utilisation: the percentage of the last sample period (1/6 s to 1 s)
    in which at least one kernel ran — *kernel busy* time, not how full the chip is. Where
    the device supports GPM (Hopper and newer) `sm_active_pct` (the share of SMs busy) and
    `sm_occupancy_pct` (active warps against the theoretical maximum) measure the real load
    over the interval since the previous poll. On a MIG-enabled device utilisation cannot be
    queried and is None, never 0.
    """

    index: int
    name: str
    uuid: str
    util_pct: float | None = None
    sm_active_pct: float | None = None
    sm_occupancy_pct: float | None = None
    mem_used: int | None = None  # bytes
    mem_total: int | None = None  # bytes
    temp_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    processes: tuple[GpuProcess, ...] = field(default_factory=tuple)
    mig: bool = False
    gpm: bool = False  # the device supports GPM metrics
    time: float = 0.0  # time.time() of the poll

    @property
    def mem_used_gb(self) -> float | None:
        """Used memory in GiB (2**30 bytes), or None."""
        return None if self.mem_used is None else self.mem_used / GIB

    @property
    def mem_total_gb(self) -> float | None:
        """Total memory in GiB (2**30 bytes), or None."""
        return None if self.mem_total is None else self.mem_total / GIB

    def to_dict(self) -> dict:
        """A JSON-ready dict (processes as a list of dicts)."""
        d = asdict(self)
        d["processes"] = [asdict(p) for p in self.processes]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> GpuSample:
        """The inverse of `to_dict`."""
        d = dict(d)
        d["processes"] = tuple(GpuProcess(**p) for p in d.get("processes", ()))
        return cls(**d)


@dataclass(frozen=True)
class NoGpu:
    """There is nothing to sample, and why (shown to the user as is)."""

    reason: str = "no NVIDIA GPU (NVML not found)"

    def __str__(self) -> str:
        return self.reason
