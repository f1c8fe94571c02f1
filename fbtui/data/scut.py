"""Reader for the SCUT-FBP5500_v2 release layout (see FACTS.md).

```
ROOT/Images/AF1.jpg ... CM750.jpg
ROOT/All_Ratings.xlsx                  Rater, Filename, Rating, original Rating (sheet ALL)
ROOT/train_test_files/All_labels.txt
ROOT/train_test_files/split_of_60%training and 40%testing/{train,test}.txt
ROOT/train_test_files/5_folders_cross_validations_files/cross_validation_k/{train_k,test_k}.txt
```

`scan_scut` collects everything it finds without judging it (the check report reads it);
`read_scut` turns a scan into a `DataSet` and raises `DataError` on anything that would
make training wrong. No torch here.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fbtui.data.images import IMAGE_EXTS, apply_header_check
from fbtui.data.records import DataSet, Record, canonical_name, group_of
from fbtui.errors import DataError

EXPECTED_RATERS = 60
SCORE_TOLERANCE = 1e-3
SPLIT_6040_DIRS = ("split_of_60%training and 40%testing", "split_of_60%training_40%testing")
CV_DIR = "5_folders_cross_validations_files"
DOWNLOAD_HINT = (
    "download SCUT-FBP5500_v2 (https://github.com/HCIILAB/SCUT-FBP5500-Database-Release) "
    'and unpack it there, or use root = "synthetic" for the built-in synthetic set'
)


# ---------------------------------------------------------------- parsed pieces


@dataclass
class Ratings:
    """All_Ratings.xlsx as flat arrays, one entry per row."""

    path: Path
    sheet: str
    names: list[str]  # canonical image names, in order of first appearance
    rows: dict[str, int]  # image -> first sheet row naming it (for messages)
    image: np.ndarray  # int32 index into names
    rater: np.ndarray  # int32 index into raters
    rating: np.ndarray  # float64
    original: np.ndarray  # float64, NaN where the rater was not asked again
    raters: list  # rater ids as found

    def counts(self) -> np.ndarray:
        """Ratings per image."""
        return np.bincount(self.image, minlength=len(self.names))

    def distinct_raters(self) -> np.ndarray:
        """Distinct raters per image (duplicates of one rater count once)."""
        pair = np.unique(self.image.astype(np.int64) * (len(self.raters) + 1) + self.rater)
        return np.bincount(pair // (len(self.raters) + 1), minlength=len(self.names))

    def scores(self, label: str = "mean") -> np.ndarray:
        """Per-image mean rating; "original" replaces each re-rating by the earlier one."""
        vals = self.values(label)
        cnt = self.counts()
        s = np.bincount(self.image, weights=vals, minlength=len(self.names))
        with np.errstate(invalid="ignore", divide="ignore"):
            return s / cnt

    def values(self, label: str = "mean") -> np.ndarray:
        if label == "original":
            return np.where(np.isnan(self.original), self.rating, self.original)
        return self.rating

    def hists(self, label: str = "mean") -> np.ndarray:
        """[n_images, 5] fraction of ratings equal to 1..5 (ratings rounded)."""
        r = np.clip(np.rint(self.values(label)), 1, 5).astype(np.int64) - 1
        h = np.bincount(self.image.astype(np.int64) * 5 + r, minlength=5 * len(self.names))
        h = h.reshape(-1, 5).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return h / h.sum(axis=1, keepdims=True)

    def n_reratings(self) -> int:
        return int((~np.isnan(self.original)).sum())


@dataclass
class SplitEntry:
    name: str  # canonical
    score: float
    line: int


@dataclass
class SplitFile:
    path: Path
    entries: list[SplitEntry]
    old_names: int = 0  # lines using the fty/mty/ftw/mtw names

    def where(self, e: SplitEntry) -> str:
        return f"{self.path}:{e.line}"


@dataclass
class ScutScan:
    """Everything found under a SCUT root, before any judgement."""

    root: Path
    images: dict[str, Path]  # canonical name -> file in Images/
    image_dupes: list[str] = field(default_factory=list)
    ratings: Ratings | None = None
    all_labels: SplitFile | None = None
    splits: dict[str, tuple[SplitFile, SplitFile]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # neutral observations (old names, ...)

    @property
    def split_files(self) -> list[SplitFile]:
        files = [f for pair in self.splits.values() for f in pair]
        return files + ([self.all_labels] if self.all_labels else [])


# ---------------------------------------------------------------- reading pieces


def _norm_header(v) -> str:
    return " ".join(str(v or "").strip().lower().replace("_", " ").split())


_HEADER_NAMES = {
    "rater": ("rater", "rater id", "raterid", "rater no"),
    "filename": ("filename", "file name", "image", "image name", "file"),
    "rating": ("rating", "score"),
    "original": ("original rating", "original", "originalrating"),
}


def _as_float(v) -> float:
    """A cell as a float (NaN when empty); ValueError when it is not a number."""
    if v is None:
        return math.nan
    if isinstance(v, bool):
        raise ValueError
    if isinstance(v, (int, float)):
        return float(v)
    s = str(v).strip()
    return float(s) if s else math.nan


def _aligned(table, col: int | None, rows: np.ndarray) -> tuple[np.ndarray, object]:
    """(present mask, values) of column `col` at the given row numbers.

    Values stay a float array for a numeric column, else a list (None where empty).
    """
    if col is None or col not in table.columns:
        return np.zeros(len(rows), bool), [None] * len(rows)
    crow, cval = table.columns[col]
    if not len(crow):
        return np.zeros(len(rows), bool), [None] * len(rows)
    pos = np.minimum(np.searchsorted(crow, rows), len(crow) - 1)
    hit = crow[pos] == rows
    if isinstance(cval, np.ndarray):
        return hit, np.where(hit, cval[pos], np.nan)
    return hit, [cval[p] if h else None for p, h in zip(pos.tolist(), hit.tolist(), strict=True)]


def read_ratings(path: Path) -> Ratings:
    """Parse All_Ratings.xlsx (sheet `ALL` if present, else the first). Raises DataError
    naming the file, sheet and row."""
    import zipfile

    from fbtui.data.xlsx import read_table

    path = Path(path)
    try:
        table = read_table(path, prefer="ALL")
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise DataError(
            f"{path}: not a readable .xlsx workbook ({type(e).__name__}: {e})"
        ) from None
    sheet = table.sheet
    where = f"{path} (sheet {sheet!r})"
    header_row = table.first_row()
    header = table.row_values(header_row)
    if not header:
        raise DataError(
            f"{where}: the sheet is empty; expected columns Rater, Filename, Rating, original Rating"
        )
    col: dict[str, int] = {}
    for key, accepted in _HEADER_NAMES.items():
        for c in sorted(header):
            if _norm_header(header[c]) in accepted:
                col[key] = c
                break
    found = ", ".join(repr(str(header[c])) for c in sorted(header)) or "none"
    for key, label in (("rating", "Rating"), ("filename", "Filename")):
        if key not in col:
            raise DataError(
                f"{where}: no {label!r} column in the header (row {header_row}); "
                f"found columns {found}; expected Rater, Filename, Rating, original Rating"
            )

    # data rows: the rows below the header with a file name; a row holding a rating but
    # no file name is an error
    rows = table.columns.get(col["filename"], (np.zeros(0, np.int64), []))[0]
    rows = rows[rows > header_row]
    for c in col.values():
        crow = table.columns.get(c, (np.zeros(0, np.int64),))[0]
        crow = crow[crow > header_row]
        if len(crow):
            pos = np.minimum(np.searchsorted(rows, crow), max(len(rows) - 1, 0))
            orphan = (rows[pos] != crow) if len(rows) else np.ones(len(crow), bool)
            if orphan.any():
                raise DataError(f"{where} row {int(crow[np.argmax(orphan)])}: empty Filename")
    _, fnames = _aligned(table, col["filename"], rows)
    names: list[str] = []
    first_row: dict[str, int] = {}
    name_idx: dict[str, int] = {}
    canon: dict = {}
    img = np.empty(len(rows), np.int32)
    for i, f in enumerate(fnames):
        k = canon.get(f)
        if k is None:
            if f is None or not str(f).strip():
                raise DataError(f"{where} row {rows[i]}: empty Filename")
            if isinstance(f, float) and f.is_integer():
                f = int(f)
            key = canonical_name(Path(str(f).strip()).name)
            k = canon[f] = name_idx.get(key)
            if k is None:
                k = canon[f] = name_idx[key] = len(names)
                names.append(key)
                first_row[key] = int(rows[i])
        img[i] = k

    def at(i: int) -> str:
        return f"{where} row {rows[i]} ({names[img[i]]})"

    def numbers(c: int | None, label: str, required: bool) -> np.ndarray:
        hit, vals = _aligned(table, c, rows)
        if isinstance(vals, np.ndarray):
            out = vals
            # text in a numeric column (NaN in `vals`) below the header
            text = {r: v for r, v in table.text.get(c, {}).items() if r > header_row}
            if text:
                r = min(text)
                i = int(np.searchsorted(rows, r))
                raise DataError(f"{at(i)}: {label} {text[r]!r} is not a number")
        else:
            out = np.empty(len(vals))
            for i, v in enumerate(vals):
                try:
                    out[i] = _as_float(v)
                except ValueError:
                    raise DataError(f"{at(i)}: {label} {v!r} is not a number") from None
        if required and np.isnan(out).any():
            raise DataError(f"{at(int(np.argmax(np.isnan(out))))}: empty {label}")
        out_of_range = ~np.isnan(out) & ((out < 1) | (out > 5))
        if out_of_range.any():
            i = int(np.argmax(out_of_range))
            v = out[i]
            raise DataError(f"{at(i)}: {label} {int(v) if v.is_integer() else v} is outside 1..5")
        return out

    rating = numbers(col["rating"], "Rating", required=True)
    original = numbers(col.get("original"), "original Rating", required=False)

    _, rvals = _aligned(table, col.get("rater"), rows)
    if isinstance(rvals, np.ndarray):
        ids, rat = np.unique(rvals, return_inverse=True)
        raters = [int(x) if x.is_integer() else (None if x != x else x) for x in ids.tolist()]
        rat = rat.astype(np.int32).ravel()
    else:
        rater_idx: dict = {}
        rat = np.fromiter(
            (rater_idx.setdefault(r, len(rater_idx)) for r in rvals), np.int32, len(rvals)
        )
        raters = list(rater_idx)
    if not names:
        raise DataError(f"{where}: no ratings below the header")
    return Ratings(
        path=path,
        sheet=sheet,
        names=names,
        rows=first_row,
        image=img,
        rater=rat,
        rating=rating,
        original=original,
        raters=raters,
    )


RATINGS_CACHE_VERSION = 1


def _ratings_cache_file(path: Path) -> Path | None:
    try:
        st = path.stat()
    except OSError:
        return None
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{RATINGS_CACHE_VERSION}"
    base = Path(os.environ.get("FBTUI_CACHE") or Path.home() / ".cache" / "fbtui").expanduser()
    return base / "ratings" / (hashlib.sha1(key.encode()).hexdigest()[:20] + ".npz")


def load_ratings(path: Path) -> Ratings:
    """`read_ratings`, remembered in the fbtui cache by the workbook's path, size and
    mtime: the real 330k-row workbook takes seconds to parse, its arrays milliseconds to
    load. Any cache trouble just means parsing again."""
    path = Path(path)
    cache = _ratings_cache_file(path)
    if cache is not None and cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                return Ratings(
                    path=path,
                    sheet=meta["sheet"],
                    names=meta["names"],
                    rows=dict(zip(meta["names"], meta["rows"], strict=True)),
                    image=z["image"],
                    rater=z["rater"],
                    rating=z["rating"],
                    original=z["original"],
                    raters=meta["raters"],
                )
        except (OSError, ValueError, KeyError, TypeError):
            pass
    rt = read_ratings(path)
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            meta = {
                "sheet": rt.sheet,
                "names": rt.names,
                "rows": [rt.rows[n] for n in rt.names],
                "raters": rt.raters,
            }
            tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(
                tmp,
                meta=np.array(json.dumps(meta)),
                image=rt.image,
                rater=rt.rater,
                rating=rt.rating,
                original=rt.original,
            )
            os.replace(tmp, cache)
        except (OSError, TypeError, ValueError):
            pass  # a read-only home or odd rater ids: no cache, no harm
    return rt


def read_split_file(path: Path) -> SplitFile:
    """Parse a split file of `NAME SCORE` lines. DataError names the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig", errors="strict")
    except UnicodeDecodeError:
        text = path.read_text(encoding="latin-1")
    out = SplitFile(path=path, entries=[])
    seen: dict[str, int] = {}
    for ln, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s:
            continue
        parts = s.split()
        if len(parts) != 2:
            raise DataError(
                f"{path}:{ln}: expected 'NAME SCORE' (like 'CM148.jpg 3.516667'), got {s!r}"
            )
        raw, sc = parts
        try:
            score = float(sc)
        except ValueError:
            raise DataError(f"{path}:{ln}: score {sc!r} is not a number") from None
        if not math.isfinite(score):
            raise DataError(f"{path}:{ln}: score {sc!r} is not a finite number")
        name = canonical_name(raw)
        if name != raw and raw[:3].lower() in ("fty", "mty", "ftw", "mtw"):
            out.old_names += 1
        if name in seen:
            raise DataError(f"{path}:{ln}: {name} is listed twice (first on line {seen[name]})")
        seen[name] = ln
        out.entries.append(SplitEntry(name, score, ln))
    return out


