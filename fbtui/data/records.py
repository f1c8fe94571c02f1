"""The in-memory data set: one `Record` per image and named train/test splits.

Plain Python (no torch) so that `fbtui data check` and the dashboard stay fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from fbtui.errors import DataError

GROUPS = ("AF", "AM", "CF", "CM")
# The first release of the split files used other prefixes for the same subgroups.
OLD_PREFIXES = {"fty": "AF", "mty": "AM", "ftw": "CF", "mtw": "CM"}
_NAME_RE = re.compile(r"^(AF|AM|CF|CM|fty|mty|ftw|mtw)(\d+)(\.[A-Za-z]+)?$", re.IGNORECASE)


@dataclass(frozen=True)
class Record:
    """One rated face image."""

    name: str  # canonical file name, e.g. "AF1.jpg"
    path: Path
    score: float  # training label on the 1..5 scale
    hist: tuple[float, float, float, float, float] | None  # fraction of raters giving 1..5
    group: str | None  # "AF" | "AM" | "CF" | "CM" | None


@dataclass
class DataSet:
    """Records by name plus the named splits that reference them."""

    root: Path
    format: str  # "scut" | "list"
    records: dict[str, Record]
    splits: dict[str, tuple[list[str], list[str]]]
    warnings: list[str] = field(default_factory=list)  # things worth saying, not fatal
    bad: dict[str, str] = field(default_factory=dict)  # images dropped by skip_bad -> reason
    label: str = "mean"

    def split(self, name: str) -> tuple[list[Record], list[Record]]:
        """(train, test) records of a named split; DataError naming the available ones."""
        if name not in self.splits:
            avail = ", ".join(self.splits) or "none"
            hint = ""
            if self.format == "scut" and (name == "60/40" or name.startswith("cv")):
                hint = (
                    " (its split files under train_test_files/ were not found; "
                    "see `fbtui data check`)"
                )
            raise DataError(
                f"{self.root}: no split named {name!r}{hint}; available splits: {avail}"
            )
        train, test = self.splits[name]
        return [self.records[n] for n in train], [self.records[n] for n in test]

    def drop(self, names) -> int:
        """Remove images (e.g. undecodable ones) from the records and every split."""
        names = set(names) & set(self.records)
        if not names:
            return 0
        for n in names:
            del self.records[n]
        self.splits = {
            k: ([n for n in tr if n not in names], [n for n in te if n not in names])
            for k, (tr, te) in self.splits.items()
        }
        return len(names)


def canonical_name(name: str) -> str:
    """Map a SCUT file name to its canonical form: old prefixes fty/mty/ftw/mtw -> AF/AM/CF/CM.

    Names that are not SCUT-style are returned unchanged (list-format data).
    """
    m = _NAME_RE.match(name.strip())
    if not m:
        return name.strip()
    prefix, number, ext = m.group(1), m.group(2), m.group(3) or ".jpg"
    prefix = OLD_PREFIXES.get(prefix.lower(), prefix.upper())
    return f"{prefix}{int(number)}{ext.lower()}"


def group_of(name: str) -> str | None:
    """The SCUT subgroup of a canonical name ("AF12.jpg" -> "AF"), else None."""
    m = _NAME_RE.match(name)
    if not m:
        return None
    prefix = m.group(1)
    return OLD_PREFIXES.get(prefix.lower(), prefix.upper())
