"""The training loop. Reads top to bottom: set-up, loop, evaluate, save.

`train_run(run_dir)` trains (or resumes) the run whose resolved `config.toml` is in
`run_dir`, writing everything of DESIGN §3 there. It never talks to a UI: a foreground
`fbtui run` passes a `reporter` that draws progress; a detached run passes none.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import random
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fbtui.config import Config, load_config
from fbtui.errors import UserError
from fbtui.metrics import group_metrics, score_metrics
from fbtui.runs import layout
from fbtui.runs.status import active_before, write_json_atomic
from fbtui.train import distributed
from fbtui.train.checkpoint import (
    link_checkpoint,
    load_checkpoint,
    remove_stale_temps,
    save_checkpoint,
)
from fbtui.train.scalars import ScalarLog
from fbtui.train.schedules import make_schedule
from fbtui.train.status_writer import StatusWriter

log = logging.getLogger("fbtui.train")

# Input-bound when more than this share of step time is spent waiting for data.
DATA_WAIT_WARN = 0.3


class Diverged(Exception):
    """The loss became NaN or infinite under nan_policy = "stop"."""


@dataclass
class Prepared:
    """What the trainer needs from the data side, opened once (the CLI validates first)."""

    train: list[Any]
    test: list[Any]
    notes: list[str] = field(default_factory=list)


class Reporter:
    """Progress callbacks for a foreground run; the base class does nothing."""

    def start(
        self, cfg: Config, run_dir: Path, epochs: int, steps_per_epoch: int, step: int
    ) -> None: ...
    def step(self, step: int, epoch: int, values: dict[str, float]) -> None: ...
    def epoch(self, epoch: int, metrics: dict[str, float], best: dict[str, float]) -> None: ...
    def message(self, text: str) -> None: ...
    def finish(self, state: str, detail: str = "") -> None:
        """The run ended in `state` (finished, stopped, diverged, failed)."""

    def close(self) -> None: ...


# -- set-up helpers ----------------------------------------------------------------------


def prepare_data(cfg: Config) -> Prepared:
    """Open the data set and pick the split; raises DataError (exit 2) on bad data."""
    from fbtui.data import open_dataset

    ds = open_dataset(
        cfg.data.root,
        format=cfg.data.format,
        label=cfg.data.label,
        synth_n=cfg.data.synth_n,
        synth_size=cfg.data.synth_size,
        skip_bad=cfg.data.skip_bad,
    )
    if cfg.data.split not in ds.splits:  # a list-format set has no official folds
        from fbtui.errors import DataError

        raise DataError(
            f'data.split = "{cfg.data.split}": {cfg.data.root} is a {ds.format}-format set '
            f"with no such split (it has: {', '.join(s for s in ds.splits if s != 'all')}); "
            'use data.split = "60/40" (a fixed 60/40 split of its list), or --folds only '
            "on SCUT-FBP5500 with its train_test_files/"
        )
    train, test = ds.split(cfg.data.split)
    notes: list[str] = list(getattr(ds, "warnings", []) or [])
    if cfg.data.skip_bad:
        from fbtui.data import scan_bad

        # headers were checked on open; a full decode finds truncated or corrupt pixels
        bad = {name for name, _ in scan_bad(train + test)} | {
            b[0] if isinstance(b, tuple) else str(b) for b in getattr(ds, "bad", [])
        }
        if bad:
            train = [r for r in train if r.name not in bad]
            test = [r for r in test if r.name not in bad]
            notes.append(
                f"skipped {len(bad)} unreadable image(s) (data.skip_bad = true): {', '.join(sorted(bad)[:5])}{' …' if len(bad) > 5 else ''}"
            )
    from fbtui.train import extra_data

    train, test, more = extra_data.calibrate_main(cfg, train, test)
    notes += more
    train, more = extra_data.extend_training(cfg, train)
    notes += more
    if cfg.model.head == "distribution" and cfg.data.label_noise_std > 0:
        rated = sum(r.hist is not None for r in train)
        if rated:
            notes.append(
                f"data.label_noise_std = {cfg.data.label_noise_std:g} does not reach the "
                f"distribution head's targets for the {rated} of {len(train)} training images "
                "with rater histograms: it trains on the histograms, and the noise is added "
                "to the score, which this head uses only where a histogram is missing"
            )
    return Prepared(train=train, test=test, notes=notes)


def preflight(cfg: Config, root: Path | None = None) -> None:
    """The checks that training would otherwise make only once its run folder exists (a
    missing init_from run, pretrained file or CUDA device): made before any folder is
    created, so a mistake exits 2 with nothing on disk, also for --detach, --folds and
    sweeps. Cheap: names and files only, nothing is loaded. Raises UserError.

    A run name in model.init_from is looked up under `root` (the runs root of the new
    run) and replaced by its absolute path, which the resolved config then records."""
    from fbtui.errors import ConfigError

    pick_device(cfg.train.device)
    m = cfg.model
    if m.pretrained == "imagenet":
        if m.backbone == "tiny":
            raise ConfigError(
                'model.pretrained: the tiny backbone has no ImageNet weights; use "none"'
            )
        if os.environ.get("FBTUI_NO_DOWNLOAD"):
            from fbtui.model.backbones import weights_file_hint

            url, local = weights_file_hint(m.backbone)
            if not local.is_file():
                raise ConfigError(
                    f'model.pretrained = "imagenet": the ImageNet weights for {m.backbone} are '
                    f"not on this machine and FBTUI_NO_DOWNLOAD is set. Download\n  {url}\n"
                    f"on a machine with internet and copy it to\n  {local}"
                )
    elif m.pretrained not in ("none", "") and not Path(m.pretrained).expanduser().is_file():
        raise ConfigError(
            f"model.pretrained = {m.pretrained!r}: no such file "
            '(expected "imagenet", "none" or a .pth path)'
        )
    from fbtui.train.transfer import resolve_source

    if m.init_from:
        m.init_from = resolve_source(m.init_from, root)
    d = cfg.data
    if d.fit_from:  # calibration = "fit" against this run (default: init_from)
        d.fit_from = resolve_source(d.fit_from, root, key="data.fit_from")
    for i, extra in enumerate(d.extra):
        if extra.fit_from:
            extra.fit_from = resolve_source(extra.fit_from, root, key=f"data.extra[{i}].fit_from")


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(
            f'train.device = "{name}", but CUDA is not available here; use "auto" or "cpu"'
        )
    return dev


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_optimizer(cfg: Config, model: torch.nn.Module) -> torch.optim.Optimizer:
    t = cfg.train
    params = [p for p in model.parameters() if p.requires_grad]
    if t.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=t.lr,
            momentum=t.momentum,
            weight_decay=t.weight_decay,
            nesterov=t.nesterov and t.momentum > 0,
        )
    if t.optimizer == "adam":
        return torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay)
    return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)


def _rng_state() -> dict[str, Any]:
    state = {
        "torch": torch.get_rng_state(),
        "numpy": torch.from_numpy(
            np.frombuffer(np.random.get_state()[1].tobytes(), dtype=np.uint8).copy()
        ),
        "numpy_pos": int(np.random.get_state()[2]),
        "python": repr(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import ast

    torch.set_rng_state(state["torch"])
    keys = np.frombuffer(state["numpy"].numpy().tobytes(), dtype=np.uint32)
    np.random.set_state(("MT19937", keys, state["numpy_pos"]))
    random.setstate(ast.literal_eval(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _setup_file_log(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / layout.LOG, encoding="utf-8")
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


# -- evaluation --------------------------------------------------------------------------


@torch.no_grad()
def evaluate(
    model, loader, device, amp_dtype, records, gather=None
) -> tuple[dict[str, float], dict[str, dict], list[dict]]:
    """Score the test split: overall and per-subgroup metrics, and one row per image.

    Under DDP `gather` collects every rank's shard, so each rank scores the whole split."""
    from fbtui.model import predicted_std

    model.eval()
    preds, targets, idxs, dists, stds = [], [], [], [], []
    for batch in loader:
        x = batch["image"].to(device, non_blocking=True)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(x)
        logits = logits.float()
        preds.append(model.score(logits).cpu())
        targets.append(batch["score"].float())
        idxs.append(batch["index"])
        if model.head_kind == "distribution":
            dists.append(logits.softmax(1).cpu())
            stds.append(predicted_std(logits).cpu())
    pred = torch.cat(preds).numpy().astype(np.float64)
    idx = torch.cat(idxs).numpy()
    dist = torch.cat(dists).numpy() if dists else None
    std = torch.cat(stds).numpy() if stds else None
    if gather is not None:
        idx, pred, dist, std = gather(idx, pred, dist, std)
    recs = [records[i] for i in idx]
    target = np.array([r.score for r in recs], dtype=np.float64)
    if not np.all(np.isfinite(pred)):
        return {"mse": math.nan, "mae": math.nan, "rmse": math.nan, "pc": math.nan}, {}, []
    overall = score_metrics(target, pred)
    groups = group_metrics(target, pred, [r.group for r in recs])
    rows = []
    for k, r in enumerate(recs):
        row = {"filename": r.name, "target": f"{r.score:.6f}", "prediction": f"{pred[k]:.6f}"}
        if dist is not None:
            row.update({f"p{j + 1}": f"{dist[k, j]:.6f}" for j in range(5)})
            row["std"] = f"{std[k]:.6f}"
        rows.append(row)
    return overall, groups, rows


