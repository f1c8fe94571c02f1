"""fbtui.gpu through its one seam, with the fake backend (and the real no-NVML path)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pynvml
import pytest

from fbtui.gpu import (
    FAKE_ENV,
    NO_NVML,
    FakeBackend,
    FakeDevice,
    GpuMonitor,
    GpuProcess,
    GpuSample,
    NoGpu,
    attribute,
    open_backend,
    owner,
    pid_map,
    proc_parent,
    sys_scalars,
)
from fbtui.gpu.format import sparkline
from fbtui.gpu.sample import GIB


def hopper(**kw) -> FakeDevice:
    spec = dict(
        name="NVIDIA H100 80GB HBM3",
        uuid="GPU-h100",
        util_pct=[10, 55, 97],
        gpm=True,
        sm_active_pct=[5, 40, 81],
        sm_occupancy_pct=[2, 20, 33],
        mem_used=20 * GIB,
        mem_total=80 * GIB,
        temp_c=54,
        power_w=[120, 350, 690],
        power_limit_w=700,
        processes=[GpuProcess(4242, 19 * GIB, "python")],
    )
    spec.update(kw)
    return FakeDevice(**spec)


def test_samples_follow_the_series():
    mon = GpuMonitor(FakeBackend([hopper()]), parent_of=None)
    got = [mon.poll()[0] for _ in range(4)]
    assert [s.util_pct for s in got] == [10, 55, 97, 10]  # series cycle per poll
    assert [s.power_w for s in got] == [120, 350, 690, 120]
    s = got[1]
    assert (s.index, s.name, s.uuid) == (0, "NVIDIA H100 80GB HBM3", "GPU-h100")
    assert (s.mem_used, s.mem_total, s.mem_used_gb) == (20 * GIB, 80 * GIB, 20.0)
    assert (s.temp_c, s.power_limit_w, s.mig) == (54, 700, False)
    assert s.processes == (GpuProcess(4242, 19 * GIB, "python", "compute", None),)


def test_gpm_is_measured_between_consecutive_polls_and_samples_are_freed():
    fake = FakeBackend([hopper()])
    mon = GpuMonitor(fake)
    first = mon.poll()[0]
    assert first.gpm and first.sm_active_pct is None  # no interval yet
    second, third = mon.poll()[0], mon.poll()[0]
    assert (second.sm_active_pct, second.sm_occupancy_pct) == (40, 20)
    assert (third.sm_active_pct, third.sm_occupancy_pct) == (81, 33)
    assert len(fake.live_gpm_samples) == 1  # only the latest sample is kept
    mon.close()
    assert fake.live_gpm_samples == set() and fake.closed


def test_poll_settled_gives_gpm_in_one_call(monkeypatch):
    monkeypatch.setattr("fbtui.gpu.monitor.GPM_WINDOW_S", 0.0)
    fake = FakeBackend([hopper(), FakeDevice(name="T4")])
    s = GpuMonitor(fake).poll_settled()
    assert s[0].sm_active_pct == 40 and fake.polls == 2
    assert s[1].gpm is False and s[1].sm_active_pct is None


def test_no_gpm_means_none_not_zero():
    s = GpuMonitor(FakeBackend([FakeDevice(sm_active_pct=99)])).poll()[0]
    assert (s.gpm, s.sm_active_pct, s.sm_occupancy_pct) == (False, None, None)


def test_mig_utilisation_is_none_not_zero():
    s = GpuMonitor(FakeBackend([hopper(mig=True, util_pct=0)])).poll()[0]
    assert s.mig is True and s.util_pct is None
    assert "sys/gpu0/util" not in sys_scalars(s)


@pytest.mark.parametrize("error", ["NotSupported", "NoPermission", "GpuIsLost", "Unknown"])
def test_failing_optional_queries_give_none(error):
    keys = ["util_pct", "mem_used", "temp_c", "power_w", "power_limit_w", "processes", "gpm"]
    dev = hopper(errors={k: error for k in keys})
    s = GpuMonitor(FakeBackend([dev])).poll()[0]
    assert s.name == "NVIDIA H100 80GB HBM3"
    for field in ("util_pct", "mem_used", "mem_total", "temp_c", "power_w", "power_limit_w"):
        assert getattr(s, field) is None, field
    assert s.processes == () and s.gpm is False


def test_even_name_and_gpm_metrics_failures_do_not_crash():
    dev = hopper(errors={"name": "GpuIsLost", "uuid": "Unknown", "gpm_metrics": "NotSupported"})
    mon = GpuMonitor(FakeBackend([dev]))
    mon.poll()
    s = mon.poll()[0]
    assert (s.name, s.uuid, s.sm_active_pct, s.util_pct) == ("GPU 0", "", None, 55)


def test_process_name_missing_is_none():
    dev = hopper(processes=[GpuProcess(7, 1 << 20)])  # no name known
    s = GpuMonitor(FakeBackend([dev]), parent_of=None).poll()[0]
    assert s.processes[0].name is None and s.processes[0].used_mem == 1 << 20


def test_process_series_and_attribution_through_the_monitor():
    procs = [[{"pid": 10, "used_mem": 5}], [{"pid": 10, "used_mem": 6}, {"pid": 11}]]
    mon = GpuMonitor(FakeBackend([hopper(processes=procs)]), parent_of=None)
    assert [p.run for p in mon.poll({10: "run-a"})[0].processes] == ["run-a"]
    assert [(p.pid, p.run) for p in mon.poll({10: "run-a"})[0].processes] == [
        (10, "run-a"),
        (11, None),
    ]


def test_attribute_exact_and_through_parents():
    procs = [GpuProcess(100), GpuProcess(201), GpuProcess(300)]
    parents = {201: 200, 200: 50, 300: 1}
    runs = {100: "mobilenet-20250101-120000", 50: "ddp-run"}  # 50: torchrun launcher
    got = attribute(procs, runs, parent_of=parents.get)
    assert [p.run for p in got] == ["mobilenet-20250101-120000", "ddp-run", None]
    assert [p.run for p in attribute(procs, runs, parent_of=None)] == [
        "mobilenet-20250101-120000",
        None,
        None,
    ]
    assert attribute(procs, {}) == [GpuProcess(100), GpuProcess(201), GpuProcess(300)]


def test_owner_survives_parent_cycles():
    assert owner(1, {}, parent_of={1: 2, 2: 1}.get) is None


def test_proc_parent_reads_this_process():
    import os

    assert proc_parent(os.getpid()) == os.getppid() or os.getppid() == 1
    assert proc_parent(2**22 + 12345) is None  # no such pid


def test_pid_map_reads_pid_and_pids():
    runs = [
        ("a", {"pid": 10}),
        ("ddp", {"pid": 20, "pids": [21, 22]}),
        ("broken", {"pid": "x", "pids": None}),
        ("old", {}),
        ("done", {"state": "finished", "pid": 30}),
        ("live", {"state": "running", "pid": 31}),
    ]
    assert pid_map(runs) == {10: "a", 20: "ddp", 21: "ddp", 22: "ddp", 31: "live"}
    assert pid_map(runs, live_only=False)[30] == "done"


def test_sys_scalars_tags():
    mon = GpuMonitor(FakeBackend([hopper(), FakeDevice(name="T4", mem_used=GIB // 2)]))
    mon.poll()
    tags = sys_scalars(mon.poll())
    assert tags == {
        "sys/gpu0/util": 55.0,
        "sys/gpu0/mem_used_gb": 20.0,
        "sys/gpu0/temp_c": 54.0,
        "sys/gpu0/power_w": 350.0,
        "sys/gpu0/sm_active": 40.0,
        "sys/gpu1/util": 0.0,
        "sys/gpu1/mem_used_gb": 0.5,
        "sys/gpu1/temp_c": 40.0,
        "sys/gpu1/power_w": 100.0,
    }
    assert sys_scalars(mon.latest[1]) == {k: v for k, v in tags.items() if "gpu1" in k}


def test_history_is_bounded_and_keeps_unknowns_as_nan():
    mon = GpuMonitor(FakeBackend([hopper()]), history=5)
    for _ in range(8):
        mon.poll()
    util = mon.history.series(0, "util_pct")
    assert util == [10, 55, 97, 10, 55]
    active = mon.history.series(0, "sm_active_pct")
    assert len(active) == 5 and all(math.isfinite(v) for v in active)
    mon2 = GpuMonitor(FakeBackend([hopper()]), history=5)
    mon2.poll()
    assert math.isnan(mon2.history.series(0, "sm_active_pct")[0])
    with pytest.raises(KeyError):
        mon.history.series(0, "load")


def test_default_history_is_120():
    mon = GpuMonitor(FakeBackend([FakeDevice()]))
    for _ in range(130):
        mon.poll()
    assert len(mon.history.series(0, "util_pct")) == 120


def test_device_count_failure_is_reported_not_raised():
    class Lost(FakeBackend):
        def device_count(self):
            raise pynvml.NVMLError_GpuIsLost()

    mon = GpuMonitor(Lost([FakeDevice()]))
    assert mon.poll() == [] and "GPU is lost" in mon.last_error


def test_sample_dict_round_trip():
    s = GpuMonitor(FakeBackend([hopper()]), parent_of=None).poll({4242: "r"})[0]
    d = json.loads(json.dumps(s.to_dict()))
    assert d["processes"][0] == {
        "pid": 4242,
        "used_mem": 19 * GIB,
        "name": "python",
        "kind": "compute",
        "run": "r",
    }
    assert GpuSample.from_dict(d) == s


def test_sparkline():
    assert sparkline([0, 50, 100], 5, 0, 100) == "  ▁▅█"
    assert sparkline([math.nan, 100], 2, 0, 100) == " █"
    assert sparkline([0, 2, 4, 8], 4) == "▁▃▅█"  # scaled to the largest shown
    assert sparkline([], 3) == "   " and sparkline([1], 0) == ""


# -- the real path, and the env var -----------------------------------------------------


def test_real_backend_on_this_machine_is_a_clean_no_gpu(monkeypatch):
    monkeypatch.delenv(FAKE_ENV, raising=False)
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError_LibraryNotFound:
        pass
    else:  # pragma: no cover - a machine with a driver
        pynvml.nvmlShutdown()
        pytest.skip("NVML is present here")
    backend = open_backend()
    assert backend == NoGpu(NO_NVML) and str(backend) == "no NVIDIA GPU (NVML not found)"
    mon = GpuMonitor()
    assert mon.no_gpu == NO_NVML and mon.poll() == [] and mon.poll_settled() == []
    mon.close()


def test_fake_env_selects_the_fake_backend(tmp_path, monkeypatch):
    spec = {"interval": 0.1, "devices": [{"name": "Fake H100", "util_pct": [1, 2], "gpm": True}]}
    path = tmp_path / "gpus.json"
    path.write_text(json.dumps(spec))
    monkeypatch.setenv(FAKE_ENV, str(path))
    backend = open_backend()
    assert isinstance(backend, FakeBackend) and backend.interval == 0.1
    assert GpuMonitor().poll()[0].name == "Fake H100"

    path.write_text(json.dumps({"no_gpu": "no NVIDIA GPU (driver not loaded)"}))
    assert open_backend() == NoGpu("no NVIDIA GPU (driver not loaded)")
    path.write_text(json.dumps({"devices": []}))
    assert "no devices" in open_backend().reason


def test_fake_json_rejects_unknown_keys_and_errors():
    with pytest.raises(ValueError, match="utilisation"):
        FakeBackend.from_dict({"devices": [{"utilisation": 3}]})
    dev = FakeDevice(errors={"temp_c": "NoSuchError"})
    with pytest.raises(ValueError, match="NoSuchError"):
        FakeBackend([dev]).temperature(0)


def test_gpu_package_never_imports_torch_or_textual():
    code = (
        "import sys, fbtui.gpu, fbtui.gpu.nvml_backend, fbtui.gpu.format;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'textual')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
