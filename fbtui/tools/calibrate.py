"""Calibrate a differently rated data set against a trained model: y' = k·y + b.

The researcher's "data cleaning" of a second data set: freeze a model trained on
SCUT-FBP5500, predict every image of the new set, and find the linear map of the new
set's labels onto the model's scale that minimises the squared error, with the mapped
labels clipped to [1, 5] (their `clip(norm(target))`). The researcher trained k and b by
SGD; the same minimum is found here in closed form (least squares, then refined on the
labels the clip leaves unclipped).

The least-squares k is the labels' correlation r with the model times
std(predictions) / std(labels): a weak model, or labels that disagree with it, shrink the
mapped labels towards their mean. An MSE on shrunk labels looks small whatever the model
does, so the figures here include the MSE a constant (the mapped mean) gets, and
`shrink_warning` says so when k or r is below 0.5.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fbtui.errors import DataError, RunError

LO, HI = 1.0, 5.0
# below these the mapped labels are markedly shrunk (k) or say little about the model (r)
K_WARN = 0.5
R_WARN = 0.5


@dataclass
class CalibrationResult:
    """k, b and how much closer the mapped labels are to the model's predictions."""

    k: float
    b: float
    n: int
    mse_before: float  # labels as they are (clipped to [1, 5]) against the predictions
    mse_after: float  # clip(k*y + b) against the predictions
    pc: float  # Pearson correlation between labels and predictions (unchanged by k, b > 0)
    label_min: float
    label_max: float
    label_std: float  # of the labels as they are
    mapped_mean: float  # of clip(k*y + b)
    mapped_std: float  # of clip(k*y + b): k times label_std, less where clipped
    const_mse: float  # a constant (mapped_mean) against clip(k*y + b): mapped_std²
    dataset: str = ""
    model: str = ""
    split: str = "all"  # the images fitted on: all | train | test (of data_split)
    data_split: str = ""  # the named split ("60/40", "cv1", ...) for train | test
    total: int = 0  # images in the data set (n of them fitted on)
    warning: str = ""  # shrink_warning's text, "" when k and r are both >= 0.5

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def used(self) -> str:
        """Which images were fitted on, in words: "all 100 images", "the training split
        of 60/40: 60 of 100 images"."""
        if self.split == "all":
            return f"all {self.n} images"
        part = "training" if self.split == "train" else "test"
        of = f" of {self.total}" if self.total else ""
        return f"the {part} split of {self.data_split}: {self.n}{of} images"

    def stats(self) -> str:
        """One line: label spread before and after, r, and the constant predictor's MSE."""
        return (
            f"labels std {self.label_std:.4f} -> {self.mapped_std:.4f} mapped, "
            f"r {self.pc:.4f} with the model; a constant (the mapped mean "
            f"{self.mapped_mean:.4f}) gets MSE {self.const_mse:.4f} on the mapped labels"
        )

    def toml(self) -> str:
        """The line to paste into an experiment file."""
        return f"calibration = {{k = {self.k:.4f}, b = {self.b:.4f}}}"


def apply(y: np.ndarray | float, k: float, b: float) -> np.ndarray:
    """Map labels through y' = k·y + b, clipped to the rating scale [1, 5]."""
    return np.clip(k * np.asarray(y, dtype=np.float64) + b, LO, HI)


