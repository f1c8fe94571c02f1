"""k-fold cross-validation: the official folds cv1..cvK as sibling runs under one parent.

```
runs/<name>-<stamp>/          kfold.json (per-fold metrics, mean ± std, state)
    cv1/ cv2/ ... cvK/        ordinary run folders (config.toml with data.split = "cvk")
```

`fbtui run CONFIG --folds K` trains them in turn in the foreground, or with `--detach` in
one background process (`python -m fbtui.train.kfold PARENT`). `fbtui resume PARENT`
continues a stopped, failed or killed group the same way: finished (and diverged) folds
are kept, the others resume from their last.pt or start, and mean ± std is recomputed.

Two figures are reported, each the mean and sample standard deviation (ddof 1) over the
finished folds of MSE, MAE, RMSE and Pearson correlation:

* final epoch (the protocol figure): each fold's last evaluation (`final` in its
  summary.json, `last` in its status.json). Nothing is chosen by looking at the test fold,
  so this is the figure to set beside published 5-fold means (the SCUT-FBP5500 paper's
  are not selected on the test folds either).
* best epoch (selected on the test fold: optimistic): each fold's best epoch, picked by its
  own test metrics. Choosing the epoch on the data it is then scored on flatters it (MSE
  lower, PC higher); it is kept for reference, not for comparing with the paper.

kfold.json keeps its original keys for readers (`n`, `per_fold`, `mean`, `std`: the best
epoch) and adds `final_epoch` (the same keys for the final epoch) and, in both, `count` (per
metric, the folds whose value is finite: a NaN Pearson correlation from constant
predictions is left out of that metric's mean), `dropped` (per metric, {fold: value} of the
non-finite values left out) and `fold_names` (the folds `per_fold` lists, in order).
Each entry of `runs` holds the fold's `best` and `final` metrics (with their `epoch`).
"""

from __future__ import annotations

import math
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from fbtui.errors import ConfigError, RunError
from fbtui.metrics import mean_std
from fbtui.runs import layout
from fbtui.runs.status import (
    UnreadableStatus,
    read_json,
    read_status,
    stopped_by_sigint,
    write_json_atomic,
)

METRICS = ("mse", "mae", "rmse", "pc")
MAX_FOLDS = 5  # SCUT-FBP5500_v2 ships five cross-validation folds
LOG = "kfold.log"


def fold_dir(parent: Path, k: int) -> Path:
    return Path(parent) / f"cv{k}"


FINAL_LABEL = "final epoch (the protocol figure)"
BEST_LABEL = "best epoch (selected on the test fold: optimistic)"


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _why(v: Any) -> str:
    """How a left-out value reads in kfold.json and the notes: NaN, inf, missing."""
    if v is None:
        return "missing"
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    return str(v)


def _fold_name(r: dict[str, Any], i: int) -> str:
    return str(r.get("run") or (f"cv{r['fold']}" if "fold" in r else f"fold {i + 1}"))


