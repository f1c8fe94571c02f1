"""A synthetic stand-in for SCUT-FBP5500, written in exactly the real release layout.

The faces are procedurally drawn cartoons (numpy + PIL only). Each face's latent
"beauty" is a fixed function of features a CNN can SEE -- skin smoothness, blemishes,
eye size, symmetry, face slimness, lip/eye contrast -- while position, size, tilt,
lighting, background, hair and skin tone vary as nuisance. Sixty simulated raters, each
with a bias, a gain and noise, rate every face 1..5, exactly as in the real workbook.

It exists so fbtui can be tried, tested and demonstrated with nothing downloaded; it says
nothing about real faces.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from fbtui.data.records import GROUPS

GENERATOR_VERSION = 3  # bump when the pictures or ratings change: caches regenerate
N_RATERS = 60
REAL_COUNTS = {"AF": 2000, "AM": 2000, "CF": 750, "CM": 750}
MARKER = "SYNTHETIC.json"

# Visible beauty features: name -> (low, high, weight). Each is drawn uniformly in
# [low, high]; its standardised value times the weight adds to the latent score.
# A negative weight means "more is less beautiful".
FEATURES = {
    "skin_noise": (1.0, 22.0, -0.36),  # amplitude of blotchy skin texture (0..255 units)
    "blemishes": (0, 9, -0.28),  # count of small dark spots
    "eye_size": (0.07, 0.15, 0.30),  # eye radius / face half-height
    "contrast": (0.0, 1.0, 0.28),  # darkness of eyes/brows and redness of lips
    "face_width": (0.66, 0.86, -0.14),  # face half-width / half-height (slimmer is higher)
    "asymmetry": (0.0, 1.0, -0.14),  # eye height/size mismatch, mouth tilt, nose offset
}
GROUP_OFFSET = {"AF": 0.10, "AM": -0.10, "CF": 0.15, "CM": 0.0}
LATENT_MEAN = 3.0
LATENT_RESIDUAL = 0.08  # invisible part of the latent (keeps the task from being exact)

_SKIN = {
    "A": [(232, 196, 166), (222, 184, 150), (210, 170, 138), (238, 205, 178)],
    "C": [(240, 208, 186), (228, 190, 168), (246, 220, 200), (214, 172, 148)],
}
_HAIR = {
    "A": [(20, 16, 14), (38, 28, 22), (55, 40, 30), (30, 24, 24)],
    "C": [(60, 40, 25), (110, 75, 40), (200, 165, 100), (140, 60, 30), (25, 20, 18)],
}


def group_counts(n: int) -> dict[str, int]:
    """AF/AM/CF/CM counts in the real 2000:2000:750:750 proportions, summing to n."""
    total = sum(REAL_COUNTS.values())
    raw = {g: n * c / total for g, c in REAL_COUNTS.items()}
    out = {g: int(v) for g, v in raw.items()}
    for g in sorted(raw, key=lambda g: raw[g] - out[g], reverse=True)[: n - sum(out.values())]:
        out[g] += 1
    return out


def _std(name: str, v: float) -> float:
    lo, hi, _ = FEATURES[name]
    if name == "blemishes":  # discrete uniform on lo..hi
        k = hi - lo + 1
        return (v - (lo + hi) / 2) / np.sqrt((k * k - 1) / 12)
    return (v - (lo + hi) / 2) / ((hi - lo) / np.sqrt(12))


def latent_of(features: dict[str, float], group: str, residual: float) -> float:
    """The latent beauty score implied by a face's visible features."""
    z = sum(FEATURES[k][2] * _std(k, v) for k, v in features.items())
    return float(np.clip(LATENT_MEAN + z + GROUP_OFFSET[group] + residual, 1.0, 5.0))


_SKIN_TEX_RGB = np.array([1.0, 0.8, 0.7], np.float32)  # blotches are reddish


@functools.lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(y, x) coordinates in [-0.5, 0.5), float32, for lighting gradients."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    return yy, xx


def _c(rgb, f: float = 1.0) -> tuple[int, int, int]:
    return tuple(int(np.clip(x * f, 0, 255)) for x in rgb)


