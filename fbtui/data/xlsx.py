"""Fast, minimal .xlsx reading and writing for one big sheet of plain values.

All_Ratings.xlsx has 330,000 rows. openpyxl (even read_only) needs ~100 us a row here
(about 33 s for the real file; measured 12 s for 120k rows), pandas the same since it
uses openpyxl. A .xlsx sheet is one zipped XML file of `<row><c r="B2" t="s"><v>7</v></c>`
cells, so one regular-expression pass reads it in a few seconds. Anything unusual (cells
without `r`, rich inline text, ...) makes `read_table` fall back to openpyxl, so
correctness never depends on the fast path.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, unescape

import numpy as np

_NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "rel": "http://schemas.openxmlformats.org/package/2006/relationships",
}
# A value cell, optionally with a formula before its cached value; an inline string; an
# empty (styled-only) cell. Together they must account for every `<c` in the sheet.
_CELL_FAST = re.compile(
    rb'<c r="([A-Z]+)(\d+)"([^>]*?)>(?:<f\b[^>]*>[^<]*</f>|<f\b[^>]*/>)?<v>([^<]*)</v></c>'
)
_CELL_INLINE = re.compile(rb'<c r="([A-Z]+)(\d+)"([^>]*?)><is>(.*?)</is></c>', re.S)
_CELL_EMPTY = re.compile(rb"<c\b[^>]*/>|<c\b[^>]*></c>")
_TYPE = re.compile(rb'\bt="(\w+)"')
_T = re.compile(rb"<t\b[^>]*?(?:/>|>(.*?)</t>)", re.S)
_RPH = re.compile(rb"<rPh\b.*?</rPh>", re.S)  # phonetic hints: not part of the text
_SI = re.compile(rb"<si>(.*?)</si>", re.S)
_ENT = {"&quot;": '"', "&apos;": "'"}


class FastPathUnavailable(Exception):
    """The sheet uses a feature the fast reader does not handle."""


@dataclass
class Table:
    """One sheet, column by column: col index -> (row numbers ascending, values).

    Empty cells are absent. A mostly numeric column comes as one float64 array, with
    NaN where a cell holds text and that text in `text[col][row]` (a header, a typo);
    any other column is a list of str/int/float/bool.
    """

    sheet: str
    columns: dict[int, tuple[np.ndarray, object]]
    text: dict[int, dict[int, object]] = field(default_factory=dict)

    def first_row(self) -> int:
        return min((int(r[0]) for r, _ in self.columns.values() if len(r)), default=0)

    def value(self, col: int, row: int):
        """One cell's value, None when empty."""
        if col not in self.columns:
            return None
        rows, vals = self.columns[col]
        i = int(np.searchsorted(rows, row))
        if i >= len(rows) or rows[i] != row:
            return None
        if isinstance(vals, np.ndarray):
            v = vals[i]
            return self.text.get(col, {}).get(row) if np.isnan(v) else float(v)
        return vals[i]

    def row_values(self, row: int) -> dict[int, object]:
        """{col: value} of one row (used for the header)."""
        out = {c: self.value(c, row) for c in self.columns}
        return {c: v for c, v in out.items() if v is not None}


def _make_column(rows, values: list) -> tuple[np.ndarray, object, dict]:
    """(rows, values, text) from parallel lists, sorted by row (see Table)."""
    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    rows = rows[order]
    values = [values[i] for i in order.tolist()]
    is_num = [type(v) in (int, float) for v in values]
    if 2 * sum(is_num) < len(values):
        return rows, values, {}
    f = np.array([v if n else np.nan for v, n in zip(values, is_num, strict=True)], np.float64)
    text = {int(r): v for r, v, n in zip(rows.tolist(), values, is_num, strict=True) if not n}
    return rows, f, text


def _col_index(letters: bytes | str) -> int:
    n = 0
    for ch in letters.encode() if isinstance(letters, str) else letters:
        n = n * 26 + (ch - 64)
    return n - 1


def _text(b: bytes) -> str:
    s = b.decode("utf-8")
    return unescape(s, _ENT) if "&" in s else s


