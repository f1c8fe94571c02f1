"""`fbtui predict` and `fbtui beautify`: use a trained run on photos."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from fbtui.cli.app import app, console, err_console, fail, runs_root


def _load(run_: str, runs_dir: Path | None, which: str):
    from fbtui.runs import resolve_run
    from fbtui.tools.inference import load_scorer

    run_dir = resolve_run(run_, runs_root(runs_dir))
    return load_scorer(run_dir, which=which)


def _header(scorer) -> str:
    return (
        f"run {scorer.run_dir.name} · {scorer.checkpoint.name} · {scorer.cfg.model.backbone} "
        f"{scorer.head} head · {scorer.device.type}"
    )


def _fmt_dist(p) -> str:
    return " ".join(f"{v:.2f}" for v in p.distribution)


@app.command()
def predict(
    run_: str = typer.Argument(..., metavar="RUN", help="run folder or name"),
    images: list[Path] = typer.Argument(..., metavar="IMAGE...", help="photos to score"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output on stdout"),
    detect: bool = typer.Option(
        False, "--detect", help="find faces (OpenCV Haar cascade) and score each one"
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="write a copy with boxes and scores (a folder when several images are given)",
    ),
    checkpoint: str = typer.Option("best", "--checkpoint", help="best or last"),
    runs_dir: Path | None = typer.Option(None, "--runs-dir"),
) -> None:
    """Score photos with a run's model, preprocessed exactly like its test images.

    Unreadable files are reported and skipped; exit code 2 when nothing could be scored.

    With --detect, each face is cropped like a SCUT-FBP5500 portrait (the Haar box widened 1.8x) and scored; a photo without faces scores nothing but is not an error.
    """
    from fbtui.tools.predict import predict_files

    if checkpoint not in ("best", "last"):
        fail(f"--checkpoint {checkpoint!r}: expected best or last")
    scorer = _load(run_, runs_dir, checkpoint)
    results = predict_files(scorer, images, detect=detect, out=out)
    readable = [r for r in results if not r.error]
    if as_json:
        doc = {
            "run": str(scorer.run_dir),
            "checkpoint": str(scorer.checkpoint),
            "head": scorer.head,
            "device": scorer.device.type,
            "detect": detect,
            "results": [r.to_dict() for r in results],
        }
        print(json.dumps(doc, indent=2))
    else:
        _print_predictions(scorer, results, detect)
    for r in results:
        if r.error:
            err_console.print(
                f"[yellow]skipped[/] {r.file}: {r.error}", highlight=False, soft_wrap=True
            )
    for note in scorer.notes:
        err_console.print(f"[yellow]note:[/] {note}", highlight=False)
    if not readable:
        fail(f"nothing could be scored: none of the {len(results)} file(s) is a readable image")


def _print_predictions(scorer, results, detect: bool) -> None:
    from rich.table import Table

    console.print(_header(scorer), highlight=False)
    if not any(not r.error for r in results):
        return
    table = Table()
    table.add_column("image", overflow="fold")
    if detect:
        table.add_column("face (x, y, w, h)")
    table.add_column("score", justify="right")
    dist = scorer.head == "distribution"
    if dist:
        table.add_column("p(1..5)")
        table.add_column("std", justify="right")
    for r in results:
        if r.error:
            continue
        rows = (
            [(f"{f.face.box}", f.prediction) for f in r.faces] if detect else [("", r.prediction)]
        )
        if detect and not rows:
            table.add_row(r.file, "no face found", "", *([""] * (2 if dist else 0)))
        for box, p in rows:
            cells = [r.file] + ([box] if detect else []) + [f"{p.score:.3f}"]
            if dist:
                cells += [_fmt_dist(p), f"{p.std:.3f}"]
            table.add_row(*cells)
    console.print(table)
    for r in results:
        if r.out:
            console.print(f"wrote {r.out}", highlight=False)


@app.command()
def beautify(
    run_: str = typer.Argument(..., metavar="RUN", help="run folder or name"),
    image: Path = typer.Argument(..., metavar="IMAGE", help="the photo to change"),
    out: Path = typer.Option(
        ..., "--out", help="the changed image (also writes F_before and F_diff next to it)"
    ),
    target: float = typer.Option(5.0, "--target", help="the score to push toward (1-5)"),
    steps: int = typer.Option(200, "--steps", help="optimisation steps"),
    lr: float = typer.Option(0.01, "--lr", help="Adam step size in pixel units of [0, 1]"),
    tv: float = typer.Option(0.0, "--tv", help="total-variation weight on the change"),
    linf: float = typer.Option(
        0.1, "--linf", help="largest change of any pixel, in [0, 1] (0.1 = 25 of 255 levels)"
    ),
    quantise_aware: bool = typer.Option(
        False,
        "--quantise-aware",
        help="round to 8 bits in every forward pass so the gain survives saving",
    ),
    full_size: bool = typer.Option(
        False,
        "--full-size",
        help="upsample the change to the photo's own size (default: write the model's view)",
    ),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output on stdout"),
    checkpoint: str = typer.Option("best", "--checkpoint", help="best or last"),
    runs_dir: Path | None = typer.Option(None, "--runs-dir"),
) -> None:
    """Change a photo's pixels to push its score toward --target; honest about 8 bits.

    The model is frozen in eval mode (BatchNorm uses its running statistics) and only the image is optimised, in pixel space before normalisation.

    It works at the resolution the model sees the photo (resized like the run's test images) and writes that, or with --full-size the change upsampled onto the original photo.

    Reports the score before, after (float) and after saving to 8 bits and reloading like `fbtui predict`: the honest figure.
    """
    from fbtui.tools.beautify import BeautifyOptions, linf_levels
    from fbtui.tools.beautify import beautify as run_beautify

    if checkpoint not in ("best", "last"):
        fail(f"--checkpoint {checkpoint!r}: expected best or last")
    scorer = _load(run_, runs_dir, checkpoint)
    opts = BeautifyOptions(
        target=target, steps=steps, lr=lr, tv=tv, linf=linf, quantise_aware=quantise_aware
    )
    res = run_beautify(scorer, image, out, opts, full_size=full_size)
    if as_json:
        doc = {"run": str(scorer.run_dir), "checkpoint": str(scorer.checkpoint)}
        doc.update(res.to_dict())
        print(json.dumps(doc, indent=2))
        for note in res.notes:
            err_console.print(f"[yellow]note:[/] {note}", highlight=False)
        return
    gain_f, gain_s = res.after_float - res.before, res.after_saved - res.before
    console.print(_header(scorer), highlight=False)
    console.print(f"works at {res.resolution}", highlight=False)
    mode = "8-bit-aware (rounded in every step)" if res.quantise_aware else "float pixels"
    console.print(
        f"{res.steps} steps toward {res.target:g}, {mode}, lr {lr:g}, tv {tv:g}, "
        f"L∞ ≤ {linf:g} ({linf_levels(linf)} levels in the 8-bit file)",
        highlight=False,
    )
    console.print(f"  score before          {res.before:.4f}", highlight=False)
    console.print(
        f"  after (float)         {res.after_float:.4f}  ({gain_f:+.4f})", highlight=False
    )
    console.print(
        f"  [bold]after saved (8-bit)   {res.after_saved:.4f}  ({gain_s:+.4f})[/]  "
        "← honest: the saved file, scored like `fbtui predict`",
        highlight=False,
    )
    console.print(
        f"  change: max {res.linf_levels} levels, mean {res.mean_abs_levels:.2f} levels, "
        f"{res.changed_frac:.0%} of pixel channels changed",
        highlight=False,
    )
    outside = [v for v in (res.after_float, res.after_saved) if not 1.0 <= v <= 5.0]
    if outside:
        console.print(
            f"  [yellow]{outside[0]:.4f} is outside the 1-5 rating scale: the model "
            "extrapolates there (an unclipped regression head), the number is not a rating[/]"
        )
    if not res.quantise_aware and abs(gain_f) > 0.01 and abs(gain_s) < 0.5 * abs(gain_f):
        console.print(
            "  [yellow]most of the float gain vanished in the 8-bit file: try --quantise-aware "
            "and a --linf of at least 1/255 (0.004)[/]"
        )
    files = res.files
    console.print(
        f"wrote {files['after']} (after), {files['before']} (before), "
        f"{files['diff']} (difference ×{res.diff_gain:.1f}, mid-grey = unchanged)",
        highlight=False,
    )
    for note in res.notes:
        err_console.print(f"[yellow]note:[/] {note}", highlight=False)
