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

    def summary(self, source: str) -> str:
        text = (
            f"init_from {source}: loaded {len(self.loaded)} tensors, skipped {len(self.skipped)} "
            f"(no match by name and shape), left {len(self.new)} new"
        )
        if self.new:
            more = f", … {len(self.new) - 4} more" if len(self.new) > 4 else ""
            text += f" ({', '.join(self.new[:4])}{more})"
        return text


def _resolve(source: str | Path) -> Path:
    """A path as given, else a run name (or unique prefix) under the runs root."""
    p = Path(source).expanduser()
    if p.exists():
        return p
    from fbtui.errors import RunError
    from fbtui.runs import resolve_run

    try:
        return resolve_run(str(source), Path(os.environ.get("FBTUI_RUNS", "runs")))
    except RunError:
        return p


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
    """Load the intersection of `state` and the model by name and shape."""
    own = model.state_dict()
    report = LoadReport()
    take = {}
    for k, v in state.items():
        if k in own and isinstance(v, torch.Tensor) and own[k].shape == v.shape:
            take[k] = v
            report.loaded.append(k)
        else:
            report.skipped.append(k)
    report.new = [k for k in own if k not in take]
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
    if not report.loaded:
        raise ConfigError(
            f"model.init_from = {str(source)!r}: no tensor in {path} matches the model by name and shape"
        )
    return report.summary(str(path))