def _lstsq(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    a = np.stack([y, np.ones_like(y)], axis=1)
    (k, b), *_ = np.linalg.lstsq(a, p, rcond=None)
    return float(k), float(b)


def fit_linear(y, p, iters: int = 50) -> tuple[float, float]:
    """k, b minimising mean((clip(k·y + b, 1, 5) - p)²).

    Ordinary least squares first; then, while some mapped labels fall outside [1, 5]
    (where the clip makes them insensitive to k and b), refit on the labels inside and
    keep the refit whenever it lowers the clipped error."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.size < 2:
        raise DataError("calibration needs at least two labelled images")
    if np.ptp(y) == 0:
        raise DataError(f"calibration: every label is {y[0]:g}; k and b cannot be fitted")

    def err(k: float, b: float) -> float:
        return float(np.mean((apply(y, k, b) - p) ** 2))

    k, b = _lstsq(y, p)
    best = err(k, b)
    for _ in range(iters):
        inside = (k * y + b >= LO) & (k * y + b <= HI)
        if inside.all() or inside.sum() < 2 or np.ptp(y[inside]) == 0:
            break
        k2, b2 = _lstsq(y[inside], p[inside])
        e2 = err(k2, b2)
        if e2 >= best - 1e-15:
            break
        k, b, best = k2, b2, e2
    return k, b


def summarize(y, p, k: float, b: float) -> CalibrationResult:
    """The before/after figures for a fitted (or given) k and b."""
    from fbtui.metrics import pearson

    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    mapped = apply(y, k, b)
    res = CalibrationResult(
        k=k,
        b=b,
        n=int(y.size),
        mse_before=float(np.mean((np.clip(y, LO, HI) - p) ** 2)),
        mse_after=float(np.mean((mapped - p) ** 2)),
        pc=pearson(y, p),
        label_min=float(y.min()),
        label_max=float(y.max()),
        label_std=float(y.std()),
        mapped_mean=float(mapped.mean()),
        mapped_std=float(mapped.std()),
        const_mse=float(np.mean((mapped - mapped.mean()) ** 2)),
    )
    res.warning = shrink_warning(k, res.pc, res.label_std, res.mapped_std, res.const_mse)
    return res


def shrink_warning(
    k: float,
    r: float | None,
    std_before: float,
    std_after: float,
    const_mse: float,
    what: str = "an MSE on the mapped labels",
) -> str:
    """A warning when k < K_WARN or r < R_WARN (r None: not known, k alone decides), else "".

    Least squares gives k = r·std(predictions)/std(labels), so a weak model or labels that
    disagree with it map every label close to one value; an MSE on such labels is small
    whatever the model does. `what` names the MSE that must not be read on the 1-5 scale
    (a run passes its test MSE)."""
    low_k = k < K_WARN
    low_r = r is not None and not (r >= R_WARN)  # nan (constant predictions) counts as low
    if not (low_k or low_r):
        return ""
    why = []
    if low_k:
        why.append(f"k = {k:.4f} < {K_WARN:g}")
    if low_r:
        why.append(f"r = {r:.4f} < {R_WARN:g} (labels against the model's predictions)")
    return (
        f"warning: {' and '.join(why)}: the mapped labels are shrunk towards their mean "
        f"(std {std_before:.4f} -> {std_after:.4f}), so {what} is not comparable with an "
        f"MSE on the original scale; compare it with the {const_mse:.4f} a constant "
        "(the mapped mean) gets, or use Pearson, which the mapping does not change"
    )


# -- the frozen model ------------------------------------------------------------------


def load_source(source: str | Path, key: str = "RUN"):
    """A run folder, run name or checkpoint file -> an eval-mode `Scorer` with the run's
    test-time preprocessing (from its config.toml, or the config stored in the checkpoint)."""
    from fbtui.tools.inference import load_scorer
    from fbtui.train.transfer import checkpoint_path

    path = checkpoint_path(source, key)
    run_dir = path.parent.parent
    if path.parent.name == "checkpoints" and (run_dir / "config.toml").is_file():
        return load_scorer(run_dir, which=path.stem)
    return _scorer_from_file(path)


def _scorer_from_file(path: Path):
    """A bare checkpoint written by fbtui carries its run's config text."""
    import tomllib

    from fbtui.config import config_from_dict, relax_run_config
    from fbtui.data.dataset import build_transform
    from fbtui.model import build_model
    from fbtui.tools.inference import Scorer, pick_device
    from fbtui.train.checkpoint import load_checkpoint, model_state

    ckpt = load_checkpoint(path)
    text = ckpt.get("config")
    if not isinstance(text, str):
        raise RunError(
            f"{path}: this checkpoint does not hold its run's config, so its model and "
            "preprocessing are unknown; pass the run folder instead"
        )
    cfg = config_from_dict(relax_run_config(tomllib.loads(text)), f"{path} (stored config)")
    cfg.model.pretrained = "none"
    model = build_model(cfg.model)
    try:
        model.load_state_dict(model_state(ckpt), strict=True)
    except RuntimeError as e:
        raise RunError(
            f"{path}: weights do not fit its stored config: {str(e).splitlines()[0]}"
        ) from None
    device = pick_device()
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    transform = build_transform(cfg.augment, cfg.data, train=False)
    return Scorer(path.parent, path, cfg, model, transform, device, [])


class _Images:
    """Records -> preprocessed tensors, for a DataLoader."""

    def __init__(self, records: list[Any], transform) -> None:
        self.records, self.transform = records, transform

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int):
        from fbtui.data.images import load_image

        return self.transform(load_image(self.records[i].path))


