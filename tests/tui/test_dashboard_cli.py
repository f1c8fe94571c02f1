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


# -- the fast path: `fbtui dashboard` without Typer -------------------------------------------


def test_fast_parse_takes_only_what_typer_would_take_the_same_way():
    from fbtui.cli.dashboard_fast import parse

    assert parse([]) == {}
    assert parse(["--runs-dir", "r", "--watch=x", "--theme", "ansi-dark"]) == {
        "runs_dir": "r",
        "watch": "x",
        "theme": "ansi-dark",
    }
    assert parse(["--experiments", "a", "--experiments", "b"]) == {"experiments": "b"}
    for args in (["--help"], ["--runs"], ["--runs-dir"], ["--watch", "--help"], ["x"], ["--"]):
        assert parse(args) is None, args


def test_fast_path_knows_every_option_of_the_command():
    import typer.main

    from fbtui.cli.dashboard_fast import OPTIONS
    from fbtui.cli.main import app

    command = typer.main.get_command(app).commands["dashboard"]
    options = {opt: p.name for p in command.params for opt in p.opts if opt != "--help"}
    assert options == OPTIONS


def test_fast_path_opens_the_dashboard_without_typer(tmp_path):
    """In a terminal, `fbtui dashboard` imports neither Typer nor pydantic (a quarter of a
    second of the first frame)."""
    import os
    import pty

    code = (
        "import sys, fbtui.tui.app as a\n"
        "class Fake:\n"
        "    def run(self):\n"
        "        print('ran', [m for m in ('typer', 'pydantic') if m in sys.modules])\n"
        "a.make_app = lambda *args, **kw: Fake()\n"
        "from fbtui.cli.main import main\n"
        f"main(['dashboard', '--runs-dir', {str(tmp_path)!r}])\n"
    )
    master, slave = pty.openpty()
    proc = subprocess.run(
        [sys.executable, "-c", code], stdin=slave, stdout=slave, stderr=slave, timeout=120
    )
    os.close(slave)
    out = b""
    try:
        while chunk := os.read(master, 4096):
            out += chunk
    except OSError:  # the pty's other end closed
        pass
    os.close(master)
    assert proc.returncode == 0, out
    assert b"ran []" in out, out


def test_help_lists_every_command():
    out = subprocess.run(
        [sys.executable, "-m", "fbtui", "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0
    for name in ("run", "runs", "dashboard", "compare", "gpu", "data", "predict", "sweep"):
        assert f" {name} " in out.stdout, name
