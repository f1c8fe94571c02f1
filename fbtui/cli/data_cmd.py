"""`fbtui data check ROOT` and `fbtui data synth OUT`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from fbtui.cli.app import console, data_app, err_console


def _fmt_score(d: dict) -> str:
    if not d:
        return "-"
    return f"{d['min']:.3f} .. {d['max']:.3f}  (mean {d['mean']:.3f}, std {d['std']:.3f})"


def _print_report(rep) -> None:
    from rich.table import Table

    console.print(f"[bold]{rep.root}[/]  ({rep.format}; scores from {rep.source or '?'})")
    if rep.synthetic:
        console.print(
            "[yellow]SYNTHETIC data: drawn faces rated by simulated raters, not SCUT-FBP5500[/]"
        )
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="dim")
    t.add_column()
    t.add_row("images", f"{rep.images} files, {rep.records} rated")
    if rep.groups:
        t.add_row("subgroups", "  ".join(f"{g} {n}" for g, n in rep.groups.items()))
    if rep.raters is not None:
        rpi = rep.raters_per_image or {}
        t.add_row("raters", f"{rep.raters} (per image: min {rpi.get('min')}, max {rpi.get('max')})")
        t.add_row("re-ratings", str(rep.reratings))
    t.add_row("images without ratings", str(len(rep.images_without_ratings)))
    t.add_row("ratings without images", str(len(rep.ratings_without_images)))
    t.add_row("score", _fmt_score(rep.score))
    for name, s in rep.splits.items():
        groups = " ".join(f"{g} {n}" for g, n in s.get("test_groups", {}).items())
        overlap = f"[red]overlap {s['overlap']}[/]" if s["overlap"] else "no overlap"
        t.add_row(
            f"split {name}", f"train {s['train']} / test {s['test']}, {overlap}  [dim]{groups}[/]"
        )
    if rep.cv:
        ok = rep.cv.get("test_folds_disjoint") and rep.cv.get("test_folds_cover_all")
        t.add_row(
            "cv test folds",
            "disjoint and covering all"
            if ok
            else f"[red]disjoint {rep.cv.get('test_folds_disjoint')}, cover all {rep.cv.get('test_folds_cover_all')}[/]",
        )
    t.add_row("unreadable images", str(len(rep.unreadable)))
    if rep.rater_ceiling is not None:
        t.add_row(
            "rater ceiling",
            f"[bold]{rep.rater_ceiling:.4f}[/] (± {rep.rater_ceiling_std:.4f}) Pearson between "
            "two random halves of the raters; read model PCs against it",
        )
    t.add_row("checked in", f"{rep.seconds:.1f} s")
    console.print(t)
    for w in rep.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)


@data_app.command("check")
def check(
    root: str = typer.Argument(..., help='data folder, or "synthetic"'),
    json_out: bool = typer.Option(False, "--json", help="print the report as JSON"),
    format: str = typer.Option("scut", "--format", help="scut | list"),
    no_decode: bool = typer.Option(False, "--no-decode", help="check image headers only (faster)"),
) -> None:
    """Check a data folder: counts, raters, splits, unreadable images, rater ceiling."""
    from fbtui.data.check import check_dataset

    if format not in ("scut", "list"):
        err_console.print(f"[bold red]error:[/] --format: {format!r} is not one of scut, list")
        raise typer.Exit(2)
    rep = check_dataset(root, format=format, decode=not no_decode)
    if json_out:
        typer.echo(json.dumps(rep.to_dict(), indent=1))
    elif rep.records or not rep.problems:  # a folder that could not be read: just the error
        _print_report(rep)
    if rep.problems:
        for p in rep.problems:
            err_console.print(f"[bold red]error:[/] {p}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)


@data_app.command("synth")
def synth(
    out: Path = typer.Argument(..., help="folder to write (must not exist or be empty)"),
    n: int = typer.Option(2000, "--n", min=20, help="number of images"),
    seed: int = typer.Option(0, "--seed", help="random seed"),
    size: int = typer.Option(128, "--size", min=16, help="image side in pixels"),
) -> None:
    """Write a SYNTHETIC data set (drawn faces, simulated raters) in the SCUT-FBP5500 layout."""
    from fbtui.data.synth import synthesize
    from fbtui.errors import DataError

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out}: already exists and is not an empty folder; choose a new OUT")
    t0 = time.monotonic()
    with console.status(f"drawing {n} synthetic faces ..."):
        synthesize(out, n=n, seed=seed, size=size)
    meta = json.loads((out / "SYNTHETIC.json").read_text())
    console.print(
        f"wrote {out}: {n} synthetic images ({', '.join(f'{g} {c}' for g, c in meta['groups'].items())}), "
        f"{size} px, seed {seed}, scores {meta['score_min']:.2f}..{meta['score_max']:.2f} "
        f"(mean {meta['score_mean']:.2f}) in {time.monotonic() - t0:.1f} s",
        highlight=False,
    )
    console.print(f"check it with: fbtui data check {out}", style="dim")
