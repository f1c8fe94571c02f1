"""Face-beauty data: the SCUT-FBP5500 reader, the list format, the synthetic set, checks.

Nothing here imports torch; `fbtui.data.dataset` holds the torch Dataset and transforms.
"""

from __future__ import annotations

from pathlib import Path

from fbtui.data.check import CheckReport, check_dataset
from fbtui.data.images import load_image, scan_bad
from fbtui.data.records import GROUPS, DataSet, Record
from fbtui.data.synth import ensure_synthetic, synthesize
from fbtui.errors import DataError

__all__ = [
    "GROUPS",
    "CheckReport",
    "DataError",
    "DataSet",
    "Record",
    "check_dataset",
    "load_image",
    "open_dataset",
    "resolve_root",
    "scan_bad",
    "synthesize",
]


def resolve_root(
    root: str | Path, *, synth_n: int = 2000, synth_size: int = 128, cache_dir: Path | None = None
) -> Path:
    """The folder a `data.root` names: "synthetic" is generated once and cached."""
    if str(root) == "synthetic":
        return ensure_synthetic(n=synth_n, size=synth_size, cache_dir=cache_dir)
    return Path(root).expanduser()


def open_dataset(
    root: str | Path,
    format: str = "scut",
    label: str = "mean",
    *,
    synth_n: int = 2000,
    synth_size: int = 128,
    cache_dir: Path | None = None,
    skip_bad: bool = False,
) -> DataSet:
    """Read a data set: a SCUT-FBP5500_v2 folder, a list-format folder, or "synthetic".

    "synthetic" is generated on first use (under cache_dir, else $FBTUI_CACHE, else
    ~/.cache/fbtui) and then read by the SCUT reader like real data. Every listed image
    gets a cheap header check; unreadable ones raise DataError naming them, unless
    skip_bad, which drops them into `DataSet.bad`. Not-fatal findings are in
    `DataSet.warnings`.
    """
    from fbtui.data.listfmt import read_list
    from fbtui.data.scut import read_scut

    folder = resolve_root(root, synth_n=synth_n, synth_size=synth_size, cache_dir=cache_dir)
    if str(root) == "synthetic":
        format = "scut"
    if format == "scut":
        return read_scut(folder, label=label, skip_bad=skip_bad)
    if format == "list":
        if label != "mean":
            raise DataError(
                f"{folder}: label = {label!r} needs per-rater ratings; a list-format data set "
                f'has one score per image (use label = "mean")'
            )
        return read_list(folder, skip_bad=skip_bad)
    raise DataError(f"data.format: {format!r} is not one of 'scut', 'list'")
