"""A fake backend for tests and demos, described in Python or by a JSON file.

Set ``FBTUI_FAKE_GPU=/path/to/gpus.json`` and every `open_backend()` (the CLI, the dashboard,
subprocess and snapshot tests) samples these devices instead of NVML. The format::

    {
      "no_gpu": "no NVIDIA GPU (NVML not found)",   // optional: fake the no-GPU state
      "interval": 0.1,                              // optional: poll-interval hint (s)
      "max_polls": 3,                               // optional: pollers stop after N polls
      "devices": [
        {
          "name": "NVIDIA H100 80GB HBM3",          // default "Fake GPU <i>"
          "uuid": "GPU-fake-0",                     // default "GPU-fake-<i>"
          "util_pct": [10, 55, 97],                 // kernel busy %
          "sm_active_pct": [8, 40, 81],             // GPM, used when "gpm" is true
          "sm_occupancy_pct": 30,
          "gpm": true,                              // default false
          "mig": false,                             // MIG on: utilisation not queryable
          "mem_used": 21474836480,                  // bytes
          "mem_total": 85899345920,                 // bytes
          "temp_c": 54,
          "power_w": [120, 350, 690],
          "power_limit_w": 700,
          "processes": [{"pid": 4242, "used_mem": 20000000000, "name": "python",
                         "kind": "compute"}],
          "errors": {"temp_c": "NotSupported", "power_w": "NoPermission"}
        }
      ]
    }

Any figure may be a number or a list; a list is a series, advanced once per poll and
cycled (poll *k* reads element ``k % len``). ``processes`` may likewise be a list of lists.
``errors`` maps a figure (``util_pct``, ``sm_active_pct`` — GPM as a whole —, ``mem_used``,
``temp_c``, ``power_w``, ``power_limit_w``, ``processes``, ``process_name``, ``mig``,
``gpm``, ``name``, ``uuid``) or a backend method name to the NVML error it raises: the
suffix of a ``pynvml.NVMLError_*`` class such as ``NotSupported``, ``NoPermission``,
``GpuIsLost`` or ``Unknown``. An empty ``devices`` list means NVML found no devices.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pynvml

from fbtui.gpu.sample import GIB, GpuProcess, NoGpu

Series = Any  # a number, a string or a list of them (cycled per poll)

# The figure names accepted in `errors`, mapped onto the backend methods that raise.
_ERROR_KEYS = {
    "util_pct": "utilization",
    "mem_used": "memory",
    "mem_total": "memory",
    "temp_c": "temperature",
    "power_w": "power",
    "power_limit_w": "power_limit",
    "sm_active_pct": "gpm_sample",
    "sm_occupancy_pct": "gpm_sample",
    "gpm": "gpm_supported",
    "mig": "is_mig",
}


def nvml_error(name: str | BaseException) -> BaseException:
    """An NVML exception from a name like 'NotSupported' (or the exception itself)."""
    if isinstance(name, BaseException):
        return name
    cls = getattr(pynvml, f"NVMLError_{name}", None)
    if cls is None:
        raise ValueError(f"unknown NVML error {name!r} (try NotSupported, NoPermission, Unknown)")
    return cls()


@dataclass
class FakeDevice:
    """One fake GPU. Figures are numbers or per-poll series (lists)."""

    name: str = "Fake GPU"
    uuid: str = "GPU-fake"
    util_pct: Series = 0
    sm_active_pct: Series = 0
    sm_occupancy_pct: Series = 0
    gpm: bool = False
    mig: bool = False
    mem_used: Series = 0
    mem_total: Series = 80 * GIB
    temp_c: Series = 40
    power_w: Series = 100
    power_limit_w: Series = 700
    processes: list = field(default_factory=list)  # GpuProcess/dicts, or a series of lists
    errors: dict[str, str | BaseException] = field(default_factory=dict)


@dataclass
class _FakeGpmSample:
    device: int
    step: int
    serial: int


def _at(value: Series, step: int):
    if isinstance(value, (list, tuple)):
        return value[step % len(value)] if value else None
    return value


def _process(p: GpuProcess | dict) -> GpuProcess:
    return p if isinstance(p, GpuProcess) else GpuProcess(**p)


class FakeBackend:
    """A `Backend` over `FakeDevice`s; poll *k* (counted by `device_count()`) reads step *k*."""

    def __init__(
        self,
        devices: list[FakeDevice],
        *,
        no_gpu: str | None = None,
        interval: float | None = None,
        max_polls: int | None = None,
    ) -> None:
        self.devices = devices
        self.no_gpu = no_gpu
        self.interval = interval
        self.max_polls = max_polls
        self.polls = 0  # device_count() calls so far
        self.closed = False
        self.live_gpm_samples: set[int] = set()  # serials allocated and not yet freed
        self._step = 0
        self._serial = itertools.count()

    @classmethod
    def from_dict(cls, d: dict) -> FakeBackend:
        """Build from the JSON format in this module's docstring."""
        devices = []
        for i, spec in enumerate(d.get("devices", [])):
            spec = dict(spec)
            spec.setdefault("name", f"Fake GPU {i}")
            spec.setdefault("uuid", f"GPU-fake-{i}")
            unknown = set(spec) - set(FakeDevice.__dataclass_fields__)
            if unknown:
                raise ValueError(f"fake GPU device {i}: unknown keys {sorted(unknown)}")
            devices.append(FakeDevice(**spec))
        return cls(
            devices,
            no_gpu=d.get("no_gpu"),
            interval=d.get("interval"),
            max_polls=d.get("max_polls"),
        )

    @classmethod
    def from_json(cls, path: str | Path) -> FakeBackend:
        """Read a JSON description (see the module docstring)."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    def opened(self) -> FakeBackend | NoGpu:
        """What `open_backend()` returns for this description: itself, or the no-GPU state."""
        if self.no_gpu:
            return NoGpu(self.no_gpu)
        if not self.devices:
            return NoGpu("no NVIDIA GPU (NVML found no devices)")
        return self

    # -- helpers -------------------------------------------------------------------------

    def _dev(self, i: int, method: str) -> FakeDevice:
        dev = self.devices[i]
        for key, err in dev.errors.items():
            if key == method or _ERROR_KEYS.get(key) == method:
                raise nvml_error(err)
        return dev

    def _get(self, i: int, method: str, attr: str):
        value = _at(getattr(self._dev(i, method), attr), self._step)
        if value is None:
            raise pynvml.NVMLError_NotSupported()
        return value

    # -- Backend -------------------------------------------------------------------------

    def device_count(self) -> int:
        self._step = self.polls
        self.polls += 1
        return len(self.devices)

    def name(self, i: int) -> str:
        return self._dev(i, "name").name

    def uuid(self, i: int) -> str:
        return self._dev(i, "uuid").uuid

    def is_mig(self, i: int) -> bool:
        return bool(self._dev(i, "is_mig").mig)

    def utilization(self, i: int) -> float:
        if self.devices[i].mig:  # as NVML: not queryable on a MIG-enabled device
            raise pynvml.NVMLError_NotSupported()
        return float(self._get(i, "utilization", "util_pct"))

    def memory(self, i: int) -> tuple[int, int]:
        return int(self._get(i, "memory", "mem_used")), int(self._get(i, "memory", "mem_total"))

    def temperature(self, i: int) -> float:
        return float(self._get(i, "temperature", "temp_c"))

    def power(self, i: int) -> float:
        return float(self._get(i, "power", "power_w"))

    def power_limit(self, i: int) -> float:
        return float(self._get(i, "power_limit", "power_limit_w"))

    def processes(self, i: int) -> list[GpuProcess]:
        procs = self._dev(i, "processes").processes
        if procs and isinstance(procs[0], (list, tuple)):
            procs = _at(procs, self._step)
        # names come from process_name(), as with NVML
        return [GpuProcess(p.pid, p.used_mem, kind=p.kind) for p in (_process(q) for q in procs)]

    def process_name(self, pid: int) -> str:
        for i, dev in enumerate(self.devices):
            procs = dev.processes
            if procs and isinstance(procs[0], (list, tuple)):
                procs = [q for step in procs for q in step]
            for p in map(_process, procs):
                if p.pid == pid:
                    self._dev(i, "process_name")
                    if p.name is None:
                        raise pynvml.NVMLError_NotFound()
                    return p.name
        raise pynvml.NVMLError_NotFound()

    def gpm_supported(self, i: int) -> bool:
        return bool(self._dev(i, "gpm_supported").gpm)

    def gpm_sample(self, i: int) -> object:
        self._dev(i, "gpm_sample")
        sample = _FakeGpmSample(i, self._step, next(self._serial))
        self.live_gpm_samples.add(sample.serial)
        return sample

    def gpm_metrics(self, first: object, second: object) -> dict[str, float | None]:
        assert isinstance(first, _FakeGpmSample) and isinstance(second, _FakeGpmSample)
        dev = self._dev(second.device, "gpm_metrics")
        active = _at(dev.sm_active_pct, second.step)
        occupancy = _at(dev.sm_occupancy_pct, second.step)
        return {
            "sm_active": None if active is None else float(active),
            "sm_occupancy": None if occupancy is None else float(occupancy),
        }

    def gpm_free(self, sample: object) -> None:
        assert isinstance(sample, _FakeGpmSample)
        self.live_gpm_samples.discard(sample.serial)

    def close(self) -> None:
        self.closed = True
