"""Random augmentation of cached uint8 image batches, batched, on the GPU when there is one.

It is the tensor twin of `fbtui.data.dataset.build_transform` (torchvision v1 transforms
on PIL images) for images that are already resized to R = data.resize_to: the same
operations in the same order, with the same parameters drawn from the same
distributions, one draw per image:

    RandomRotation(deg)  angle ~ U(-deg, deg), nearest neighbour, about the centre, black fill
    RandomCrop(S, pad)   zero padding, top/left ~ randint(0, R + 2 pad - S + 1)
    CenterCrop(S)        top = left = round((R - S) / 2)
    crop = "none"        Resize(S) (bilinear, antialiased) when R != S
    RandomHorizontalFlip p = 0.5
    ColorJitter(b,c,s,h) the four adjustments in a random order per image; factors
                         ~ U(max(0, 1-x), 1+x), hue ~ U(-h, h)
    ToTensor, Normalize  ImageNet mean/std when augment.normalize

How it stays cheap: the rotation, crop, padding and flip of an image are one mapping from
output pixels to source pixels, so they are a single `gather` on uint8 (nearest neighbour,
as PIL's rotate with NEAREST, sampling at pixel centres). Brightness, contrast and
saturation are affine maps of the RGB vector (contrast blends towards the image's mean
grey, which is itself an affine function of the image's mean colour), so any order of
them, and the normalisation, fold into one 3x3 matrix and offset per image: one batched
matrix multiply and one clamp over the pixels. Hue is not affine; when it is enabled the
chain splits around it (HSV shift in between).

Known differences from the PIL path, all small: PIL rounds to uint8 and clips after every
colour adjustment, here values are clipped once at the end of each affine run; PIL's
contrast uses the integer-rounded mean; PIL's fixed-point rotation can pick a neighbouring
pixel at exact ties; hue is shifted in float rather than in 8-bit HSV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

# same constants as fbtui.data.dataset (not imported: that module pulls in PIL transforms)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GRAY = (0.299, 0.587, 0.114)  # PIL's "L" conversion (ITU-R 601-2), as ImageEnhance uses

BRIGHTNESS, CONTRAST, SATURATION, HUE = range(4)

__all__ = ["AugmentParams", "AugmentSpec", "BatchAugment", "sample_params"]


@dataclass(frozen=True)
class AugmentSpec:
    """What to do to a batch: the tensor form of the [augment] section for one split."""

    size: int  # output side S (data.image_size)
    resize: int  # side R of the cached images (data.resize_to)
    train: bool = True
    rotation: float = 0.0
    crop: str = "center"  # "random" | "center" | "none"
    pad: int = 0
    hflip: bool = False
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0
    normalize: bool = True

    @classmethod
    def from_config(cls, aug, data, train: bool) -> AugmentSpec:
        """The spec `build_transform(aug, data, train)` implements on PIL images."""
        size, resize = data.image_size, data.resize_to
        if not train:
            # test: CenterCrop(S), or with crop = "none" the same resize as training
            crop = "none" if aug.crop == "none" else "center"
            return cls(size, resize, train=False, crop=crop, normalize=aug.normalize)
        cj = aug.color_jitter
        return cls(
            size,
            resize,
            train=True,
            rotation=float(aug.rotation),
            crop=aug.crop,
            pad=int(aug.pad) if aug.crop == "random" else 0,
            hflip=bool(aug.hflip),
            brightness=float(cj.brightness),
            contrast=float(cj.contrast),
            saturation=float(cj.saturation),
            hue=float(cj.hue),
            normalize=bool(aug.normalize),
        )

    @property
    def geo_size(self) -> int:
        """Side of the image after the geometric steps (before a final resize)."""
        return self.resize if self.crop == "none" else self.size

    @property
    def jitter(self) -> bool:
        return self.brightness > 0 or self.contrast > 0 or self.saturation > 0 or self.hue > 0


@dataclass
class AugmentParams:
    """One batch's random draws (CPU tensors of length B)."""

    angle: torch.Tensor  # float64 degrees, counter-clockwise
    top: torch.Tensor  # int64 crop offsets in the padded image
    left: torch.Tensor
    flip: torch.Tensor  # bool
    factors: torch.Tensor  # float64 [B, 4]: brightness, contrast, saturation (1 = off), hue (0)
    order: torch.Tensor  # int64 [B, 4]: each row a permutation of the four adjustments

    def __len__(self) -> int:
        return len(self.angle)

    def select(self, idx) -> AugmentParams:
        return AugmentParams(*(getattr(self, f.name)[idx] for f in fields(self)))


def _uniform(n: int, lo: float, hi: float, g: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=g, dtype=torch.float64) * (hi - lo) + lo