def sheet_names(zf: zipfile.ZipFile) -> list[tuple[str, str]]:
    """(sheet name, member path) in workbook order."""
    wb = ET.fromstring(zf.read("xl/workbook.xml"))
    rels = ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    target = {r.get("Id"): r.get("Target") for r in rels.findall("rel:Relationship", _NS)}
    out = []
    for s in wb.findall("m:sheets/m:sheet", _NS):
        t = target.get(s.get(f"{{{_NS['r']}}}id"), "")
        t = t.lstrip("/") if t.startswith("/") else "xl/" + t
        out.append((s.get("name"), t))
    return out


def choose_sheet(names: list[str], prefer: str = "ALL") -> str:
    """The sheet named `prefer` (case-insensitive) if present, else the first."""
    return next((s for s in names if s.strip().upper() == prefer.upper()), names[0])


def _shared_strings(zf: zipfile.ZipFile) -> list[str]:
    try:
        data = zf.read("xl/sharedStrings.xml")
    except KeyError:
        return []
    return [_text(b"".join(_T.findall(_RPH.sub(b"", si)))) for si in _SI.findall(data)]


def _decode(t: bytes, raw: bytes, shared: list[str]):
    if t == b"s":
        return shared[int(raw)]
    if t in (b"str", b"e", b"inlineStr"):
        return _text(raw)
    if t == b"b":
        return raw == b"1"
    f = float(raw)
    return int(f) if f.is_integer() and b"." not in raw and b"E" not in raw.upper() else f


def _fast_table(zf: zipfile.ZipFile, sheet: str, member: str) -> Table:
    """All cells in one C-level regex pass, decoded column-wise with numpy; raises
    FastPathUnavailable if any cell is shaped differently (the caller uses openpyxl)."""
    shared = _shared_strings(zf)
    data = zf.read(member)
    cells = _CELL_FAST.findall(data)
    inline = _CELL_INLINE.findall(data)
    n_open = data.count(b"<c ") + data.count(b"<c>")
    n_empty = len(_CELL_EMPTY.findall(data))
    if len(cells) + len(inline) + n_empty != n_open:
        raise FastPathUnavailable("cells the fast pattern does not cover")
    table = Table(sheet, {})
    if cells:
        letters, rows, attrs, raws = (np.array(x) for x in zip(*cells, strict=True))
        # cell type from the few distinct attribute strings (t="s", s="3" t="s", ...)
        tmap = {}
        for a in set(attrs.tolist()):
            tm = _TYPE.search(a)
            tmap[a] = tm.group(1) if tm else b"n"
        types = np.array([tmap[a] for a in attrs.tolist()])
        rows = rows.astype(np.int64)
        for col in np.unique(letters).tolist():
            sel = np.nonzero(letters == col)[0]
            sel = sel[np.argsort(rows[sel], kind="stable")]
            r, t, raw = rows[sel], types[sel], raws[sel]
            num = t == b"n"
            c = _col_index(col)
            if 2 * int(num.sum()) >= len(sel):
                f = np.full(len(sel), np.nan)
                f[num] = raw[num].astype(np.float64)  # all numbers converted in one go
                table.columns[c] = (r, f)
                other = np.nonzero(~num)[0].tolist()
                if other:
                    table.text[c] = {int(r[i]): _decode(t[i], raw[i], shared) for i in other}
            elif (t == b"s").all():
                table.columns[c] = (r, [shared[i] for i in raw.astype(np.int64).tolist()])
            else:
                vals = [
                    _decode(tt, rr, shared) for tt, rr in zip(t.tolist(), raw.tolist(), strict=True)
                ]
                table.columns[c] = (r, vals)
    if inline:
        by_col: dict[int, tuple[list, list]] = {}
        for letters_b, row, _attrs, body in inline:
            rr, vv = by_col.setdefault(_col_index(letters_b), ([], []))
            rr.append(int(row))
            vv.append(_text(b"".join(_T.findall(body))))
        for c, (rr, vv) in by_col.items():
            if c in table.columns:  # merge with the column's other cells
                r0, v0 = table.columns[c]
                rr = r0.tolist() + rr
                if isinstance(v0, np.ndarray):
                    t0 = table.text.pop(c, {})
                    v0 = [
                        t0.get(r, x) if x != x else x
                        for r, x in zip(r0.tolist(), v0.tolist(), strict=True)
                    ]
                vv = list(v0) + vv
            r, v, text = _make_column(rr, vv)
            table.columns[c] = (r, v)
            if text:
                table.text[c] = text
    return table


