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
as PIL's rotate with NEAREST, sampling at pixel centres), computed only for the output
pixels, in integer fixed point, over a zero frame around each source image wide enough
that no coordinate needs clamping. Brightness, contrast and saturation are affine maps
of the RGB vector (contrast blends towards the image's mean grey, which is itself an
affine function of the image's mean colour), so any order of them, and the
normalisation, fold into one 3x3 matrix and offset per image.

Two colour paths (`BatchAugment(exact=...)`):

* exact=True, the reference: clips after every adjustment as PIL does; hue is not
  affine in HSV, so the chain splits around it (an HSV shift in between).
* exact=False, what training uses (`fbtui.train.loaders`): the whole ColorJitter and the
  normalisation are ONE per-image matrix + offset, one batched matrix multiply and one
  clamp at the end. Where it differs from torchvision: (1) no intermediate clips (PIL
  clips to 0..255 after each adjustment; differs only where a pixel saturates in
  between: 0.2 levels mean on faces at 0.4 strength); (2) hue is a rotation about the
  RGB grey diagonal (`hue_matrix`), linear, instead of an 8-bit HSV shift: the same
  axis and angle, but a circle instead of HSV's hexagon (3-4 levels mean at hue 0.1).
  The random order and factor draws are the same. At zero strength both paths are the
  identity.

Known differences of both from the PIL path, all small: PIL's contrast uses the
integer-rounded mean; PIL's fixed-point rotation can pick a neighbouring pixel at exact
ties; the exact path shifts hue in float rather than in 8-bit HSV.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

# same constants as fbtui.data.dataset (not imported: that module pulls in PIL transforms)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GRAY = (0.299, 0.587, 0.114)  # PIL's "L" conversion (ITU-R 601-2), as ImageEnhance uses

BRIGHTNESS, CONTRAST, SATURATION, HUE = range(4)
_FRAC = 16  # fractional bits of the fixed-point source coordinates

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


def _frame(spec: AugmentSpec) -> int:
    """Width m of the zero frame around each source image when rotating. With a random
    crop's zero padding: 1, and coordinates are clamped onto it. Without padding every
    output pixel lies in the R x R image before the rotation, which moves a point at most
    2 r sin(angle / 2) (r <= R / sqrt 2): a frame that wide holds every source pixel,
    so the per-pixel clamps are not needed (large angles: clamp instead)."""
    pad = spec.pad if (spec.train and spec.crop == "random") else 0
    if pad or not (spec.train and spec.rotation > 0):
        return 1
    half = math.radians(min(float(spec.rotation), 180.0)) / 2
    m = math.ceil(spec.resize / math.sqrt(2) * 2 * math.sin(half)) + 2
    return m if m <= spec.resize // 4 else 1


def _source_index(
    spec: AugmentSpec, p: AugmentParams, device, terms: tuple | None = None
) -> tuple[torch.Tensor, int]:
    """For each output pixel of the geometric steps, the flat index of its source pixel,
    and the width m of the zero frame that index assumes around each image
    ([R + 2m, R + 2m]; 0: no frame): every pixel that padding or rotation leaves empty
    then reads the frame, so no mask is needed. `terms`: this chunk's slice of
    `_rotation_terms` (computed here when not given)."""
    R, G = spec.resize, spec.geo_size
    pad = spec.pad if (spec.train and spec.crop == "random") else 0
    rotate = spec.train and spec.rotation > 0 and bool((p.angle != 0).any())
    if not rotate:
        ar = torch.arange(G, device=device)
        rows = ar[None, :] + (p.top.to(device) - pad)[:, None]  # [B, G]
        flip = p.flip.to(device)
        cols = torch.where(flip[:, None], G - 1 - ar[None, :], ar[None, :])
        cols = cols + (p.left.to(device) - pad)[:, None]
        if pad == 0:
            return rows[:, :, None] * R + cols[:, None, :], 0  # [B, G, G]
        rows = rows.clamp(-1, R) + 1
        cols = cols.clamp(-1, R) + 1
        return rows[:, :, None] * (R + 2) + cols[:, None, :], 1
    m = _frame(spec)
    src_c, dc, src_r, dr = terms if terms is not None else _rotation_terms(spec, p, device)
    # the [B, G, G] sums in 16.16 fixed point: an integer add and shift per pixel
    # instead of a float add and floor (+ m: coordinates in the framed image)
    src_c = torch.add(src_c[:, :, None], dc[:, None, :])
    src_r = torch.add(src_r[:, :, None], dr[:, None, :])
    if m == 1:  # clamping onto the 1-pixel frame gives zeros
        hi = (R + 1) << _FRAC
        src_c.clamp_(0, hi)
        src_r.clamp_(0, hi)
    src_c.bitwise_right_shift_(_FRAC)  # >> floors: the values are >= 0
    src_r.bitwise_right_shift_(_FRAC)
    return src_c.add_(src_r, alpha=R + 2 * m).to(torch.int64), m


def _rotation_terms(spec: AugmentSpec, p: AugmentParams, device) -> tuple[torch.Tensor, ...]:
    """The per-row and per-column parts of each output pixel's source coordinates in the
    framed image (`_frame`), fixed point: column = cy[row] + cx[col], row = ry[row] +
    rx[col]. [B, G] each; computed once per batch (many small ops), used per chunk.

    PIL's rotate: output pixel centre (x, y) reads input at
      xin = cos(a)(x - c) + sin(a)(y - c) + c,  yin = -sin(a)(x - c) + cos(a)(y - c) + c
    with a = -angle and c = R / 2, truncated to the pixel it falls in."""
    R, G = spec.resize, spec.geo_size
    pad = spec.pad if (spec.train and spec.crop == "random") else 0
    m = _frame(spec)
    ar = torch.arange(G)
    rows = ar[None, :] + (p.top - pad)[:, None]  # [B, G]: row in the rotated R x R image
    cols = torch.where(p.flip[:, None], G - 1 - ar[None, :], ar[None, :]) + (p.left - pad)[:, None]
    a = -torch.deg2rad(p.angle.to(torch.float64))
    cos, sin = torch.cos(a)[:, None], torch.sin(a)[:, None]
    c = R / 2.0
    # padding pixels: pushed far outside, so their source is out of bounds after any rotation
    far = 4.0 * R
    x = torch.where((cols >= 0) & (cols < R), cols.to(torch.float64) + 0.5 - c, far)
    y = torch.where((rows >= 0) & (rows < R), rows.to(torch.float64) + 0.5 - c, far)
    one = float(1 << _FRAC)
    itype = torch.int32 if R <= 2048 else torch.int64  # |sum| <= (9R + 1) 2^16 must fit

    def fixed(t: torch.Tensor) -> torch.Tensor:
        return (t * one).round_().to(device=device, dtype=itype)

    return fixed(sin * y + (c + m)), fixed(cos * x), fixed(cos * y + (c + m)), fixed(-sin * x)


def _bordered(
    x: torch.Tensor, rows: torch.Tensor | None, m: int = 1, reuse: bool | None = None
) -> torch.Tensor:
    """uint8 [B, 3, R + 2m, R + 2m]: images x (or x[rows]) framed by m zero pixels. On
    the CPU (`reuse`) each cache row is copied straight into the frame (no gathered
    batch), in a buffer kept per thread whose frame stays zero (the caller only reads
    it); elsewhere one pad of the gathered batch."""
    if not (x.device.type == "cpu" if reuse is None else reuse):
        x = x if rows is None else x.index_select(0, rows.to(x.device))
        return F.pad(x, (m, m, m, m))
    R = x.shape[-1]
    B = len(rows) if rows is not None else x.shape[0]
    W = R + 2 * m
    buf = getattr(_scratch, "framed", None)
    if buf is None or buf.shape[0] < B or buf.shape[2] != W or buf.dtype != x.dtype:
        buf = _scratch.framed = torch.zeros((max(B, 8), 3, W, W), dtype=x.dtype)
    out = buf[:B]
    inner = out[:, :, m : m + R, m : m + R]
    if rows is None:
        inner.copy_(x)
    else:
        for i, k in enumerate(rows.tolist()):
            inner[i].copy_(x[k])
    return out


def geometry(
    x: torch.Tensor,
    spec: AugmentSpec,
    p: AugmentParams,
    rows: torch.Tensor | None = None,
    terms: tuple | None = None,
) -> torch.Tensor:
    """Rotation, padding + crop and flip of uint8 [B, 3, R, R] -> uint8 [B, 3, G, G].

    `rows`: take images x[rows] (x being, e.g., the whole cache) without gathering them
    into a batch first. `terms`: `_rotation_terms` of these images, if already known."""
    B = len(rows) if rows is not None else x.shape[0]
    G = spec.geo_size
    pad = spec.pad if (spec.train and spec.crop == "random") else 0
    rotating = spec.train and spec.rotation > 0 and bool((p.angle != 0).any())
    if not rotating and x.device.type == "cpu":
        return _windows(x, spec, p, rows, pad)
    if B and pad == 0 and not rotating and not bool(p.flip.any()):
        t0, l0 = int(p.top[0]), int(p.left[0])
        if bool((p.top == t0).all()) and bool((p.left == l0).all()):
            if rows is not None:
                x = x.index_select(0, rows.to(x.device))
            return x[:, :, t0 : t0 + G, l0 : l0 + G]  # e.g. the test split: one plain slice
    idx, frame = _source_index(spec, p, x.device, terms if rotating else None)
    if frame:
        x = _bordered(x, rows, frame)
    elif rows is not None:
        x = x.index_select(0, rows.to(x.device))
    src = x.reshape(B, 3, -1)
    out = torch.gather(src, 2, idx.reshape(B, 1, G * G).expand(B, 3, G * G))
    return out.view(B, 3, G, G)


def _windows(x, spec: AugmentSpec, p: AugmentParams, rows, pad: int) -> torch.Tensor:
    """Crop/pad/flip without rotation on the CPU: each image is a window of its source,
    copied with one strided copy (cheaper there than building a gather index)."""
    R, G = x.shape[-1], spec.geo_size
    B = len(p)
    out = torch.empty((B, 3, G, G), dtype=torch.uint8)
    tops, lefts, flips = p.top.tolist(), p.left.tolist(), p.flip.tolist()
    picks = rows.tolist() if rows is not None else range(B)
    for i, k in enumerate(picks):
        top, left = tops[i] - pad, lefts[i] - pad  # window origin in the R x R image
        r0, r1 = max(0, -top), min(G, R - top)  # output rows that fall inside the image
        c0, c1 = max(0, -left), min(G, R - left)
        src = x[k, :, top + r0 : top + r1, left + c0 : left + c1]
        if flips[i]:  # output column u shows crop column G - 1 - u
            c0, c1 = G - c1, G - c0
            src = src.flip(-1)
        dst = out[i]
        dst[:, r0:r1, c0:c1] = src
        if r0 > 0 or r1 < G or c0 > 0 or c1 < G:  # the zero padding
            dst[:, :r0].zero_()
            dst[:, r1:].zero_()
            dst[:, r0:r1, :c0].zero_()
            dst[:, r0:r1, c1:].zero_()
    return out


# -- colour -----------------------------------------------------------------------------


def hue_matrix(shift: torch.Tensor) -> torch.Tensor:
    """float64 [B, 3, 3]: the linear RGB map that turns hue by `shift` [B] (fractions of a
    turn, as ColorJitter's hue): a rotation by 2 pi shift about the RGB cube's grey
    diagonal (1, 1, 1). HSV's hue is the angle about that same axis, measured around a
    hexagon; the rotation measures it on a circle, keeping each pixel's R + G + B and its
    distance from the grey axis where HSV keeps max and min. Chosen by measurement over
    the YIQ turn (which keeps luma): mean |difference| to torchvision's adjust_hue on
    synthetic faces 3.8 / 5.1 (8-bit levels) at hue 0.05 / -0.1, against YIQ's 5.8 / 10.4
    and 4.1 / 8.7 for no change at all."""
    theta = 2.0 * torch.pi * shift.to(torch.float64)
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    third = torch.full((3, 3), 1.0 / 3.0, dtype=torch.float64)  # projection on the axis
    cross = torch.tensor(  # [k]x for k = (1, 1, 1) / sqrt 3
        [[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]], dtype=torch.float64
    ) / math.sqrt(3.0)
    eye = torch.eye(3, dtype=torch.float64)
    return cos * eye + (1 - cos) * third + sin * cross  # Rodrigues


def _compose(
    p: AugmentParams, active: torch.Tensor, hue: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The affine colour map of the brightness/contrast/saturation steps (and with `hue`
    the hue turn of `hue_matrix`) at the positions where `active` [B, 4] is true, in each image's
    order, as v -> M v + T mu, mu being the mean colour of the image entering the run.
    float64 [B, 3, 3] each, on the CPU."""
    B = len(p)
    eye = torch.eye(3, dtype=torch.float64).expand(B, 3, 3)
    gray = torch.tensor(GRAY, dtype=torch.float64)
    to_gray = torch.ones(3, 1, dtype=torch.float64) @ gray[None, :]  # 1 g^T
    H = hue_matrix(p.factors[:, HUE]) if hue else eye
    M = eye.clone()
    T = torch.zeros(B, 3, 3, dtype=torch.float64)
    for k in range(4):
        op = p.order[:, k]
        on = active[:, k]
        f = p.factors.gather(1, op[:, None].clamp(max=2))[:, :, None]  # [B, 1, 1]
        # brightness: f I;  saturation: f I + (1 - f) 1 g^T;  contrast: f v + (1 - f) 1 g^T mu_now
        is_b = (on & (op == BRIGHTNESS))[:, None, None]
        is_c = (on & (op == CONTRAST))[:, None, None]
        is_s = (on & (op == SATURATION))[:, None, None]
        # hue (linear here): H; contrast's mean grey follows through T like any linear step
        L = torch.where(is_s, f * eye + (1 - f) * to_gray, eye)
        if hue:
            L = torch.where((on & (op == HUE))[:, None, None], H, L)
        newM = torch.where(is_b | is_c, f * M, L @ M)
        # mu_now = (M + T) mu, so contrast adds (1 - f) 1 g^T (M + T) mu
        newT = torch.where(
            is_b, f * T, torch.where(is_c, f * T + (1 - f) * to_gray @ (M + T), L @ T)
        )
        M, T = newM, newT
    return M, T


def _colour_stages(p: AugmentParams, exact: bool) -> list[tuple[str, torch.Tensor]]:
    """The colour work as ("affine", active positions [B, 4]) and ("hue", images [B])
    stages. Exact: one stage per position (clipped after every adjustment, as PIL does).
    Fused: the affine runs before and after the hue step each become one stage."""
    B = len(p)
    pos = torch.arange(4)[None, :].expand(B, 4)
    is_hue = p.order == HUE
    hue_on = p.factors[:, HUE] != 0
    stages: list[tuple[str, torch.Tensor]] = []
    if exact:
        for k in range(4):
            stages.append(("affine", (pos == k) & ~is_hue))
            stages.append(("hue", is_hue[:, k] & hue_on))
    else:
        hue_at = torch.where(hue_on, is_hue.to(torch.int64).argmax(1), torch.full((B,), 4))
        stages.append(("affine", (pos < hue_at[:, None]) & ~is_hue))
        stages.append(("hue", hue_on))
        stages.append(("affine", (pos > hue_at[:, None]) & ~is_hue))
    # drop stages that change nothing: identity factors, nobody's hue
    ident = p.factors[:, :3] == 1
    out = []
    for kind, m in stages:
        if kind == "hue":
            if bool(m.any()):
                out.append((kind, m))
        else:
            op = p.order.clamp(max=2)
            changes = m & ~ident.gather(1, op) & ~is_hue
            if bool(changes.any()):
                out.append((kind, m))
    return out


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


def _scale_shift(out: torch.Tensor, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    """out = x a + b per channel (ToTensor + Normalize), x uint8 or float [n, 3, N].
    A converting copy then two in-place broadcast ops: measured 3-4x faster on the CPU
    than the single `addcmul` (which takes a slow broadcasting path)."""
    out.copy_(x)
    out.mul_(a).add_(b)


_scratch = threading.local()  # per-thread reusable buffers (CPU): no page faults per batch


def _float_scratch(shape: tuple[int, ...], device) -> torch.Tensor:
    """An uninitialised float32 tensor of `shape` for temporary use. On the CPU the buffer
    is kept per thread and reused: a fresh 5 MB tensor per chunk costs a page fault per
    4 kB on first touch, about as much as the work done in it."""
    if torch.device(device).type != "cpu":
        return torch.empty(shape, dtype=torch.float32, device=device)
    need = 1
    for d in shape:
        need *= d
    buf = getattr(_scratch, "float32", None)
    if buf is None or buf.numel() < need:
        buf = _scratch.float32 = torch.empty(need, dtype=torch.float32)
    return buf[:need].view(shape)


class BatchAugment:
    """Callable: uint8 [B, 3, R, R] (on any device) -> float32 [B, 3, S, S] normalised.

    `aug(x, generator=g)` draws fresh parameters from `g` (a CPU torch.Generator; the
    same seed gives the same batch), `aug(x, params=p)` applies given ones.

    `exact=True` (the reference) clips after every colour adjustment as the PIL path
    does; `False` (what training uses) fuses the whole colour jitter and the
    normalisation into one affine map per image (see the module docstring for how it
    differs). On the CPU the batch is processed a few images at a time (`chunk`) so the
    temporaries stay in cache; the per-image parameters are computed once per batch.
    """

    def __init__(self, spec: AugmentSpec, exact: bool = True, chunk: int | None = None):
        self.spec = spec
        self.exact = exact
        self.chunk = chunk
        mean = IMAGENET_MEAN if spec.normalize else (0.0, 0.0, 0.0)
        std = IMAGENET_STD if spec.normalize else (1.0, 1.0, 1.0)
        # pixel value v in 0..255 -> (v / 255 - mean) / std = a v + b
        self._a = torch.tensor([1.0 / (255.0 * s) for s in std], dtype=torch.float64)
        self._b = torch.tensor(
            [-m / s for m, s in zip(mean, std, strict=True)], dtype=torch.float64
        )
        self._dev: dict[torch.device, tuple[torch.Tensor, ...]] = {}
        # the normalised images of pixel values 0 and 255, per channel, as Python floats
        self._bounds = (self._b.tolist(), (255 * self._a + self._b).tolist())

    def sample(self, n: int, generator: torch.Generator | None = None) -> AugmentParams:
        return sample_params(self.spec, n, generator)

    def _consts(self, device) -> tuple[torch.Tensor, ...]:
        """a, b (normalisation) and the normalised images of 0 and 255, per channel."""
        key = torch.device(device)
        if key not in self._dev:
            a = self._a.to(device=key, dtype=torch.float32).view(1, 3, 1)
            b = self._b.to(device=key, dtype=torch.float32).view(1, 3, 1)
            self._dev[key] = (a, b, b, 255 * a + b)
        return self._dev[key]

    def __call__(
        self,
        x: torch.Tensor,
        generator: torch.Generator | None = None,
        params: AugmentParams | None = None,
        out: torch.Tensor | None = None,
        as_uint8: bool = False,
        rows: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Augment a batch into float32 [B, 3, S, S], normalised.

        `rows`: the batch is x[rows] (x being the whole cache), read in place.
        `as_uint8`: stop before the normalisation and give uint8 pixels, rounded as PIL
        rounds (4x smaller to ship from a worker process; `normalize()` finishes them).
        `out` receives the result when given (e.g. a shared-memory tensor in a worker)."""
        spec = self.spec
        R, S = spec.resize, spec.size
        if x.dim() != 4 or tuple(x.shape[1:]) != (3, R, R):
            raise ValueError(f"expected uint8 [B, 3, {R}, {R}] images, got {tuple(x.shape)}")
        B = len(rows) if rows is not None else x.shape[0]
        p = params if params is not None else self.sample(B, generator)
        if out is None:
            dtype = torch.uint8 if as_uint8 else torch.float32
            out = torch.empty((B, 3, S, S), dtype=dtype, device=x.device)
        # the small per-image work once per batch, not per chunk
        maps = terms = None
        if not self.exact and spec.train and spec.jitter:
            maps = self._colour_maps(p, as_uint8, x.device)
        if spec.train and spec.rotation > 0 and bool((p.angle != 0).any()):
            terms = _rotation_terms(spec, p, x.device)
        chunk = self.chunk or (B if x.device.type != "cpu" else 8)
        for i in range(0, B, max(1, chunk)):
            j = min(B, i + chunk)
            part = (x, rows[i:j]) if rows is not None else (x[i:j], None)
            m = None if maps is None else tuple(t if t is None else t[i:j] for t in maps)
            tc = None if terms is None else tuple(t[i:j] for t in terms)
            self._run(*part, p.select(slice(i, j)), out[i:j], as_uint8, m, tc)
        return out

    def normalize(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 [B, 3, S, S] (from `as_uint8=True`) -> float32, ToTensor + Normalize."""
        a, b, _, _ = self._consts(x.device)
        n = x.shape[0]
        if out is None:
            out = torch.empty(x.shape, dtype=torch.float32, device=x.device)
        _scale_shift(out.view(n, 3, -1), x.reshape(n, 3, -1), a, b)
        return out

    def _run(self, x, rows, p: AugmentParams, out, as_uint8: bool, maps, terms) -> None:
        spec = self.spec
        n, S = len(p), spec.size
        g = geometry(x, spec, p, rows, terms)  # uint8 [n, 3, G, G]
        if spec.geo_size != S:  # crop = "none": the final Resize(S)
            g = F.interpolate(
                g.float(), size=(S, S), mode="bilinear", antialias=True, align_corners=False
            )
            if as_uint8:
                g = g.round_().clamp_(0, 255).to(torch.uint8)
        a, b, lo, hi = self._consts(x.device)
        flat_out = out.view(n, 3, -1)
        if maps is not None:
            self._fused_colour(g, maps, flat_out, as_uint8)
            return
        stages = [] if not self.exact else _colour_stages(p, True)
        stages = stages if (spec.train and spec.jitter) else []
        if not stages:
            if as_uint8:
                out.copy_(g)
            else:
                _scale_shift(flat_out, g.reshape(n, 3, -1), a, b)
            return
        v = g.reshape(n, 3, -1).float()
        for k, (kind, m) in enumerate(stages):
            last = k == len(stages) - 1
            if kind == "hue":
                v = self._hue(v, p, m, n, S)
            else:
                M, T = _compose(p, m)
                if last and not as_uint8:  # fold the normalisation in; clamp at 0 and 255's images
                    a64 = self._a.view(1, 3, 1)
                    lo_c, hi_c = self._bounds
                    self._affine(v, M * a64, T * a64, self._b.view(1, 3), lo_c, hi_c, flat_out)
                    return
                v = self._affine(v, M, T, None, 0.0, 255.0, None)
            if last:
                if as_uint8:
                    flat_out.copy_(v.round_())  # values are already clamped to 0..255
                else:
                    _scale_shift(flat_out, v, a, b)

    def _colour_maps(self, p: AugmentParams, as_uint8: bool, device):
        """The fused ColorJitter of each image, normalisation folded in: float32 M
        [B, 3, 3], T [B, 3, 3] (None when no image's map depends on its mean colour) and
        bias [B, 3, 1], with out = clamp(M v + T mu + bias), mu the image's mean colour;
        pixel units instead of normalised ones with `as_uint8`."""
        M, T = _compose(p, torch.ones(len(p), 4, dtype=torch.bool), hue=True)
        if as_uint8:
            scale, offset = torch.ones(1, 3, 1, dtype=torch.float64), torch.zeros(3)
        else:
            scale, offset = self._a.view(1, 3, 1), self._b
        bias = offset.to(torch.float64).view(1, 3, 1).expand(len(p), 3, 1)
        f32 = {"device": device, "dtype": torch.float32}
        T = (T * scale).to(**f32) if bool((T != 0).any()) else None
        return (M * scale).to(**f32), T, bias.to(**f32)

    def _fused_colour(self, g: torch.Tensor, maps, out: torch.Tensor, as_uint8: bool) -> None:
        """Apply `_colour_maps` to geometry output g, written into `out` [n, 3, S*S]: one
        conversion to float (into a reused buffer), one batched matrix multiply with the
        offset and one clamp per channel."""
        M, T, bias = maps
        n = len(M)
        v = _float_scratch((n, 3, g.shape[-2] * g.shape[-1]), g.device)
        v.copy_(g.reshape(n, 3, -1))  # uint8 -> float32
        if T is not None:
            bias = torch.baddbmm(bias, T, v.mean(2, keepdim=True))
        res = torch.baddbmm(bias, M, v, out=None if as_uint8 else out)
        if as_uint8:
            out.copy_(res.clamp_(0, 255).round_())
            return
        lo, hi = self._bounds
        for c in range(3):
            res[:, c].clamp_(lo[c], hi[c])

    @staticmethod
    def _hue(v: torch.Tensor, p: AugmentParams, m: torch.Tensor, n: int, S: int) -> torch.Tensor:
        rows = m.nonzero().flatten().to(v.device)
        sub = v.index_select(0, rows).view(-1, 3, S, S) / 255.0
        shift = p.factors[:, HUE][m].to(device=v.device, dtype=v.dtype)
        shifted = _shift_hue(sub, shift).mul_(255.0).view(-1, 3, S * S)
        return v.index_copy(0, rows, shifted) if len(rows) < n else shifted

    @staticmethod
    def _affine(v, M, T, b, lo, hi, out) -> torch.Tensor:
        """clamp(M v + T mu + b) per image, mu = the image's mean colour (computed only when
        some image's map depends on it). `lo`, `hi`: scalars, or per-channel sequences
        (three strided clamps with scalar bounds: far cheaper than a broadcast clamp)."""
        dev, n = v.device, v.shape[0]
        bias = torch.zeros(n, 3, 1, device=dev) if b is None else b.expand(n, 3)[:, :, None]
        bias = bias.to(device=dev, dtype=torch.float32)
        if bool((T != 0).any()):
            mu = v.mean(2, keepdim=True)  # [n, 3, 1]
            bias = bias + torch.bmm(T.to(device=dev, dtype=torch.float32), mu)
        M = M.to(device=dev, dtype=torch.float32)
        res = torch.baddbmm(bias, M, v, out=out)
        if isinstance(lo, (int, float)):
            return res.clamp_(lo, hi)
        for c in range(3):
            res[:, c].clamp_(float(lo[c]), float(hi[c]))
        return res
