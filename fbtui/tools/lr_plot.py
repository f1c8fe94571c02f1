"""`fbtui lr`: the learning rate of a whole planned run, drawn before training.

Steps per epoch come from the size of the training split, counted from the split files
(no image is opened, no model is built). Without the data on this machine the sizes of
the official SCUT-FBP5500 splits are assumed, and the output says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

# The official SCUT-FBP5500_v2 splits: 60/40 and five folds of 4400/1100.
SCUT_TRAIN = {"60/40": 3300, "cv": 4400}
SCUT_ALL = 5500
BRAILLE = 0x2800
# braille dot bit for (column 0|1, row 0..3) inside one character cell
_DOTS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))


@dataclass
class TrainSize:
    """How many training images one epoch holds, and where that number came from."""

    n: int
    source: str
    assumed: bool = False
    notes: list[str] = field(default_factory=list)


def _count_lines(path: Path) -> int:
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        return sum(1 for line in f if line.strip() and not line.lstrip().startswith("#"))


# the release's split folders (as fbtui.data.scut reads them), named here so that `fbtui lr`
# stays a pure-Python count of lines
SPLIT_6040_DIRS = ("split_of_60%training and 40%testing", "split_of_60%training_40%testing")
CV_DIR = "5_folders_cross_validations_files"


def _scut_split_file(root: Path, split: str) -> Path | None:
    tt = root / "train_test_files"
    if split == "60/40":
        for d in SPLIT_6040_DIRS:
            if (tt / d / "train.txt").is_file():
                return tt / d / "train.txt"
        return None
    k = split.removeprefix("cv")
    p = tt / CV_DIR / f"cross_validation_{k}" / f"train_{k}.txt"
    return p if p.is_file() else None


def _synthetic_train(n: int, split: str) -> int:
    """The synthetic generator's splits: round(60 %) and five near-equal folds."""
    if split == "60/40":
        return int(round(0.6 * n))
    k = int(split.removeprefix("cv")) - 1
    test = n // 5 + (1 if k < n % 5 else 0)
    return n - test


def _list_labels(root: Path) -> Path | None:
    from fbtui.data.listfmt import LABEL_FILES

    for name in LABEL_FILES:
        if (root / name).is_file():
            return root / name
    return None


def _list_count(path: Path) -> int:
    """Label lines in a list-format labels file (a header line is not an image)."""
    from fbtui.data.listfmt import read_labels

    try:
        return len(read_labels(path))
    except Exception:  # noqa: BLE001 - an estimate is all that is needed here
        return _count_lines(path)


def main_train_size(cfg) -> TrainSize:
    """Training images of the main data set's split, without opening any image."""
    d = cfg.data
    if d.root == "synthetic":
        return TrainSize(
            _synthetic_train(d.synth_n, d.split),
            f"synthetic set of {d.synth_n} images, split {d.split}",
        )
    root = Path(d.root).expanduser()
    if d.format == "list":
        labels = _list_labels(root) if root.is_dir() else None
        if labels is not None:
            n = _list_count(labels)
            if d.split == "60/40":
                return TrainSize(int(round(0.6 * n)), f"{labels}: {n} images, 60 % for training")
            return TrainSize(n, f"{labels}: all {n} images (a list set has no folds)")
        return TrainSize(
            int(round(0.6 * SCUT_ALL)),
            f"data root {root} not found: assuming {SCUT_ALL} images, 60 % for training",
            assumed=True,
        )
    split_file = _scut_split_file(root, d.split) if root.is_dir() else None
    if split_file is not None:
        return TrainSize(_count_lines(split_file), f"{split_file}")
    n = SCUT_TRAIN["60/40" if d.split == "60/40" else "cv"]
    why = "not found" if not root.is_dir() else "has no split files"
    return TrainSize(
        n,
        f"data root {root} {why}: assuming the SCUT-FBP5500 {d.split} split's {n} training images",
        assumed=True,
    )


def train_size(cfg) -> TrainSize:
    """Main split plus every [[data.extra]] set (times its weight)."""
    size = main_train_size(cfg)
    for i, extra in enumerate(cfg.data.extra):
        root = Path(extra.root).expanduser()
        n = None
        if extra.format == "list":
            labels = _list_labels(root) if root.is_dir() else None
            n = _list_count(labels) if labels else None
        elif (root / "train_test_files" / "All_labels.txt").is_file():
            n = _count_lines(root / "train_test_files" / "All_labels.txt")
        elif extra.root == "synthetic":
            n = cfg.data.synth_n
        if n is None:
            size.notes.append(f"data.extra.{i}: {root} not found, not counted")
            continue
        add = int(round(n * extra.weight))
        size.n += add
        size.notes.append(f"data.extra.{i}: +{add} images from {root}")
    return size


# -- the chart ---------------------------------------------------------------------------


def _fmt(v: float) -> str:
    return f"{v:.3g}" if v else "0"


