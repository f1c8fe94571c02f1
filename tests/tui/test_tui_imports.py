"""DESIGN §2: the dashboard never imports torch, torchvision or the trainer."""

import subprocess
import sys

FORBIDDEN = ("torch", "torchvision", "fbtui.train", "fbtui.model", "tensorboardX")


def test_dashboard_imports_no_torch():
    code = (
        "import sys, fbtui.tui.app, fbtui.tui.screens.dashboard, fbtui.tui.screens.run_details,"
        " fbtui.tui.screens.new_run, fbtui.tui.screens.log_tail, fbtui.tui.screens.tag_picker,"
        " fbtui.tui.screens.confirm, fbtui.cli.dashboard_cmd\n"
        f"bad = [m for m in {FORBIDDEN!r} if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_app_module_alone():
    subprocess.run(
        [sys.executable, "-c", "import fbtui.tui.app, sys; assert 'torch' not in sys.modules"],
        check=True,
        timeout=120,
    )
