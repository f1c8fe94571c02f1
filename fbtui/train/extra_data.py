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

The least-squares k shrinks the labels by the labels' correlation with the model, so the
notes give the spread of the labels before and after the mapping, the MSE a constant gets
on them, and a warning when k or r is below 0.5: a fine-tuned run's test MSE on shrunk
labels is not an MSE on the 1-5 scale.
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


def _fit(source: str, records: list[Any], key: str, root: str, used: str):
    """(k, b, note, r): the fitted numbers, a note on what they do to the labels (`used`
    says which images they were fitted on) and the labels' correlation with the model."""
    _need_source("fit", source, key, root)
    from fbtui.tools.calibrate import calibrate_records

    res = calibrate_records(source, records, key=f"{key}.fit_from (or model.init_from)")
    note = (
        f"{key}: fitted y' = {res.k:.4f}*y {res.b:+.4f} against {res.model} on {res.n} images "
        f"({used}; MSE to the model {res.mse_before:.4f} -> {res.mse_after:.4f}; {res.stats()})"
    )
    return res.k, res.b, note, res.pc


def _resolve(cal, source: str, records: list[Any], key: str, root: str, cfg_obj, used: str):
    """(k, b, note, r) for a calibration setting (r None unless fitted); a fitted one is
    written back into cfg_obj."""
    from fbtui.config import Calibration

    if cal == "none":
        return 1.0, 0.0, "", None
    if cal == "fit":
        k, b, note, r = _fit(source, records, key, root, used)
        cfg_obj.calibration = Calibration(k=k, b=b)
        return k, b, note, r
    return cal.k, cal.b, "", None


def _spread(records: list[Any], k: float, b: float) -> tuple[float, float, float]:
    """(std of the labels, std of the mapped labels, MSE of a constant on the mapped ones)."""
    import numpy as np

    from fbtui.tools.calibrate import apply

    y = np.array([r.score for r in records], dtype=np.float64)
    mapped = apply(y, k, b)
    return float(y.std()), float(mapped.std()), float(np.mean((mapped - mapped.mean()) ** 2))


def calibrate_main(
    cfg, train: list[Any], test: list[Any]
) -> tuple[list[Any], list[Any], list[str]]:
    """Apply `data.calibration` to the main set's train and test labels ("fit" fits on
    the training split only). The notes say what the mapping does to the test labels'
    spread and what a constant would score on them, with a warning when k (or, fitted,
    r) is below 0.5 (a detached worker sees the recorded k and b: k alone decides there)."""
    from fbtui.tools.calibrate import shrink_warning

    d = cfg.data
    if d.calibration == "none":
        return train, test, []
    used = f"the training split of {d.split}" if test else "every image"
    k, b, note, r = _resolve(
        d.calibration, d.fit_from or cfg.model.init_from, train, "data", d.root, d, used
    )
    notes = [note] if note else []
    notes.append(f"data: labels of {d.root} mapped y' = {k:g}*y {b:+g}, clipped to [1, 5]")
    part, recs = ("test", test) if test else ("training", train)
    if recs:
        before, after, const = _spread(recs, k, b)
        notes.append(
            f"data: {part} labels' std {before:.4f} -> {after:.4f} after the mapping; "
            f"predicting their mean gets {part} MSE {const:.4f}"
        )
        warn = shrink_warning(k, r, before, after, const, f"this run's {part} MSE")
        if warn:
            notes.append(f"data: {warn}")
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
        k, b, note, r = _resolve(
            extra.calibration, source, recs, key, extra.root, extra, "every image"
        )
        if note:
            notes.append(note)
        if extra.calibration != "none" and recs:
            from fbtui.tools.calibrate import shrink_warning

            before, after, const = _spread(recs, k, b)
            what = "an MSE on these training labels (not on the test split: its labels are kept)"
            warn = shrink_warning(k, r, before, after, const, what)
            if warn:
                notes.append(f"{key}: {warn}")
        recs = _weighted(map_records(recs, k, b), extra.weight, cfg.experiment.seed + i)
        out += recs
        notes.append(
            f"{key}: merged {len(recs)} images from {extra.root} into training "
            f"(y' = {k:g}*y {b:+g}, clipped to [1, 5])"
        )
    return out, notes
