"""NvmlBackend against a stubbed `pynvml` (no driver here): the calls, units and GPM struct."""

from __future__ import annotations

from types import SimpleNamespace

import pynvml
import pytest

from fbtui.gpu import GpuMonitor
from fbtui.gpu.nvml_backend import NvmlBackend


@pytest.fixture
def nvml(monkeypatch):
    """Stub the pynvml calls NvmlBackend makes, for one Hopper-like device in handle 'h0'."""
    calls = {"freed": [], "shutdown": 0}

    def setp(name, fn):
        monkeypatch.setattr(pynvml, name, fn)

    setp("nvmlInit", lambda: None)
    setp("nvmlShutdown", lambda: calls.__setitem__("shutdown", calls["shutdown"] + 1))
    setp("nvmlDeviceGetCount", lambda: 1)
    setp("nvmlDeviceGetHandleByIndex", lambda i: f"h{i}")
    setp("nvmlDeviceGetName", lambda h: b"NVIDIA H100 80GB HBM3")
    setp("nvmlDeviceGetUUID", lambda h: "GPU-1234")
    setp("nvmlDeviceGetMigMode", lambda h: [0, 0])
    setp("nvmlDeviceGetUtilizationRates", lambda h: SimpleNamespace(gpu=87, memory=30))

    def memory_info(h, version=None):
        if version == pynvml.nvmlMemory_v2:
            raise pynvml.NVMLError_FunctionNotFound()  # an older driver: fall back to v1
        return SimpleNamespace(used=5, total=9)

    setp("nvmlDeviceGetMemoryInfo", memory_info)

    def temp_v(h, sensor):
        raise pynvml.NVMLError_FunctionNotFound()  # an older driver: fall back

    setp("nvmlDeviceGetTemperatureV", temp_v)
    setp("nvmlDeviceGetTemperature", lambda h, sensor: 61)
    setp("nvmlDeviceGetPowerUsage", lambda h: 350_500)  # mW
    setp("nvmlDeviceGetEnforcedPowerLimit", lambda h: 700_000)

    def compute_v3(h):
        return [
            SimpleNamespace(pid=10, usedGpuMemory=1000),
            SimpleNamespace(pid=11, usedGpuMemory=None),
        ]

    def graphics_v3(h):
        raise pynvml.NVMLError_FunctionNotFound()

    setp("nvmlDeviceGetComputeRunningProcesses_v3", compute_v3)
    setp("nvmlDeviceGetGraphicsRunningProcesses_v3", graphics_v3)
    setp(
        "nvmlDeviceGetGraphicsRunningProcesses_v2",
        lambda h: [SimpleNamespace(pid=10, usedGpuMemory=1000)],
    )

    def name_of(pid):
        if pid == 11:
            raise pynvml.NVMLError_NoPermission()
        return b"python"

    setp("nvmlSystemGetProcessName", name_of)
    setp("nvmlGpmQueryDeviceSupport", lambda h: SimpleNamespace(isSupportedDevice=1))
    setp("nvmlGpmSampleAlloc", lambda: pynvml.c_nvmlGpmSample_t())
    setp("nvmlGpmSampleGet", lambda h, s: s)
    setp("nvmlGpmSampleFree", lambda s: calls["freed"].append(s))

    def metrics_get(req):
        assert req.version == pynvml.NVML_GPM_METRICS_GET_VERSION and req.numMetrics == 2
        for k in range(req.numMetrics):
            m = req.metrics[k]
            if m.metricId == pynvml.NVML_GPM_METRIC_SM_UTIL:
                m.value, m.nvmlReturn = 42.5, pynvml.NVML_SUCCESS
            elif m.metricId == pynvml.NVML_GPM_METRIC_SM_OCCUPANCY:
                m.nvmlReturn = pynvml.NVML_ERROR_NOT_SUPPORTED  # per-metric failure
        return req

    setp("nvmlGpmMetricsGet", metrics_get)
    return calls


def test_nvml_backend_reads_and_converts(nvml):
    b = NvmlBackend()
    assert (b.device_count(), b.name(0), b.uuid(0), b.is_mig(0)) == (
        1,
        "NVIDIA H100 80GB HBM3",
        "GPU-1234",
        False,
    )
    assert (b.utilization(0), b.memory(0), b.temperature(0)) == (87.0, (5, 9), 61.0)
    assert (b.power(0), b.power_limit(0)) == (350.5, 700.0)
    procs = {p.pid: p for p in b.processes(0)}
    assert procs[10].kind == "compute+graphics" and procs[10].used_mem == 1000
    assert procs[11].used_mem is None and procs[11].kind == "compute"
    b.close()
    b.close()
    assert nvml["shutdown"] == 1


def test_monitor_over_stubbed_nvml_gpm_and_errors(nvml):
    mon = GpuMonitor(NvmlBackend(), parent_of=None)
    first = mon.poll()[0]
    assert first.gpm and first.sm_active_pct is None
    s = mon.poll({10: "run-a"})[0]
    assert (s.util_pct, s.sm_active_pct, s.sm_occupancy_pct) == (87.0, 42.5, None)
    names = {p.pid: (p.name, p.run) for p in s.processes}
    assert names == {10: ("python", "run-a"), 11: (None, None)}
    assert len(nvml["freed"]) == 1  # the first sample, once the second replaced it
    mon.close()
    assert len(nvml["freed"]) == 2 and nvml["shutdown"] == 1


def test_mig_enabled_device(nvml, monkeypatch):
    monkeypatch.setattr(
        pynvml, "nvmlDeviceGetMigMode", lambda h: [pynvml.NVML_DEVICE_MIG_ENABLE, 1]
    )
    s = GpuMonitor(NvmlBackend()).poll()[0]
    assert s.mig and s.util_pct is None


def test_memory_prefers_v2_used(nvml, monkeypatch):
    def memory_info(h, version=None):
        assert version == pynvml.nvmlMemory_v2
        return SimpleNamespace(used=3, total=9, reserved=2)

    monkeypatch.setattr(pynvml, "nvmlDeviceGetMemoryInfo", memory_info)
    assert NvmlBackend().memory(0) == (3, 9)
