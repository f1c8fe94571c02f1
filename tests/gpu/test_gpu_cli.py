"""`fbtui gpu` through Typer's CliRunner: table, --json, --watch; fake GPUs and no GPU."""

from __future__ import annotations

import json

import pynvml
import pytest
from typer.testing import CliRunner

import fbtui.cli.gpu_cmd  # noqa: F401 - registers `gpu` on the app
from fbtui.cli.app import app
from fbtui.gpu import FAKE_ENV, NO_NVML

GIB = 1 << 30

FAKE = {
    "interval": 0.01,
    "devices": [
        {
            "name": "NVIDIA H100 80GB HBM3",
            "util_pct": [10, 55, 97],
            "gpm": True,
            "sm_active_pct": [5, 40, 81],
            "mem_used": 20 * GIB,
            "mem_total": 80 * GIB,
            "temp_c": 54,
            "power_w": [120, 350, 690],
            "power_limit_w": 700,
            "processes": [{"pid": 4242, "used_mem": 19 * GIB, "name": "python"}],
        },
        {"name": "NVIDIA A100-SXM4-40GB", "mig": True, "errors": {"power_w": "NotSupported"}},
    ],
}


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def fake_gpus(tmp_path, monkeypatch):
    path = tmp_path / "gpus.json"
    path.write_text(json.dumps(FAKE))
    monkeypatch.setenv(FAKE_ENV, str(path))
    monkeypatch.setattr("fbtui.gpu.monitor.GPM_WINDOW_S", 0.0)
    runs = tmp_path / "runs"
    (runs / "mobilenet-20250101-120000").mkdir(parents=True)
    (runs / "mobilenet-20250101-120000" / "status.json").write_text(
        json.dumps({"state": "running", "pid": 4242})
    )
    (runs / "broken").mkdir()
    (runs / "broken" / "status.json").write_text("{not json")
    return runs


@pytest.fixture
def no_nvml(monkeypatch):
    monkeypatch.delenv(FAKE_ENV, raising=False)
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError_LibraryNotFound:
        return
    pynvml.nvmlShutdown()  # pragma: no cover
    pytest.skip("NVML is present on this machine")  # pragma: no cover


def test_table_with_fake_gpus(runner, fake_gpus):
    result = runner.invoke(app, ["gpu", "--runs-dir", str(fake_gpus)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "H100 80GB HBM3" in out and "A100-SXM4-40GB" in out
    assert "kernel" in out and "busy %" in out and "kernel busy %" in out  # header + caption
    assert "55%" in out and "40%" in out  # settled GPM read: second poll
    assert "n/a (MIG)" in out and "20.0/80.0" in out and "350/700" in out and "-/700" in out
    assert "4242" in out and "19.0 GiB" in out and "mobilenet-20250101-120000" in out


def test_json_with_fake_gpus(runner, fake_gpus):
    result = runner.invoke(app, ["gpu", "--json", "--runs-dir", str(fake_gpus)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["no_gpu"] is None
    h100, a100 = data["gpus"]
    assert (h100["util_pct"], h100["sm_active_pct"], h100["gpm"]) == (55.0, 40.0, True)
    assert h100["processes"][0]["run"] == "mobilenet-20250101-120000"
    assert (a100["mig"], a100["util_pct"], a100["power_w"], a100["gpm"]) == (
        True,
        None,
        None,
        False,
    )


def test_watch_json_prints_one_line_per_refresh(runner, fake_gpus):
    result = runner.invoke(app, ["gpu", "--watch", "--json", "--count", "3", "-n", "0.1"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [d["gpus"][0]["util_pct"] for d in lines] == [10.0, 55.0, 97.0]


def test_watch_table_and_ctrl_c(runner, fake_gpus, monkeypatch):
    def interrupt(_seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr("fbtui.cli.gpu_cmd.time.sleep", interrupt)
    result = runner.invoke(app, ["gpu", "--watch"])
    assert result.exit_code == 0, result.output
    assert "H100 80GB HBM3" in result.output


def test_no_gpu_is_a_message_and_exit_0(runner, no_nvml):
    result = runner.invoke(app, ["gpu"])
    assert result.exit_code == 0
    assert result.output.strip() == "no NVIDIA GPU (NVML not found)"
    result = runner.invoke(app, ["gpu", "--watch"])
    assert result.exit_code == 0 and NO_NVML in result.output


def test_no_gpu_json(runner, no_nvml):
    result = runner.invoke(app, ["gpu", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output) == {"no_gpu": NO_NVML, "gpus": []}


def test_bad_interval_is_a_usage_error(runner, fake_gpus):
    result = runner.invoke(app, ["gpu", "--interval", "0"])
    assert result.exit_code == 2