def draw_face(
    rng: np.random.Generator, group: str, size: int
) -> tuple[Image.Image, dict[str, float], float]:
    """One face picture, its visible beauty features and its latent score."""
    lo = {k: v[0] for k, v in FEATURES.items()}
    hi = {k: v[1] for k, v in FEATURES.items()}
    feat = {k: float(rng.uniform(lo[k], hi[k])) for k in FEATURES}
    feat["blemishes"] = int(rng.integers(lo["blemishes"], hi["blemishes"] + 1))
    residual = float(rng.normal(0, LATENT_RESIDUAL))
    latent = latent_of(feat, group, residual)

    eth, female = group[0], group[1] == "F"
    F = 2  # draw at twice the size, then downsample: anti-aliased edges
    S = size * F
    skin = np.array(_SKIN[eth][rng.integers(len(_SKIN[eth]))], float) * rng.uniform(0.93, 1.05)
    hair = np.array(_HAIR[eth][rng.integers(len(_HAIR[eth]))], float) * rng.uniform(0.8, 1.2)
    bg = rng.uniform(90, 220) + rng.uniform(-35, 35, 3)  # muted: grey plus a tint
    cloth = rng.uniform(20, 230, 3)

    # nuisance geometry
    sc = rng.uniform(0.95, 1.05)
    cx = S * (0.5 + rng.uniform(-0.035, 0.035))
    cy = S * (0.52 + rng.uniform(-0.03, 0.03))
    b = S * 0.40 * sc  # face half-height: like SCUT, the face fills most of the picture
    a = b * feat["face_width"]  # face half-width

    img = Image.new("RGB", (S, S), _c(bg))
    d = ImageDraw.Draw(img)
    # shoulders and neck
    d.ellipse([cx - 2.2 * a, cy + 0.95 * b, cx + 2.2 * a, cy + 2.6 * b], fill=_c(cloth))
    d.rectangle([cx - 0.45 * a, cy + 0.5 * b, cx + 0.45 * a, cy + 1.15 * b], fill=_c(skin, 0.9))
    # long hair behind the face
    if female:
        hl = rng.uniform(0.9, 1.5)
        d.ellipse([cx - 1.35 * a, cy - 1.12 * b, cx + 1.35 * a, cy + hl * b], fill=_c(hair))
    # face
    d.ellipse([cx - a, cy - b, cx + a, cy + b], fill=_c(skin))
    # ears
    for s in (-1, 1):
        d.ellipse(
            [cx + s * a - 0.12 * a, cy - 0.15 * b, cx + s * a + 0.12 * a, cy + 0.15 * b],
            fill=_c(skin, 0.95),
        )
    # hair cap
    # fringe depth: its lower edge stays above the brows (cy - 0.45 b at most)
    cap = rng.uniform(0.2, 0.32) if female else rng.uniform(0.14, 0.28)
    d.chord(
        [cx - 1.06 * a, cy - 1.1 * b, cx + 1.06 * a, cy - 1.1 * b + 2 * cap * 2 * b],
        180,
        360,
        fill=_c(hair),
    )

    # eyes: the asymmetry feature moves and resizes one eye, tilts the mouth
    asym = feat["asymmetry"]
    sgn = rng.choice([-1.0, 1.0], size=3)
    re = b * feat["eye_size"]
    ey = cy - 0.12 * b
    ex = a * rng.uniform(0.40, 0.48)
    con = feat["contrast"]
    iris = _c(rng.uniform(30, 110, 3), 1.0 - 0.6 * con)
    brow = _c(hair, 1.0 - 0.4 * con)
    for side in (-1, 1):
        r = re * (1 + (0.35 * asym * sgn[0] if side == 1 else 0.0))
        y = ey + (0.09 * b * asym * sgn[1] if side == 1 else 0.0)
        x = cx + side * ex
        d.ellipse([x - 1.5 * r, y - 0.85 * r, x + 1.5 * r, y + 0.85 * r], fill=(245, 245, 240))
        d.ellipse([x - 0.7 * r, y - 0.7 * r, x + 0.7 * r, y + 0.7 * r], fill=iris)
        d.ellipse([x - 0.3 * r, y - 0.3 * r, x + 0.3 * r, y + 0.3 * r], fill=(10, 10, 10))
        bw = max(2, int(0.045 * b * (0.6 + con)))
        d.line(
            [x - 1.5 * r, y - 1.5 * r, x, y - 1.9 * r, x + 1.5 * r, y - 1.5 * r],
            fill=brow,
            width=bw,
            joint="curve",
        )
    # nose
    nx = cx + 0.12 * a * asym * sgn[2]
    d.line(
        [nx, ey + 0.1 * b, nx - 0.06 * a, cy + 0.28 * b, nx + 0.04 * a, cy + 0.3 * b],
        fill=_c(skin, 0.78),
        width=max(2, int(0.02 * S)),
    )
    # mouth, tilted by asymmetry
    my = cy + 0.55 * b
    mw = a * rng.uniform(0.38, 0.5)
    tilt = 0.12 * b * asym * sgn[0]
    lip = _c(np.array([150, 70, 70]) + con * np.array([70, -30, -25]), rng.uniform(0.9, 1.05))
    d.polygon(
        [(cx - mw, my - tilt), (cx, my - 0.07 * b), (cx + mw, my + tilt), (cx, my + 0.09 * b)],
        fill=lip,
    )

    img = img.resize((size, size), Image.BILINEAR)
    # face mask at the final size, for the skin texture and blemishes
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).ellipse(
        [(cx - a) / F, (cy - 0.45 * b) / F, (cx + a) / F, (cy + b) / F], fill=255
    )
    m = np.asarray(mask, np.float32) / 255.0

    x = np.asarray(img, np.float32)
    # blotchy skin: low-frequency noise (survives downsampling to 64 px) plus fine grain
    g = max(4, size // 8)
    coarse = rng.standard_normal((g, g), dtype=np.float32)
    coarse = np.asarray(Image.fromarray(coarse, "F").resize((size, size), Image.BICUBIC))
    fine = rng.standard_normal((size, size), dtype=np.float32)
    tex = (0.8 * coarse + 0.6 * fine) * (m * np.float32(feat["skin_noise"]))
    x += tex[..., None] * _SKIN_TEX_RGB
    # blemishes: small dark reddish spots inside the face
    if feat["blemishes"]:
        ys, xs = np.nonzero(m > 0.9)
        pick = rng.integers(len(ys), size=feat["blemishes"])
        w = max(3, int(round(5 * size / 128)))
        oy, ox = np.mgrid[-w : w + 1, -w : w + 1]
        dark = np.array([80, 105, 105], np.float32)
        for k in pick:
            rad = rng.uniform(1.2, 2.0) * size / 128
            y0, x0 = ys[k], xs[k]
            spot = np.exp(-(oy**2 + ox**2) / (2 * rad * rad)).astype(np.float32)[..., None]
            y1, y2, x1, x2 = (
                max(0, y0 - w),
                min(size, y0 + w + 1),
                max(0, x0 - w),
                min(size, x0 + w + 1),
            )
            x[y1:y2, x1:x2] -= spot[y1 - y0 + w : y2 - y0 + w, x1 - x0 + w : x2 - x0 + w] * dark
    # lighting: a directional gradient and overall exposure; then sensor noise
    th = rng.uniform(0, 2 * np.pi)
    yy, xx = _grid(size)
    light = np.float32(rng.uniform(0.85, 1.12)) * (
        1
        + np.float32(rng.uniform(0, 0.25))
        * (np.float32(np.cos(th)) * xx + np.float32(np.sin(th)) * yy)
    )
    x *= light[..., None]
    x += rng.standard_normal(x.shape, dtype=np.float32) * np.float32(2.0)
    out = Image.fromarray(np.clip(x, 0, 255).astype(np.uint8))
    # head tilt, done last at the final size (cheap); corners take the nearby background
    angle = rng.uniform(-6, 6)
    out = out.rotate(
        angle, resample=Image.BILINEAR, fillcolor=tuple(int(v) for v in x[0, 0].clip(0, 255))
    )
    if rng.random() < 0.2:  # a little defocus on some pictures
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.6) * size / 128))
    return out, feat, latent


