"""The one seam for NVML: devices, their load and processes, as plain data.

Library first: usable from a notebook, the trainer (sys/* scalars) and the dashboard.
Imports only the stdlib and `pynvml` (NVIDIA's `nvidia-ml-py`), never torch or textual.

    >>> from fbtui.gpu import GpuMonitor
    >>> with GpuMonitor() as mon:          # real NVML, $FBTUI_FAKE_GPU, or no GPU
    ...     print(mon.no_gpu or mon.poll_settled())
"""

from fbtui.gpu.attribution import attribute, attribute_samples, owner, pid_map, proc_parent
from fbtui.gpu.backend import FAKE_ENV, NO_NVML, Backend, open_backend
from fbtui.gpu.fake import FakeBackend, FakeDevice
from fbtui.gpu.history import METRICS, History
from fbtui.gpu.monitor import GpuMonitor
from fbtui.gpu.sample import GpuProcess, GpuSample, NoGpu
from fbtui.gpu.scalars import sys_scalars

__all__ = [
    "FAKE_ENV",
    "METRICS",
    "NO_NVML",
    "Backend",
    "FakeBackend",
    "FakeDevice",
    "GpuMonitor",
    "GpuProcess",
    "GpuSample",
    "History",
    "NoGpu",
    "attribute",
    "attribute_samples",
    "open_backend",
    "owner",
    "pid_map",
    "proc_parent",
    "sys_scalars",
]
