"""Partial loading: copy only the tensors whose names and shapes match the new model.

The researcher's `load_model(trained_dict, new)`: keep the features of a trained model,
leave a new head (or any new layer) at its fresh initialisation, and say what happened.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from fbtui.errors import ConfigError
from fbtui.runs import layout
from fbtui.train.checkpoint import load_checkpoint, model_state


@dataclass
class LoadReport:
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # in the checkpoint, not used (name or shape)
    new: list[str] = field(default_factory=list)  # in the model, left at their initial values
    loaded_params: int = 0  # elements of the loaded tensors (BatchNorm counters aside)
    total_params: int = 0  # elements of the model's state, likewise

    def summary(self, source: str) -> str:
        share = self.loaded_params / self.total_params if self.total_params else 0.0
        text = (
            f"init_from {source}: loaded {len(self.loaded)} tensors ({share:.1%} of the "
            f"model's weights), skipped {len(self.skipped)} (no match by name and shape), "
            f"left {len(self.new)} new"
        )
        if self.new:
            more = f", … {len(self.new) - 4} more" if len(self.new) > 4 else ""
            text += f" ({', '.join(self.new[:4])}{more})"
        return text


def _layer(key: str) -> str:
    """`features.3.weight` -> `features.3`: the module a state_dict entry belongs to."""
    return key.rpartition(".")[0]


def _counted(key: str, t: torch.Tensor) -> int:
    # BatchNorm's step counter is state, not a weight: it would make "something loaded"
    # out of a checkpoint that fits nothing
    return 0 if key.endswith("num_batches_tracked") else t.numel()


def _resolve(source: str | Path, root: Path | None = None) -> Path:
    """A path as given, else a run name (or unique prefix) under the runs root (`root`,
    else $FBTUI_RUNS, else ./runs)."""
    p = Path(source).expanduser()
    if p.exists():
        return p
    from fbtui.errors import RunError
    from fbtui.runs import resolve_run

    try:
        return resolve_run(str(source), root or Path(os.environ.get("FBTUI_RUNS", "runs")))
    except RunError:
        return p


def resolve_source(source: str, root: Path | None = None, key: str = "model.init_from") -> str:
    """The absolute path a run name or relative path stands for, checked like
    checkpoint_path: what the resolved config records, so the run (and a resume from
    another folder, a detached worker, a sweep member) reads the same checkpoint."""
    p = _resolve(source, root)
    checkpoint_path(p, key) if p.exists() else checkpoint_path(source, key)
    return str(p.resolve())


def checkpoint_path(source: str | Path, key: str = "model.init_from") -> Path:
    """A run folder (or run name) means its best checkpoint (else last); a file is used
    as is. `key` names the setting in error messages."""
    p = _resolve(source)
    if p.is_dir():
        for name in (layout.BEST, layout.LAST):
            if (p / name).is_file():
                return p / name
        raise ConfigError(
            f"{key} = {str(source)!r}: the run folder has no checkpoints/best.pt or last.pt"
        )
    if p.is_file():
        return p
    raise ConfigError(f"{key} = {str(source)!r}: no such run folder or checkpoint file")


def load_matching(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> LoadReport:
    """Load the intersection of `state` and the model by name and shape, a layer at a
    time: when any tensor of a layer differs in shape (a wider conv, a new head), none of
    that layer is loaded, so no layer ends up half old and half new (an old bias on a
    fresh weight, old BatchNorm statistics on new channels)."""
    own = model.state_dict()
    report = LoadReport()
    fits = {
        k: v
        for k, v in state.items()
        if k in own and isinstance(v, torch.Tensor) and own[k].shape == v.shape
    }
    changed = {_layer(k) for k, v in state.items() if k in own and k not in fits}
    take = {k: v for k, v in fits.items() if _layer(k) not in changed}
    report.loaded = list(take)
    report.skipped = [k for k in state if k not in take]
    report.new = [k for k in own if k not in take]
    report.loaded_params = sum(_counted(k, v) for k, v in take.items())
    report.total_params = sum(_counted(k, v) for k, v in own.items())
    model.load_state_dict(take, strict=False)
    return report


def init_from(model: torch.nn.Module, source: str | Path) -> str:
    """Initialise `model` from a run or checkpoint; returns the printed summary."""
    path = checkpoint_path(source)
    state = model_state(load_checkpoint(path))
    # checkpoints saved from DataParallel/DDP wrappers prefix every name with "module."
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    report = load_matching(model, state)
    if not report.loaded_params:
        raise ConfigError(
            f"model.init_from = {str(source)!r}: no layer in {path} matches the model by name "
            f"and shape (a different backbone or width?); nothing would be reused"
        )
    return report.summary(str(path))
