"""Tiny SCUT-FBP5500-layout fixtures built on the fly (the real data is never shipped)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

OLD = {"AF": "fty", "AM": "mty", "CF": "ftw", "CM": "mtw"}
SPLIT_DIR = "split_of_60%training and 40%testing"
OLD_SPLIT_DIR = "split_of_60%training_40%testing"


@dataclass
class Fixture:
    root: Path
    names: list[str]
    ratings: np.ndarray  # [n, raters]
    original: np.ndarray  # NaN unless re-rated
    train: list[str] = field(default_factory=list)
    test: list[str] = field(default_factory=list)
    folds: list[list[str]] = field(default_factory=list)

    def mean(self, name: str) -> float:
        return float(self.ratings[self.names.index(name)].mean())

    def split_file(self) -> Path:
        d = self.root / "train_test_files" / SPLIT_DIR
        return d if d.is_dir() else self.root / "train_test_files" / OLD_SPLIT_DIR


def write_jpg(path: Path, seed: int = 0, size: int = 16, mode: str = "RGB") -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    Image.fromarray(a).convert(mode).save(path, "JPEG", quality=90)


def write_xlsx(
    path: Path, rows: list[list], sheet: str = "ALL", extra_sheets=(), writer: str = "openpyxl"
) -> None:
    if writer == "fast" and not extra_sheets:
        from fbtui.data.xlsx import write_sheet

        write_sheet(path, sheet, rows)
        return
    import openpyxl

    wb = openpyxl.Workbook()
    first = wb.active
    for name in extra_sheets:  # sheets placed before the ratings one
        ws = wb.create_sheet(name, 0)
        ws.append(["something", "else"])
        ws.append([1, 2])
    first.title = sheet
    for r in rows:
        first.append(r)
    wb.save(path)


def make_scut(
    root: Path,
    counts: dict[str, int] | None = None,
    *,
    raters: int = 60,
    seed: int = 0,
    old_names: bool = False,
    old_folder: bool = False,
    xlsx: bool = True,
    sheet: str = "ALL",
    extra_sheets=(),
    writer: str = "fast",
    rerate: int = 5,
) -> Fixture:
    """A small data set in the real SCUT-FBP5500_v2 layout."""
    counts = counts or {"AF": 6, "AM": 6, "CF": 4, "CM": 4}
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "Images").mkdir()
    names = [f"{g}{k}.jpg" for g, c in counts.items() for k in range(1, c + 1)]
    for i, n in enumerate(names):
        write_jpg(root / "Images" / n, seed=i)
    n = len(names)
    latent = rng.uniform(1.5, 4.5, n)
    ratings = np.clip(np.rint(latent[:, None] + rng.normal(0, 0.7, (n, raters))), 1, 5)
    original = np.full((n, raters), np.nan)
    for k in range(rerate):
        i, r = k % n, (7 * k) % raters
        original[i, r] = 5.0 if ratings[i, r] <= 3 else 1.0
    if xlsx:
        rows: list[list] = [["Rater", "Filename", "Rating", "original Rating"]]
        for r in range(raters):
            for i, name in enumerate(names):
                o = original[i, r]
                rows.append([r + 1, name, int(ratings[i, r]), None if np.isnan(o) else int(o)])
        write_xlsx(
            root / "All_Ratings.xlsx", rows, sheet=sheet, extra_sheets=extra_sheets, writer=writer
        )

    def listed(name: str) -> str:
        if not old_names:
            return name
        g = name[:2]
        return OLD[g] + name[2:]

    means = ratings.mean(axis=1)
    tt = root / "train_test_files"
    tt.mkdir()

    def write(path: Path, idx) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{listed(names[i])} {means[i]:.6f}\n" for i in idx))

    write(tt / "All_labels.txt", range(n))
    perm = rng.permutation(n)
    k = int(round(0.6 * n))
    d = tt / (OLD_SPLIT_DIR if old_folder else SPLIT_DIR)
    write(d / "train.txt", perm[:k])
    write(d / "test.txt", perm[k:])
    folds = np.array_split(rng.permutation(n), 5)
    for j in range(5):
        cv = tt / "5_folders_cross_validations_files" / f"cross_validation_{j + 1}"
        write(
            cv / f"train_{j + 1}.txt", np.concatenate([f for i2, f in enumerate(folds) if i2 != j])
        )
        write(cv / f"test_{j + 1}.txt", folds[j])
    return Fixture(
        root=root,
        names=names,
        ratings=ratings,
        original=original,
        train=[names[i] for i in perm[:k]],
        test=[names[i] for i in perm[k:]],
        folds=[[names[i] for i in f] for f in folds],
    )


@pytest.fixture
def scut(tmp_path) -> Fixture:
    return make_scut(tmp_path / "SCUT-FBP5500_v2")


@pytest.fixture
def scut_factory(tmp_path):
    counter = iter(range(1000))

    def make(**kw) -> Fixture:
        return make_scut(tmp_path / f"scut{next(counter)}", **kw)

    return make
