"""The real backend: NVIDIA's own bindings (`nvidia-ml-py`, imported as `pynvml`).

Every method maps to one or two NVML calls and lets `pynvml.NVMLError` escape; the sampler
turns failures of optional figures into None.
"""

from __future__ import annotations

import pynvml

from fbtui.gpu.sample import GpuProcess

# Versioned process queries, newest first: an older driver lacks the newer symbols.
_COMPUTE = ("nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2")
_GRAPHICS = (
    "nvmlDeviceGetGraphicsRunningProcesses_v3",
    "nvmlDeviceGetGraphicsRunningProcesses_v2",
)
_GPM_IDS = {
    "sm_active": pynvml.NVML_GPM_METRIC_SM_UTIL,
    "sm_occupancy": pynvml.NVML_GPM_METRIC_SM_OCCUPANCY,
}


def _text(value: str | bytes) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _first_available(names: tuple[str, ...], handle):
    error: Exception | None = None
    for fn_name in names:
        fn = getattr(pynvml, fn_name, None)
        if fn is None:
            continue
        try:
            return fn(handle)
        except (pynvml.NVMLError_FunctionNotFound, pynvml.NVMLLibraryMismatchError) as e:
            error = e
    raise error or pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)


class NvmlBackend:
    """NVML over `pynvml`. Construction calls `nvmlInit()` and raises if it fails."""

    def __init__(self) -> None:
        pynvml.nvmlInit()
        self._handles: dict[int, object] = {}
        self._closed = False

    def _h(self, i: int):
        if i not in self._handles:
            self._handles[i] = pynvml.nvmlDeviceGetHandleByIndex(i)
        return self._handles[i]

    def device_count(self) -> int:
        return int(pynvml.nvmlDeviceGetCount())

    def name(self, i: int) -> str:
        return _text(pynvml.nvmlDeviceGetName(self._h(i)))

    def uuid(self, i: int) -> str:
        return _text(pynvml.nvmlDeviceGetUUID(self._h(i)))

    def is_mig(self, i: int) -> bool:
        current, _pending = pynvml.nvmlDeviceGetMigMode(self._h(i))
        return current == pynvml.NVML_DEVICE_MIG_ENABLE

    def utilization(self, i: int) -> float:
        return float(pynvml.nvmlDeviceGetUtilizationRates(self._h(i)).gpu)

    def memory(self, i: int) -> tuple[int, int]:
        h = self._h(i)
        v2 = getattr(pynvml, "nvmlMemory_v2", None)
        try:  # v2's `used` leaves out driver-reserved memory, as nvidia-smi shows it
            info = pynvml.nvmlDeviceGetMemoryInfo(h, version=v2) if v2 else None
        except pynvml.NVMLError_FunctionNotFound:
            info = None
        if info is None:
            info = pynvml.nvmlDeviceGetMemoryInfo(h)
        return int(info.used), int(info.total)

    def temperature(self, i: int) -> float:
        h = self._h(i)
        versioned = getattr(pynvml, "nvmlDeviceGetTemperatureV", None)
        if versioned is not None:
            try:  # the unversioned call is deprecated and goes away with CUDA 14
                return float(versioned(h, pynvml.NVML_TEMPERATURE_GPU))
            except pynvml.NVMLError_FunctionNotFound:
                pass  # a driver older than the bindings
        return float(pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU))

    def power(self, i: int) -> float:
        return pynvml.nvmlDeviceGetPowerUsage(self._h(i)) / 1000.0  # mW -> W

    def power_limit(self, i: int) -> float:
        h = self._h(i)
        try:
            return pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0
        except pynvml.NVMLError:
            return pynvml.nvmlDeviceGetPowerManagementLimit(h) / 1000.0

    def processes(self, i: int) -> list[GpuProcess]:
        h = self._h(i)
        found: dict[int, GpuProcess] = {}
        for kind, names in (("compute", _COMPUTE), ("graphics", _GRAPHICS)):
            try:
                procs = _first_available(names, h)
            except pynvml.NVMLError_NotSupported:
                continue  # e.g. graphics processes on a compute-only board
            for p in procs:
                pid = int(p.pid)
                mem = p.usedGpuMemory
                mem = None if mem is None else int(mem)
                if pid in found:  # a process with both contexts is listed in both lists
                    old = found[pid]
                    mems = [m for m in (old.used_mem, mem) if m is not None]
                    found[pid] = GpuProcess(pid, max(mems, default=None), kind="compute+graphics")
                else:
                    found[pid] = GpuProcess(pid, mem, kind=kind)
        return list(found.values())

    def process_name(self, pid: int) -> str:
        return _text(pynvml.nvmlSystemGetProcessName(pid))

    def gpm_supported(self, i: int) -> bool:
        return bool(pynvml.nvmlGpmQueryDeviceSupport(self._h(i)).isSupportedDevice)

    def gpm_sample(self, i: int) -> object:
        sample = pynvml.nvmlGpmSampleAlloc()
        try:
            pynvml.nvmlGpmSampleGet(self._h(i), sample)
        except BaseException:
            pynvml.nvmlGpmSampleFree(sample)
            raise
        return sample

    def gpm_metrics(self, first: object, second: object) -> dict[str, float | None]:
        req = pynvml.c_nvmlGpmMetricsGet_t()
        req.version = pynvml.NVML_GPM_METRICS_GET_VERSION
        req.numMetrics = len(_GPM_IDS)
        req.sample1 = first
        req.sample2 = second
        for k, metric_id in enumerate(_GPM_IDS.values()):
            req.metrics[k].metricId = metric_id
        pynvml.nvmlGpmMetricsGet(req)
        out: dict[str, float | None] = {}
        for k, key in enumerate(_GPM_IDS):
            m = req.metrics[k]
            # each metric carries its own return code
            out[key] = float(m.value) if m.nvmlReturn == pynvml.NVML_SUCCESS else None
        return out

    def gpm_free(self, sample: object) -> None:
        pynvml.nvmlGpmSampleFree(sample)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._handles.clear()
            try:
                pynvml.nvmlShutdown()
            except pynvml.NVMLError:
                pass
