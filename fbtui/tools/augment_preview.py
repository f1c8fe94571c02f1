"""`fbtui augment`: a grid of augmented training samples beside their originals.

Each pair is the test-time view of an image (resize and center crop, what evaluation
sees) and one draw of the training augmentation, both de-normalised back to pixels, so
a wrong mean/std or an over-strong colour jitter shows at a glance. The grid is written
as a PNG and drawn in the terminal with half-block characters (two pixels per cell).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FALLBACK_N = 60  # a small synthetic set is enough for a preview and builds in seconds
FALLBACK_SIZE = 128


@dataclass
class Samples:
    """The records to show and what the user should be told about where they came from."""

    records: list[Any]
    source: str
    notes: list[str] = field(default_factory=list)


def pick_samples(cfg, n: int, seed: int = 0) -> Samples:
    """n training records of the experiment's data set, or of a small synthetic set when
    the data root is not on this machine (with a notice)."""
    from fbtui.data import open_dataset

    d, notes = cfg.data, []
    root = d.root
    if root != "synthetic" and not Path(root).expanduser().exists():
        notes.append(
            f"data root {root} not found on this machine: showing the synthetic set instead "
            "(cartoon faces, not the real data) with this experiment's augmentation"
        )
        ds = open_dataset("synthetic", synth_n=FALLBACK_N, synth_size=FALLBACK_SIZE)
        source = f"synthetic ({FALLBACK_N} images, {FALLBACK_SIZE} px)"
        split = "60/40"
    else:
        ds = open_dataset(
            root, format=d.format, label=d.label, synth_n=d.synth_n, synth_size=d.synth_size
        )
        source = str(root)
        split = d.split if d.split in ds.splits else next(iter(ds.splits), None)
    train = ds.split(split)[0] if split else list(ds.records.values())
    if not train:
        train = list(ds.records.values())
    picked = random.Random(seed).sample(train, min(n, len(train)))
    return Samples(picked, source, notes)


def to_pixels(x, normalized: bool) -> np.ndarray:
    """[3, H, W] tensor -> HxWx3 uint8, undoing ImageNet normalisation when it was applied."""
    try:
        from fbtui.data.dataset import denormalize
    except ImportError:  # the data layer's helper; the arithmetic is the same
        denormalize = None
    t = x.detach().float().cpu()
    if normalized:
        if denormalize is not None:
            t = denormalize(t)
        else:
            mean = t.new_tensor(IMAGENET_MEAN)[:, None, None]
            std = t.new_tensor(IMAGENET_STD)[:, None, None]
            t = t * std + mean
    arr = t.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    return np.ascontiguousarray(arr)


def make_pairs(cfg, records: list[Any], seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(test-time view, one augmented draw) for each record, as uint8 HxWx3 arrays, drawn
    by the path training takes: PIL transforms, or with data.cache the batched tensor
    augmentation on the decoded-image cache (its fused colour jitter differs slightly)."""
    if cfg.data.cache != "none":
        return _cached_pairs(cfg, records, seed)
    import torch

    from fbtui.data.dataset import build_transform
    from fbtui.data.images import load_image

    train_tf = build_transform(cfg.augment, cfg.data, train=True)
    test_tf = build_transform(cfg.augment, cfg.data, train=False)
    torch.manual_seed(seed)
    random.seed(seed)
    norm = cfg.augment.normalize
    out = []
    for r in records:
        img = load_image(r.path)
        out.append((to_pixels(test_tf(img), norm), to_pixels(train_tf(img), norm)))
    return out


