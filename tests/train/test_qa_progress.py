"""QA: the foreground progress fits 80 columns with counts, times and ETA, and ends in a
sensible state (full bars when finished; the state, not `-:--:--`, when it is not)."""

import io

from rich.console import Console

from fbtui.cli.run_cmd import create_run
from fbtui.config import load_config
from fbtui.train.progress import RichReporter
from fbtui.train.trainer import train_run

VALUES = {"train/loss": 0.1234, "lr": 0.003, "perf/img_per_s": 1234.0, "perf/data_wait_frac": 0}
METRICS = {"mse": 0.0712, "mae": 0.2, "rmse": 0.27, "pc": 0.912}


def frame(rep: RichReporter, width: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(rep.progress.get_renderable())
    return out.getvalue().splitlines()


def started(tiny_toml, tmp_path, width, epochs=40, spe=1234):
    rep = RichReporter(Console(file=io.StringIO(), width=width, color_system=None))
    rep.start(load_config(tiny_toml()), tmp_path, epochs, spe, 0)
    return rep


def test_fits_80_columns_with_counts_and_times(tiny_toml, tmp_path):
    rep = started(tiny_toml, tmp_path, 80)
    rep.epoch(1, METRICS, {**METRICS, "epoch": 2})
    rep.step(2 * 1234 + 600, 2, VALUES)
    lines = frame(rep, 80)
    rep.close()
    assert len(lines) == 2 and all(len(ln) <= 80 for ln in lines), lines
    epoch, step = lines
    assert " 2/40 " in epoch and "eta" in epoch and "0:00:0" in epoch, epoch
    assert "mse 0.0712" in epoch and "best" in epoch, epoch
    assert " 600/1234 " in step and "loss 0.1234" in step and "lr 0.003" in step, step


def test_wide_terminal_keeps_every_field(tiny_toml, tmp_path):
    rep = started(tiny_toml, tmp_path, 160)
    rep.step(600, 0, VALUES)
    rep.epoch(0, METRICS, {**METRICS, "epoch": 1})
    lines = frame(rep, 160)
    rep.close()
    assert "test mse 0.0712 pc 0.912  best mse 0.0712 (ep 1)" in lines[0]
    assert "1234 img/s" in frame_text(lines)


def frame_text(lines):
    return "\n".join(lines)


def test_finished_run_ends_with_full_bars(tiny_toml, tmp_path):
    rep = started(tiny_toml, tmp_path, 80, epochs=2, spe=3)
    rep.step(3, 0, VALUES)
    rep.epoch(0, METRICS, {**METRICS, "epoch": 1})
    rep.step(6, 1, VALUES)
    rep.epoch(1, METRICS, {**METRICS, "epoch": 1})
    rep.finish("finished")
    epoch, step = frame(rep, 80)
    rep.close()
    assert " 2/2 " in epoch and " 3/3 " in step, (epoch, step)  # not "step 0/3"
    assert "eta" not in epoch + step


def test_diverged_run_says_so_instead_of_an_eta(tiny_toml, tmp_path):
    rep = started(tiny_toml, tmp_path, 80, epochs=2, spe=3)
    rep.step(2, 0, VALUES)
    rep.finish("diverged")
    epoch, step = frame(rep, 80)
    rep.close()
    assert "-:--:--" not in epoch + step and "eta" not in epoch + step
    assert "diverged: 0 of 2 epochs done" in epoch, epoch
    assert " 2/3 " in step, step


def test_trainer_ends_the_bars(tmp_path, tiny_toml):
    run = create_run(load_config(tiny_toml(n=40, epochs=1)), tmp_path)
    out = io.StringIO()
    con = Console(file=out, width=80, force_terminal=True, color_system=None)
    assert train_run(run, RichReporter(con)) == "finished"
    last = out.getvalue().split("\x1b[2K")[-1].replace("\x1b[?25h", "")  # the final frame
    epoch, step = [ln for ln in last.splitlines() if ln.strip()]
    assert epoch.startswith("epoch") and " 1/1 " in epoch, last
    assert step.startswith("step") and " 1/1 " in step and "eta" not in last, last
    assert len(epoch) <= 80 and len(step) <= 80