def sample_params(spec: AugmentSpec, n: int, generator: torch.Generator | None = None):
    """Draw the random parameters of `n` images, as torchvision v1 draws them per image."""
    g = generator
    zeros = torch.zeros(n, dtype=torch.int64)
    angle = torch.zeros(n, dtype=torch.float64)
    if spec.train and spec.rotation > 0:
        angle = _uniform(n, -spec.rotation, spec.rotation, g)
    if spec.train and spec.crop == "random":
        span = spec.resize + 2 * spec.pad - spec.size + 1
        top = torch.randint(0, span, (n,), generator=g)
        left = torch.randint(0, span, (n,), generator=g)
    elif spec.crop == "center":
        off = int(round((spec.resize - spec.size) / 2.0))  # as torchvision's CenterCrop
        top = left = zeros + off
    else:
        top = left = zeros
    flip = torch.zeros(n, dtype=torch.bool)
    if spec.train and spec.hflip:
        flip = torch.rand(n, generator=g) < 0.5
    factors = torch.ones(n, 4, dtype=torch.float64)
    factors[:, HUE] = 0.0
    order = torch.arange(4).repeat(n, 1)
    if spec.train and spec.jitter:
        order = torch.argsort(torch.rand(n, 4, generator=g), dim=1)  # a random permutation
        for k, x in ((BRIGHTNESS, spec.brightness), (CONTRAST, spec.contrast)):
            if x > 0:
                factors[:, k] = _uniform(n, max(0.0, 1 - x), 1 + x, g)
        if spec.saturation > 0:
            factors[:, SATURATION] = _uniform(
                n, max(0.0, 1 - spec.saturation), 1 + spec.saturation, g
            )
        if spec.hue > 0:
            factors[:, HUE] = _uniform(n, -spec.hue, spec.hue, g)
    return AugmentParams(angle, top, left, flip, factors, order)


# -- geometry -------------------------------------------------------------------------------