def render_chart(
    values: list[float],
    width: int = 72,
    height: int = 14,
    log: bool = False,
    steps_per_epoch: int | None = None,
) -> list[str]:
    """A braille line chart of `values` against step with a labelled y axis (lr) and x
    axis (epochs and steps). Each character column covers a range of steps and draws the
    span of values in it, so short cycles still show their full swing."""
    n = len(values)
    if n == 0:
        return ["(no steps)"]
    tf = (lambda v: math.log10(max(v, 1e-12))) if log else (lambda v: v)
    ys = [tf(v) for v in values]
    lo, hi = min(ys), max(ys)
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        lo, hi = lo - 0.5 * (abs(lo) or 1.0), hi + 0.5 * (abs(hi) or 1.0)
        if not log:
            lo = max(lo, 0.0) if min(values) >= 0 else lo
    px_w, px_h = width * 2, height * 4

    def row_of(y: float) -> int:  # 0 = top pixel row
        return int(round((hi - y) / (hi - lo) * (px_h - 1)))

    grid = [[0] * width for _ in range(height)]
    prev = None
    for px in range(px_w):
        a = px * n // px_w
        b = max(a + 1, (px + 1) * n // px_w)
        seg = ys[a:b]
        top, bot = max(seg), min(seg)
        if prev is not None:  # join with the previous column: no gaps on steep drops
            top, bot = max(top, prev), min(bot, prev)
        prev = seg[-1]
        for r in range(row_of(top), row_of(bot) + 1):
            grid[r // 4][px // 2] |= _DOTS[px % 2][r % 4]

    inv = (lambda y: 10**y) if log else (lambda y: y)
    labels = {
        0: _fmt(inv(hi)),
        height - 1: _fmt(inv(lo)),
        (height - 1) // 2: _fmt(inv((hi + lo) / 2)),
    }
    lw = max(5, *(len(s) for s in labels.values()))
    lines = []
    for r in range(height):
        cells = "".join(chr(BRAILLE + c) if c else " " for c in grid[r])
        tick = "┤" if r in labels else "│"
        lines.append(f"{labels.get(r, ''):>{lw}} {tick}{cells}")
    # x axis: ticks at ~6 round epoch (or step) positions
    spe = steps_per_epoch or 0
    unit_total = n / spe if spe else n
    ticks = _nice_ticks(unit_total, 6)
    axis = ["─"] * width
    under = [" "] * (width + 8)
    for t in ticks:
        col = min(width - 1, int(round(t / unit_total * (width - 1)))) if unit_total else 0
        axis[col] = "┬"
        text = f"{t:g}"
        start = max(0, min(col - len(text) // 2, width + 8 - len(text)))
        if all(c == " " for c in under[max(0, start - 1) : start + len(text) + 1]):
            under[start : start + len(text)] = list(text)
    lines.append(" " * lw + " └" + "".join(axis))
    unit = "epoch" if spe else "step"
    lines.append(f"{unit:>{lw}}  " + "".join(under).rstrip())
    return lines


def _nice_ticks(total: float, count: int) -> list[float]:
    if total <= 0:
        return [0.0]
    raw = total / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    ticks, t = [], 0.0
    while t <= total + 1e-9:
        ticks.append(round(t, 10))
        t += step
    return ticks


# -- the text around it ------------------------------------------------------------------


def describe(cfg, sched, size: TrainSize) -> list[str]:
    """What the plan is, in words: lengths, lr range and the schedule's landmarks."""
    s, t = cfg.schedule, cfg.train
    spe, total = sched.spe, sched.total
    plan = sched.plan()
    out = [
        f"{s.name} schedule, {t.optimizer} lr {t.lr:g}: {t.epochs} epochs × {spe} steps "
        f"= {total} steps (batch {t.batch_size})",
        f"training images: {size.n} ({size.source})",
        *size.notes,
        f"lr: first {_fmt(plan[0])}, max {_fmt(max(plan))}, min {_fmt(min(plan))}, "
        f"last {_fmt(plan[-1])}",
    ]
    if sched.warmup:
        out.append(
            f"warmup: linear over the first {sched.warmup} steps ({s.warmup_epochs:g} epochs)"
        )
    if s.name == "cyclic_cosine":
        period = sched.cyclic_period()
        end = period * s.cycles
        out.append(
            f"cyclic cosine: {s.cycles} cycles of {s.period_epochs:g} epochs ({period} steps) "
            f"between {_fmt(t.lr * s.min_ratio)} and {_fmt(t.lr)}, each starting at the "
            f"{'minimum' if s.start == 'min' else 'maximum'}"
            + (
                f"; then flat at the minimum from step {end} (epoch {end / spe:g}) to the end"
                if end < total
                else ""
            )
        )
    elif s.name in ("step", "multistep", "exponential"):
        changes = [i for i in range(max(1, sched.warmup), total) if plan[i] != plan[i - 1]]
        if changes and s.name != "exponential":
            out.append(
                "lr changes at epochs "
                + ", ".join(f"{c / spe:g} ({_fmt(plan[c])})" for c in changes[:12])
            )
    elif s.name == "plateau":
        out.append("plateau: cuts depend on the test MSE, so the plan shows none")
    return out


def lr_plan(cfg, train_n: int | None = None, world: int = 1):
    """(schedule, TrainSize) for an experiment, without data or model.

    `world` processes (DDP) each see ceil(n / world) images, in batches of
    train.batch_size, or batch_size // world with train.batch_scope = "global" — the
    trainer's count, so the plan has the steps a `--nproc` run will take."""
    from fbtui.train.schedules import make_schedule, steps_per_epoch

    size = TrainSize(train_n, "given with --train-size") if train_n else train_size(cfg)
    bs = cfg.train.batch_size
    if world > 1 and cfg.train.batch_scope == "global":
        bs = max(1, bs // world)
    spe = steps_per_epoch(-(-size.n // world), bs)
    return make_schedule(cfg.schedule, cfg.train.lr, spe, cfg.train.epochs), size


def save_png(path: Path, plan: list[float], spe: int, title: str, log: bool = False) -> None:
    """lr against step (bottom axis) and epoch (top axis) into a PNG, with matplotlib Agg."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=120)
    ax.plot(range(len(plan)), plan, lw=1.2, color="tab:blue")
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    if log:
        ax.set_yscale("log")
    ax.set_xlim(0, max(1, len(plan) - 1))
    ax.grid(alpha=0.3)
    top = ax.secondary_xaxis("top", functions=(lambda s: s / spe, lambda e: e * spe))
    top.set_xlabel("epoch")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
