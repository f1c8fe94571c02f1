"""Make a sweep: validate every grid point's config first, then write the sweep folder.

Nothing is created when any point is invalid: a bad `--set`, an unknown key or a value one
grid point gets wrong raises ConfigError (exit 2) naming the member and the key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fbtui.config import Config, load_config
from fbtui.errors import ConfigError, UserError
from fbtui.sweep.grid import Axis, Point, expand, parse_axes
from fbtui.sweep.scheduler import resolve_parallel


@dataclass
class SweepPlan:
    """A validated sweep, not yet written: the axes, and each member's point and config."""

    name: str
    config_path: Path
    axes: list[Axis]
    repeat: int
    base_seed: int
    members: list[tuple[Point, Config]]

    @property
    def grid(self) -> dict[str, list[Any]]:
        return {a.key: list(a.values) for a in self.axes if a.swept}

    @property
    def fixed(self) -> list[str]:
        return [f"{a.key}={a.texts[0]}" for a in self.axes if not a.swept]


def plan_sweep(
    config: str | Path, sets: Sequence[str], repeat: int = 1, name: str = ""
) -> SweepPlan:
    """Parse the `--set` axes, expand the grid and load and validate every member's
    config (the experiment file plus its overrides). Raises ConfigError; writes nothing."""
    config = Path(config)
    axes = parse_axes(sets)
    fixed = [f"{a.key}={a.texts[0]}" for a in axes if not a.swept]
    base = load_config(config, fixed)
    if name:
        base.experiment.name = name
    points = expand(axes, repeat=repeat, base_seed=base.experiment.seed)
    members: list[tuple[Point, Config]] = []
    for p in points:
        try:
            cfg = load_config(config, p.overrides)
        except ConfigError as e:
            swept = " ".join(f"{k}={v}" for k, v in p.labels.items())
            raise ConfigError(f"sweep member {p.name} ({swept}): {e}") from None
        cfg.experiment.name = f"{base.experiment.name}-{p.name}"
        members.append((p, cfg))
    return SweepPlan(
        # the sweep folder is named as `fbtui run` names runs: --name or the file's stem
        name=name or config.stem,
        config_path=config,
        axes=axes,
        repeat=repeat,
        base_seed=base.experiment.seed,
        members=members,
    )


def check_data(plan: SweepPlan, check: Callable[[Config], Any]) -> None:
    """Run `check` (e.g. the trainer's prepare_data) once per distinct data section, so a
    missing data set fails before any folder exists."""
    seen: set[str] = set()
    for point, cfg in plan.members:
        key = json.dumps(cfg.data.model_dump(mode="json"), sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        try:
            check(cfg)
        except UserError as e:
            raise type(e)(f"sweep member {point.name}: {e}") from None


def write_sweep(plan: SweepPlan, root: Path, parallel: int = 1) -> Path:
    """Create the sweep folder with its queued members; returns the folder."""
    from fbtui.sweep.folder import create_sweep

    resolve_parallel(parallel, 0)  # rejects negative values
    members = [
        (
            p.name,
            cfg,
            {
                "params": p.params,
                "labels": p.labels,
                "seed": cfg.experiment.seed,
                "k": p.seed_index,
            },
        )
        for p, cfg in plan.members
    ]
    meta = {
        "config": str(plan.config_path.resolve()),
        "grid": plan.grid,
        "fixed": plan.fixed,
        "repeat": plan.repeat,
        "base_seed": plan.base_seed,
        "parallel": parallel,
    }
    return create_sweep(Path(root), plan.name, members, meta)