def _table_from_rows(sheet: str, rows) -> Table:
    cols: dict[int, tuple[list, list]] = {}
    for rn, row in rows:
        for c, v in enumerate(row):
            if v is None or (isinstance(v, str) and not v.strip()):
                continue
            rr, vv = cols.setdefault(c, ([], []))
            rr.append(rn)
            vv.append(v)
    table = Table(sheet, {})
    for c, (rr, vv) in cols.items():
        r, v, text = _make_column(rr, vv)
        table.columns[c] = (r, v)
        if text:
            table.text[c] = text
    return table


def _openpyxl_rows(path: Path, sheet: str) -> Iterator[tuple[int, tuple]]:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        yield from enumerate(wb[sheet].iter_rows(values_only=True), start=1)
    finally:
        wb.close()


def read_table(path: str | Path, prefer: str = "ALL") -> Table:
    """The preferred sheet (`prefer`, else the first) of a workbook, column by column.

    Raises OSError/zipfile.BadZipFile/KeyError/ValueError for files that are not xlsx.
    """
    path = Path(path)
    with zipfile.ZipFile(path) as zf:
        sheets = sheet_names(zf)
        if not sheets:
            raise ValueError("the workbook has no sheets")
        name = choose_sheet([s for s, _ in sheets], prefer)
        member = dict(sheets)[name]
        try:
            return _fast_table(zf, name, member)
        except (FastPathUnavailable, KeyError, ValueError, IndexError, UnicodeDecodeError):
            pass
    return _table_from_rows(name, _openpyxl_rows(path, name))


# ---------------------------------------------------------------- writing


def _col_letters(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def write_sheet(path: str | Path, sheet: str, rows: list[list]) -> None:
    """Write one sheet of ints, floats, strings and Nones as a minimal valid .xlsx
    (shared strings, no styles). ~50x faster than openpyxl's write_only mode."""
    strings: dict[str, int] = {}
    letters = [_col_letters(i) for i in range(max(len(r) for r in rows))]
    parts = []
    for rn, row in enumerate(rows, start=1):
        cells = []
        for ci, v in enumerate(row):
            if v is None:
                continue
            ref = f"{letters[ci]}{rn}"
            if isinstance(v, str):
                k = strings.setdefault(v, len(strings))
                cells.append(f'<c r="{ref}" t="s"><v>{k}</v></c>')
            elif isinstance(v, bool):
                cells.append(f'<c r="{ref}" t="b"><v>{int(v)}</v></c>')
            else:
                cells.append(f'<c r="{ref}"><v>{v!r}</v></c>')
        parts.append(f'<row r="{rn}">{"".join(cells)}</row>')
    main = _NS["m"]
    sheet_xml = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{main}">'
        f"<sheetData>{''.join(parts)}</sheetData></worksheet>"
    )
    sst = "".join(f"<si><t>{escape(s)}</t></si>" for s in strings)
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<Relationships xmlns="{_NS["rel"]}">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<workbook xmlns="{main}" xmlns:r="{_NS["r"]}"><sheets>'
            f'<sheet name="{escape(sheet, {chr(34): "&quot;"})}" sheetId="1" r:id="rId1"/>'
            "</sheets></workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<Relationships xmlns="{_NS["rel"]}">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"
        ),
        "xl/sharedStrings.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<sst xmlns="{main}" count="{len(strings)}" uniqueCount="{len(strings)}">{sst}</sst>'
        ),
        "xl/worksheets/sheet1.xml": sheet_xml,
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name, text in files.items():
            # fixed timestamps: the same data gives the same bytes
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text.encode("utf-8"))