def predict_records(scorer, records: list[Any], batch_size: int = 64) -> np.ndarray:
    """The frozen model's score for every record, in order."""
    import torch

    if not records:
        return np.zeros(0)
    workers = min(4, os.cpu_count() or 1) if len(records) > 256 else 0
    loader = torch.utils.data.DataLoader(
        _Images(records, scorer.transform),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
    )
    out = []
    with torch.no_grad():
        for x in loader:
            logits = scorer.model(x.to(scorer.device)).float()
            out.append(scorer.model.score(logits).cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def calibrate_records(
    source, records: list[Any], batch_size: int = 64, key: str = "RUN"
) -> CalibrationResult:
    """Fit k, b for `records` against the model of `source` (run, name or checkpoint);
    `key` names the setting that gave `source` in error messages."""
    scorer = source if hasattr(source, "model") else load_source(source, key)
    y = np.array([r.score for r in records], dtype=np.float64)
    p = predict_records(scorer, list(records), batch_size)
    k, b = fit_linear(y, p)
    res = summarize(y, p, k, b)
    res.model = str(scorer.checkpoint)
    return res


def guess_format(root: str | Path) -> str:
    """`list` when the folder has a labels file, else `scut`."""
    from fbtui.data.listfmt import LABEL_FILES

    r = Path(root).expanduser()
    return "list" if any((r / n).is_file() for n in LABEL_FILES) else "scut"


SPLITS = ("all", "train", "test")


def pick_records(ds, split: str = "all", data_split: str = "60/40") -> list[Any]:
    """The records to fit on: every image (`all`: what `[[data.extra]]`'s "fit" uses) or
    the train or test part of the named split (`train`: what `data.calibration = "fit"`
    uses for a run with `data.split = data_split`). ConfigError (exit 2) on a split the
    set does not have, saying why."""
    from fbtui.errors import ConfigError

    if split not in SPLITS:
        raise ConfigError(f"--split {split!r}: expected all, train or test")
    if split == "all":
        return list(ds.records.values())
    if data_split not in ds.splits or data_split == "all":
        if ds.format == "list":
            raise ConfigError(
                f"{ds.root} is a list-format set: it has no split files, only the "
                f'reproducible 60/40 split fbtui draws from its names (data.split = "60/40"); '
                f'a run with data.split = "{data_split}" on it trains on every image, so its '
                f'calibration = "fit" matches --split all'
            )
        avail = ", ".join(n for n in ds.splits if n != "all") or "none"
        raise ConfigError(
            f"{ds.root}: no split named {data_split!r} (its split files under "
            f"train_test_files/ were not found; see `fbtui data check`); available: {avail}"
        )
    train, test = ds.split(data_split)
    return train if split == "train" else test


def calibrate(
    run: str | Path,
    dataset: str | Path,
    fmt: str = "auto",
    label: str = "mean",
    split: str = "all",
    data_split: str = "60/40",
) -> CalibrationResult:
    """`fbtui calibrate RUN DATASET`: the images of DATASET that `split` picks (see
    `pick_records`) against RUN's best model."""
    from fbtui.data import open_dataset

    fmt = guess_format(dataset) if fmt == "auto" else fmt
    ds = open_dataset(str(dataset), format=fmt, label=label)
    records = pick_records(ds, split, data_split)  # before the model loads: a bad split is quick
    scorer = load_source(run)
    res = calibrate_records(scorer, records)
    res.dataset = str(dataset)
    res.split, res.total = split, len(ds.records)
    res.data_split = data_split if split != "all" else ""
    return res
