"""Second data sets ([[data.extra]]): calibrated labels merged into the training split."""

from __future__ import annotations

from dataclasses import replace
from typing import Any


def extend_training(cfg, train: list[Any]) -> tuple[list[Any], list[str]]:
    """Return the training records with every [[data.extra]] set appended (labels mapped
    through y' = k*y + b and clipped to [1, 5]) and the notes to print."""
    if not cfg.data.extra:
        return train, []
    from fbtui.data import open_dataset

    out, notes = list(train), []
    for i, extra in enumerate(cfg.data.extra):
        ds = open_dataset(extra.root, format=extra.format, label=cfg.data.label)
        cal = extra.calibration
        if cal == "fit":
            from fbtui.errors import ConfigError

            raise ConfigError(
                f'data.extra.{i}.calibration = "fit": fit it first with `fbtui calibrate RUN {extra.root}` '
                "and put the printed {k = …, b = …} here"
            )
        k, b = (1.0, 0.0) if cal == "none" else (cal.k, cal.b)
        recs = [replace(r, score=min(5.0, max(1.0, k * r.score + b))) for r in ds.records.values()]
        out += recs
        notes.append(
            f"data.extra.{i}: merged {len(recs)} images from {extra.root} (y' = {k:g}*y + {b:+g})"
        )
    return out, notes
