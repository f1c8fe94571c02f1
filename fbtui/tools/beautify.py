"""`fbtui beautify`: push a photo's score toward a target by optimising the pixels.

The researcher's 2019 experiment, done so that it can be judged honestly:

* The model is in eval mode: BatchNorm uses its running statistics and dropout is off.
  Gradients still flow to the input (eval mode only changes what BN and dropout compute;
  `requires_grad` is what stops gradients, and it is off only for the weights), so models
  with BN work with a batch of one.
* The image itself, in pixel space [0, 1] *before* normalisation, is the only thing
  optimised, so clamping to [0, 1], the L∞ bound and 8-bit rounding mean what they say.
* It works on the photo as the model sees it: resized like the run's test images (the
  frame), of which the model scores the central crop. The frame is what gets written, so
  the saved file goes through `fbtui predict`'s preprocessing unchanged (a resize to the
  size it already has is a no-op) and the only difference between the optimised pixels
  and the reloaded file is 8-bit rounding.
* Tiny float changes can fool a model and vanish when the image is saved as 8 bits (what
  happened in 2019: 4.2 -> 5.0 on screen, identical pictures). So the result is scored
  three times: before, after (float), and after saving to 8 bits and reloading through the
  same path as `fbtui predict`, the honest figure. `quantise_aware` rounds to 1/255 in the
  forward pass (straight-through gradient) so the gain survives saving.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from fbtui.errors import UserError
from fbtui.tools.inference import Scorer

LOSSLESS = (".png", ".bmp", ".tif", ".tiff")


@dataclass
class BeautifyOptions:
    target: float = 5.0
    steps: int = 200
    lr: float = 0.01  # Adam step in pixel units of [0, 1] (0.01 ≈ 2.5 grey levels)
    tv: float = 0.0  # total-variation weight on the change (smooth, not speckled)
    linf: float = 0.1  # largest change of any pixel, in [0, 1] units (0.1 ≈ 25 levels)
    quantise_aware: bool = False


@dataclass
class View:
    """How the model sees a photo, split so that pixels can be optimised.

    `frame` turns the RGB photo into the image that `fbtui predict` would crop from (a PIL
    image, after every geometric step but the centre crop); `crop` picks the model's input
    from a [N, 3, H, W] tensor in [0, 1]; `normalize` maps it to what the model expects."""

    frame: Callable[[Image.Image], Image.Image]
    crop: Callable[[torch.Tensor], torch.Tensor]
    normalize: Callable[[torch.Tensor], torch.Tensor]
    describe: str


@dataclass
class BeautifyResult:
    """What beautify did, with the three scores that matter."""

    image: str
    size: tuple[int, int]  # the written images' size (the frame)
    original_size: tuple[int, int]
    model_input: tuple[int, int]
    resolution: str
    target: float
    steps: int
    quantise_aware: bool
    before: float  # `fbtui predict` on the original file
    after_float: float  # the optimised pixels, unrounded
    after_saved: float  # the written 8-bit file, reloaded like `fbtui predict` reads it
    linf_levels: int  # largest change of a pixel channel, in 8-bit levels
    mean_abs_levels: float
    changed_frac: float  # share of pixel channels that changed at all after rounding
    diff_gain: float
    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- the view: how a run's test-time transform sees a photo ---------------------------------


def _steps_of(transform) -> list:
    steps = getattr(transform, "transforms", None)
    if steps is None:
        return [transform]
    out: list = []
    for s in steps:
        out.extend(_steps_of(s) if hasattr(s, "transforms") else [s])
    return out


def make_view(scorer: Scorer) -> View:
    """Split the run's test transform into frame (PIL geometry), centre crop and
    normalisation. Raises UserError if the transform has a step this does not know."""
    from torchvision import transforms as T

    try:
        from torchvision.transforms import v2
    except ImportError:  # pragma: no cover - torchvision < 0.15
        v2 = None

    def is_(step, *names: str) -> bool:
        classes = [getattr(m, n) for m in (T, v2) if m is not None for n in names if hasattr(m, n)]
        return isinstance(step, tuple(classes))

    geometric: list = []
    crop_size: tuple[int, int] | None = None
    mean = std = None
    seen_tensor = False
    for step in _steps_of(scorer.transform):
        if is_(step, "ToTensor", "PILToTensor", "ToImage", "ToDtype", "ConvertImageDtype"):
            seen_tensor = True
        elif is_(step, "Normalize"):
            mean, std = list(step.mean), list(step.std)
        elif seen_tensor:
            # geometry on float tensors would not round-trip through an 8-bit file
            raise UserError(
                f"beautify: the run's test transform has {step!r} after the tensor "
                "conversion; beautify needs resizing and cropping on the PIL image"
            )
        elif is_(step, "CenterCrop") and crop_size is None:
            s = step.size
            crop_size = (s, s) if isinstance(s, int) else (int(s[0]), int(s[-1]))
        elif is_(step, "Resize") and crop_size is None:
            geometric.append(step)
        else:
            raise UserError(
                f"beautify: cannot optimise pixels through the run's test transform step {step!r}"
            )

    def frame(img: Image.Image) -> Image.Image:
        for g in geometric:
            img = g(img)
        return img

    def crop(x: torch.Tensor) -> torch.Tensor:
        if crop_size is None:
            return x
        h, w = x.shape[-2:]
        ch, cw = crop_size
        if ch > h or cw > w:  # torchvision pads here; the runs' resize never lets it happen
            raise UserError(f"beautify: frame {w}x{h} is smaller than the crop {cw}x{ch}")
        top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
        return x[..., top : top + ch, left : left + cw]

    if mean is not None:
        m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

        def normalize(x: torch.Tensor) -> torch.Tensor:
            return (x - m.to(x.device)) / s.to(x.device)
    else:

        def normalize(x: torch.Tensor) -> torch.Tensor:
            return x

    sizes = []
    for g in geometric:
        sz = g.size
        sz = (sz, sz) if isinstance(sz, int) else tuple(sz)
        sizes.append(f"{sz[-1]}x{sz[0]}" if len(sz) == 2 else f"short side {sz[0]}")
    describe = "resized to " + " then ".join(sizes) if sizes else "not resized"
    return View(frame, crop, normalize, describe)


# -- pixels <-> images ---------------------------------------------------------------------


def to_tensor01(img: Image.Image) -> torch.Tensor:
    """RGB PIL image -> [1, 3, H, W] float tensor of k/255 values (what ToTensor gives)."""
    a = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(a.copy()).permute(2, 0, 1).float().div(255.0).unsqueeze(0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[1, 3, H, W] tensor in [0, 1] -> HxWx3 uint8 (round to nearest level)."""
    return x[0].detach().clamp(0, 1).mul(255.0).round().byte().permute(1, 2, 0).cpu().numpy()


