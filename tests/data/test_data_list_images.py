"""The list format, image loading and the fast xlsx reader."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fbtui.data import load_image, open_dataset
from fbtui.data.xlsx import read_table, write_sheet
from fbtui.errors import DataError

from .conftest import write_jpg


def _folder(tmp_path, text: str, name: str = "labels.txt", n: int = 10):
    (tmp_path / "imgs").mkdir(exist_ok=True)
    for i in range(n):
        write_jpg(tmp_path / "imgs" / f"p {i}.jpg", seed=i)
    (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    "text,name",
    [
        ("".join(f"imgs/p {i}.jpg {i * 0.5}\n" for i in range(10)), "labels.txt"),
        (
            "filename,score\n" + "".join(f"imgs/p {i}.jpg,{i * 0.5}\n" for i in range(10)),
            "labels.csv",
        ),
        (
            "file\tscore\n" + "".join(f"imgs/p {i}.jpg\t{i * 0.5}\n" for i in range(10)),
            "labels.txt",
        ),
    ],
)
def test_list_format_separators(tmp_path, text, name):
    ds = open_dataset(_folder(tmp_path, text, name), format="list")
    assert ds.format == "list" and len(ds.records) == 10
    r = ds.records["imgs/p 3.jpg"]
    assert r.score == 1.5 and r.hist is None and r.group is None
    train, test = ds.splits["60/40"]
    assert len(train) == 6 and len(test) == 4 and not set(train) & set(test)
    assert ds.splits["all"] == (list(ds.records), [])
    again = open_dataset(tmp_path, format="list")
    assert again.splits == ds.splits  # deterministic


@pytest.mark.parametrize(
    "bad_line,expect",
    [
        ("imgs/p 1.jpg nan", "not a finite number"),
        ("imgs/p 1.jpg lots", "is not a number"),
        ("imgs/p 0.jpg 2.0", "listed twice"),
        ("imgs/missing.jpg 2.0", "missing"),
    ],
)
def test_list_format_errors_name_the_line(tmp_path, bad_line, expect):
    text = "filename score\nimgs/p 0.jpg 1.0\n" + bad_line + "\n"
    _folder(tmp_path, text)
    with pytest.raises(DataError) as e:
        open_dataset(tmp_path, format="list")
    assert expect in str(e.value)
    assert "labels.txt:3" in str(e.value)


def test_list_format_needs_labels(tmp_path):
    with pytest.raises(DataError, match="labels.txt or labels.csv"):
        open_dataset(tmp_path, format="list")
    with pytest.raises(DataError, match="data folder not found"):
        open_dataset(tmp_path / "x", format="list")


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P", "I;16", "1", "LA"])
def test_load_image_any_mode(tmp_path, mode):
    rng = np.random.default_rng(0)
    base = Image.fromarray(rng.integers(0, 255, (10, 12, 3), dtype=np.uint8))
    if mode == "I;16":
        im = Image.fromarray((rng.integers(0, 65535, (10, 12))).astype(np.uint16))
    else:
        im = base.convert(mode)
    path = tmp_path / ("x.jpg" if mode in ("L", "CMYK") else "x.png")
    if mode == "CMYK":
        im.save(path, "JPEG")
    else:
        im.save(path)
    out = load_image(path)
    assert out.mode == "RGB" and out.size == (12, 10)


def test_load_image_exif_orientation(tmp_path):
    im = Image.new("RGB", (20, 10), (200, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 on display
    im.save(tmp_path / "r.jpg", exif=exif)
    assert load_image(tmp_path / "r.jpg").size == (10, 20)


def test_load_image_errors_name_the_file(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(DataError, match=r"bad\.jpg: cannot decode image"):
        load_image(tmp_path / "bad.jpg")
    with pytest.raises(DataError, match=r"none\.jpg: image file not found"):
        load_image(tmp_path / "none.jpg")


def test_xlsx_fast_reader_matches_openpyxl(tmp_path):
    import openpyxl

    rows = [["Rater", "Filename", "Rating", "original Rating"]]
    rows += [
        [r, f"AF{i}.jpg", (r + i) % 5 + 1, 2 if i == r else None]
        for r in range(1, 5)
        for i in range(1, 8)
    ]
    rows.append([9, "x & <y>.jpg", 2.5, None])
    wb = openpyxl.Workbook()
    wb.active.title = "ALL"
    for row in rows:
        wb.active.append(row)
    wb.save(tmp_path / "op.xlsx")  # openpyxl writes inline strings
    write_sheet(tmp_path / "fast.xlsx", "ALL", rows)  # shared strings
    for f in ("op.xlsx", "fast.xlsx"):
        t = read_table(tmp_path / f)
        assert t.sheet == "ALL" and t.first_row() == 1
        assert t.row_values(1) == {0: "Rater", 1: "Filename", 2: "Rating", 3: "original Rating"}
        got = [[t.value(c, r) for c in range(4)] for r in range(2, len(rows) + 1)]
        want = [
            [None if v is None else (float(v) if isinstance(v, (int, float)) else v) for v in row]
            for row in rows[1:]
        ]
        assert [
            [float(v) if isinstance(v, (int, float)) else v for v in row] for row in got
        ] == want


def test_xlsx_text_in_numeric_column_is_reported(tmp_path):
    from fbtui.data.scut import read_ratings

    rows = [["Rater", "Filename", "Rating"]] + [[1, f"AF{i}.jpg", 3] for i in range(1, 6)]
    rows[4][2] = "n/a"
    write_sheet(tmp_path / "r.xlsx", "ALL", rows)
    with pytest.raises(DataError, match=r"row 5 \(AF4.jpg\): Rating 'n/a' is not a number"):
        read_ratings(tmp_path / "r.xlsx")
