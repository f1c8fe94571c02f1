"""`fbtui runs` with a diverged run (best mse 9.58e62) and a k-fold group: every metric
fits its column (it printed 63 digits and lost every run name at 80 columns), and a
group shows the final epoch's mean ± std (the protocol figure) when kfold.json has it."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.cli.run_cmd import _num

load_commands()
runner = CliRunner()


def test_num():
    assert _num(0.12344) == "0.1234"
    assert _num(9.577e62) == "9.58e+62"
    assert _num(-12345.6) == "-1.23e+04"
    assert _num(float("nan")) == "nan" and _num(float("inf")) == "inf"
    assert _num(None) == "" and _num("x") == ""


def _run(root, name, status):
    d = root / name
    d.mkdir(parents=True)
    (d / "status.json").write_text(json.dumps(status))
    (d / "config.toml").write_text("")
    return d


def test_table_at_80_columns(tmp_path):
    root = tmp_path / "runs"
    _run(
        root,
        "diverged-20261128-190839",
        {"state": "diverged", "epoch": 1, "epochs": 3, "best": {"mse": 9.577e62, "pc": -0.0023}},
    )
    _run(root, "ok-20261128-190801", {"state": "finished", "epoch": 3, "epochs": 3,
                                       "best": {"mse": 0.376, "pc": 0.164}})  # fmt: skip
    kf = root / "cv-20261128-180000"
    _run(kf, "cv1", {"state": "finished", "epoch": 2, "epochs": 2})
    (kf / "kfold.json").write_text(
        json.dumps(
            {
                "kind": "kfold",
                "folds": 1,
                "state": "finished",
                "runs": [{"fold": 1, "run": "cv1"}],
                "mean": {"mse": 0.3777, "mae": 0.5, "pc": 0.3},
                "std": {"mse": 0.1145, "mae": 0.01, "pc": 0.02},
                "final_epoch": {
                    "mean": {"mse": 0.4623, "mae": 0.55, "pc": 0.25},
                    "std": {"mse": 0.1001, "mae": 0.02, "pc": 0.03},
                },
            }
        )
    )
    res = runner.invoke(app, ["runs", "--runs-dir", str(root)], terminal_width=80)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert all(len(ln) <= 80 for ln in lines), res.output
    diverged = next(ln for ln in lines if ln.startswith("diverged"))
    assert "9.58e+62" in diverged and "-0.0023" in diverged
    assert any(ln.startswith("ok-") for ln in lines)
    group = next(ln for ln in lines if ln.startswith("cv-20261128-180000 "))
    assert "0.4623" in group and "0.3777" not in group
    assert "at their final epoch" in res.output