def linf_levels(linf: float) -> int:
    """The bound in whole 8-bit levels: 0.1 allows 25 (25.5 would round up to 26)."""
    return int(np.floor(linf * 255.0 + 1e-6))


def bound_change(after: np.ndarray, before: np.ndarray, linf: float) -> np.ndarray:
    """Keep every channel of the 8-bit result within the L∞ bound of the 8-bit original:
    rounding x0 + linf to the nearest level could step half a level past it."""
    k = linf_levels(linf)
    lo = np.clip(before.astype(np.int16) - k, 0, 255)
    hi = np.clip(before.astype(np.int16) + k, 0, 255)
    return np.clip(after.astype(np.int16), lo, hi).astype(np.uint8)


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round to 1/255 in the forward pass, identity gradient in the backward pass."""
    return x + (torch.round(x * 255.0) / 255.0 - x).detach()


def total_variation(d: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels (anisotropic TV)."""
    return (d[..., 1:, :] - d[..., :-1, :]).abs().mean() + (
        d[..., :, 1:] - d[..., :, :-1]
    ).abs().mean()


def diff_map(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, float]:
    """Signed difference, amplified so the largest change reaches full scale: mid-grey is
    no change, brighter/darker channels were raised/lowered. Returns (image, gain)."""
    d = after.astype(np.float64) - before.astype(np.float64)
    peak = float(np.abs(d).max())
    gain = 127.0 / peak if peak > 0 else 1.0
    img = np.clip(128.0 + d * gain, 0, 255).round().astype(np.uint8)
    return img, gain


def sibling(out: Path, suffix: str) -> Path:
    """F with a suffix before the extension: out.png -> out_before.png."""
    return out.with_name(f"{out.stem}{suffix}{out.suffix or '.png'}")


# -- the optimisation ----------------------------------------------------------------------


def optimise(
    scorer: Scorer, view: View, x0: torch.Tensor, opts: BeautifyOptions, on_step=None
) -> torch.Tensor:
    """Adam on the pixel change, projected onto the L∞ ball and [0, 1] after every step;
    returns the iterate with the lowest objective (as evaluated, i.e. rounded when
    quantise-aware)."""
    model = scorer.model
    model.eval()  # BN: running statistics; dropout off. Gradients still reach the input.
    x0 = x0.to(scorer.device)
    target = torch.tensor([opts.target], device=scorer.device)
    delta = torch.zeros_like(x0, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=opts.lr)
    best_x, best_loss = x0.clone(), float("inf")
    for step in range(opts.steps + 1):
        x = x0 + delta
        xin = round_ste(x) if opts.quantise_aware else x
        score = model.score(model(view.normalize(view.crop(xin))).float())
        loss = (score - target).pow(2).mean()
        if opts.tv > 0:
            loss = loss + opts.tv * total_variation(delta)
        if loss.item() < best_loss:
            best_loss, best_x = loss.item(), x.detach().clone()
        if on_step is not None:
            on_step(step, float(score.item()))
        if step == opts.steps:  # the last pass only evaluates the final iterate
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():  # project: |change| <= linf and pixels inside [0, 1]
            delta.clamp_(-opts.linf, opts.linf)
            delta.copy_((x0 + delta).clamp(0, 1) - x0)
    return best_x


