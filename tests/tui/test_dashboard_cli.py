"""`fbtui dashboard` outside a terminal and with a bad --watch: a message and exit 2."""

import subprocess
import sys


def _dashboard(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "fbtui", "dashboard", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_needs_a_terminal(tmp_path):
    out = _dashboard("--runs-dir", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 2
    assert "needs a terminal" in out.stderr and "Traceback" not in out.stderr


def test_bad_watch_names_the_run(tmp_path):
    out = _dashboard("--runs-dir", str(tmp_path), "--watch", "nope", cwd=tmp_path)
    assert out.returncode == 2
    assert "run not found: nope" in out.stderr and "Traceback" not in out.stderr
