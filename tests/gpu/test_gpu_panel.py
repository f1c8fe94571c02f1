"""GpuPanel in a tiny host app (Pilot): fake GPUs, attribution, no GPU, off-main-thread."""

from __future__ import annotations

import asyncio
import functools
import threading
import time

import pytest
from textual.app import App, ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from fbtui.gpu import FAKE_ENV, NO_NVML, FakeBackend, FakeDevice, GpuMonitor, GpuProcess, NoGpu
from fbtui.gpu.history import History
from fbtui.tui.widgets.gpu_panel import GpuPanel, gpu_lines

GIB = 1 << 30
RUN = "mobilenet-20250101-120000"


def fake(**kw) -> FakeBackend:
    h100 = FakeDevice(
        name="NVIDIA H100 80GB HBM3",
        util_pct=[10, 55, 97],
        gpm=True,
        sm_active_pct=[5, 40, 81],
        mem_used=20 * GIB,
        mem_total=80 * GIB,
        temp_c=54,
        power_w=[120, 350, 690],
        power_limit_w=700,
        processes=[GpuProcess(4242, 19 * GIB, "python"), GpuProcess(77, 1 << 20)],
    )
    a100 = FakeDevice(name="NVIDIA A100-SXM4-40GB", mig=True, mem_total=40 * GIB)
    return FakeBackend([h100, a100], **kw)


class Host(App):
    """A runs column and a narrow GPU column, as on the dashboard at 80x24."""

    CSS = "#runs { width: 1fr; } #gpu { width: 36; }"

    def __init__(self, panel: GpuPanel) -> None:
        super().__init__()
        self.panel = panel
        self.seen: list[GpuPanel.Sampled] = []

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static("runs", id="runs")
            with VerticalScroll(id="gpu"):
                yield self.panel

    def on_gpu_panel_sampled(self, message: GpuPanel.Sampled) -> None:
        self.seen.append(message)


def sync(test):
    """Run an async Pilot test with asyncio.run (no async pytest plugin is installed)."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        asyncio.run(test(*args, **kwargs))

    return wrapper


async def wait_for(pilot, condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the GPU panel"
        await pilot.pause(0.02)


def text(panel: GpuPanel) -> str:
    return panel.render().plain


def _flat(s: str) -> str:
    """The words, whether the panel kept "(reason)" on the head's line or wrapped it."""
    return " ".join(s.replace("(", " ").replace(")", " ").split())


@sync
async def test_panel_polls_the_fake_backend_and_attributes_runs():
    panel = GpuPanel(fake(), pid_to_run=lambda: {4242: RUN}, interval=0.01, max_polls=3)
    app = Host(panel)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: panel.polls == 3)
        await pilot.pause(0.05)
        assert panel.polls == 3  # max_polls stops the loop
        out = text(panel)
        assert "GPU0 H100 80GB HBM3" in out and "GPU1 A100-SXM4-40GB MIG" in out
        assert "kernel busy" in out and "97%" in out  # utilisation, labelled as what it is
        assert "SM active" in out and "81%" in out  # GPM over the last interval
        assert "n/a (MIG)" in out and "20.0/80.0G" in out and "690/700W" in out
        # the run's name without its timestamp when the panel is too narrow for it whole
        assert "4242" in out and "19.0G" in out and "mobilenet" in out and "(?)" in out
        assert panel.history.series(0, "util_pct") == [10, 55, 97]
        assert len(app.seen) == 3 and app.seen[-1].control is panel  # bubbles to the app
        assert panel.region.width <= 36
        lines = out.splitlines()
        assert all(len(line) <= panel.content_size.width for line in lines)
        assert panel.size.height == len(lines)  # height: auto follows the content


@sync
async def test_nvml_is_polled_off_the_main_thread():
    threads: set[int] = set()

    class Recording(FakeBackend):
        def device_count(self):
            threads.add(threading.get_ident())
            return super().device_count()

    backend = Recording([FakeDevice()], max_polls=2, interval=0.01)
    panel = GpuPanel(backend)
    async with Host(panel).run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: panel.polls == 2)
    assert threads and threading.get_ident() not in threads
    assert backend.closed  # the poll thread closes what it opened


@sync
async def test_panel_stops_promptly_on_exit():
    panel = GpuPanel(fake(), interval=30)
    start = time.monotonic()
    async with Host(panel).run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: panel.polls == 1)
    assert time.monotonic() - start < 10  # the 30 s wait was cut short by the cancel


@sync
async def test_no_gpu_panel():
    panel = GpuPanel(NoGpu(NO_NVML))
    async with Host(panel).run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        # "no NVIDIA GPU (NVML not found)", its reason on a line of its own when narrow
        assert _flat(text(panel)).startswith("no NVIDIA GPU NVML not found")
        assert not panel.app.workers  # nothing to poll


@sync
async def test_real_path_on_this_machine_shows_no_gpu(monkeypatch):
    monkeypatch.delenv(FAKE_ENV, raising=False)
    if GpuMonitor().no_gpu != NO_NVML:  # pragma: no cover
        pytest.skip("this machine has NVML")
    panel = GpuPanel()  # opens the real backend in the poll thread
    app = Host(panel)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: panel.no_gpu is not None)
        assert _flat(text(panel)).startswith("no NVIDIA GPU NVML not found")
        assert app.seen[0].no_gpu == NO_NVML


@sync
async def test_fake_gpu_env_reaches_the_panel(tmp_path, monkeypatch):
    spec = tmp_path / "gpus.json"
    spec.write_text('{"max_polls": 2, "interval": 0.01, "devices": [{"name": "Fake H100"}]}')
    monkeypatch.setenv(FAKE_ENV, str(spec))
    panel = GpuPanel()
    async with Host(panel).run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: panel.polls == 2)
        assert "GPU0 Fake H100" in text(panel)


@sync
async def test_update_samples_without_polling_and_a_failing_pid_map():
    def broken():
        raise OSError("status.json mid-write")

    panel = GpuPanel(poll=False, pid_to_run=broken)
    async with Host(panel).run_test(size=(80, 24)) as pilot:
        assert "sampling" in text(panel)
        mon = GpuMonitor(fake())
        for _ in range(2):
            panel.update_samples(mon.poll())
        await pilot.pause()
        assert "55%" in text(panel) and panel.polls == 2
        assert not panel.app.workers
        assert panel._runs() == {}


@pytest.mark.parametrize("width", [1, 10, 24, 29, 30, 36, 60, 120])
def test_lines_never_exceed_the_width(width):
    mon = GpuMonitor(fake(), parent_of=None)
    samples = [mon.poll({4242: RUN}) for _ in range(3)][-1]
    history = History()
    history.add(samples)
    for lines in (
        gpu_lines(samples, history, width),
        gpu_lines([], history, width, no_gpu=NO_NVML),
        gpu_lines(samples, history, width, error="NVML: GPU is lost"),
    ):
        assert lines and all(line.cell_len <= width for line in lines)
    labels = " ".join(line.plain for line in gpu_lines(samples, history, width))
    if width >= 30:
        assert "kernel busy" in labels
