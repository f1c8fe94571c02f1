"""The `sys/gpu<i>/*` scalars the trainer logs next to its metrics (DESIGN §3)."""

from __future__ import annotations

from collections.abc import Iterable

from fbtui.gpu.sample import GpuSample


def sys_scalars(samples: GpuSample | Iterable[GpuSample]) -> dict[str, float]:
    """{tag: value} for one sample or several; figures NVML could not give are left out.

    Tags: `sys/gpu<i>/util` (kernel busy %), `sys/gpu<i>/mem_used_gb` (GiB, 2**30 bytes),
    `sys/gpu<i>/temp_c`, `sys/gpu<i>/power_w`, and `sys/gpu<i>/sm_active` (%) where GPM
    gives it.
    """
    if isinstance(samples, GpuSample):
        samples = [samples]
    out: dict[str, float] = {}
    for s in samples:
        prefix = f"sys/gpu{s.index}/"
        for tag, value in (
            ("util", s.util_pct),
            ("mem_used_gb", s.mem_used_gb),
            ("temp_c", s.temp_c),
            ("power_w", s.power_w),
            ("sm_active", s.sm_active_pct),
        ):
            if value is not None:
                out[prefix + tag] = float(value)
    return out
