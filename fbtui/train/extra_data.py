"""Differently rated data sets: calibrated labels for the main set and [[data.extra]] sets.

Two ways the researcher used a second, differently rated data set, both from an
experiment file:

* merge it into training: `[[data.extra]]` entries are appended to the training split,
  their labels mapped y' = k·y + b and clipped to [1, 5] (`calibration = {k, b}`);
* fine-tune a previous run on it: `data.root` points at the set, `model.init_from` at the
  run, and `data.calibration` maps the set's labels (train and test alike).

`calibration = "fit"` fits k and b against a trained model (`fit_from`, else
`model.init_from`) exactly like `fbtui calibrate`, and writes the fitted numbers back into
the config, so the run's saved config.toml records what was used (and a detached worker
does not fit again).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fbtui.errors import ConfigError


def map_records(records: list[Any], k: float, b: float) -> list[Any]:
    """Records with scores mapped through clip(k·y + b, 1, 5). The raters' histograms no
    longer describe the mapped score, so they are dropped (a distribution head derives its
    target from the score instead)."""
    if (k, b) == (1.0, 0.0):
        return list(records)
    return [replace(r, score=min(5.0, max(1.0, k * r.score + b)), hist=None) for r in records]


def _need_source(cal, source: str, key: str, root: str) -> None:
    """A clear error, before any data is opened, when "fit" has nothing to fit against."""
    if cal == "fit" and not source:
        raise ConfigError(
            f'{key}.calibration = "fit" needs a trained model to fit against: set {key}.fit_from '
            f"(or model.init_from) to a run folder or checkpoint, or run "
            f"`fbtui calibrate RUN {root}` and write the printed {{k = …, b = …}} here"
        )


def _fit(source: str, records: list[Any], key: str, root: str) -> tuple[float, float, str]:
    _need_source("fit", source, key, root)
    from fbtui.tools.calibrate import calibrate_records

    res = calibrate_records(source, records, key=f"{key}.fit_from (or model.init_from)")
    note = (
        f"{key}: fitted y' = {res.k:.4f}*y {res.b:+.4f} against {res.model} on {res.n} images "
        f"(MSE to the model {res.mse_before:.4f} -> {res.mse_after:.4f})"
    )
    return res.k, res.b, note


def _resolve(cal, source: str, records: list[Any], key: str, root: str, cfg_obj):
    """(k, b, note) for a calibration setting; a fitted one is written back into cfg_obj."""
    from fbtui.config import Calibration

    if cal == "none":
        return 1.0, 0.0, ""
    if cal == "fit":
        k, b, note = _fit(source, records, key, root)
        cfg_obj.calibration = Calibration(k=k, b=b)
        return k, b, note
    return cal.k, cal.b, ""


def calibrate_main(
    cfg, train: list[Any], test: list[Any]
) -> tuple[list[Any], list[Any], list[str]]:
    """Apply `data.calibration` to the main set's train and test labels ("fit" fits on
    the training split only)."""
    d = cfg.data
    if d.calibration == "none":
        return train, test, []
    k, b, note = _resolve(
        d.calibration, d.fit_from or cfg.model.init_from, train, "data", d.root, d
    )
    notes = [note] if note else []
    notes.append(f"data: labels of {d.root} mapped y' = {k:g}*y {b:+g}, clipped to [1, 5]")
    return map_records(train, k, b), map_records(test, k, b), notes


def _weighted(records: list[Any], weight: float, seed: int) -> list[Any]:
    """`weight` copies of the set: whole repeats plus a fixed random part of one more."""
    if weight == 1.0 or not records:
        return records
    import random

    whole, frac = int(weight), weight - int(weight)
    part = random.Random(seed).sample(records, int(round(frac * len(records))))
    return records * whole + part


def extend_training(cfg, train: list[Any]) -> tuple[list[Any], list[str]]:
    """Return the training records with every [[data.extra]] set appended (labels mapped
    through y' = k·y + b and clipped to [1, 5]) and the notes to print."""
    if not cfg.data.extra:
        return train, []
    from fbtui.data import open_dataset

    for i, extra in enumerate(cfg.data.extra):
        _need_source(
            extra.calibration, extra.fit_from or cfg.model.init_from, f"data.extra.{i}", extra.root
        )
    out, notes = list(train), []
    for i, extra in enumerate(cfg.data.extra):
        key = f"data.extra.{i}"
        ds = open_dataset(extra.root, format=extra.format, label=cfg.data.label)
        recs = list(ds.records.values())
        source = extra.fit_from or cfg.model.init_from
        k, b, note = _resolve(extra.calibration, source, recs, key, extra.root, extra)
        if note:
            notes.append(note)
        recs = _weighted(map_records(recs, k, b), extra.weight, cfg.experiment.seed + i)
        out += recs
        notes.append(
            f"{key}: merged {len(recs)} images from {extra.root} into training "
            f"(y' = {k:g}*y {b:+g}, clipped to [1, 5])"
        )
    return out, notes