def list_images(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Canonical name -> path for every image file in a folder; plus names seen twice."""
    out: dict[str, Path] = {}
    dupes: list[str] = []
    with os.scandir(folder) as it:
        for e in it:
            if not e.is_file() or Path(e.name).suffix.lower() not in IMAGE_EXTS:
                continue
            key = canonical_name(e.name)
            if key in out:
                dupes.append(f"{e.name} and {out[key].name} are both {key}")
                continue
            out[key] = Path(e.path)
    return out, dupes


def check_root(root: Path) -> None:
    """DataError when the root folder or its Images/ folder is missing."""
    if not root.exists():
        raise DataError(f"data folder not found: {root}; {DOWNLOAD_HINT}")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; expected the SCUT-FBP5500_v2 folder")
    if not (root / "Images").is_dir():
        inner = root / "SCUT-FBP5500_v2"
        hint = f"; did you mean {inner}?" if (inner / "Images").is_dir() else ""
        raise DataError(
            f"{root}: no Images/ folder; expected the SCUT-FBP5500_v2 layout "
            f"(Images/, All_Ratings.xlsx, train_test_files/){hint}"
        )


def _find_ci(folder: Path, name: str) -> Path | None:
    """`folder/name`, matching the name case-insensitively (archives made on Windows)."""
    p = folder / name
    if p.exists():
        return p
    if not folder.is_dir():
        return None
    low = name.lower()
    for e in folder.iterdir():
        if e.name.lower() == low:
            return e
    return None


def scan_scut(root: str | Path) -> ScutScan:
    """Find and parse every SCUT piece under root. Raises DataError only for what cannot
    be parsed at all (missing root, xlsx without a Rating column, malformed split line)."""
    root = Path(root).expanduser()
    check_root(root)
    images, dupes = list_images(root / "Images")
    scan = ScutScan(root=root, images=images, image_dupes=dupes)

    xlsx = _find_ci(root, "All_Ratings.xlsx")
    if xlsx is not None:
        scan.ratings = load_ratings(xlsx)

    tt = _find_ci(root, "train_test_files")
    if tt is not None:
        labels = _find_ci(tt, "All_labels.txt")
        if labels is not None:
            scan.all_labels = read_split_file(labels)
        for i, d in enumerate(SPLIT_6040_DIRS):
            folder = tt / d
            if folder.is_dir():
                tr, te = _find_ci(folder, "train.txt"), _find_ci(folder, "test.txt")
                if tr and te:
                    scan.splits["60/40"] = (read_split_file(tr), read_split_file(te))
                    if i == 1:
                        scan.notes.append(f"60/40 split read from the older folder name {d!r}")
                    break
        cv = _find_ci(tt, CV_DIR)
        for k in range(1, 6):
            folder = cv / f"cross_validation_{k}" if cv else None
            if folder is None or not folder.is_dir():
                continue
            tr, te = _find_ci(folder, f"train_{k}.txt"), _find_ci(folder, f"test_{k}.txt")
            if tr and te:
                scan.splits[f"cv{k}"] = (read_split_file(tr), read_split_file(te))
    old = sum(f.old_names for f in scan.split_files)
    if old:
        scan.notes.append(
            f"{old} split-file lines use the older names fty/mty/ftw/mtw (read as AF/AM/CF/CM)"
        )
    return scan


# ---------------------------------------------------------------- scan -> DataSet


def _listed_where(scan: ScutScan, name: str) -> str:
    if scan.ratings is not None and name in scan.ratings.rows:
        return f"{scan.ratings.path} row {scan.ratings.rows[name]}"
    for f in scan.split_files:
        for e in f.entries:
            if e.name == name:
                return f.where(e)
    return "?"


def scores_from_scan(
    scan: ScutScan, label: str
) -> tuple[dict[str, float], dict[str, tuple] | None, str]:
    """(scores, hists or None, source) from the ratings, else from the split files."""
    if scan.ratings is not None:
        rt = scan.ratings
        sc = rt.scores(label)
        hs = rt.hists(label)
        scores = {n: float(sc[i]) for i, n in enumerate(rt.names)}
        hists = {n: tuple(float(x) for x in hs[i]) for i, n in enumerate(rt.names)}
        return scores, hists, rt.path.name
    if label == "original":
        raise DataError(
            f'{scan.root}: label = "original" needs All_Ratings.xlsx (the raters\' earlier '
            f'ratings), which is missing; use label = "mean" or add the workbook'
        )
    scores: dict[str, float] = {}
    for f in scan.split_files:
        for e in f.entries:
            scores.setdefault(e.name, e.score)
    return scores, None, "split files"


def score_disagreements(
    scan: ScutScan, tol: float = SCORE_TOLERANCE
) -> list[tuple[str, str, float, float]]:
    """(name, file:line, mean of the ratings, score in the split file) where they differ."""
    if scan.ratings is None:
        return []
    rt = scan.ratings
    sc = rt.scores("mean")
    idx = {n: i for i, n in enumerate(rt.names)}
    out = []
    for f in scan.split_files:
        for e in f.entries:
            i = idx.get(e.name)
            if i is not None and abs(sc[i] - e.score) > tol:
                out.append((e.name, f.where(e), float(sc[i]), e.score))
    return out


def _first_lines(items: list[str], n: int = 5) -> str:
    more = f"\n  ... and {len(items) - n} more" if len(items) > n else ""
    return "\n  " + "\n  ".join(items[:n]) + more


def read_scut(
    root: str | Path, label: str = "mean", *, skip_bad: bool = False, check_headers: bool = True
) -> DataSet:
    """Read a SCUT-FBP5500_v2 folder into a DataSet.

    Raises DataError (naming the file, row or line) for a missing folder, an unreadable
    workbook, a split line naming an unknown image, an image listed but missing, and an
    image whose header PIL cannot read (unless skip_bad, which drops it into `DataSet.bad`).
    """
    if label not in ("mean", "original"):
        raise DataError(f"data.label: {label!r} is not one of 'mean', 'original'")
    return dataset_from_scan(scan_scut(root), label, skip_bad=skip_bad, check_headers=check_headers)


def dataset_from_scan(
    scan: ScutScan, label: str = "mean", *, skip_bad: bool = False, check_headers: bool = True
) -> DataSet:
    """The DataSet a scan describes; DataError for unknown split names or missing images."""
    warnings = list(scan.notes)
    if scan.ratings is None and not scan.split_files:
        raise DataError(
            f"{scan.root}: neither All_Ratings.xlsx nor train_test_files/ split files found; "
            f"cannot tell the images' scores"
        )
    scores, hists, source = scores_from_scan(scan, label)
    if scan.ratings is None:
        warnings.append(
            f"{scan.root}/All_Ratings.xlsx not found: scores come from the split files, "
            f"without rating histograms (hist = None)"
        )

    # split lines must name known images
    known = set(scores)
    for f in scan.split_files:
        unknown = [e for e in f.entries if e.name not in known]
        if unknown:
            e = unknown[0]
            why = (
                "which has no ratings in All_Ratings.xlsx"
                if scan.ratings is not None and e.name in scan.images
                else "which is not in the data set"
                + (" (not in All_Ratings.xlsx, not in Images/)" if scan.ratings is not None else "")
            )
            more = (
                f" ({len(unknown) - 1} more unknown names in this file)" if len(unknown) > 1 else ""
            )
            raise DataError(f"{f.where(e)}: names image {e.name} {why}{more}")

    # every rated/listed image must exist
    missing = [n for n in scores if n not in scan.images]
    if missing:
        items = [f"{n} (listed at {_listed_where(scan, n)})" for n in missing]
        raise DataError(
            f"{scan.root}/Images: {len(missing)} listed image(s) missing:{_first_lines(items)}"
        )

    if scan.ratings is not None:
        counts = scan.ratings.distinct_raters()
        off = [n for i, n in enumerate(scan.ratings.names) if counts[i] != EXPECTED_RATERS]
        if off:
            warnings.append(
                f"{len(off)} image(s) do not have {EXPECTED_RATERS} raters (e.g. {off[0]}: "
                f"{int(counts[scan.ratings.names.index(off[0])])}); see `fbtui data check`"
            )
        dis = score_disagreements(scan)
        if dis:
            n, where, a, b = dis[0]
            warnings.append(
                f"{len(dis)} split-file score(s) disagree with the mean of the ratings by more "
                f"than {SCORE_TOLERANCE} (e.g. {n} at {where}: ratings {a:.6f}, file {b:.6f})"
            )

    records = {
        n: Record(
            name=n,
            path=scan.images[n],
            score=float(scores[n]),
            hist=hists[n] if hists is not None else None,
            group=group_of(n),
        )
        for n in scores
    }
    splits = {
        k: ([e.name for e in tr.entries], [e.name for e in te.entries])
        for k, (tr, te) in sorted(scan.splits.items(), key=lambda kv: _split_order(kv[0]))
    }
    splits["all"] = (list(records), [])
    ds = DataSet(
        root=scan.root,
        format="scut",
        records=records,
        splits=splits,
        warnings=warnings,
        label=label,
    )
    if check_headers:
        apply_header_check(ds, skip_bad)
    return ds


def _split_order(name: str) -> tuple[int, str]:
    return (0, name) if name == "60/40" else (1, name)