def _aggregate_one(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Mean ± std over the finished folds of one figure (`key`: "best" or "final")."""
    done = [
        (_fold_name(r, i), r[key])
        for i, r in enumerate(runs)
        if r.get("state", "finished") == "finished"
        and isinstance(r.get(key), dict)
        and r[key].get("mse") is not None
    ]
    per = {m: [fig.get(m) for _, fig in done] for m in METRICS}
    mean, std, count, dropped = {}, {}, {}, {}
    for m, vals in per.items():
        kept = [v for v in vals if _finite(v)]
        count[m] = len(kept)
        lost = {name: _why(v) for (name, _), v in zip(done, vals, strict=True) if not _finite(v)}
        if lost:
            dropped[m] = lost
        if kept:
            mean[m], std[m] = mean_std(kept)
    return {
        "n": len(done),
        "fold_names": [name for name, _ in done],
        "per_fold": per,
        "mean": mean,
        "std": std,
        "count": count,
        "dropped": dropped,
    }


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and std (sample, ddof 1) of each metric over the finished folds, for the best
    epoch (the top-level keys kfold.json always had) and the final epoch (`final_epoch`).

    A fold with a `state` other than finished (e.g. stopped half-way) is left out: its
    figures so far are no result of the protocol. `n` counts the finished folds with that
    figure; `count[m]` the ones whose metric m is finite (only those enter its mean), and
    `dropped[m]` names the others with their value (e.g. {"cv3": "nan"}): a constant
    prediction's NaN Pearson correlation is visible, not silently averaged away."""
    return {**_aggregate_one(runs, "best"), "final_epoch": _aggregate_one(runs, "final")}


def dropped_notes(block: dict[str, Any]) -> list[str]:
    """'pc: 4 of 5 folds (cv3: nan)' for each metric whose mean leaves folds out."""
    notes = []
    for m, lost in (block.get("dropped") or {}).items():
        if isinstance(lost, dict) and lost:
            why = ", ".join(f"{k}: {v}" for k, v in lost.items())
            notes.append(
                f"{m}: {block.get('count', {}).get(m, '?')} of {block.get('n')} folds ({why})"
            )
    return notes


def summary_line(block: dict[str, Any], label: str) -> str:
    """`LABEL: mean ± std over N folds: mse 0.3187±0.0141  …` (+ the folds a metric lost)."""
    mean, std = block.get("mean") or {}, block.get("std") or {}
    line = f"{label}: mean ± std over {block.get('n')} folds: " + "  ".join(
        f"{m} {mean[m]:.4f}±{std[m]:.4f}" for m in METRICS if m in mean and m in std
    )
    notes = dropped_notes(block)
    return line + (f"; {'; '.join(notes)}" if notes else "")


def group_state(states: list[str]) -> str:
    """One word for the group from its folds' states."""
    if any(s in ("running", "running (stale)") for s in states):
        return "running"
    if any(s in ("failed", "failed (lost)") for s in states):
        return "failed"
    if any(s == "stopped" for s in states):
        return "stopped"
    if all(s == "finished" for s in states):
        return "finished"
    if any(s == "diverged" for s in states) and not any(s == "queued" for s in states):
        return "diverged"
    return "queued" if all(s == "queued" for s in states) else "running"


def refresh(parent: Path, state: str | None = None, **extra: Any) -> dict[str, Any]:
    """Re-read every fold's status and rewrite kfold.json; returns what was written."""
    from fbtui.runs.status import effective_state

    parent = Path(parent)
    data = read_json(parent / layout.KFOLD) or {}
    runs = []
    for r in data.get("runs", []):
        run_dir = parent / r["run"]
        try:
            status = read_status(run_dir) or {}
            summary = read_json(run_dir / layout.SUMMARY) or {}
        except Exception:  # noqa: BLE001 - a torn fold file must not break the group
            status, summary = {}, {}
        best = summary.get("best") or status.get("best") or {}
        final = summary.get("final") or status.get("last") or {}
        final = {k: final[k] for k in METRICS if k in final} if isinstance(final, dict) else {}
        if final and summary.get("final") and isinstance(summary.get("epochs"), int):
            final["epoch"] = summary["epochs"]  # the last evaluation is at the last epoch
        runs.append(
            {
                **r,
                "state": effective_state(status) if status else "queued",
                "best": {k: best[k] for k in (*METRICS, "epoch") if k in best},
                "final": final,
            }
        )
    data["runs"] = runs
    data.update(aggregate(runs))
    data["state"] = state or group_state([r["state"] for r in runs])
    data["updated"] = time.time()
    data.update(extra)
    write_json_atomic(parent / layout.KFOLD, data)
    return data


def create_group(cfg, root: Path, folds: int, stem: str = "") -> tuple[Path, dict[int, Any]]:
    """Validate every fold's data, then make the parent folder, the K queued fold runs and
    kfold.json. Bad data fails here, before any folder exists. Returns the parent and each
    fold's prepared data (for a foreground run, so the data is not opened twice). The parent
    is `<stem>-<stamp>` (stem: --name or the config file's stem, as `fbtui run` names runs)."""
    from fbtui.cli.run_cmd import create_run
    from fbtui.train.trainer import preflight, prepare_data

    if not 1 <= folds <= MAX_FOLDS:
        raise ConfigError(
            f"--folds {folds}: SCUT-FBP5500 has {MAX_FOLDS} official folds; use 1..{MAX_FOLDS}"
        )
    preflight(cfg, root)  # device, pretrained, init_from: the same for every fold
    fold_cfgs = []
    for k in range(1, folds + 1):
        c = cfg.model_copy(deep=True)
        c.data.split = f"cv{k}"
        c.experiment.name = f"{cfg.experiment.name}-cv{k}"
        prepared = prepare_data(c)  # raises DataError naming the split when it is missing
        if not prepared.test:
            raise ConfigError(
                f"--folds: {cfg.data.root} has no cross-validation split cv{k} with test images "
                "(k-fold needs the SCUT layout with 5_folders_cross_validations_files)"
            )
        fold_cfgs.append((c, prepared))
    parent = layout.new_run_dir(root, stem or cfg.experiment.name)
    prepared_by_fold = {}
    for k, (c, prepared) in enumerate(fold_cfgs, start=1):
        made = create_run(c, parent)
        os.replace(made, fold_dir(parent, k))  # the fold's folder is simply cvk
        prepared_by_fold[k] = prepared
    write_json_atomic(
        parent / layout.KFOLD,
        {
            "kind": "kfold",
            "name": cfg.experiment.name,
            "folds": folds,
            "state": "queued",
            "created": time.time(),
            "host": socket.gethostname(),
            "runs": [{"fold": k, "split": f"cv{k}", "run": f"cv{k}"} for k in range(1, folds + 1)],
        },
    )
    refresh(parent)
    return parent, prepared_by_fold


#: fold states a (resumed) group keeps as they are: the same settings would diverge again
KEPT = ("finished", "diverged")


def train_folds(
    parent: Path, reporter_factory=None, on_fold=None, prepared: dict[int, Any] | None = None
) -> str:
    """Train every fold of a group that is not finished yet, in order; returns the group's
    final state. A fold with checkpoints/last.pt resumes from it (train_run does that), so
    this also continues an interrupted group. A stopped fold ends the loop; a diverged one
    does not stop the others (and is kept as it is when the group is resumed)."""
    from fbtui.train.trainer import train_run

    parent = Path(parent)
    data = read_json(parent / layout.KFOLD)
    if not data:
        raise RunError(f"{parent}: no kfold.json: not a k-fold group")
    refresh(
        parent,
        state="running",
        pid=os.getpid(),  # what listings check: a group whose process is gone is lost
        host=socket.gethostname(),
        started=data.get("started") or time.time(),
    )
    for r in data["runs"]:
        run_dir = parent / r["run"]
        try:
            status = read_status(run_dir) or {}
        except UnreadableStatus:
            status = {}  # torn: train_run rewrites it (and resumes from last.pt if any)
        if status.get("state") in KEPT:
            continue
        if on_fold is not None:
            on_fold(r["fold"], len(data["runs"]), run_dir)
        reporter = reporter_factory() if reporter_factory else None
        try:
            state = train_run(run_dir, reporter, (prepared or {}).get(r["fold"]))
        except BaseException:
            refresh(parent, state="failed")
            raise
        refresh(parent, state="running")
        if state == "stopped":
            break
    return refresh(parent)["state"]


def run_folds(
    cfg, root: Path, folds: int, detach: bool = False, console=None, stem: str = ""
) -> int:
    """`fbtui run CONFIG --folds K`: returns the exit code (0 ok, 1 a fold failed or diverged)."""
    parent, prepared = create_group(cfg, root, folds, stem)
    if detach:
        pid = spawn_group(parent)
        msg = (
            f"started {folds} folds in the background (pid {pid}); follow them with "
            f"`fbtui runs` or `tail -f {parent}/{LOG}`"
        )
        if console is not None:
            from fbtui.cli.app import err_console

            err_console.print(msg)
        print(parent)  # stdout holds only the group folder, for scripts
        return 0
    return _train_in_foreground(parent, console, prepared)


def resume_group(parent: Path, detach: bool = False, console=None) -> int:
    """`fbtui resume PARENT`: continue a stopped, failed or killed k-fold group in the
    foreground (or with `detach` in one background process). Finished and diverged folds
    are kept; the others resume from their checkpoints; mean ± std is recomputed. Returns
    the exit code (0 ok, 1 a fold failed or diverged); RunError while the group is live."""
    from fbtui.runs.status import effective_state
    from fbtui.runs.store import describe

    parent = Path(parent)
    info = describe(parent)
    if info.state == "unreadable":
        raise RunError(f"{parent.name}: {info.error}")
    if info.summary.get("kind") == "sweep":
        raise RunError(
            f"{parent.name} is a sweep: resume its queue with `fbtui queue resume {parent.name}`"
        )
    runs = info.summary.get("runs")
    if not isinstance(runs, list):
        raise RunError(f"{parent / layout.KFOLD}: no list of folds (`runs`); cannot resume")
    states = {}
    for r in runs:
        try:
            states[r["run"]] = effective_state(read_status(parent / r["run"]) or {})
        except UnreadableStatus:
            states[r["run"]] = "unreadable"  # retrained: the trainer rewrites its status
        except (KeyError, TypeError) as e:
            raise RunError(
                f"{parent / layout.KFOLD}: a fold entry without its run: {r!r:.80}"
            ) from e
    if info.state in ("running", "running (stale)"):
        busy = [n for n, s in states.items() if s.startswith("running")]
        how = f"fbtui stop {parent / busy[0]}" if busy else f"kill {info.summary.get('pid')}"
        raise RunError(
            f"{parent.name} is still running (pid {info.summary.get('pid')}); "
            f"stop it first with: {how}"
        )
    todo = [n for n, s in states.items() if s not in KEPT]
    if not todo:
        if (
            info.summary.get("state") != group_state(list(states.values()))
            or "final_epoch" not in info.summary
        ):
            # killed after its last fold, or written before final-epoch figures: recompute
            refresh(parent)
        if console is not None:
            console.print(
                f"{parent.name}: every fold already ended: nothing to resume",
                markup=False,
                soft_wrap=True,
            )
            print_group(parent, console)
        return 0
    if detach:
        pid = spawn_group(parent)
        if console is not None:
            console.print(
                f"resumed {parent} in the background (pid {pid}): {', '.join(todo)}; "
                f"follow it with `tail -f {parent}/{LOG}`",
                markup=False,
                soft_wrap=True,
            )
        return 0
    return _train_in_foreground(parent, console)


def _train_in_foreground(parent: Path, console, prepared: dict[int, Any] | None = None) -> int:
    """Train the group's unfinished folds here with progress bars; print the table."""
    from fbtui.train.progress import RichReporter

    def announce(k: int, n: int, run_dir: Path) -> None:
        if console is not None:
            console.rule(f"fold {k}/{n}: {run_dir}")

    state = train_folds(
        parent,
        reporter_factory=lambda: RichReporter(console) if console else None,
        on_fold=announce,
        prepared=prepared,
    )
    if console is not None:
        print_group(parent, console)
    folds = (p for p in parent.iterdir() if (p / layout.STATUS).is_file())
    if state == "stopped" and any(stopped_by_sigint(f) for f in folds):
        return 130  # Ctrl-C: as `fbtui run`, so `fbtui run --folds 5 a.toml && …` stops
    return 1 if state in ("failed", "diverged") else 0


def print_group(parent: Path, console) -> None:
    """The per-fold tables with their mean ± std rows, final epoch first (the protocol
    figure), then best epoch (selected on the test fold: optimistic); one summary line each.

    Mean and std are rows of their own under the folds (one `0.3187±0.0141` cell per
    metric was cut to `0.3187±0…` at 80 columns, losing the std the protocol reports):
    every cell is a short number that never wraps, so the table fits 80 columns. A
    kfold.json written before `final_epoch` existed shows its best-epoch table only.
    """
    data = read_json(Path(parent) / layout.KFOLD) or {}
    final = data.get("final_epoch")
    shown = [(BEST_LABEL, "best", data)]
    if isinstance(final, dict):
        shown.insert(0, (FINAL_LABEL, "final", final))
    for label, key, block in shown:
        console.print(_fold_table(data, block, key, f"k-fold {parent}: {label}"))
    for label, _, block in shown:
        if block.get("mean"):
            console.print(
                f"k-fold {data.get('state', '')}: {summary_line(block, label)}",
                highlight=False,
                soft_wrap=True,
            )


def _fold_table(data: dict[str, Any], block: dict[str, Any], key: str, title: str):
    """One figure's table: a row per fold (its `key` metrics), then mean and ± std rows;
    the folds a metric's mean leaves out (NaN) in the caption."""
    from rich.table import Table

    notes = dropped_notes(block)
    table = Table(title=title, caption="; ".join(notes) or None, caption_justify="left")
    table.add_column("fold", overflow="fold", min_width=5)
    table.add_column("state")
    for col in ("epoch", *METRICS):
        table.add_column(col, justify="right", no_wrap=True)
    for r in data.get("runs", []):
        b = r.get(key) or {}
        table.add_row(
            r["run"],
            r.get("state", ""),
            str(b.get("epoch", "")),
            *(f"{b[m]:.4f}" if isinstance(b.get(m), (int, float)) else "" for m in METRICS),
        )
    mean, std = block.get("mean") or {}, block.get("std") or {}
    if mean:
        table.add_section()
        table.add_row(
            "mean",
            data.get("state", ""),
            f"n={block.get('n')}",
            *(f"{mean[m]:.4f}" if m in mean else "" for m in METRICS),
            style="bold",
        )
        table.add_row(
            "± std",
            "",
            "",
            *(f"{std[m]:.4f}" if m in std else "" for m in METRICS),
        )
    return table


def spawn_group(parent: Path) -> int:
    """Start `python -m fbtui.train.kfold PARENT` in its own session (survives the
    terminal); its output goes to PARENT/kfold.log."""
    from fbtui.runs.launch import spawn_detached

    parent = Path(parent)
    return spawn_detached("fbtui.train.kfold", [str(parent)], parent / LOG)


def main(argv: list[str]) -> int:
    from fbtui.errors import UserError

    if len(argv) != 1:
        print("usage: python -m fbtui.train.kfold PARENT", file=sys.stderr)
        return 2
    parent = Path(argv[0])

    def say(k: int, n: int, run_dir: Path) -> None:
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} fold {k}/{n}: {run_dir}", flush=True)

    try:
        state = train_folds(parent, on_fold=say)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    data = read_json(parent / layout.KFOLD) or {}
    # `STATE: mse …` first: the final epoch, the protocol figure (what logs are grepped for)
    final = data.get("final_epoch") or {}
    for block, label in ((final, FINAL_LABEL), (data, BEST_LABEL)):
        mean, std = block.get("mean") or {}, block.get("std") or {}
        if block is final and not mean:
            continue
        notes = dropped_notes(block)
        print(
            f"{state}: "
            + "  ".join(f"{m} {mean[m]:.4f}±{std[m]:.4f}" for m in METRICS if m in mean)
            + f"  ({label}, n={block.get('n')}{'; ' if notes else ''}{'; '.join(notes)})",
            flush=True,
        )
    return 0 if state in ("finished", "stopped") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
