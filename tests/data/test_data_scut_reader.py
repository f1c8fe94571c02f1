"""The SCUT-FBP5500_v2 reader on small fixtures in the real layout."""

from __future__ import annotations

import numpy as np
import pytest

from fbtui.data import open_dataset
from fbtui.data.records import canonical_name, group_of
from fbtui.errors import DataError

from .conftest import write_jpg, write_xlsx


def test_reads_real_layout(scut):
    ds = open_dataset(scut.root)
    assert ds.format == "scut"
    assert set(ds.records) == set(scut.names)
    assert ds.warnings == []
    r = ds.records["AF1.jpg"]
    assert r.group == "AF" and r.path == scut.root / "Images" / "AF1.jpg"
    assert r.score == pytest.approx(scut.mean("AF1.jpg"))
    for rec in ds.records.values():
        assert rec.hist is not None and len(rec.hist) == 5
        assert sum(rec.hist) == pytest.approx(1.0)
        # the histogram's mean is the score
        assert sum((k + 1) * h for k, h in enumerate(rec.hist)) == pytest.approx(rec.score)
        assert 1.0 <= rec.score <= 5.0
    assert {r.group for r in ds.records.values()} == {"AF", "AM", "CF", "CM"}
    assert list(ds.splits) == ["60/40", "cv1", "cv2", "cv3", "cv4", "cv5", "all"]
    train, test = ds.split("60/40")
    assert [r.name for r in train] == scut.train and [r.name for r in test] == scut.test
    for k in range(1, 6):
        tr, te = ds.splits[f"cv{k}"]
        assert te == scut.folds[k - 1] and not set(tr) & set(te)
    assert ds.split("all")[0] and ds.split("all")[1] == []


def test_unknown_split_names_available(scut):
    ds = open_dataset(scut.root)
    with pytest.raises(DataError) as e:
        ds.split("cv9")
    assert "'cv9'" in str(e.value) and "60/40, cv1" in str(e.value)


def test_old_names_and_old_folder(scut_factory):
    fx = scut_factory(old_names=True, old_folder=True)
    assert (fx.split_file() / "train.txt").read_text().split()[0][:3] in {
        "fty",
        "mty",
        "ftw",
        "mtw",
    }
    ds = open_dataset(fx.root)
    train, test = ds.split("60/40")
    assert [r.name for r in train] == fx.train  # read as AF/AM/CF/CM
    assert any("older names" in w for w in ds.warnings)
    assert any("older folder name" in w for w in ds.warnings)


def test_canonical_names():
    assert canonical_name("fty12.jpg") == "AF12.jpg"
    assert canonical_name("mtw3.jpg") == "CM3.jpg"
    assert canonical_name("AF0007.JPG") == "AF7.jpg"
    assert canonical_name("other/file.png") == "other/file.png"
    assert group_of("CF2.jpg") == "CF" and group_of("x.jpg") is None


def test_label_original_uses_earlier_ratings(scut):
    mean = open_dataset(scut.root, label="mean")
    orig = open_dataset(scut.root, label="original")
    vals = np.where(np.isnan(scut.original), scut.ratings, scut.original)
    changed = 0
    for i, n in enumerate(scut.names):
        assert orig.records[n].score == pytest.approx(vals[i].mean())
        changed += mean.records[n].score != orig.records[n].score
    assert changed >= 1


def test_sheet_all_preferred_else_first(scut_factory):
    fx = scut_factory(sheet="ALL", extra_sheets=("AF", "Notes"))  # ALL is not the first sheet
    assert open_dataset(fx.root).records["AF1.jpg"].score == pytest.approx(fx.mean("AF1.jpg"))
    fx2 = scut_factory(sheet="Sheet1")
    assert open_dataset(fx2.root).records["CM1.jpg"].score == pytest.approx(fx2.mean("CM1.jpg"))


def test_fast_xlsx_writer_reads_the_same(scut_factory):
    a = open_dataset(scut_factory(writer="openpyxl").root)
    b = open_dataset(scut_factory(writer="fast").root)
    assert {n: r.score for n, r in a.records.items()} == {n: r.score for n, r in b.records.items()}


def test_without_xlsx_falls_back_to_split_files(scut_factory):
    fx = scut_factory(xlsx=False)
    ds = open_dataset(fx.root)
    assert all(r.hist is None for r in ds.records.values())
    assert ds.records["AM2.jpg"].score == pytest.approx(fx.mean("AM2.jpg"), abs=1e-6)
    assert any("All_Ratings.xlsx not found" in w for w in ds.warnings)
    with pytest.raises(DataError, match="original"):
        open_dataset(fx.root, label="original")


# ---------------------------------------------------------------- errors


def test_missing_root(tmp_path):
    with pytest.raises(DataError) as e:
        open_dataset(tmp_path / "nope")
    msg = str(e.value)
    assert f"data folder not found: {tmp_path / 'nope'}" in msg
    assert "SCUT-FBP5500_v2" in msg and 'root = "synthetic"' in msg


