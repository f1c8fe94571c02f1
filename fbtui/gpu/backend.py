"""The one seam between fbtui and NVML: the `Backend` protocol and `open_backend()`.

A backend answers raw per-device queries and *raises* when NVML does (for instance
`pynvml.NVMLError_NotSupported`); turning failures into None is the sampler's job
(`fbtui.gpu.sampler`), so the real backend and the fake one share that logic.
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

import pynvml

from fbtui.gpu.sample import GpuProcess, NoGpu

#: Set to the path of a JSON file describing fake GPUs (see `fbtui.gpu.fake`) to make every
#: `open_backend()` — CLI, dashboard, subprocess and snapshot tests — use them instead of NVML.
FAKE_ENV = "FBTUI_FAKE_GPU"

NO_NVML = "no NVIDIA GPU (NVML not found)"


@runtime_checkable
class Backend(Protocol):
    """Raw NVML-shaped queries by device index. Any method may raise."""

    def device_count(self) -> int:
        """Number of devices; called exactly once at the start of every poll."""
        ...

    def name(self, i: int) -> str: ...

    def uuid(self, i: int) -> str: ...

    def is_mig(self, i: int) -> bool:
        """True when MIG mode is enabled on the device."""
        ...

    def utilization(self, i: int) -> float:
        """Kernel-busy percentage (`nvmlDeviceGetUtilizationRates().gpu`)."""
        ...

    def memory(self, i: int) -> tuple[int, int]:
        """(used, total) bytes."""
        ...

    def temperature(self, i: int) -> float:
        """Core temperature in °C."""
        ...

    def power(self, i: int) -> float:
        """Current draw in W."""
        ...

    def power_limit(self, i: int) -> float:
        """Enforced power limit in W."""
        ...

    def processes(self, i: int) -> list[GpuProcess]:
        """Compute and graphics processes (names not filled in)."""
        ...

    def process_name(self, pid: int) -> str: ...

    def gpm_supported(self, i: int) -> bool: ...

    def gpm_sample(self, i: int) -> object:
        """Take a GPM sample now; an opaque handle to pass to `gpm_metrics`/`gpm_free`."""
        ...

    def gpm_metrics(self, first: object, second: object) -> dict[str, float | None]:
        """{'sm_active': %, 'sm_occupancy': %} over the interval between two samples."""
        ...

    def gpm_free(self, sample: object) -> None: ...

    def close(self) -> None: ...


def no_gpu_reason(error: BaseException) -> str:
    """The user-facing reason for an `nvmlInit()` failure."""
    if isinstance(error, pynvml.NVMLError_LibraryNotFound):
        return NO_NVML
    if isinstance(error, pynvml.NVMLError_DriverNotLoaded):
        return "no NVIDIA GPU (driver not loaded)"
    if isinstance(error, pynvml.NVMLError_NoPermission):
        return "no NVIDIA GPU (no permission to use NVML)"
    return f"no NVIDIA GPU (NVML: {error})"


def open_backend() -> Backend | NoGpu:
    """The fake backend if $FBTUI_FAKE_GPU is set, else NVML, else `NoGpu` with the reason.

    Never raises for a missing driver or GPU: that is a state, not an error.
    """
    fake = os.environ.get(FAKE_ENV)
    if fake:
        from fbtui.gpu.fake import FakeBackend

        return FakeBackend.from_json(fake).opened()

    from fbtui.gpu.nvml_backend import NvmlBackend

    try:
        backend = NvmlBackend()
    except (pynvml.NVMLError, OSError) as e:
        return NoGpu(no_gpu_reason(e))
    try:
        count = backend.device_count()
    except pynvml.NVMLError as e:
        backend.close()
        return NoGpu(no_gpu_reason(e))
    if count == 0:
        backend.close()
        return NoGpu("no NVIDIA GPU (NVML found no devices)")
    return backend
