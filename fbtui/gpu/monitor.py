"""`GpuMonitor`: polls a backend into `GpuSample`s and keeps a short history.

Blocking (NVML calls take milliseconds, a GPU in trouble can take longer): call `poll`
from a worker thread, never from a UI's main thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from fbtui.gpu.attribution import attribute_samples, proc_parent
from fbtui.gpu.backend import Backend, open_backend
from fbtui.gpu.history import History
from fbtui.gpu.sample import GpuProcess, GpuSample, NoGpu

T = TypeVar("T")

#: NVML wants GPM samples some time apart; a one-shot read waits this long between two.
GPM_WINDOW_S = 0.25


def _opt(fn: Callable[..., T], *args) -> T | None:
    """The call's result, or None when it fails.

    Deliberately broad: every figure except the device count is optional, and a monitor
    must never take the dashboard down (NotSupported, NoPermission, GpuIsLost, a driver
    older than the bindings, ...).
    """
    try:
        return fn(*args)
    except Exception:
        return None


class GpuMonitor:
    """Samples every device of a backend; `NoGpu` (or no backend at all) yields no samples.

    `backend=None` opens the real one (or the fake one named by $FBTUI_FAKE_GPU).
    """

    def __init__(
        self,
        backend: Backend | NoGpu | None = None,
        *,
        history: int = 120,
        parent_of: Callable[[int], int | None] | None = proc_parent,
    ) -> None:
        if backend is None:
            backend = open_backend()
        self.backend: Backend | None = None if isinstance(backend, NoGpu) else backend
        self.no_gpu: str | None = backend.reason if isinstance(backend, NoGpu) else None
        self.history = History(history)
        self.parent_of = parent_of  # see fbtui.gpu.attribution; None: exact pids only
        self.latest: list[GpuSample] = []
        self.polls = 0
        self.last_error: str | None = None  # why the last poll found no devices
        self._gpm_ok: dict[int, bool] = {}
        self._gpm_prev: dict[int, object] = {}
        self._names: dict[int, str | None] = {}

    def __enter__(self) -> GpuMonitor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def poll(self, pid_to_run: Mapping[int, str] | None = None) -> list[GpuSample]:
        """Read every device once, attribute processes to runs, append to the history."""
        if self.backend is None:
            return []
        self.polls += 1
        try:
            count = self.backend.device_count()
            self.last_error = None
        except Exception as e:  # the driver went away: report, keep running
            self.last_error = f"NVML: {e}"
            count = 0
        now = time.time()
        samples = [self._sample(i, now) for i in range(count)]
        self._forget_names(samples)
        if pid_to_run:
            samples = attribute_samples(samples, pid_to_run, parent_of=self.parent_of)
        self.history.add(samples)
        self.latest = samples
        return samples

    def poll_settled(self, pid_to_run: Mapping[int, str] | None = None) -> list[GpuSample]:
        """A one-shot read: poll, and where a device has GPM poll again after a short wait
        so SM activity has an interval to be measured over."""
        samples = self.poll(pid_to_run)
        if any(s.gpm and s.sm_active_pct is None for s in samples):
            time.sleep(GPM_WINDOW_S)
            samples = self.poll(pid_to_run)
        return samples

    def close(self) -> None:
        """Free GPM samples and shut the backend down."""
        if self.backend is None:
            return
        for sample in self._gpm_prev.values():
            _opt(self.backend.gpm_free, sample)
        self._gpm_prev.clear()
        _opt(self.backend.close)
        self.backend = None

    # -- one device ----------------------------------------------------------------------

    def _sample(self, i: int, now: float) -> GpuSample:
        b = self.backend
        assert b is not None
        mig = bool(_opt(b.is_mig, i))
        mem = _opt(b.memory, i)
        active, occupancy, gpm = self._gpm(i)
        return GpuSample(
            index=i,
            name=_opt(b.name, i) or f"GPU {i}",
            uuid=_opt(b.uuid, i) or "",
            # NVML cannot give utilisation on a MIG-enabled device: unknown, not 0
            util_pct=None if mig else _opt(b.utilization, i),
            sm_active_pct=active,
            sm_occupancy_pct=occupancy,
            mem_used=mem[0] if mem else None,
            mem_total=mem[1] if mem else None,
            temp_c=_opt(b.temperature, i),
            power_w=_opt(b.power, i),
            power_limit_w=_opt(b.power_limit, i),
            processes=tuple(self._processes(i)),
            mig=mig,
            gpm=gpm,
            time=now,
        )

    def _processes(self, i: int) -> list[GpuProcess]:
        b = self.backend
        assert b is not None
        out = []
        for p in _opt(b.processes, i) or []:
            if p.pid not in self._names:
                self._names[p.pid] = _opt(b.process_name, p.pid)
            out.append(GpuProcess(p.pid, p.used_mem, self._names[p.pid], p.kind))
        return out

    def _forget_names(self, samples: list[GpuSample]) -> None:
        # a pid gone from every GPU may be reused by another program later
        live = {p.pid for s in samples for p in s.processes}
        for pid in list(self._names):
            if pid not in live:
                del self._names[pid]

    def _gpm(self, i: int) -> tuple[float | None, float | None, bool]:
        """(SM active %, SM occupancy %, supported) over the interval since the last poll."""
        b = self.backend
        assert b is not None
        if i not in self._gpm_ok:
            self._gpm_ok[i] = bool(_opt(b.gpm_supported, i))
        if not self._gpm_ok[i]:
            return None, None, False
        current = _opt(b.gpm_sample, i)
        previous = self._gpm_prev.pop(i, None)
        metrics = None
        if previous is not None:
            if current is not None:
                metrics = _opt(b.gpm_metrics, previous, current)
            _opt(b.gpm_free, previous)
        if current is not None:
            self._gpm_prev[i] = current
        metrics = metrics or {}
        return metrics.get("sm_active"), metrics.get("sm_occupancy"), True
