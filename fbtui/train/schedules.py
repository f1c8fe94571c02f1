"""Learning-rate schedules as pure functions of the global step (stepped every batch).

Every schedule is `Schedule.lr_at(step)`; `plateau` also needs `observe(test_mse)` after each
evaluation. Pure Python: `fbtui lr` plots a whole planned run without building a model.
"""

from __future__ import annotations

import math
from typing import Any


class Schedule:
    """lr(step) for one experiment: warmup in front of the named schedule."""

    def __init__(self, cfg, base_lr: float, steps_per_epoch: int, epochs: int):
        self.cfg = cfg
        self.base = float(base_lr)
        self.spe = max(1, int(steps_per_epoch))
        self.epochs = int(epochs)
        self.total = self.spe * self.epochs
        self.warmup = int(round(cfg.warmup_epochs * self.spe))
        # plateau state
        self.factor = 1.0
        self.best = math.inf
        self.bad = 0

    # -- the named schedules, without warmup ------------------------------------------
    def _main(self, step: int) -> float:
        c, lr, spe = self.cfg, self.base, self.spe
        epoch = step // spe
        name = c.name
        if name == "constant":
            return lr
        if name == "step":
            return lr * c.gamma ** (epoch // c.step_size)
        if name == "multistep":
            return lr * c.gamma ** sum(1 for m in c.milestones if epoch >= m)
        if name == "exponential":
            return lr * c.gamma**epoch
        if name == "plateau":
            return max(c.min_lr, lr * self.factor)
        if name == "cosine":
            t = min(step, self.total) / max(1, self.total)
            return c.min_lr + (lr - c.min_lr) * (1 + math.cos(math.pi * t)) / 2
        if name == "cosine_restarts":
            period = max(1, int(round(c.t0_epochs * spe)))
            t = step
            while t >= period:
                t -= period
                period *= c.t_mult
            return c.min_lr + (lr - c.min_lr) * (1 + math.cos(math.pi * t / period)) / 2
        if name == "cyclic_cosine":
            lo = lr * c.min_ratio
            period = max(2, int(round(c.period_epochs * spe)))
            if step >= period * c.cycles:
                return lo  # the flat tail at the minimum
            phase = (step % period) / period * 2 * math.pi
            if c.start == "min":
                phase += math.pi  # cos(pi) = -1: the cycle starts at the minimum
            return lo + (lr - lo) * (1 + math.cos(phase)) / 2
        raise ValueError(f"unknown schedule {name!r}")

    def lr_at(self, step: int) -> float:
        """The learning rate to use for global step `step` (0-based)."""
        if step < self.warmup:
            return self._main(self.warmup) * (step + 1) / self.warmup
        return self._main(step)

    def observe(self, test_mse: float) -> None:
        """Plateau: cut the lr by gamma after `patience` evaluations without improvement."""
        if self.cfg.name != "plateau" or not math.isfinite(test_mse):
            return
        if test_mse < self.best * (1 - 1e-4):
            self.best, self.bad = test_mse, 0
        else:
            self.bad += 1
            if self.bad > self.cfg.patience:
                self.factor *= self.cfg.gamma
                self.bad = 0

    def plan(self) -> list[float]:
        """The lr at every step of the planned run (plateau shown without cuts)."""
        return [self.lr_at(s) for s in range(self.total)]

    def state_dict(self) -> dict[str, Any]:
        return {"factor": self.factor, "best": self.best, "bad": self.bad}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.factor = float(state.get("factor", 1.0))
        self.best = float(state.get("best", math.inf))
        self.bad = int(state.get("bad", 0))


def make_schedule(cfg, base_lr: float, steps_per_epoch: int, epochs: int) -> Schedule:
    return Schedule(cfg, base_lr, steps_per_epoch, epochs)