def _cached_pairs(cfg, records: list[Any], seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    import torch

    from fbtui.data.cache import decode_resized
    from fbtui.data.tensor_augment import AugmentSpec, BatchAugment

    x = torch.from_numpy(np.stack([decode_resized(r.path, cfg.data.resize_to) for r in records]))
    # the two BatchAugments the cached loaders build (fbtui.train.loaders)
    train = BatchAugment(AugmentSpec.from_config(cfg.augment, cfg.data, train=True), exact=False)
    test = BatchAugment(AugmentSpec.from_config(cfg.augment, cfg.data, train=False))
    g = torch.Generator().manual_seed(seed)
    norm = cfg.augment.normalize
    views, draws = test(x, generator=g), train(x, generator=g)
    return [(to_pixels(a, norm), to_pixels(b, norm)) for a, b in zip(views, draws, strict=True)]


def compose_grid(
    pairs: list[tuple[np.ndarray, np.ndarray]], pairs_per_row: int = 4, gap: int = 4
) -> Image.Image:
    """Pairs side by side (original | augmented), `pairs_per_row` pairs a row, with a
    caption row on top. Originals get a grey frame, augmented draws a blue one."""
    if not pairs:
        raise ValueError("no samples to show")
    h = max(max(a.shape[0], b.shape[0]) for a, b in pairs)
    w = max(max(a.shape[1], b.shape[1]) for a, b in pairs)
    cols = min(pairs_per_row, len(pairs))
    rows = (len(pairs) + cols - 1) // cols
    frame = 2
    cell_w, cell_h = w + 2 * frame, h + 2 * frame
    pair_w = 2 * cell_w + frame
    caption = 14
    W = cols * pair_w + (cols + 1) * gap * 2
    H = caption + rows * cell_h + (rows + 1) * gap
    grid = Image.new("RGB", (W, H), (24, 24, 24))
    draw = ImageDraw.Draw(grid)
    for c in range(cols):
        x0 = gap * 2 + c * (pair_w + gap * 2)
        draw.text((x0 + 2, 1), "original", fill=(200, 200, 200))
        draw.text((x0 + cell_w + frame + 2, 1), "augmented", fill=(120, 170, 255))
    for i, (orig, aug) in enumerate(pairs):
        r, c = divmod(i, cols)
        x0 = gap * 2 + c * (pair_w + gap * 2)
        y0 = caption + gap + r * (cell_h + gap)
        for j, (arr, colour) in enumerate(((orig, (150, 150, 150)), (aug, (70, 130, 255)))):
            x = x0 + j * (cell_w + frame)
            draw.rectangle([x, y0, x + cell_w - 1, y0 + cell_h - 1], fill=colour)
            grid.paste(Image.fromarray(arr), (x + frame, y0 + frame))
    return grid


def half_block_lines(img: Image.Image, width: int) -> list[list[tuple[tuple, tuple]]]:
    """The image downscaled to `width` columns as rows of (top rgb, bottom rgb) cells: one
    '▀' character shows two vertically stacked pixels."""
    width = max(8, min(width, img.width))
    height = max(2, int(round(img.height * width / img.width)))
    height += height % 2
    small = np.asarray(img.convert("RGB").resize((width, height), Image.BILINEAR))
    return [
        [(tuple(small[y, x]), tuple(small[y + 1, x])) for x in range(width)]
        for y in range(0, height, 2)
    ]


def render_terminal(img: Image.Image, console, max_width: int = 120) -> None:
    """Draw the grid in the terminal with truecolor half blocks."""
    from rich.color import Color
    from rich.style import Style
    from rich.text import Text

    width = min(max_width, console.width - 1)
    for row in half_block_lines(img, width):
        line = Text()
        for top, bottom in row:
            line.append(
                "▀",
                Style(
                    color=Color.from_rgb(*map(int, top)), bgcolor=Color.from_rgb(*map(int, bottom))
                ),
            )
        console.print(line, no_wrap=True, overflow="crop")


def describe_transform(cfg) -> str:
    """One line naming the training augmentation steps."""
    from fbtui.data.dataset import build_transform

    if cfg.data.cache != "none":
        a = cfg.augment
        parts = [f"cached uint8 {cfg.data.resize_to}px"]
        parts += [f"pad {a.pad}"] if a.pad else []
        parts += [f"rotate ±{a.rotation:g}°"] if a.rotation else []
        parts += [f"{a.crop} crop {cfg.data.image_size}"] if a.crop != "none" else []
        parts += ["hflip"] if a.hflip else []
        cj = a.color_jitter
        if cj.brightness or cj.contrast or cj.saturation or cj.hue:
            parts.append("fused colour jitter")
        parts += ["normalize"] if a.normalize else []
        return " → ".join(parts) + " (batched tensors)"
    tf = build_transform(cfg.augment, cfg.data, train=True)
    steps = getattr(tf, "transforms", None)
    if steps is None:
        return repr(tf)
    return " → ".join(type(t).__name__ for t in steps)


def preview(cfg, n: int = 16, seed: int = 0) -> tuple[Image.Image, Samples]:
    """The grid image for an experiment's augmentation and where the samples came from."""
    samples = pick_samples(cfg, n, seed)
    pairs = make_pairs(cfg, samples.records, seed)
    return compose_grid(pairs, pairs_per_row=4), samples
