"""Label noise is Gaussian on the score: the distribution head trains on the raters'
histograms, so on rated data the noise does not reach its targets, and the run says so
(it used to train bit-identically to a run without noise, silently)."""

from __future__ import annotations

from fbtui.config import load_config
from fbtui.train.trainer import prepare_data


def _notes(tiny_toml, *sets):
    return prepare_data(load_config(tiny_toml(n=40, epochs=1), list(sets))).notes


def test_distribution_head_with_noise_says_so(tiny_toml):
    notes = _notes(tiny_toml, 'model.head="distribution"', "data.label_noise_std=0.3")
    said = [n for n in notes if "label_noise_std = 0.3" in n]
    assert said and "24 of 24 training images" in said[0] and "histogram" in said[0]


def test_no_note_where_noise_applies(tiny_toml):
    for sets in (
        ('model.head="regression"', "data.label_noise_std=0.3"),
        ('model.head="bins"', "data.label_noise_std=0.3"),
        ('model.head="distribution"',),
    ):
        assert not [n for n in _notes(tiny_toml, *sets) if "label_noise_std" in n], sets


def test_detach_prints_the_notes_too(tmp_path, tiny_toml, monkeypatch):
    """`--detach` showed none of the data notes; the worker only writes them to train.log."""
    from typer.testing import CliRunner

    from fbtui.cli.main import app, load_commands

    load_commands()
    monkeypatch.setattr("fbtui.runs.launch.spawn_worker", lambda run_dir: 4242)
    res = CliRunner().invoke(
        app,
        ["run", str(tiny_toml(n=40, epochs=1)), "--runs-dir", str(tmp_path), "--detach"]
        + ["--set", 'model.head="distribution"', "--set", "data.label_noise_std=0.3"],
    )
    assert res.exit_code == 0, res.output
    assert "does not reach the distribution head" in " ".join(res.output.split())
    assert "pid 4242" in res.output
