"""`fbtui data check`: everything worth knowing about a data folder before training on it.

`check_dataset` never raises for a broken data set: what is wrong goes into
`CheckReport.problems` (the CLI exits 2 when there are any), what is merely worth
knowing into `warnings`. No torch here.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fbtui.data.images import header_problem, scan_bad
from fbtui.data.records import GROUPS, DataSet, group_of
from fbtui.errors import DataError

MAX_LISTED = 20  # names listed per finding in the report; counts are always complete


@dataclass
class CheckReport:
    root: str
    format: str
    source: str = ""  # where the scores come from
    synthetic: bool = False  # written by `fbtui data synth` (drawn faces, simulated raters)
    images: int = 0  # image files found
    records: int = 0  # rated images
    groups: dict[str, int] = field(default_factory=dict)
    images_without_ratings: list[str] = field(default_factory=list)
    ratings_without_images: list[str] = field(default_factory=list)
    raters: int | None = None
    raters_per_image: dict[str, int] | None = None  # {"min": .., "max": ..}
    images_with_wrong_rater_count: list[str] = field(default_factory=list)
    reratings: int | None = None  # cells with an `original Rating`
    score: dict[str, float] = field(default_factory=dict)  # min, max, mean, std
    splits: dict[str, dict] = field(default_factory=dict)  # name -> train, test, overlap
    cv: dict[str, object] = field(default_factory=dict)  # test folds disjoint/cover
    score_disagreements: list[dict] = field(default_factory=list)
    unreadable: list[dict] = field(default_factory=list)  # {"name", "reason"}
    rater_ceiling: float | None = None
    rater_ceiling_std: float | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def rater_ceiling(
    image: np.ndarray,
    rater: np.ndarray,
    rating: np.ndarray,
    n_images: int,
    halvings: int = 10,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Pearson correlation between per-image mean ratings of two random halves of the
    raters, averaged over `halvings` random splits: (mean, std). None with < 2 raters."""
    n_raters = int(rater.max()) + 1 if len(rater) else 0
    if n_raters < 2 or n_images < 3:
        return None
    rng = np.random.default_rng(seed)
    rs = []
    for _ in range(halvings):
        in_a = np.zeros(n_raters, bool)
        in_a[rng.permutation(n_raters)[: n_raters // 2]] = True
        a = in_a[rater]
        means = []
        for sel in (a, ~a):
            s = np.bincount(image[sel], weights=rating[sel], minlength=n_images)
            c = np.bincount(image[sel], minlength=n_images)
            means.append((s, c))
        (sa, ca), (sb, cb) = means
        ok = (ca > 0) & (cb > 0)
        if ok.sum() < 3:
            continue
        x, y = sa[ok] / ca[ok], sb[ok] / cb[ok]
        if x.std() == 0 or y.std() == 0:
            continue
        rs.append(float(np.corrcoef(x, y)[0, 1]))
    if not rs:
        return None
    return float(np.mean(rs)), float(np.std(rs))


def _split_stats(report: CheckReport, ds: DataSet) -> None:
    all_names = set(ds.records)
    for name, (train, test) in ds.splits.items():
        if name == "all":
            continue
        tr, te = set(train), set(test)
        overlap = sorted(tr & te)
        report.splits[name] = {
            "train": len(train),
            "test": len(test),
            "overlap": len(overlap),
            "test_groups": _group_counts(test),
        }
        if overlap:
            report.problems.append(
                f"split {name}: {len(overlap)} image(s) in both train and test (e.g. {', '.join(overlap[:3])})"
            )
        if len(tr) != len(train) or len(te) != len(test):
            report.problems.append(f"split {name}: an image is listed twice")
        left_out = all_names - tr - te
        if left_out and name == "60/40":
            report.warnings.append(
                f"split {name}: {len(left_out)} rated image(s) in neither train nor test"
            )
    folds = [set(ds.splits[f"cv{k}"][1]) for k in range(1, 6) if f"cv{k}" in ds.splits]
    if folds:
        present = [f"cv{k}" for k in range(1, 6) if f"cv{k}" in ds.splits]
        union = set().union(*folds)
        disjoint = sum(len(f) for f in folds) == len(union)
        covering = union == all_names
        report.cv = {
            "folds": present,
            "test_folds_disjoint": disjoint,
            "test_folds_cover_all": covering,
        }
        if len(present) < 5:
            missing = [f"cv{k}" for k in range(1, 6) if f"cv{k}" not in ds.splits]
            report.problems.append(f"cross-validation folds missing: {', '.join(missing)}")
        if not disjoint:
            report.problems.append(
                "cross-validation: the test folds overlap (an image is tested twice)"
            )
        if not covering and len(present) == 5:
            n = len(all_names - union)
            report.problems.append(f"cross-validation: {n} rated image(s) are in no test fold")
        for k in range(1, 6):
            if f"cv{k}" in ds.splits:
                tr, te = map(set, ds.splits[f"cv{k}"])
                if tr | te != all_names and len(present) == 5:
                    report.warnings.append(f"cv{k}: train + test do not cover all rated images")


def _group_counts(names) -> dict[str, int]:
    out = {g: 0 for g in GROUPS}
    for n in names:
        g = group_of(n)
        if g:
            out[g] += 1
    return {g: c for g, c in out.items() if c} or {}


def _score_stats(scores: np.ndarray) -> dict[str, float]:
    if not len(scores):
        return {}
    return {
        "min": float(scores.min()),
        "max": float(scores.max()),
        "mean": float(scores.mean()),
        "std": float(scores.std()),
    }


def check_dataset(
    root: str | Path, format: str = "scut", *, decode: bool = True, workers: int = 2
) -> CheckReport:
    """Inspect a data folder (or "synthetic") and report counts, overlaps and problems.

    `decode` fully decodes every image to find unreadable ones (a few seconds for 5500);
    without it only headers are checked.
    """
    t0 = time.monotonic()
    report = CheckReport(root=str(root), format=format)
    try:
        if str(root) == "synthetic":
            from fbtui.data import resolve_root

            root = resolve_root(root)
            report.root = str(root)
            format = report.format = "scut"
        if format == "scut":
            ds = _check_scut(report, Path(root))
        elif format == "list":
            ds = _check_list(report, Path(root))
        else:
            ds = None
            report.problems.append(f"unknown format {format!r}; use scut or list")
    except DataError as e:
        report.problems.append(str(e))
        ds = None
    if ds is not None:
        bad = [(r.name, why) for r in ds.records.values() if (why := header_problem(r.path))]
        if decode:
            skip = {n for n, _ in bad}
            bad += scan_bad([r for r in ds.records.values() if r.name not in skip], workers=workers)
        _add_unreadable(report, bad)
    report.seconds = round(time.monotonic() - t0, 2)
    return report


def _add_unreadable(report: CheckReport, bad: list[tuple[str, str]]) -> None:
    known = {u["name"] for u in report.unreadable}
    for name, why in bad:
        if name not in known:
            report.unreadable.append({"name": name, "reason": why})
    if report.unreadable:
        items = ", ".join(f"{u['name']} ({u['reason']})" for u in report.unreadable[:5])
        more = f" and {len(report.unreadable) - 5} more" if len(report.unreadable) > 5 else ""
        report.problems.append(
            f"{len(report.unreadable)} unreadable image(s): {items}{more}; replace them or "
            f"train with data.skip_bad = true"
        )


def _check_scut(report: CheckReport, root: Path) -> DataSet | None:
    from fbtui.data.scut import (
        EXPECTED_RATERS,
        dataset_from_scan,
        scan_scut,
        score_disagreements,
    )
    from fbtui.data.synth import MARKER

    scan = scan_scut(root)  # raises only for what cannot be parsed at all
    report.synthetic = (root / MARKER).is_file()
    report.warnings.extend(scan.notes)
    report.images = len(scan.images)
    for d in scan.image_dupes:
        report.problems.append(f"Images/: {d}")
    rt = scan.ratings
    if rt is not None:
        report.source = f"{rt.path.name} (sheet {rt.sheet!r})"
        rated = set(rt.names)
        report.images_without_ratings = sorted(set(scan.images) - rated)
        report.ratings_without_images = sorted(rated - set(scan.images))
        counts = rt.distinct_raters()
        report.raters = len(rt.raters)
        report.raters_per_image = {"min": int(counts.min()), "max": int(counts.max())}
        wrong = [n for i, n in enumerate(rt.names) if counts[i] != EXPECTED_RATERS]
        report.images_with_wrong_rater_count = [
            f"{n}: {int(counts[rt.names.index(n)])}" for n in wrong[:MAX_LISTED]
        ]
        if wrong:
            report.warnings.append(
                f"{len(wrong)} image(s) do not have {EXPECTED_RATERS} raters "
                f"(min {counts.min()}, max {counts.max()})"
            )
        dupes = int((rt.counts() - counts).sum())
        if dupes:
            report.warnings.append(f"{dupes} rating(s) repeat a rater for the same image")
        report.reratings = rt.n_reratings()
        c = rater_ceiling(rt.image, rt.rater, rt.rating, len(rt.names))
        if c is not None:
            report.rater_ceiling, report.rater_ceiling_std = round(c[0], 4), round(c[1], 4)
        if report.images_without_ratings:
            report.warnings.append(
                f"{len(report.images_without_ratings)} image(s) in Images/ have no ratings "
                f"(e.g. {report.images_without_ratings[0]}); they are not used"
            )
        if report.ratings_without_images:
            report.problems.append(
                f"{len(report.ratings_without_images)} rated image(s) missing from Images/ "
                f"(e.g. {', '.join(report.ratings_without_images[:3])})"
            )
    else:
        report.source = "split files (All_Ratings.xlsx not found)"
        report.warnings.append(
            "All_Ratings.xlsx not found: scores come from the split files; no histograms, "
            "raters or rater ceiling"
        )
    for name, where, a, b in score_disagreements(scan):
        report.score_disagreements.append(
            {"name": name, "where": where, "ratings_mean": round(a, 6), "file_score": b}
        )
    if report.score_disagreements:
        d = report.score_disagreements[0]
        report.warnings.append(
            f"{len(report.score_disagreements)} split-file score(s) differ from the mean of "
            f"the ratings by more than 1e-3 (e.g. {d['name']} at {d['where']}: "
            f"{d['ratings_mean']} vs {d['file_score']})"
        )
        del report.score_disagreements[MAX_LISTED:]
    if "60/40" not in scan.splits:
        report.problems.append(
            "train_test_files/split_of_60%training and 40%testing/{train,test}.txt not found"
        )
    for k in range(1, 6):
        if f"cv{k}" not in scan.splits:
            report.warnings.append(
                f"train_test_files/5_folders_cross_validations_files/cross_validation_{k}/ not found"
            )

    # the reader's own verdict: unknown names in split files, missing images, headers
    try:
        ds = dataset_from_scan(scan, check_headers=False)
    except DataError as e:
        report.problems.append(str(e))
        return None
    _fill_from_dataset(report, ds)
    return ds


def _fill_from_dataset(report: CheckReport, ds: DataSet) -> None:
    report.records = len(ds.records)
    report.groups = _group_counts(ds.records)
    report.score = _score_stats(np.array([r.score for r in ds.records.values()]))
    _split_stats(report, ds)


def _check_list(report: CheckReport, root: Path) -> DataSet:
    from fbtui.data.listfmt import read_list

    ds = read_list(root, check_headers=False)
    report.source = "labels file"
    report.images = len(ds.records)
    report.warnings.extend(ds.warnings)
    _fill_from_dataset(report, ds)
    return ds