def test_root_without_images_hints_inner_folder(scut):
    with pytest.raises(DataError, match="did you mean"):
        open_dataset(scut.root.parent)


def test_xlsx_without_rating_column(scut):
    write_xlsx(scut.root / "All_Ratings.xlsx", [["Rater", "Filename", "Score?"], [1, "AF1.jpg", 3]])
    with pytest.raises(DataError) as e:
        open_dataset(scut.root)
    msg = str(e.value)
    assert "All_Ratings.xlsx" in msg and "'Rating'" in msg and "'Score?'" in msg


def test_xlsx_bad_cell_names_row(scut):
    rows = [
        ["Rater", "Filename", "Rating", "original Rating"],
        [1, "AF1.jpg", 3, None],
        [2, "AF1.jpg", "four", None],
    ]
    write_xlsx(scut.root / "All_Ratings.xlsx", rows)
    with pytest.raises(DataError, match=r"row 3 \(AF1.jpg\): Rating 'four' is not a number"):
        open_dataset(scut.root)
    rows[2][2] = 7
    write_xlsx(scut.root / "All_Ratings.xlsx", rows)
    with pytest.raises(DataError, match=r"row 3 \(AF1.jpg\): Rating 7 is outside 1..5"):
        open_dataset(scut.root)


def test_not_an_xlsx(scut):
    (scut.root / "All_Ratings.xlsx").write_text("not a zip")
    with pytest.raises(DataError, match="not a readable .xlsx"):
        open_dataset(scut.root)


def test_split_line_naming_unknown_image(scut):
    f = scut.split_file() / "test.txt"
    lines = f.read_text().splitlines()
    lines.insert(2, "AF999.jpg 3.000000")
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as e:
        open_dataset(scut.root)
    assert f"{f}:3" in str(e.value) and "AF999.jpg" in str(e.value)


def test_malformed_split_line(scut):
    f = scut.split_file() / "train.txt"
    f.write_text(f.read_text() + "AF1.jpg three\n")
    n = len(f.read_text().splitlines())
    with pytest.raises(DataError, match=rf"train.txt:{n}: score 'three' is not a number"):
        open_dataset(scut.root)


def test_image_listed_but_missing(scut):
    (scut.root / "Images" / "CF2.jpg").unlink()
    with pytest.raises(DataError) as e:
        open_dataset(scut.root)
    assert "CF2.jpg" in str(e.value) and "missing" in str(e.value)
    assert "All_Ratings.xlsx row" in str(e.value)


def test_corrupt_jpeg_header(scut):
    bad = scut.root / "Images" / "AM3.jpg"
    bad.write_bytes(b"this is not a jpeg at all")
    with pytest.raises(DataError) as e:
        open_dataset(scut.root)
    assert str(bad) in str(e.value) and "skip_bad" in str(e.value)
    ds = open_dataset(scut.root, skip_bad=True)
    assert "AM3.jpg" not in ds.records and "AM3.jpg" in ds.bad
    assert all("AM3.jpg" not in tr + te for tr, te in ds.splits.values())
    assert any("skipped 1 unreadable" in w for w in ds.warnings)


def test_grayscale_and_extra_images_are_fine(scut):
    write_jpg(scut.root / "Images" / "AF1.jpg", mode="L")
    write_jpg(scut.root / "Images" / "AF77.jpg")  # not rated: ignored by the reader
    ds = open_dataset(scut.root)
    assert "AF77.jpg" not in ds.records and "AF1.jpg" in ds.records


def test_ratings_cache_is_used_and_invalidated(scut, tmp_path, monkeypatch):
    import os

    from fbtui.data import scut as scut_mod

    monkeypatch.setenv("FBTUI_CACHE", str(tmp_path / "cache"))
    xlsx = scut.root / "All_Ratings.xlsx"
    first = scut_mod.load_ratings(xlsx)
    assert list((tmp_path / "cache" / "ratings").glob("*.npz"))
    calls = []
    real = scut_mod.read_ratings
    monkeypatch.setattr(scut_mod, "read_ratings", lambda p: calls.append(p) or real(p))
    again = scut_mod.load_ratings(xlsx)
    assert calls == [] and again.names == first.names and again.rows == first.rows
    assert np.array_equal(again.rating, first.rating) and again.raters == first.raters
    assert np.array_equal(again.original, first.original, equal_nan=True)
    st = xlsx.stat()
    os.utime(xlsx, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # edited: parse again
    scut_mod.load_ratings(xlsx)
    assert calls == [xlsx]


def test_truncated_jpeg_caught_on_open(scut):
    p = scut.root / "Images" / "CF3.jpg"
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * 0.8)])
    with pytest.raises(DataError, match="CF3.jpg"):
        open_dataset(scut.root)
    # legal trailing bytes after the end marker are not a problem
    p.write_bytes(data + b"\0" * 100)
    assert "CF3.jpg" in open_dataset(scut.root).records
