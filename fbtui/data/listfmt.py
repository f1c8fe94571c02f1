"""Reader for the `list` format: a folder of images plus labels.txt or labels.csv.

Each line is `filename score`, separated by a space, comma or tab, with an optional
header line. File names are relative to the folder (sub-folders allowed). Scores keep
their own scale (calibration to 1..5 is the trainer's job).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from fbtui.data.images import apply_header_check
from fbtui.data.records import DataSet, Record
from fbtui.errors import DataError

LABEL_FILES = ("labels.txt", "labels.csv", "labels.tsv")
TRAIN_FRACTION = 0.6
SPLIT_SEED = 0


def find_labels(root: Path) -> Path:
    for name in LABEL_FILES:
        if (root / name).is_file():
            return root / name
    raise DataError(
        f"{root}: no labels file; a list-format data set needs {' or '.join(LABEL_FILES[:2])} "
        f"with lines 'filename score'"
    )


def _split_line(line: str) -> list[str]:
    if "\t" in line:
        return [p.strip() for p in line.split("\t")]
    if "," in line:
        return [p.strip() for p in next(csv.reader(io.StringIO(line)))]
    # space separated: the score is the last field, so names may contain spaces
    return line.rsplit(None, 1)


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def read_labels(path: Path) -> list[tuple[str, float, int]]:
    """(filename, score, line number) for each line; DataError names the line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a UTF-8 text file ({e.reason})") from None
    out: list[tuple[str, float, int]] = []
    seen: dict[str, int] = {}
    first = True
    for ln, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p for p in _split_line(line.strip()) if p != ""]
        if first and (len(parts) < 2 or not _is_number(parts[1])):
            first = False
            continue  # header line, e.g. "filename,score"
        first = False
        if len(parts) != 2:
            raise DataError(f"{path}:{ln}: expected 'filename score', got {line.strip()!r}")
        name, sc = parts
        try:
            score = float(sc)
        except ValueError:
            raise DataError(f"{path}:{ln}: score {sc!r} for {name} is not a number") from None
        if not math.isfinite(score):
            raise DataError(f"{path}:{ln}: score {sc!r} for {name} is not a finite number")
        if name in seen:
            raise DataError(f"{path}:{ln}: {name} is listed twice (first on line {seen[name]})")
        seen[name] = ln
        out.append((name, score, ln))
    if not out:
        raise DataError(f"{path}: no 'filename score' lines")
    return out


def deterministic_split(names: list[str], fraction: float = TRAIN_FRACTION, seed: int = SPLIT_SEED):
    """A reproducible random (train, test) split of names, independent of file order."""
    ordered = sorted(names)
    perm = np.random.default_rng(seed).permutation(len(ordered))
    k = int(round(fraction * len(ordered)))
    train = sorted(ordered[i] for i in perm[:k])
    test = sorted(ordered[i] for i in perm[k:])
    return train, test


def read_list(root: str | Path, *, skip_bad: bool = False, check_headers: bool = True) -> DataSet:
    """Read a list-format folder. Splits: a deterministic "60/40" and "all" -> (all, [])."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(
            f"data folder not found: {root}; a list-format data set is a folder of images with labels.txt"
        )
    labels = find_labels(root)
    rows = read_labels(labels)
    records: dict[str, Record] = {}
    missing = []
    for name, score, ln in rows:
        path = root / name
        if not path.is_file():
            missing.append(f"{name} ({labels}:{ln})")
            continue
        records[name] = Record(name=name, path=path, score=score, hist=None, group=None)
    if missing:
        more = f"\n  ... and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise DataError(
            f"{root}: {len(missing)} listed image(s) missing:\n  " + "\n  ".join(missing[:5]) + more
        )
    names = list(records)
    ds = DataSet(
        root=root,
        format="list",
        records=records,
        splits={"60/40": deterministic_split(names), "all": (names, [])},
    )
    if check_headers:
        apply_header_check(ds, skip_bad)
    return ds