@torch.no_grad()
def score_pixels(scorer: Scorer, view: View, x: torch.Tensor) -> float:
    logits = scorer.model(view.normalize(view.crop(x.to(scorer.device)))).float()
    return float(scorer.model.score(logits).item())


def upsample_change(orig: Image.Image, x0: torch.Tensor, best: torch.Tensor) -> np.ndarray:
    """--full-size: the optimised change, bilinearly upsampled to the photo's size and
    added to the original pixels. Returns HxWx3 uint8."""
    import torch.nn.functional as F

    delta = (best - x0).detach().float().cpu()
    w, h = orig.size
    up = F.interpolate(delta, size=(h, w), mode="bilinear", align_corners=False)
    return to_uint8((to_tensor01(orig) + up).clamp(0, 1))


def _resolution(view: View, img: Image.Image, framed: Image.Image, crop, full: bool) -> str:
    fw, fh = framed.size
    cw, ch = crop
    text = f"{fw}x{fh}, the photo as the model sees it ({img.width}x{img.height} {view.describe}"
    if img.width * fh != img.height * fw:
        text += ", aspect ratio not kept, as for the run's test images"
    text += ")"
    if (fw, fh) != (cw, ch):
        text += f"; the model scores its central {cw}x{ch}, the rest is left as it is"
    if full:
        text += f"; the change is upsampled to {img.width}x{img.height} and added to the photo"
    return text


def beautify(
    scorer: Scorer,
    image: Path,
    out: Path,
    opts: BeautifyOptions,
    on_step=None,
    full_size: bool = False,
) -> BeautifyResult:
    """Optimise IMAGE toward opts.target; write out (after), out_before, out_diff.

    The pixels are optimised at the model's view of the photo (see the module docstring);
    with `full_size` the change is upsampled to the photo's own size and the files are
    written at that size (the saved score then also goes through predict's resize)."""
    from fbtui.data.dataset import load_image
    from fbtui.tools.predict import save_image

    if opts.steps < 0 or opts.lr <= 0 or opts.linf <= 0 or opts.tv < 0:
        raise UserError("beautify: --steps must be >= 0, --lr and --linf > 0, --tv >= 0")
    if not 1.0 <= opts.target <= 5.0:
        raise UserError(f"beautify: --target {opts.target} is outside the rating scale 1-5")
    after_path, before_path, diff_path = out, sibling(out, "_before"), sibling(out, "_diff")
    src = Path(image).resolve()
    if any(p.resolve() == src for p in (after_path, before_path, diff_path)):
        raise UserError(f"beautify: --out {out} would overwrite the input photo {image}")
    img = load_image(image)
    view = make_view(scorer)
    framed = view.frame(img)
    x0 = to_tensor01(framed)
    notes: list[str] = list(scorer.notes)
    before = scorer.predict_images([img])[0].score
    if abs(score_pixels(scorer, view, x0) - before) > 1e-4:
        notes.append("the frame does not reproduce predict's preprocessing exactly")
    if not full_size and not torch.equal(to_tensor01(view.frame(framed)), x0):
        # e.g. crop = "none" with data.resize > image_size: predict resizes the frame again
        notes.append(
            "predict resizes the written frame again (the run's test transform is not a "
            "no-op on its own output), so the saved score also includes that resampling"
        )

    best = optimise(scorer, view, x0, opts, on_step)
    after_float = score_pixels(scorer, view, best)

    if full_size:
        b8, a8 = np.asarray(img, dtype=np.uint8), upsample_change(img, x0, best)
    else:
        b8, a8 = to_uint8(x0), to_uint8(best)
    a8 = bound_change(a8, b8, opts.linf)
    save_image(Image.fromarray(a8), after_path)
    save_image(Image.fromarray(b8), before_path)
    dmap, gain = diff_map(b8, a8)
    save_image(Image.fromarray(dmap), diff_path)
    if after_path.suffix.lower() not in LOSSLESS:
        notes.append(
            f"{after_path.suffix or 'no extension'}: not a lossless format; the saved score "
            "includes its compression (use .png to see 8-bit rounding alone)"
        )
    # the honest figure: the written file, read back exactly as `fbtui predict` reads it
    after_saved = scorer.predict_images([load_image(after_path)])[0].score

    d = a8.astype(np.int16) - b8.astype(np.int16)
    crop_h, crop_w = (int(v) for v in view.crop(x0).shape[-2:])
    return BeautifyResult(
        image=str(image),
        size=(a8.shape[1], a8.shape[0]),
        original_size=img.size,
        model_input=(crop_w, crop_h),
        resolution=_resolution(view, img, framed, (crop_w, crop_h), full_size),
        target=opts.target,
        steps=opts.steps,
        quantise_aware=opts.quantise_aware,
        before=before,
        after_float=after_float,
        after_saved=after_saved,
        linf_levels=int(np.abs(d).max()),
        mean_abs_levels=float(np.abs(d).mean()),
        changed_frac=float((d != 0).mean()),
        diff_gain=gain,
        files={"after": str(after_path), "before": str(before_path), "diff": str(diff_path)},
        notes=notes,
    )
