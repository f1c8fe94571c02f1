"""`python -m fbtui.train.worker RUN_DIR`: the detached trainer process."""

from __future__ import annotations

import sys
from pathlib import Path

from fbtui.errors import UserError
from fbtui.train.trainer import train_run


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m fbtui.train.worker RUN_DIR", file=sys.stderr)
        return 2
    try:
        state = train_run(Path(argv[0]))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0 if state in ("finished", "stopped") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
