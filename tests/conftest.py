"""Shared test setup: no downloads, a synthetic-data cache shared by xdist workers,
and no stray FBTUI_RUNS from the developer's shell."""

import os

import pytest

# Under xdist each worker would start as many torch/OpenMP threads as there are cores:
# two workers on two cores then fight over them (spinning OpenMP threads), which made the
# training tests several times slower. Give each worker its share, before torch loads;
# subprocesses (detached runs, torchrun) inherit it.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
if _WORKERS > 1 and "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // _WORKERS))


@pytest.fixture(scope="session", autouse=True)
def _fbtui_env(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if base.name.startswith("popen-gw") else base
    cache = shared / "fbtui-cache"
    cache.mkdir(exist_ok=True)
    old = {k: os.environ.get(k) for k in ("FBTUI_CACHE", "FBTUI_NO_DOWNLOAD", "FBTUI_RUNS")}
    os.environ["FBTUI_CACHE"] = str(cache)
    os.environ["FBTUI_NO_DOWNLOAD"] = "1"
    os.environ.pop("FBTUI_RUNS", None)
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


TINY_TOML = """
[experiment]
name = "tiny"
seed = 0

[data]
root = "synthetic"
synth_n = {n}
synth_size = 32
image_size = 32

[model]
backbone = "tiny"
width = 8

[train]
epochs = {epochs}
batch_size = 16
optimizer = "adam"
lr = 0.003
device = "cpu"

[log]
every_steps = 2
flush_secs = 1
"""


@pytest.fixture
def tiny_toml(tmp_path):
    """Write a tiny, fast experiment file; returns a function (n, epochs, extra) -> path."""

    def make(n: int = 120, epochs: int = 2, extra: str = "", name: str = "tiny.toml"):
        p = tmp_path / name
        p.write_text(TINY_TOML.format(n=n, epochs=epochs) + extra)
        return p

    return make
