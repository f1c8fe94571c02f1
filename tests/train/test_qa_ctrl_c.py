"""QA: Ctrl-C on a foreground `fbtui run` stops cleanly (checkpoint, state stopped) and
exits 130, so `fbtui run a.toml && fbtui run b.toml` does not go on to b."""

import json
import os
import signal
import subprocess
import sys
import time

TIMEOUT = 240  # two busy cores shared with other tests


def _ctrl_c_when_running(cmd: list[str], root, pattern: str):
    """Start `fbtui CMD`, SIGINT it once the status file matching `pattern` under `root`
    shows the run stepping (the trainer's handler is installed by then); (returncode,
    output, that status file)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "fbtui", *cmd, "--runs-dir", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
    )
    try:
        deadline = time.time() + TIMEOUT
        while time.time() < deadline:
            found = list(root.glob(pattern)) if root.is_dir() else []
            st = json.loads(found[0].read_text()) if found else {}
            if st.get("state") == "running" and st.get("step", 0) >= 2:
                break
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out, found[0]


def test_ctrl_c_exits_130_after_a_clean_stop(tmp_path, tiny_toml):
    cfg = tiny_toml(n=120, epochs=200)
    code, out, status_file = _ctrl_c_when_running(
        ["run", str(cfg)], tmp_path / "runs", "tiny-*/status.json"
    )
    assert code == 130, out
    assert "stopped" in out and "Traceback" not in out, out
    run = status_file.parent
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "stopped" and status["error"].startswith("stopped by SIGINT")
    assert (run / "checkpoints" / "last.pt").is_file()


def test_ctrl_c_on_a_kfold_group_exits_130(tmp_path, tiny_toml):
    """`fbtui run --folds K` in the foreground: the running fold stops cleanly, the group
    ends `stopped` (resumable) and the exit code is 130."""
    cfg = tiny_toml(n=120, epochs=200)
    code, out, status_file = _ctrl_c_when_running(
        ["run", str(cfg), "--folds", "2"], tmp_path / "runs", "tiny-*/cv1/status.json"
    )
    assert code == 130, out
    fold = status_file.parent
    assert json.loads((fold / "status.json").read_text())["state"] == "stopped"
    assert json.loads((fold.parent / "kfold.json").read_text())["state"] == "stopped"
    assert "Traceback" not in out
    cv2 = fold.parent / "cv2" / "status.json"  # the stop ended the group: fold 2 never ran
    assert not cv2.exists() or json.loads(cv2.read_text())["state"] != "finished"