def simulate_raters(latents: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """[n_images, 60] integer ratings 1..5 and the `original Rating` (NaN unless re-rated).

    Each rater has a bias, a gain around the scale's middle and rating noise. A few
    inconsistent raters were "asked again": their earlier, noisier ratings of some images
    go in `original Rating`, as in the real workbook.
    """
    n = len(latents)
    bias = rng.normal(0, 0.25, N_RATERS)
    gain = rng.uniform(0.8, 1.2, N_RATERS)
    noise = rng.normal(0, 0.55, (n, N_RATERS))
    ratings = np.clip(np.rint(3 + gain * (latents[:, None] - 3) + bias + noise), 1, 5)
    original = np.full((n, N_RATERS), np.nan)
    for r in rng.choice(N_RATERS, size=3, replace=False):
        redo = rng.random(n) < 0.1
        earlier = np.clip(ratings[redo, r] + rng.choice([-2, -1, 1, 2], size=redo.sum()), 1, 5)
        changed = earlier != ratings[redo, r]
        idx = np.nonzero(redo)[0][changed]
        original[idx, r] = earlier[changed]
    return ratings, original


def _fmt(x: float) -> str:
    return f"{x:.6f}"


def synthesize(out: str | Path, n: int = 2000, seed: int = 0, size: int = 128) -> Path:
    """Write a synthetic data set in the SCUT-FBP5500_v2 layout to `out` and return it.

    Deterministic for a given (n, seed, size). `out` must not exist or be empty.
    """
    if n < 20:
        raise ValueError("synthesize: n must be at least 20")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    (out / "Images").mkdir()

    counts = group_counts(n)
    names, groups, latents = [], [], []
    for gi, g in enumerate(GROUPS):
        for k in range(1, counts[g] + 1):
            rng = np.random.default_rng([seed, gi, k])
            im, _feat, lat = draw_face(rng, g, size)
            name = f"{g}{k}.jpg"
            im.save(out / "Images" / name, quality=92)
            names.append(name)
            groups.append(g)
            latents.append(lat)
    lat = np.asarray(latents)
    rng = np.random.default_rng([seed, 1_000_003])
    ratings, original = simulate_raters(lat, rng)
    means = ratings.mean(axis=1)

    _write_ratings(out / "All_Ratings.xlsx", names, ratings, original)
    tt = out / "train_test_files"
    tt.mkdir()
    _write_list(tt / "All_labels.txt", names, means, range(n))
    perm = rng.permutation(n)
    k = int(round(0.6 * n))
    d = tt / "split_of_60%training and 40%testing"
    d.mkdir()
    _write_list(d / "train.txt", names, means, perm[:k])
    _write_list(d / "test.txt", names, means, perm[k:])
    folds = np.array_split(rng.permutation(n), 5)
    for i in range(5):
        d = tt / "5_folders_cross_validations_files" / f"cross_validation_{i + 1}"
        d.mkdir(parents=True)
        train = np.concatenate([f for j, f in enumerate(folds) if j != i])
        _write_list(d / f"train_{i + 1}.txt", names, means, train)
        _write_list(d / f"test_{i + 1}.txt", names, means, folds[i])
    (out / "README.txt").write_text(
        "SYNTHETIC DATA -- generated by `fbtui data synth`; these are procedurally drawn\n"
        "cartoon faces rated by 60 simulated raters, NOT the SCUT-FBP5500 data set and not\n"
        "photographs of people. The layout mirrors SCUT-FBP5500_v2 so the same reader is used.\n"
        f"n={n} seed={seed} size={size} generator_version={GENERATOR_VERSION}\n"
    )
    meta = {
        "synthetic": True,
        "generator_version": GENERATOR_VERSION,
        "n": n,
        "seed": seed,
        "size": size,
        "groups": counts,
        "score_mean": float(means.mean()),
        "score_std": float(means.std()),
        "score_min": float(means.min()),
        "score_max": float(means.max()),
    }
    (out / MARKER).write_text(json.dumps(meta, indent=1) + "\n")
    return out


def _write_list(path: Path, names, means, idx) -> None:
    path.write_text("".join(f"{names[i]} {_fmt(means[i])}\n" for i in idx))


def _write_ratings(path: Path, names, ratings: np.ndarray, original: np.ndarray) -> None:
    from fbtui.data.xlsx import write_sheet

    rows: list[list] = [["Rater", "Filename", "Rating", "original Rating"]]
    # one block per rater, images in order, like the release
    for r in range(ratings.shape[1]):
        col, ocol = ratings[:, r], original[:, r]
        for i, name in enumerate(names):
            o = ocol[i]
            rows.append([r + 1, name, int(col[i]), None if o != o else int(o)])
    write_sheet(path, "ALL", rows)


def synthetic_dir(n: int = 2000, size: int = 128, cache_dir: Path | None = None) -> Path:
    """Where the cached synthetic set for (n, size) lives."""
    base = cache_dir or os.environ.get("FBTUI_CACHE") or Path.home() / ".cache" / "fbtui"
    return Path(base).expanduser() / f"synthetic-n{n}-s{size}"


def _is_current(folder: Path, n: int, size: int) -> bool:
    try:
        meta = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return (
        meta.get("generator_version") == GENERATOR_VERSION
        and meta.get("n") == n
        and meta.get("size") == size
    )


def ensure_synthetic(
    n: int = 2000, size: int = 128, cache_dir: Path | None = None, seed: int = 0
) -> Path:
    """The cached synthetic set, generated on first use.

    Safe against concurrent callers: each builds in its own temporary folder next to the
    target and renames it into place; a loser of the race discards its copy.
    """
    final = synthetic_dir(n, size, cache_dir)
    if _is_current(final, n, size):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        synthesize(tmp, n=n, seed=seed, size=size)
        if final.exists() and not _is_current(final, n, size):
            # stale (older generator or interrupted by hand): move aside, then replace
            stale = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
            try:
                os.replace(final, stale / "x")
            except OSError:
                pass
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(tmp, final)
        except OSError:
            if not _is_current(final, n, size):  # someone else won, but with a bad result?
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
