"""Learning-rate schedules as pure functions of the global step (stepped every batch).

Every schedule is `Schedule.lr_at(step)`; `plateau` also needs `observe(test_mse)` after each
evaluation. Pure Python: `fbtui lr` plots a whole planned run without building a model.

Epoch-based schedules (`step`, `multistep`, `exponential`) change at epoch boundaries;
the cosine family changes every step. `warmup_epochs` ramps linearly from ~0 up to the
value the named schedule has when the warmup ends; the named schedule keeps counting from
step 0, so milestones and cycles stay at the epochs the experiment file names.

`cyclic_cosine` is the researcher's hand-written `adjust_lr`: a cosine between
`lr * min_ratio` and `lr` with a period of `period_epochs`, repeated `cycles` times,
starting at the minimum (`start = "min"`, the phase shifted by π) or at the maximum, then
flat at the minimum until the end of the run.
"""

from __future__ import annotations

import math
from typing import Any


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Optimizer steps in one epoch, as the trainer counts them (the last partial batch is
    dropped when there is more than one batch)."""
    if n_train <= batch_size:
        return 1
    return max(1, n_train // batch_size)


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
    def cyclic_period(self) -> int:
        """cyclic_cosine: steps in one full cycle."""
        return max(2, int(round(self.cfg.period_epochs * self.spe)))

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
            if c.t_mult == 1:
                t %= period
            else:
                while t >= period:
                    t -= period
                    period *= c.t_mult
            return c.min_lr + (lr - c.min_lr) * (1 + math.cos(math.pi * t / period)) / 2
        if name == "cyclic_cosine":
            lo = lr * c.min_ratio
            period = self.cyclic_period()
            if step >= period * c.cycles:
                return lo  # the flat tail at the minimum
            # adjust_lr: amp * cos((step / T_half + 1) * pi) + offset, T_half = period / 2
            phase = 2 * math.pi * (step % period) / period
            if c.start == "min":
                phase += math.pi  # cos(pi) = -1: each cycle starts at the minimum
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

    def warnings(self) -> list[str]:
        """Things about the planned schedule a researcher would want to know before a run."""
        c, out = self.cfg, []
        if self.warmup >= self.total:
            out.append(
                f"schedule.warmup_epochs = {c.warmup_epochs} covers the whole run "
                f"({self.epochs} epochs)"
            )
        if c.name == "cyclic_cosine":
            cyc_steps = self.cyclic_period() * c.cycles
            if cyc_steps > self.total:
                out.append(
                    f"schedule: {c.cycles} cycles of {c.period_epochs:g} epochs need "
                    f"{c.cycles * c.period_epochs:g} epochs, but train.epochs = {self.epochs}: "
                    "the run ends mid-cycle and never reaches the flat tail"
                )
        if c.name == "multistep":
            late = [m for m in c.milestones if m >= self.epochs]
            if late:
                out.append(
                    f"schedule.milestones {late} are at or after the last epoch ({self.epochs}): "
                    "they never apply"
                )
        if c.name == "step" and c.step_size >= self.epochs:
            out.append(
                f"schedule.step_size = {c.step_size} >= train.epochs = {self.epochs}: "
                "the lr never decays"
            )
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"factor": self.factor, "best": self.best, "bad": self.bad}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.factor = float(state.get("factor", 1.0))
        self.best = float(state.get("best", math.inf))
        self.bad = int(state.get("bad", 0))


def make_schedule(cfg, base_lr: float, steps_per_epoch: int, epochs: int) -> Schedule:
    """The schedule of an experiment's [schedule] section for a run of this length."""
    return Schedule(cfg, base_lr, steps_per_epoch, epochs)
