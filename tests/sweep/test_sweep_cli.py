"""`fbtui sweep` and `fbtui queue` without training: validation, the folder, the controls."""

import json

import pytest
import tomllib
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.runs import list_runs
from fbtui.sweep.folder import describe_sweep, read_sweep, update_sweep

load_commands()
runner = CliRunner()


def sweep_args(cfg, root, *sets, extra=()):
    args = ["sweep", str(cfg), "--runs-dir", str(root), "--no-start", "--no-data-check"]
    for s in sets:
        args += ["--set", s]
    return args + list(extra)


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        (["train.lr"], "expected KEY=V1,V2"),
        (["train.lrr=0.1,0.2"], "unknown key train.lrr (did you mean train.lr?)"),
        (["model.dropout=0.2,1.5"], "sweep member dropout1.5-s0"),
        (["schedule.milestones=[140,185],[100,150"], "unclosed"),
        (["train.lr=0.1,,0.2"], "empty value"),
        (["train.lr=0.1"], "nothing to sweep"),
    ],
)
def test_bad_sweeps_exit_2_and_create_nothing(tmp_path, tiny_toml, sets, needle):
    cfg = tiny_toml()
    root = tmp_path / "runs"
    res = runner.invoke(app, sweep_args(cfg, root, *sets))
    assert res.exit_code == 2, res.output
    assert needle in res.output
    assert "Traceback" not in res.output
    assert not root.exists()


def test_bad_repeat_and_parallel(tmp_path, tiny_toml):
    cfg = tiny_toml()
    root = tmp_path / "runs"
    for extra in (["--repeat", "0"], ["--parallel", "-1"]):
        res = runner.invoke(app, sweep_args(cfg, root, "train.lr=0.1,0.2", extra=extra))
        assert res.exit_code == 2, res.output
    assert not root.exists()


def test_sweep_creates_queued_members_with_resolved_configs(tmp_path, tiny_toml):
    cfg = tiny_toml(extra='\n[schedule]\nname = "multistep"\n')
    root = tmp_path / "runs"
    res = runner.invoke(
        app,
        sweep_args(
            cfg,
            root,
            "train.lr=0.064,0.04",
            "schedule.milestones=[140,185],[100,150]",
            "train.epochs=3",
            extra=["--repeat", "2", "--parallel", "2", "--name", "tune"],
        ),
    )
    assert res.exit_code == 0, res.output
    (sweep_dir,) = root.iterdir()
    assert sweep_dir.name.startswith("tune-sweep-")
    assert res.stdout.strip().splitlines()[-1] == str(sweep_dir)
    data = read_sweep(sweep_dir)
    assert data["state"] == "queued" and data["parallel"] == 2 and data["repeat"] == 2
    assert data["grid"] == {
        "train.lr": [0.064, 0.04],
        "schedule.milestones": [[140, 185], [100, 150]],
    }
    assert data["fixed"] == ["train.epochs=3"]
    names = [m["run"] for m in data["members"]]
    assert len(names) == 8 and names[:2] == [
        "lr0.064-milestones140_185-s0",
        "lr0.064-milestones100_150-s0",
    ]
    assert names[-1] == "lr0.04-milestones100_150-s1"
    for m in data["members"]:
        run = sweep_dir / m["run"]
        conf = tomllib.loads((run / "config.toml").read_text())
        assert conf["train"]["lr"] == m["params"]["train.lr"]
        assert conf["schedule"]["milestones"] == m["params"]["schedule.milestones"]
        assert conf["train"]["epochs"] == 3 and conf["train"]["device"] == "cpu"
        assert conf["experiment"]["seed"] == m["k"] == m["seed"]  # base seed 0 + k
        assert conf["experiment"]["name"] == f"tune-{m['run']}"
        assert json.loads((run / "status.json").read_text())["state"] == "queued"
        assert (run / "checkpoints").is_dir()


def test_queue_list_pause_cancel_and_runs_listing(tmp_path, tiny_toml):
    cfg = tiny_toml()
    root = tmp_path / "runs"
    res = runner.invoke(app, sweep_args(cfg, root, "train.lr=0.1,0.2"))
    assert res.exit_code == 0, res.output
    (sweep_dir,) = root.iterdir()

    res = runner.invoke(app, ["queue", "list", "--runs-dir", str(root), "--json"])
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)
    assert row["state"] == "queued"
    assert row["counts"] == {
        "queued": 2,
        "running": 0,
        "done": 0,
        "failed": 0,
        "stopped": 0,
        "total": 2,
    }
    res = runner.invoke(app, ["queue", "--runs-dir", str(root)])
    assert res.exit_code == 0 and sweep_dir.name in res.output

    # `fbtui runs` shows the sweep as a group beside its members (fbtui.runs.store)
    runs = {r.name: r for r in list_runs(root)}
    group = runs[sweep_dir.name]
    assert group.kind == "group" and group.state == "queued"
    assert group.summary["kind"] == "sweep" and group.summary["counts"]["queued"] == 2
    assert f"{sweep_dir.name}/lr0.1-s0" in runs

    res = runner.invoke(app, ["queue", "pause", sweep_dir.name, "--runs-dir", str(root)])
    assert res.exit_code == 0, res.output
    assert read_sweep(sweep_dir)["state"] == "paused"
    res = runner.invoke(app, ["queue", "cancel", sweep_dir.name[:8], "--runs-dir", str(root)])
    assert res.exit_code == 0, res.output
    assert read_sweep(sweep_dir)["state"] == "cancelled"
    assert describe_sweep(sweep_dir)["counts"]["queued"] == 2  # queued members stay queued

    res = runner.invoke(app, ["queue", "show", sweep_dir.name, "--runs-dir", str(root)])
    assert res.exit_code == 0 and "lr0.1-s0" in res.output

    res = runner.invoke(app, ["queue", "pause", "nope", "--runs-dir", str(root)])
    assert res.exit_code == 2 and "sweep not found" in res.output


def test_running_queue_without_runner_reads_interrupted(tmp_path, tiny_toml):
    cfg = tiny_toml()
    root = tmp_path / "runs"
    runner.invoke(app, sweep_args(cfg, root, "train.lr=0.1,0.2"))
    (sweep_dir,) = root.iterdir()
    update_sweep(
        sweep_dir,
        lambda d: d.update(state="running", runner={"pid": 2**22 + 7, "host": "x", "heartbeat": 0}),
    )
    assert describe_sweep(sweep_dir)["state"] == "interrupted"


def test_missing_data_for_one_member_creates_nothing(tmp_path, tiny_toml):
    cfg = tiny_toml()
    root = tmp_path / "runs"
    missing = tmp_path / "no-such-data"
    args = ["sweep", str(cfg), "--runs-dir", str(root), "--no-start"]
    res = runner.invoke(app, [*args, "--set", f"data.root=synthetic,{missing}"])
    assert res.exit_code == 2, res.output
    assert "sweep member rootno_such_data-s0: data folder not found" in res.output.replace("\n", "")
    assert not root.exists()
