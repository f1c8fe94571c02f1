"""`fbtui lr`, `fbtui augment` and `fbtui calibrate`: look before you train."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from fbtui.cli.app import app, console, err_console


@app.command("lr")
def lr_cmd(
    config: Path = typer.Argument(..., help="experiment TOML file"),
    png: Path | None = typer.Option(None, "--png", help="also write the chart to this PNG"),
    set_: list[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", help="override a key: --set train.lr=0.04"
    ),
    log: bool = typer.Option(False, "--log", help="logarithmic lr axis"),
    train_size: int = typer.Option(
        0, "--train-size", min=0, help="training images per epoch (default: from the split files)"
    ),
    width: int = typer.Option(0, "--width", min=0, help="chart width in characters"),
    height: int = typer.Option(14, "--height", min=4, help="chart height in lines"),
    nproc: int = typer.Option(1, "--nproc", min=1, help="processes per node, as for `fbtui run`"),
    nnodes: int = typer.Option(1, "--nnodes", min=1, help="nodes, as for `fbtui run`"),
) -> None:
    """Draw the learning rate against step for the whole planned run, without training."""
    from fbtui.config import load_config
    from fbtui.tools.lr_plot import describe, lr_plan, render_chart, save_png

    cfg = load_config(config, set_)
    world = nproc * nnodes
    sched, size = lr_plan(cfg, train_size or None, world)
    plan = sched.plan()
    console.print(f"[bold]{config}[/]", highlight=False, soft_wrap=True)
    if world > 1:
        console.print(
            f"  {world} processes: {-(-size.n // world)} training images each per epoch",
            highlight=False,
            soft_wrap=True,
        )
    for line in describe(cfg, sched, size):
        style = "yellow" if size.assumed and line.startswith("training images") else None
        console.print(f"  {line}", style=style, highlight=False, soft_wrap=True)
    for w in sched.warnings():
        err_console.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    w = width or max(30, min(110, console.width - 12))
    for line in render_chart(plan, w, height, log=log, steps_per_epoch=sched.spe):
        console.print(line, style="cyan", highlight=False, no_wrap=True, overflow="crop")
    if png is not None:
        save_png(png, plan, sched.spe, f"{config.name}: {cfg.schedule.name}", log=log)
        console.print(f"wrote {png}", highlight=False, soft_wrap=True)


@app.command("augment")
def augment_cmd(
    config: Path = typer.Argument(..., help="experiment TOML file"),
    png: Path | None = typer.Option(
        None, "--png", help="where to write the grid (default augment-<config>.png)"
    ),
    n: int = typer.Option(16, "--n", min=1, max=256, help="number of samples"),
    set_: list[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", help="override a key: --set augment.rotation=20"
    ),
    seed: int = typer.Option(0, "--seed", help="which samples and which random draws"),
    show: bool = typer.Option(
        True, "--show/--no-show", help="draw the grid in the terminal (colour terminals)"
    ),
) -> None:
    """Write a grid of augmented training samples beside their originals (de-normalised)."""
    from fbtui.config import load_config
    from fbtui.tools.augment_preview import describe_transform, preview, render_terminal

    cfg = load_config(config, set_)
    grid, samples = preview(cfg, n, seed)
    for note in samples.notes:
        err_console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    out = png or Path(f"augment-{config.stem}.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out)
    console.print(
        f"{len(samples.records)} samples from {samples.source}; training transform: "
        f"{describe_transform(cfg)}",
        highlight=False,
        soft_wrap=True,
    )
    if show and console.is_terminal and console.color_system in ("truecolor", "256"):
        render_terminal(grid, console)
    elif show:
        console.print(
            "(not a colour terminal: open the PNG to see the grid)", highlight=False, soft_wrap=True
        )
    console.print(f"wrote {out} ({grid.width}x{grid.height})", highlight=False, soft_wrap=True)


@app.command("calibrate")
def calibrate_cmd(
    run: str = typer.Argument(..., metavar="RUN", help="run folder, run name or checkpoint"),
    dataset: Path = typer.Argument(..., help="data set folder (list or SCUT layout)"),
    fmt: str = typer.Option("auto", "--format", help="list | scut | auto (labels.txt -> list)"),
    label: str = typer.Option("mean", "--label", help="SCUT label: mean | original"),
    split: str = typer.Option(
        "all",
        "--split",
        metavar="all|train|test",
        help='images to fit on: all (what an extra set\'s calibration = "fit" uses) | '
        'train (what data.calibration = "fit" uses: the training split) | test',
    ),
    data_split: str = typer.Option(
        "60/40",
        "--data-split",
        metavar="NAME",
        help="the run's data.split that --split train|test picks from: 60/40 | cv1..cv5",
    ),
    runs_dir: Path | None = typer.Option(None, "--runs-dir", help="runs root for run names"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Fit y' = k*y + b mapping DATASET's labels onto RUN's predictions (least squares,
    mapped labels clipped to [1, 5]); print k, b, the MSE before and after, and what a
    constant would get on the mapped labels (warning when k or r is below 0.5)."""
    import os

    from fbtui.cli.app import runs_root
    from fbtui.errors import ConfigError
    from fbtui.tools.calibrate import SPLITS, calibrate

    if fmt not in ("auto", "list", "scut"):
        raise ConfigError(f"--format {fmt!r}: expected list, scut or auto")
    if label not in ("mean", "original"):
        raise ConfigError(f"--label {label!r}: expected mean or original")
    if split not in SPLITS:
        raise ConfigError(
            f"--split {split!r}: expected all (every image), train or test (of --data-split)"
        )
    named = ("60/40", "cv1", "cv2", "cv3", "cv4", "cv5")
    if data_split not in named:
        raise ConfigError(f"--data-split {data_split!r}: expected one of {', '.join(named)}")
    if split == "all" and data_split != "60/40":
        raise ConfigError(
            f"--data-split {data_split} picks the images of --split train or test; "
            "with --split all every image is used"
        )
    if not dataset.is_dir():  # before the model loads; the data layer's hint is for configs
        what = "is a file" if dataset.exists() else "not found"
        raise ConfigError(
            f"DATASET {dataset}: {what}; expected a folder: images with labels.txt (list "
            "format) or a SCUT-FBP5500 layout (Images/, All_Ratings.xlsx)"
        )
    if runs_dir is not None:
        os.environ["FBTUI_RUNS"] = str(runs_root(runs_dir))  # run names resolve under it
    res = calibrate(run, dataset, fmt, label, split, data_split)
    if as_json:
        print(json.dumps(res.to_dict(), indent=2))
        return

    def say(text: str, style: str = "") -> None:
        console.print(text, style=style or None, highlight=False, soft_wrap=True, markup=False)

    say(f"calibrated {res.dataset} against {res.model}")
    match = {
        "all": '[[data.extra]] calibration = "fit" fits on these',
        "train": f'data.calibration = "fit" fits on these for data.split = "{res.data_split}"',
        "test": "the test images: a run's fit never uses these",
    }[split]
    say(f"  images: {res.used()} ({match})")
    say(
        f"  labels {res.label_min:.3f}..{res.label_max:.3f}, std {res.label_std:.4f}; "
        f"Pearson r with the model's predictions {res.pc:.4f}"
    )
    say(f"  k = {res.k:.4f}   b = {res.b:+.4f}   (y' = k*y + b, clipped to [1, 5])", "bold")
    say(
        f"  mapped labels: mean {res.mapped_mean:.4f}, std {res.mapped_std:.4f} "
        f"(was {res.label_std:.4f})"
    )
    say(f"  MSE to the model: before {res.mse_before:.4f}  after {res.mse_after:.4f}")
    verdict = "" if res.mse_after < res.const_mse else " (the model does no better than it)"
    say(
        f"  a constant (the mapped mean) gets MSE {res.const_mse:.4f} on the mapped labels"
        + verdict
    )
    if res.warning:
        say(f"  {res.warning}", "yellow")
    say(f"  for an experiment file:  {res.toml()}")