def _source_index(
    spec: AugmentSpec, p: AugmentParams, device
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """For each output pixel of the geometric steps, the flat source pixel in the R x R
    image, and a validity mask (None when every pixel is inside)."""
    R, G = spec.resize, spec.geo_size
    pad = spec.pad if (spec.train and spec.crop == "random") else 0
    ar = torch.arange(G, device=device)
    top = p.top.to(device) - pad
    left = p.left.to(device) - pad
    flip = p.flip.to(device)
    rows = ar[None, :] + top[:, None]  # [B, G]: row in the rotated R x R image
    cols = torch.where(flip[:, None], G - 1 - ar[None, :], ar[None, :]) + left[:, None]
    rotate = spec.train and spec.rotation > 0 and bool((p.angle != 0).any())
    if not rotate:
        idx = rows[:, :, None] * R + cols[:, None, :]  # [B, G, G]
        if pad == 0:
            return idx, None
        valid = ((rows >= 0) & (rows < R))[:, :, None] & ((cols >= 0) & (cols < R))[:, None, :]
        return idx, valid
    # PIL's rotate: output pixel centre (x, y) reads input at
    #   xin = cos(a)(x - c) + sin(a)(y - c) + c,  yin = -sin(a)(x - c) + cos(a)(y - c) + c
    # with a = -angle and c = R / 2, truncated to the pixel it falls in
    a = -torch.deg2rad(p.angle).to(device=device, dtype=torch.float32)
    cos, sin = torch.cos(a)[:, None, None], torch.sin(a)[:, None, None]
    c = R / 2.0
    x = (cols.to(torch.float32) + 0.5 - c)[:, None, :]  # [B, 1, G]
    y = (rows.to(torch.float32) + 0.5 - c)[:, :, None]  # [B, G, 1]
    src_c = torch.floor(cos * x + sin * y + c).to(torch.int64)
    src_r = torch.floor(-sin * x + cos * y + c).to(torch.int64)
    valid = (src_c >= 0) & (src_c < R) & (src_r >= 0) & (src_r < R)
    if pad:
        valid &= ((rows >= 0) & (rows < R))[:, :, None] & ((cols >= 0) & (cols < R))[:, None, :]
    return src_r * R + src_c, valid


def geometry(x: torch.Tensor, spec: AugmentSpec, p: AugmentParams) -> torch.Tensor:
    """Rotation, padding + crop and flip of uint8 [B, 3, R, R] -> uint8 [B, 3, G, G]."""
    B, C, R, _ = x.shape
    G = spec.geo_size
    if not bool(p.flip.any()) and not (
        spec.train and spec.rotation > 0 and bool((p.angle != 0).any())
    ):
        t0, l0 = int(p.top[0]), int(p.left[0]) if B else 0
        pad = spec.pad if (spec.train and spec.crop == "random") else 0
        same = B == 0 or (bool((p.top == t0).all()) and bool((p.left == l0).all()))
        if same and pad == 0:  # the test split: one plain slice
            return x[:, :, t0 : t0 + G, l0 : l0 + G]
    idx, valid = _source_index(spec, p, x.device)
    if valid is not None:
        idx = idx.masked_fill(~valid, 0)
    out = torch.gather(x.reshape(B, C, R * R), 2, idx.reshape(B, 1, G * G).expand(B, C, G * G))
    out = out.view(B, C, G, G)
    if valid is not None:
        out = out.masked_fill_(~valid[:, None], 0)
    return out


# -- colour -----------------------------------------------------------------------------


def _compose(p: AugmentParams, phase: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The affine colour map of the brightness/contrast/saturation steps that run before
    ("pre") or after ("post") the hue step, as v -> M v + T mu, where mu is the mean colour
    of the image entering the phase. float64 [B, 3, 3] each, on the CPU."""
    B = len(p)
    eye = torch.eye(3, dtype=torch.float64).expand(B, 3, 3)
    gray = torch.tensor(GRAY, dtype=torch.float64)
    to_gray = torch.ones(3, 1, dtype=torch.float64) @ gray[None, :]  # 1 g^T
    M = eye.clone()
    T = torch.zeros(B, 3, 3, dtype=torch.float64)
    hue_at = (p.order == HUE).to(torch.int64).argmax(1)
    if not bool((p.factors[:, HUE] != 0).any()):
        hue_at = torch.full((B,), 4)  # no hue step: everything is "pre"
    for k in range(4):
        op = p.order[:, k]
        active = (k < hue_at) if phase == "pre" else (k > hue_at)
        f = p.factors.gather(1, op[:, None].clamp(max=2))[:, :, None]  # [B, 1, 1]
        # brightness: f I;  saturation: f I + (1 - f) 1 g^T;  contrast: f v + (1 - f) 1 g^T mu_now
        is_b = (active & (op == BRIGHTNESS))[:, None, None]
        is_c = (active & (op == CONTRAST))[:, None, None]
        is_s = (active & (op == SATURATION))[:, None, None]
        S = f * eye + (1 - f) * to_gray
        newM = torch.where(is_b | is_c, f * M, torch.where(is_s, S @ M, M))
        # mu_now = (M + T) mu, so contrast adds (1 - f) 1 g^T (M + T) mu
        newT = torch.where(
            is_b,
            f * T,
            torch.where(is_c, f * T + (1 - f) * to_gray @ (M + T), torch.where(is_s, S @ T, T)),
        )
        M, T = newM, newT
    return M, T


def _rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] RGB in 0..1 -> HSV in 0..1."""
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    delta = maxc - minc
    gray = delta == 0
    s = delta / torch.where(gray, torch.ones_like(maxc), maxc)
    d = torch.where(gray, torch.ones_like(delta), delta)
    rc, gc, bc = (maxc - r) / d, (maxc - g) / d, (maxc - b) / d
    is_r = maxc == r
    is_g = (maxc == g) & ~is_r
    h = torch.where(is_r, bc - gc, torch.where(is_g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(gray, torch.zeros_like(h), h)
    h = torch.remainder(h / 6.0, 1.0)
    return torch.stack((h, s, maxc), 1)


def _hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    h, s, v = x.unbind(1)
    h6 = h * 6.0
    i = torch.floor(h6)
    f = h6 - i
    i = i.to(torch.int64) % 6
    p = (v * (1.0 - s)).clamp(0, 1)
    q = (v * (1.0 - s * f)).clamp(0, 1)
    t = (v * (1.0 - s * (1.0 - f))).clamp(0, 1)
    # sector -> (r, g, b) picks among v, q, p, t
    choices = torch.stack((v, q, p, t), 1)  # [B, 4, H, W]
    table = torch.tensor(
        [[0, 3, 2], [1, 0, 2], [2, 0, 3], [2, 1, 0], [3, 2, 0], [0, 2, 1]], device=x.device
    )  # rows: sector; columns: which of (v, q, p, t) is r, g, b
    sel = table[i].permute(0, 3, 1, 2)  # [B, 3, H, W]
    return choices.gather(1, sel)


def _shift_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """x: float [B, 3, H, W] in 0..1; shift: [B] in -0.5..0.5 of a turn."""
    hsv = _rgb_to_hsv(x)
    h = torch.remainder(hsv[:, 0] + shift[:, None, None], 1.0)
    return _hsv_to_rgb(torch.stack((h, hsv[:, 1], hsv[:, 2]), 1))


class BatchAugment:
    """Callable: uint8 [B, 3, R, R] (on any device) -> float32 [B, 3, S, S] normalised.

    `aug(x, generator=g)` draws fresh parameters from `g` (a CPU torch.Generator; the
    same seed gives the same batch), `aug(x, params=p)` applies given ones.
    """

    def __init__(self, spec: AugmentSpec):
        self.spec = spec
        mean = IMAGENET_MEAN if spec.normalize else (0.0, 0.0, 0.0)
        std = IMAGENET_STD if spec.normalize else (1.0, 1.0, 1.0)
        # pixel value v in 0..255 -> (v / 255 - mean) / std = a v + b
        self._a = torch.tensor([1.0 / (255.0 * s) for s in std], dtype=torch.float64)
        self._b = torch.tensor(
            [-m / s for m, s in zip(mean, std, strict=True)], dtype=torch.float64
        )
        self._dev: dict[torch.device, tuple[torch.Tensor, ...]] = {}

    def sample(self, n: int, generator: torch.Generator | None = None) -> AugmentParams:
        return sample_params(self.spec, n, generator)

    def _consts(self, device) -> tuple[torch.Tensor, ...]:
        key = torch.device(device)
        if key not in self._dev:
            a = self._a.to(device=key, dtype=torch.float32)
            b = self._b.to(device=key, dtype=torch.float32)
            self._dev[key] = (
                a.view(1, 3, 1),
                b.view(1, 3, 1),
                b.view(1, 3, 1),
                (255 * a + b).view(1, 3, 1),
            )
        return self._dev[key]

    def __call__(
        self,
        x: torch.Tensor,
        generator: torch.Generator | None = None,
        params: AugmentParams | None = None,
    ) -> torch.Tensor:
        spec = self.spec
        if (
            x.dim() != 4
            or x.shape[1] != 3
            or x.shape[2] != spec.resize
            or x.shape[3] != spec.resize
        ):
            raise ValueError(
                f"expected uint8 [B, 3, {spec.resize}, {spec.resize}] images, got {tuple(x.shape)}"
            )
        p = params if params is not None else self.sample(x.shape[0], generator)
        g = geometry(x, spec, p)  # uint8 [B, 3, G, G]
        B = g.shape[0]
        if spec.geo_size != spec.size:  # crop = "none": the final Resize(S)
            g = F.interpolate(
                g.float(),
                size=(spec.size, spec.size),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )
        a, b, lo, hi = self._consts(x.device)
        flat = g.reshape(B, 3, -1)
        if not (spec.train and spec.jitter):
            out = torch.addcmul(b, flat.float(), a)
            return out.view(B, 3, spec.size, spec.size)
        flat = flat.float()
        has_hue = bool((p.factors[:, HUE] != 0).any())
        a64, b64 = self._a.view(1, 3, 1), self._b.view(1, 3)
        M, T = _compose(p, "pre")
        if not has_hue:
            # fold the normalisation in, clamp at the images of 0 and 255
            out = self._affine(flat, M * a64, T * a64, b64, lo, hi)
            return out.view(B, 3, spec.size, spec.size)
        zero, full = torch.zeros_like(lo), torch.full_like(hi, 255.0)
        y = self._affine(flat, M, T, torch.zeros(1, 3, dtype=torch.float64), zero, full)
        y = y.view(B, 3, spec.size, spec.size) / 255.0
        y = _shift_hue(y, p.factors[:, HUE].to(device=y.device, dtype=y.dtype)) * 255.0
        M, T = _compose(p, "post")
        out = self._affine(y.reshape(B, 3, -1), M * a64, T * a64, b64, lo, hi)
        return out.view(B, 3, spec.size, spec.size)

    @staticmethod
    def _affine(flat, M, T, b, lo, hi) -> torch.Tensor:
        """clamp(M v + T mu + b) per image, mu = the image's mean colour (only computed
        when some image's map depends on it)."""
        dev = flat.device
        bias = b.expand(M.shape[0], 3).to(device=dev, dtype=torch.float32)
        if bool((T != 0).any()):
            mu = flat.mean(2, keepdim=True)  # [B, 3, 1]
            bias = bias[:, :, None] + torch.bmm(T.to(device=dev, dtype=torch.float32), mu)
        else:
            bias = bias[:, :, None]
        out = torch.baddbmm(bias, M.to(device=dev, dtype=torch.float32), flat)
        return torch.maximum(torch.minimum(out, hi), lo)


def rotation_matrix_ok() -> bool:  # pragma: no cover - kept tiny on purpose
    return math.isfinite(math.cos(0.0))
