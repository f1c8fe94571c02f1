"""Face detection for `fbtui predict --detect`: OpenCV's Haar cascade and SCUT-like framing.

SCUT-FBP5500 images are centred, frontal, 350x350 crops that show the whole head (hair,
chin, a little background). A Haar box covers only brows to mouth, so each box is widened
and shifted up before the crop is scored; otherwise the model sees a framing it never saw
in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from fbtui.errors import UserError

CASCADE = "haarcascade_frontalface_default.xml"
# Detection runs on a copy whose long side is at most this: a 4000x3000 photo takes ~1 s
# at full size and finds the same faces (the cascade's smallest window is 30 px anyway).
DETECT_MAX_SIDE = 1280
# Framing: the crop is a square EXPAND times the Haar box side, centred SHIFT_UP box heights
# above the box centre (more forehead and hair than neck, as in SCUT's portraits).
EXPAND = 1.8
SHIFT_UP = 0.1

_cascade = None


@dataclass(frozen=True)
class Face:
    """A detected face: the Haar box and the square crop that is scored (both in pixels of
    the EXIF-corrected photo; crop is (left, top, right, bottom), right/bottom exclusive)."""

    box: tuple[int, int, int, int]  # x, y, w, h
    crop: tuple[int, int, int, int]


def _classifier():
    global _cascade
    if _cascade is None:
        import cv2

        if not hasattr(cv2, "CascadeClassifier"):
            raise UserError(
                f"OpenCV {cv2.__version__} has no CascadeClassifier (OpenCV 5 removed it); "
                'install "opencv-python-headless<5" for `--detect`'
            )
        path = cv2.data.haarcascades + CASCADE
        clf = cv2.CascadeClassifier(path)
        if clf.empty():
            raise UserError(f"could not load the Haar cascade {path}")
        _cascade = clf
    return _cascade


def square_crop(box: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The SCUT-like square crop around a Haar box, moved (not cut) to stay inside the
    image when it can, and shrunk to fit only when the image is smaller than the crop."""
    x, y, w, h = box
    width, height = size
    side = int(round(max(w, h) * EXPAND))
    side = max(1, min(side, width, height))
    cx = x + w / 2.0
    cy = y + h / 2.0 - SHIFT_UP * h
    left = int(round(cx - side / 2.0))
    top = int(round(cy - side / 2.0))
    left = min(max(left, 0), width - side)
    top = min(max(top, 0), height - side)
    return left, top, left + side, top + side


def detect_faces(img: Image.Image, min_size: int = 30) -> list[Face]:
    """Find frontal faces in an RGB image; sorted left to right, then top to bottom."""
    import cv2

    gray = np.asarray(img.convert("L"))
    h0, w0 = gray.shape
    scale = min(1.0, DETECT_MAX_SIDE / max(h0, w0))
    if scale < 1.0:
        gray = cv2.resize(
            gray,
            (max(1, round(w0 * scale)), max(1, round(h0 * scale))),
            interpolation=cv2.INTER_AREA,
        )
    if min(gray.shape) < min_size:
        return []
    found = _classifier().detectMultiScale(
        gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size)
    )
    faces = []
    for x, y, w, h in np.asarray(found, dtype=np.float64).reshape(-1, 4):
        box = tuple(int(round(v / scale)) for v in (x, y, w, h))
        faces.append(Face(box=box, crop=square_crop(box, (w0, h0))))  # type: ignore[arg-type]
    faces.sort(key=lambda f: (f.box[0], f.box[1]))
    return faces


def draw_faces(img: Image.Image, items: list[tuple[tuple[int, int, int, int], str]]) -> Image.Image:
    """A copy of the image with each (box, label) drawn: a green rectangle and the label
    on a dark band above it (below it when the box touches the top edge)."""
    import cv2

    a = np.ascontiguousarray(np.asarray(img.convert("RGB"))).copy()
    height, width = a.shape[:2]
    thick = max(1, round(max(width, height) / 400))
    fscale = max(0.4, max(width, height) / 1000)
    for (x, y, w, h), label in items:
        cv2.rectangle(a, (x, y), (x + w - 1, y + h - 1), (0, 255, 0), thick)
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, fscale, thick)
        ty = y - base - 2 if y - th - base - 2 >= 0 else min(height - 1, y + h + th + 2)
        tx = min(max(0, x), max(0, width - tw))
        cv2.rectangle(a, (tx, ty - th - 2), (tx + tw, ty + base), (0, 0, 0), -1)
        cv2.putText(
            a,
            label,
            (tx, ty),
            cv2.FONT_HERSHEY_SIMPLEX,
            fscale,
            (255, 255, 255),
            thick,
            cv2.LINE_AA,
        )
    return Image.fromarray(a)
