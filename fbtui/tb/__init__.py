"""Read TensorBoard event files: fast, incremental, CRC-checked, torch-free.

Public API::

    reader = LogdirReader(path)      # a run folder, any writer's logdir, or one file
    reader.poll() -> bool            # read what is new (a stat per file when nothing is)
    reader.tags() -> list[str]
    reader.scalars(tag) -> ScalarSeries(tag, steps, wall_times, values)
    reader.warnings -> list[TbWarning]
    smooth(values, weight=0.6)       # TensorBoard's debiased EMA
    y_range(values, ignore_outliers=True)
    find_logdirs(root) -> list[Path]

Imports only the standard library, numpy, protobuf, crc32c and tensorboardX's generated
protobuf modules (loaded without running tensorboardX's torch-importing __init__).
"""

from fbtui.tb.reader import LogdirReader, TbWarning, expose_tag, find_logdirs, is_event_file
from fbtui.tb.scalars import ScalarSeries
from fbtui.tb.smoothing import DEFAULT_WEIGHT, smooth, y_range

__all__ = [
    "DEFAULT_WEIGHT",
    "LogdirReader",
    "ScalarSeries",
    "TbWarning",
    "expose_tag",
    "find_logdirs",
    "is_event_file",
    "smooth",
    "y_range",
]
