from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench_quick(tmp_path):
    """Run benchmarks/<name> --quick in a subprocess (its scratch files under tmp_path);
    returns stdout, after checking the exit status."""

    def run(name: str) -> str:
        res = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / name), "--quick"],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
            env={**os.environ, "TMPDIR": str(tmp_path)},
        )
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
        return res.stdout

    return run
