"""benchmarks/gpu.py and bench_logging.py in --quick mode: gpu.py is meant for a GPU
machine, and this is the only run it gets where there is none (it must say so, then
measure tiny settings on the CPU)."""

from __future__ import annotations


def test_gpu_quick_without_a_gpu(bench_quick):
    import torch

    out = bench_quick("gpu.py")
    if not torch.cuda.is_available():
        assert out.startswith("no GPU: ")
    assert "| mobilenet_v2 | fp32 |" in out and "| resnet50 |" in out
    assert "| cached loader -> " in out and "waiting for data" in out


def test_bench_logging_quick(bench_quick):
    out = bench_quick("bench_logging.py")
    assert "logging share at every_steps=10" in out
