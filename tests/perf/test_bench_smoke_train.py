"""The benchmarks stay runnable: each one's --quick mode (tiny settings, seconds) ends
with its table. The figures themselves are for `make bench`, never asserted here."""

from __future__ import annotations


def test_bench_train_quick(bench_quick):
    out = bench_quick("bench_train.py")
    assert "| tiny CNN 64 px |" in out
    assert "compute-normalised" in out and "target within 3 %" in out


def test_bench_loader_quick(bench_quick):
    out = bench_quick("bench_loader.py")
    assert "| heavy:" in out and "target >= 5x" in out