def write_predictions(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


# -- the run -------------------------------------------------------------------------------


class _StopFlag:
    def __init__(self) -> None:
        self.requested = False
        self.signal = ""

    def __call__(self, signum, frame) -> None:  # noqa: ARG002
        self.requested = True
        self.signal = signal.Signals(signum).name


def train_run(
    run_dir: Path, reporter: Reporter | None = None, prepared: Prepared | None = None
) -> str:
    """Train or resume the run in `run_dir`; returns the final state.

    Never leaves status.json claiming `running`: every exit path records the outcome."""
    run_dir = Path(run_dir)
    reporter = reporter or Reporter()
    rank = int(os.environ.get("RANK", "0"))
    is_main = rank == 0
    status = StatusWriter(run_dir, enabled=is_main)
    # this session starts now, before anything can fail: an outcome recorded by a resume
    # that fails at once must not count the idle days since the last session
    status.update(active_s=active_before(status.data), session_started=time.time())
    handler = _setup_file_log(run_dir) if is_main else None
    stop = _StopFlag()
    old_handlers = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        state = _train(run_dir, reporter, prepared, status, stop)
        reporter.finish(state)
        return state
    except Diverged as e:
        log.error("diverged: %s", e)
        _record_end(status, state="diverged", error=str(e))
        reporter.finish("diverged")
        reporter.message(f"[red]diverged:[/] {e}")
        return "diverged"
    except UserError as e:
        log.error("%s", e)
        _record_end(status, state="failed", error=str(e))
        reporter.finish("failed")
        raise
    except BaseException as e:
        log.error("failed: %s\n%s", e, traceback.format_exc())
        _record_end(status, state="failed", error=f"{type(e).__name__}: {e}")
        reporter.finish("failed")
        raise
    finally:
        status.close()
        distributed.teardown()
        for s, h in old_handlers.items():
            signal.signal(s, h)
        reporter.close()
        if handler is not None:
            log.removeHandler(handler)
            handler.close()


def _record_end(status: StatusWriter, **fields: Any) -> None:
    """Record how the run ended, best effort: on a full disk status.json may not be
    writable either, and that must not replace the error that ended the run."""
    status.update(**fields)
    try:
        status.write()
    except OSError as e:
        log.error("could not record the outcome in status.json: %s", e)


def _train(
    run_dir: Path,
    reporter: Reporter,
    prepared: Prepared | None,
    status: StatusWriter,
    stop: _StopFlag,
) -> str:
    import fbtui.model as model_lib
    from fbtui.train import transfer
    from fbtui.train.loaders import build_loaders

    t_start = time.time()
    cfg = load_config(run_dir / layout.CONFIG, run_folder=True)
    ckpt_path = run_dir / layout.LAST
    resume = load_checkpoint(ckpt_path) if ckpt_path.exists() else None
    if status.enabled and remove_stale_temps(run_dir / layout.CHECKPOINTS):
        log.info("removed the temporary file(s) of a checkpoint write that was cut short")
    ran_before = bool(status.data.get("started"))  # a resume of a run with no checkpoint
    status.update(
        state="running",
        started=status.data.get("started") or t_start,
        error="",
        pids=distributed.local_pids(),  # not the pids of an earlier launch
        write=True,
    )
    status.start_heartbeat()

    # -- set-up ---------------------------------------------------------------------
    seed_everything(cfg.experiment.seed)
    device = pick_device(cfg.train.device)
    ddp, world = distributed.is_ddp(), distributed.world_size()
    if ddp:  # launched by torchrun: join the process group, each rank on its own GPU
        device = distributed.setup(device)
        seed_everything(cfg.experiment.seed + distributed.rank())  # own augmentations
        resume = distributed.share_checkpoint(resume)
    distributed.check_resume(resume, world)
    prepared = prepared or prepare_data(cfg)
    for note in prepared.notes:
        log.info("%s", note)
        reporter.message(note)
    # under DDP each rank loads its shard of the train and test splits
    loaders = build_loaders(cfg, prepared, device, distributed.rank(), world)
    train_ds, test_ds = loaders.train_ds, loaders.test_ds
    train_loader, test_loader = loaders.train, loaders.test
    steps_per_epoch = loaders.steps_per_epoch
    epochs = cfg.train.epochs

    model = model_lib.build_model(cfg.model)
    if cfg.model.init_from and resume is None:
        msg = transfer.init_from(model, cfg.model.init_from)
        log.info("%s", msg)
        reporter.message(msg)
    model.to(device)
    if device.type == "cuda" and cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    amp_dtype = None
    if device.type == "cuda" and cfg.train.amp:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    optimizer = make_optimizer(cfg, model)
    schedule = make_schedule(cfg.schedule, cfg.train.lr, steps_per_epoch, epochs)

    start_epoch, start_batch, step, best = 0, 0, 0, {}
    skipped_nan = 0
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        schedule.load_state_dict(resume.get("schedule", {}))
        if "scaler" in resume and scaler.is_enabled():
            scaler.load_state_dict(resume["scaler"])
        start_epoch, start_batch, step = resume["epoch"], resume.get("batch", 0), resume["step"]
        best = dict(resume.get("best", {}))
        skipped_nan = int(resume.get("skipped_nan", 0))
        _set_rng_state(resume["rng"])
        log.info("resumed from %s at epoch %d, step %d", ckpt_path, start_epoch + 1, step)
        _repair_best_link(run_dir, best, start_epoch, start_batch, status.enabled)
        reporter.message(f"resumed at epoch {start_epoch + 1}, step {step}")
    elif ran_before:  # trained before, but never got to a checkpoint
        log.info("no checkpoint to resume from: training from the start (epoch 1, step 0)")
    raw_model = model  # checkpoints, scores and evaluation use the plain model
    if ddp:
        model = distributed.wrap(model, cfg, device)
        raw_model = model.module
    tb = ScalarLog(
        run_dir,
        cfg.log.flush_secs,
        # a process killed before its first checkpoint left events too: restarting from
        # step 0 must hide them (purge from step 1), or every such step shows twice
        purge_step=step + 1 if resume is not None or layout.has_events(run_dir) else None,
        enabled=status.enabled,
    )
    gpu = _gpu_logger(cfg) if status.enabled else None
    if ddp:  # every rank's pid and its torchrun agent's: for stop and the GPU panel
        status.update(**distributed.launch_info())
    else:
        status.update(world_size=1)

    status.update(
        state="running",
        epochs=epochs,
        epoch=start_epoch,
        step=step,
        steps_per_epoch=steps_per_epoch,
        best=best,
        device=str(device),
        train_images=len(train_ds),
        test_images=len(test_ds),
        write=True,
    )
    log.info(
        "training %s: %d train / %d test images, %d steps per epoch, %d epochs, device %s",
        cfg.experiment.name,
        len(train_ds),
        len(test_ds),
        steps_per_epoch,
        epochs,
        device,
    )
    reporter.start(cfg, run_dir, epochs, steps_per_epoch, step)

    def checkpoint(epoch: int, batch: int, path: Path) -> None:
        state = {
            "model": raw_model.state_dict(),
            "world_size": world,
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "epoch": epoch,
            "batch": batch,
            "step": step,
            "best": best,
            "skipped_nan": skipped_nan,
            "rng": _rng_state(),
            "config": (run_dir / layout.CONFIG).read_text(encoding="utf-8"),
        }
        if scaler.is_enabled():
            state["scaler"] = scaler.state_dict()
        if status.enabled:
            save_checkpoint(state, path)

    def kept(epoch: int) -> str:
        """What a diverged run leaves to resume from: never claim a checkpoint that does
        not exist (a run that diverges in its first epoch has none)."""
        if not ckpt_path.is_file():
            return f"no checkpoint yet (diverged in epoch {epoch + 1})"
        return "the last good checkpoint is kept"

    # -- the loop -----------------------------------------------------------------------
    every = cfg.log.every_steps
    check_each_step = device.type != "cuda" or cfg.train.nan_policy == "skip"
    images_seen, t_train = 0, 0.0
    for epoch in range(start_epoch, epochs):
        model.train()
        batch0 = start_batch if epoch == start_epoch else 0
        loaders.set_epoch(epoch, batch0)
        loss_sum = torch.zeros((), device=device)
        mse_sum = torch.zeros((), device=device)
        n_logged, bad_flag = 0, torch.zeros((), dtype=torch.bool, device=device)
        t_wait, t_window, img_window = 0.0, time.perf_counter(), 0
        t_fetch = time.perf_counter()
        for batch_idx, batch in enumerate(train_loader, start=batch0):
            if batch_idx >= steps_per_epoch:
                break
            t_got = time.perf_counter()
            t_wait += t_got - t_fetch
            x = batch["image"].to(device, non_blocking=True)
            if device.type == "cuda" and cfg.train.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = batch["score"].to(device, non_blocking=True).float()
            hist = batch["hist"].to(device, non_blocking=True)
            lr = schedule.lr_at(step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = model(x)
            loss = model_lib.head_loss(
                logits.float(), y, hist, cfg.model.head, cfg.model.clip, cfg.train.loss
            )
            finite = torch.isfinite(loss)
            ok = bool(finite) if check_each_step else True
            if ddp and check_each_step:  # every rank skips, or stops at, the same batch
                ok = not distributed.any_rank(not ok)
            if not ok:
                if cfg.train.nan_policy == "skip":
                    skipped_nan += 1
                    optimizer.zero_grad(set_to_none=True)
                    log.warning(
                        "non-finite loss at step %d: batch skipped (%d so far)", step, skipped_nan
                    )
                    t_fetch = time.perf_counter()
                    continue
                raise Diverged(
                    f"loss became {loss.item() if not bool(finite) else 'non-finite on another rank'} at epoch {epoch + 1}, step {step}; {kept(epoch)}"
                )
            bad_flag |= ~finite
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.train.grad_clip > 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            step += 1
            with torch.no_grad():
                loss_sum += loss.detach()
                mse_sum += torch.mean((raw_model.score(logits.detach().float()) - y) ** 2)
            n_logged += 1
            img_window += x.shape[0] * world  # images per second of the whole job
            images_seen += x.shape[0] * world
            if step % every == 0 or batch_idx == steps_per_epoch - 1:
                # the only host sync of the hot loop on CUDA: once per logging interval
                bad = bool(bad_flag)
                if ddp:
                    bad = distributed.any_rank(bad)
                if bad:
                    raise Diverged(
                        f"loss became non-finite before step {step} (epoch {epoch + 1}); {kept(epoch)}"
                    )
                now = time.perf_counter()
                window = max(1e-9, now - t_window)
                values = {
                    "train/loss": float(loss_sum) / n_logged,
                    "train/mse": float(mse_sum) / n_logged,
                    "lr": lr,
                    "perf/img_per_s": img_window / window,
                    "perf/data_wait_frac": min(1.0, t_wait / window),
                }
                t_train += window
                tb.scalars(values, step)
                if gpu is not None:
                    tb.scalars(gpu(), step)
                reporter.step(step, epoch, values)
                status.update(
                    epoch=epoch,
                    step=step,
                    batch=batch_idx + 1,
                    lr=lr,
                    img_per_s=values["perf/img_per_s"],
                    data_wait_frac=values["perf/data_wait_frac"],
                )
                loss_sum.zero_()
                mse_sum.zero_()
                n_logged, t_wait, img_window, t_window = 0, 0.0, 0, now
            # under DDP every rank stops at the same step when any rank got the signal
            if distributed.agree_stop(stop) if ddp else stop.requested:
                tb.close()  # before the checkpoint, as at an epoch's end
                checkpoint(epoch, batch_idx + 1, ckpt_path)
                status.update(
                    state="stopped",
                    epoch=epoch,
                    step=step,
                    error=f"stopped by {stop.signal}",
                    write=True,
                )
                # "in epoch 4 (3 completed)": the same count `fbtui runs` shows as 3/N
                log.info(
                    "stopped by %s in epoch %d (%d completed), step %d; checkpoint saved",
                    stop.signal,
                    epoch + 1,
                    epoch,
                    step,
                )
                reporter.message(f"stopped by {stop.signal}; resume with: fbtui resume {run_dir}")
                return "stopped"
            t_fetch = time.perf_counter()

        # -- evaluate ---------------------------------------------------------------------
        last_epoch = epoch == epochs - 1
        improved = False
        if (epoch + 1) % cfg.train.eval_every == 0 or last_epoch:
            if ddp:  # score every shard with rank 0's BatchNorm statistics
                distributed.sync_buffers(raw_model)
            metrics, groups, rows = evaluate(
                raw_model,
                test_loader,
                device,
                amp_dtype,
                prepared.test,
                gather=distributed.gather_predictions if ddp else None,
            )
            if not math.isfinite(metrics["mse"]):
                raise Diverged(
                    f"test predictions became non-finite after epoch {epoch + 1}; {kept(epoch)}"
                )
            values = {f"test/{k}": v for k, v in metrics.items()}
            for g, m in groups.items():
                values[f"test_{g}/mse"] = m["mse"]
            tb.scalars(values, step)
            schedule.observe(metrics["mse"])
            improved = not best or metrics["mse"] < best["mse"]
            if improved:
                best = {**metrics, "epoch": epoch + 1, "step": step}
                if status.enabled:
                    write_predictions(run_dir / layout.PREDICTIONS, rows)
            reporter.epoch(epoch, metrics, best)
            log.info(
                "epoch %d/%d step %d: test mse %.4f mae %.4f rmse %.4f pc %.4f%s",
                epoch + 1,
                epochs,
                step,
                metrics["mse"],
                metrics["mae"],
                metrics["rmse"],
                metrics["pc"],
                " (best)" if improved else "",
            )
            status.update(last=metrics)
        tb.flush()  # first: the checkpoint must never claim steps whose events are not on disk
        checkpoint(epoch + 1, 0, ckpt_path)
        if improved and status.enabled:  # the same state: best.pt shares last.pt's file
            link_checkpoint(ckpt_path, run_dir / layout.BEST)
        status.update(
            epoch=epoch + 1, step=step, batch=0, best=best, skipped_nan=skipped_nan, write=True
        )

    # -- finish -------------------------------------------------------------------------
    tb.close()
    # training time, not the calendar: the earlier sessions' time, then this one's
    wall = (
        float(status.data.get("active_s") or 0.0)
        + time.time()
        - float(status.data.get("session_started") or t_start)
    )
    summary = {
        "state": "finished",
        "best": best,
        "final": status.data.get("last", {}),
        "epochs": epochs,
        "steps": step,
        "wall_time_s": wall,
        "img_per_s": images_seen / t_train if t_train > 0 else None,
        "skipped_nan": skipped_nan,
        "train_images": len(train_ds),
        "test_images": len(test_ds),
    }
    if status.enabled:
        write_json_atomic(run_dir / layout.SUMMARY, summary)
    status.update(state="finished", epoch=epochs, step=step, best=best, write=True)
    log.info(
        "finished: best test mse %.4f pc %.4f at epoch %s",
        best.get("mse", math.nan),
        best.get("pc", math.nan),
        best.get("epoch"),
    )
    return "finished"


def _repair_best_link(run_dir: Path, best: dict, epoch: int, batch: int, enabled: bool) -> None:
    """A kill between writing last.pt and linking best.pt to it leaves a last.pt that
    records itself as the best epoch beside an older best.pt: link them again."""
    last, best_path = run_dir / layout.LAST, run_dir / layout.BEST
    if not enabled or batch != 0 or best.get("epoch") != epoch:
        return
    try:
        if best_path.exists() and os.path.samefile(last, best_path):
            return
    except OSError:
        pass
    link_checkpoint(last, best_path)
    log.info("best.pt made the same file as last.pt again, which holds the best epoch (%d)", epoch)


def _gpu_logger(cfg: Config):
    """A callable giving the sys/gpu<i>/* scalars every few seconds, or None without NVML.

    Polled in the loop at the logging interval (NVML calls take milliseconds)."""
    from fbtui.gpu import GpuMonitor, sys_scalars

    monitor = GpuMonitor(history=2, parent_of=None)
    if monitor.no_gpu:
        log.info("GPU scalars: %s", monitor.no_gpu)
        return None
    last = [0.0]
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    visible = None if cvd is None else {v.strip() for v in cvd.split(",") if v.strip()}

    def sample() -> dict[str, float]:
        now = time.time()
        if now - last[0] < cfg.log.gpu_every_secs:
            return {}
        last[0] = now
        samples = monitor.poll()
        if visible is not None:  # NVML sees every GPU; log only the ones this run uses
            samples = [x for x in samples if str(x.index) in visible or x.uuid in visible]
        return sys_scalars(samples)

    return sample
