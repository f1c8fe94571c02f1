"""Reading face images robustly: any PIL mode to RGB, EXIF orientation, clear errors."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from fbtui.errors import DataError

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}

# Errors PIL raises on a broken file (truncated data, bad markers, wrong format).
_PIL_ERRORS = (
    OSError,
    UnidentifiedImageError,
    ValueError,
    SyntaxError,
    Image.DecompressionBombError,
)


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGB":
        return im
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        # composite on white: a transparent background should not read as black
        rgba = im.convert("RGBA")
        bg = Image.new("RGB", rgba.size, (255, 255, 255))
        bg.paste(rgba, mask=rgba.getchannel("A"))
        return bg
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: scale to 8 bits instead of clipping
        import numpy as np

        a = np.asarray(im, dtype=np.float64)
        hi = a.max() or 1.0
        return Image.fromarray((a * (255.0 / hi)).clip(0, 255).astype("uint8")).convert("RGB")
    return im.convert("RGB")  # L, 1, P, CMYK, YCbCr, F ...


def load_image(path: str | Path) -> Image.Image:
    """Open an image fully decoded as RGB with its EXIF orientation applied.

    Handles grayscale, RGBA, palette, CMYK and 16-bit files; raises DataError naming the
    file when it cannot be read or decoded.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. PIL's "Corrupt EXIF data" chatter
            with Image.open(path) as im:
                im.load()
                im = ImageOps.exif_transpose(im)
                return _to_rgb(im)
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except _PIL_ERRORS as e:
        raise DataError(f"{path}: cannot decode image ({_reason(e)})") from None


def _reason(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.replace(str(Path.cwd()) + "/", "")


# The end-of-image marker a complete file of each format carries near its end.
_END_MARKERS = {"JPEG": b"\xff\xd9", "PNG": b"IEND"}


def header_problem(path: Path) -> str | None:
    """Cheap check (~0.1 ms): None when PIL recognises the file, else why not.

    A JPEG/PNG whose end-of-image marker is missing (the usual truncated download) is
    then fully decoded, so a cut-off file is caught here too without decoding the rest.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                w, h = im.size
                fmt = im.format
        if w <= 0 or h <= 0:
            return f"empty image ({w}x{h})"
        marker = _END_MARKERS.get(fmt or "")
        if marker is not None:
            with open(path, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - 64))
                tail = f.read()
            if marker not in tail:
                return decode_problem(Path(path))  # trailing junk is legal: decode to be sure
        return None
    except FileNotFoundError:
        return "file not found"
    except _PIL_ERRORS as e:
        return f"not a readable image ({_reason(e)})"


def decode_problem(path: Path) -> str | None:
    """Full decode check: None when the image decodes completely, else the reason."""
    try:
        load_image(path)
        return None
    except DataError as e:
        msg = str(e)
        prefix = f"{path}: "
        return msg[len(prefix) :] if msg.startswith(prefix) else msg


def scan_bad(records: Iterable, *, workers: int = 0) -> list[tuple[str, str]]:
    """Fully decode every record's image; return (name, reason) for each one that fails.

    Used by `fbtui data check` and by the trainer when `data.skip_bad = true`. Decoding
    5500 350 px JPEGs takes a few seconds; `workers > 1` spreads it over threads (PIL
    releases the GIL while decoding).
    """
    recs = list(records)

    def one(r):
        why = decode_problem(Path(r.path))
        return (r.name, why) if why else None

    if workers and workers > 1 and len(recs) > 64:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as ex:
            results = list(ex.map(one, recs, chunksize=32))
    else:
        results = [one(r) for r in recs]
    return [x for x in results if x is not None]


def apply_header_check(ds, skip_bad: bool = False) -> None:
    """Header-check every record of a DataSet. Bad images raise one DataError listing
    them, or with skip_bad are dropped into `ds.bad` with a warning."""
    bad = [(r.name, why) for r in ds.records.values() if (why := header_problem(r.path))]
    if not bad:
        return
    if skip_bad:
        ds.bad.update(dict(bad))
        ds.drop(n for n, _ in bad)
        ds.warnings.append(f"skipped {len(bad)} unreadable image(s) (data.skip_bad = true)")
        return
    items = [f"{ds.records[n].path}: {why}" for n, why in bad]
    more = f"\n  ... and {len(items) - 5} more" if len(items) > 5 else ""
    raise DataError(
        f"{len(bad)} unreadable image(s) in {ds.root}:\n  "
        + "\n  ".join(items[:5])
        + more
        + "\nReplace them, or set data.skip_bad = true to train without them."
    )
