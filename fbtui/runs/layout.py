"""Names of the files in a run folder (DESIGN §3) and how new run folders are named."""

from __future__ import annotations

import re
import time
from pathlib import Path

CONFIG = "config.toml"
STATUS = "status.json"
LOG = "train.log"
CHECKPOINTS = "checkpoints"
LAST = "checkpoints/last.pt"
BEST = "checkpoints/best.pt"
PREDICTIONS = "predictions.csv"
SUMMARY = "summary.json"
KFOLD = "kfold.json"
EVENTS_GLOB = "events.out.tfevents.*"

STATES = ("queued", "running", "finished", "failed", "stopped", "diverged")

_SAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_stem(name: str) -> str:
    """A run-name stem that is safe as a folder name."""
    stem = _SAFE.sub("_", name).strip("._") or "run"
    return stem[:80]


# the `-YYYYmmdd-HHMMSS[-k]` that new_run_dir appends, read back
_STAMP = re.compile(r"^(?P<stem>.+)-(?P<date>\d{8}-\d{6})(?P<k>-\d+)?$")


def strip_stamp(part: str) -> str:
    """One folder name without its `-YYYYmmdd-HHMMSS` timestamp (a `-k` suffix kept)."""
    m = _STAMP.match(part)
    return m.group("stem") + (m.group("k") or "") if m else part


def stamp_time(name: str) -> float | None:
    """The local time in a run folder's `-YYYYmmdd-HHMMSS[-k]` name, None without one."""
    m = _STAMP.match(Path(name).name)
    if not m:
        return None
    try:
        return time.mktime(time.strptime(m.group("date"), "%Y%m%d-%H%M%S"))
    except (ValueError, OverflowError):
        return None


def ensure_root(root: Path) -> None:
    """Create the runs root if needed; a file in its place, or a folder that cannot be
    made, is the user's mistake (RunError, exit 2), not a traceback."""
    from fbtui.errors import RunError

    if root.exists() and not root.is_dir():
        raise RunError(f"runs root {root} is a file, not a folder of runs (pass --runs-dir FOLDER)")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):  # a parent is a file
        raise RunError(f"runs root {root}: a part of that path is a file, not a folder") from None
    except PermissionError as e:
        raise RunError(f"runs root {root}: cannot create it ({e.strerror})") from None


def new_run_dir(root: Path, stem: str, now: float | None = None) -> Path:
    """Create and return `root/<stem>-<YYYYmmdd-HHMMSS>[-k]`; never reuses an existing folder."""
    root = Path(root)
    ensure_root(root)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    base = f"{safe_stem(stem)}-{stamp}"
    for k in range(1000):
        path = root / (base if k == 0 else f"{base}-{k}")
        try:
            path.mkdir()  # atomic: two processes never get the same folder
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a run folder under {root}")


def has_events(path: Path) -> bool:
    """True when the folder holds TensorBoard event files directly."""
    return any(path.glob(EVENTS_GLOB))
