"""`fbtui lr`: the planned learning rate, drawn without data, model or GPU."""

from pathlib import Path

from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.tools.lr_plot import render_chart

load_commands()
runner = CliRunner()
EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def test_lr_cosine_without_the_data(tmp_path):
    png = tmp_path / "lr.png"
    res = runner.invoke(app, ["lr", str(EXPERIMENTS / "cosine.toml"), "--png", str(png)])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "100 epochs × 82 steps = 8200 steps" in out
    assert "assuming the SCUT-FBP5500 60/40 split's 3300 training images" in out
    assert "8 cycles of 12 epochs (984 steps)" in out
    assert "flat at the minimum from step 7872 (epoch 96)" in out
    assert "0.1 ┤" in out and "0.001 ┤" in out and "└" in out
    assert any("⠀" < ch <= "⣿" for ch in out)  # braille curve
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_lr_counts_a_real_split_file_and_set_overrides(tmp_path):
    root = tmp_path / "scut"
    split = root / "train_test_files" / "split_of_60%training and 40%testing"
    split.mkdir(parents=True)
    (split / "train.txt").write_text("".join(f"AF{i}.jpg 3.0\n" for i in range(1, 401)))
    res = runner.invoke(
        app,
        [
            "lr",
            str(EXPERIMENTS / "base.toml"),
            "--set",
            f"data.root={root}",
            "--set",
            "train.epochs=10",
            "--set",
            "schedule.milestones=[5, 8]",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "10 epochs × 3 steps = 30 steps (batch 128)" in res.output
    assert "training images: 400" in res.output
    assert "lr changes at epochs 5 (0.0064), 8 (0.00064)" in res.output


def test_lr_synthetic_and_warnings():
    res = runner.invoke(
        app,
        [
            "lr",
            str(EXPERIMENTS / "demo.toml"),
            "--set",
            "schedule.name=cyclic_cosine",
            "--set",
            "schedule.cycles=3",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "synthetic set of 2000 images" in res.output
    assert "mid-cycle" in res.output  # 3 cycles of 12 epochs do not fit in 12 epochs


def test_lr_bad_config_is_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[schedule]\nname = 'sawtooth'\n")
    res = runner.invoke(app, ["lr", str(bad)])
    assert res.exit_code == 2 and "schedule.name" in res.output


def test_render_chart_shape_and_axes():
    lines = render_chart([0.1] * 50 + [0.01] * 50, width=40, height=6, steps_per_epoch=10)
    assert len(lines) == 8
    assert lines[0].lstrip().startswith("0.1 ┤")
    assert "0.01 ┤" in lines[5]
    assert lines[-2].strip().startswith("└┬")
    assert lines[-1].lstrip().startswith("epoch")
    flat = render_chart([0.05] * 10, width=20, height=4)
    assert len(flat) == 6


def test_lr_with_nproc_counts_each_process_share():
    """cosine.toml, batch 40 per GPU: 3300 images on 4 processes are 825 each, 20 steps."""
    cfg = str(EXPERIMENTS / "cosine.toml")
    res = runner.invoke(app, ["lr", cfg, "--nproc", "2", "--nnodes", "2"])
    assert res.exit_code == 0, res.output
    assert "4 processes: 825 training images each per epoch" in res.output
    assert "100 epochs × 20 steps = 2000 steps" in res.output
    glob = runner.invoke(app, ["lr", cfg, "--nproc", "4", "--set", 'train.batch_scope="global"'])
    assert glob.exit_code == 0, glob.output
    assert "100 epochs × 82 steps" in glob.output  # 825 images in batches of 40 // 4 = 10
    bad = runner.invoke(app, ["lr", cfg, "--nproc", "0"])
    assert bad.exit_code == 2
