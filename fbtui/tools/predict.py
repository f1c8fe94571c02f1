"""`fbtui predict`: score photos with a trained run, optionally face by face.

Every file goes through `fbtui.data.dataset.load_image` (any PIL mode to RGB, EXIF
orientation applied) and the run's test-time transform, so a photo is scored exactly like
the run's test images. A file that cannot be decoded is reported and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from fbtui.data.images import IMAGE_EXTS as _EXTS
from fbtui.errors import UserError
from fbtui.tools.faces import Face, detect_faces, draw_faces
from fbtui.tools.inference import Prediction, Scorer


@dataclass
class FaceResult:
    """One detected face and its score."""

    face: Face
    prediction: Prediction

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": list(self.face.box),
            "crop": list(self.face.crop),
            **self.prediction.to_dict(),
        }


@dataclass
class ImageResult:
    """What predict found for one input file: a whole-image score, or (with detection) a
    list of faces, or the reason it was skipped."""

    file: str
    size: tuple[int, int] | None = None
    prediction: Prediction | None = None
    faces: list[FaceResult] | None = None
    error: str | None = None
    out: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def n_scored(self) -> int:
        if self.error:
            return 0
        return len(self.faces) if self.faces is not None else int(self.prediction is not None)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"file": self.file}
        if self.error:
            d["error"] = self.error
            return d
        d["width"], d["height"] = self.size or (None, None)
        if self.faces is not None:
            d["faces"] = [f.to_dict() for f in self.faces]
        elif self.prediction is not None:
            d.update(self.prediction.to_dict())
        if self.out:
            d["out"] = self.out
        return d


def out_path_for(out: Path, src: Path, many: bool) -> Path:
    """--out F: the file itself for one input; for several, a folder F holding
    <stem>_scored<ext> for each (PNG when the input's format cannot be written)."""
    if not many and not out.is_dir():
        return out
    ext = src.suffix.lower() if src.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp") else ".png"
    return out / f"{src.stem}_scored{ext}"


def save_image(img: Image.Image, path: Path) -> None:
    """Save an RGB image; the format follows the extension (PNG if there is none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = None if path.suffix else "PNG"
    try:
        img.save(
            path,
            format=fmt,
            **({"quality": 95} if path.suffix.lower() in (".jpg", ".jpeg") else {}),
        )
    except (ValueError, OSError, KeyError) as e:
        raise UserError(f"{path}: cannot write the image ({e})") from None


def label_for(p: Prediction) -> str:
    return f"{p.score:.2f}" + (f" ±{p.std:.2f}" if p.std is not None else "")


def predict_file(
    scorer: Scorer, path: Path, detect: bool = False, out: Path | None = None
) -> ImageResult:
    """Score one file (whole image, or each detected face); never raises for a bad image."""
    from fbtui.data.dataset import load_image
    from fbtui.errors import DataError

    res = ImageResult(file=str(path))
    if path.is_dir():  # only an empty one gets here (expand_inputs)
        res.error = "a folder without image files (" + ", ".join(sorted(_EXTS)) + ")"
        return res
    try:
        img = load_image(path)
    except DataError as e:
        res.error = str(e).removeprefix(f"{path}: ")
        return res
    except OSError as e:  # e.g. a folder or an unreadable file given as IMAGE
        res.error = f"cannot read ({e.strerror or e})"
        return res
    res.size = img.size
    if detect:
        faces = detect_faces(img)
        preds = scorer.predict_images([img.crop(f.crop) for f in faces])
        res.faces = [FaceResult(f, p) for f, p in zip(faces, preds, strict=True)]
        items = [(f.box, label_for(p)) for f, p in zip(faces, preds, strict=True)]
    else:
        res.prediction = scorer.predict_images([img])[0]
        items = [((0, 0, img.width, img.height), label_for(res.prediction))]
    if out is not None:
        save_image(draw_faces(img, items), out)
        res.out = str(out)
    return res


def expand_inputs(paths: list[Path]) -> list[Path]:
    """Folders stand for the image files directly inside them (by extension, sorted); an
    empty folder stays as it is, to be reported."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in _EXTS)
            out.extend(found or [p])
        else:
            out.append(p)
    return out


def predict_files(
    scorer: Scorer, paths: list[Path], detect: bool = False, out: Path | None = None
) -> list[ImageResult]:
    """Score each file in turn (one image in memory at a time: photos can be huge);
    a folder means the images in it."""
    many = len(paths) > 1 or any(p.is_dir() for p in paths)
    paths = expand_inputs(paths)
    if out is not None and many:
        if out.exists() and not out.is_dir():
            raise UserError(f"--out {out}: with several images --out must be a folder")
        out.mkdir(parents=True, exist_ok=True)
    results = []
    for p in paths:
        target = out_path_for(out, p, many) if out is not None else None
        results.append(predict_file(scorer, p, detect=detect, out=target))
    return results
