"""DDP without starting processes: the torchrun command, option checks, stop targets,
GPU attribution of every rank, follower folders and each rank's shard of the data."""

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.errors import UserError
from fbtui.gpu.attribution import attribute, pid_map
from fbtui.gpu.sample import GpuProcess
from fbtui.runs import list_runs
from fbtui.runs.launch import Rendezvous, follower_dir, stop_targets, torchrun_command

load_commands()
runner = CliRunner()


def test_torchrun_command_single_node_uses_a_free_port(tmp_path):
    cmd = torchrun_command(tmp_path, 2)
    assert cmd[1:5] == ["-m", "torch.distributed.run", "--nproc_per_node", "2"]
    assert "--standalone" in cmd and "--master_port" not in cmd
    assert cmd[-3:] == ["-m", "fbtui.train.worker", str(tmp_path)]


def test_torchrun_command_multi_node_uses_the_static_rendezvous(tmp_path):
    cmd = torchrun_command(tmp_path, 4, nnodes=2, node_rank=1, master_addr="gpu-a")
    i = cmd.index("--nnodes")
    assert cmd[i : i + 8] == [
        "--nnodes",
        "2",
        "--node_rank",
        "1",
        "--master_addr",
        "gpu-a",
        "--master_port",
        "29500",
    ]
    assert "--standalone" not in cmd


@pytest.mark.parametrize(
    "rdzv, needle",
    [
        (Rendezvous(nproc=0), "at least 1"),
        (Rendezvous(nproc=2, nnodes=2), "--master-addr"),
        (Rendezvous(nproc=2, nnodes=2, node_rank=2, master_addr="a"), "--node-rank 2"),
        (Rendezvous(nproc=2, master_port=70000), "--master-port"),
    ],
)
def test_rendezvous_check(rdzv, needle):
    with pytest.raises(UserError, match=needle):
        rdzv.check()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--nproc", "2", "--nnodes", "2"], "--master-addr"),
        (["--nnodes", "2", "--node-rank", "2", "--master-addr", "a"], "--node-rank"),
        (["--nproc", "2", "--folds", "2"], "--folds"),
    ],
)
def test_bad_ddp_options_exit_2_without_a_run_folder(tmp_path, tiny_toml, args, needle):
    root = tmp_path / "runs"
    res = runner.invoke(app, ["run", str(tiny_toml()), "--runs-dir", str(root), *args])
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output
    assert not root.exists() or not any(root.iterdir())


def _stopped_run(root: Path, world: int, nproc: int) -> Path:
    run = root / "tiny-20260101-000000"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"not read before the check")
    (run / "config.toml").write_text('[experiment]\nname = "tiny"\n')
    status = {"state": "stopped", "world_size": world, "nproc_per_node": nproc, "nnodes": 1}
    (run / "status.json").write_text(json.dumps(status))
    return run


def test_resume_with_another_process_count_is_refused(tmp_path):
    run = _stopped_run(tmp_path, world=2, nproc=2)
    res = runner.invoke(app, ["resume", str(run), "--nproc", "3"])
    assert res.exit_code == 2, res.output
    assert "trained with 2 process(es)" in res.output
    # a one-process run cannot silently become a DDP one either
    run1 = _stopped_run(tmp_path / "other", world=1, nproc=1)
    res = runner.invoke(app, ["resume", str(run1), "--nproc", "2"])
    assert res.exit_code == 2 and "trained with 1 process(es)" in res.output


def _ddp_status(agent=100, r0=101, r1=102, state="running") -> dict:
    return {
        "state": state,
        "pid": r0,
        "pids": [r0, agent, r1],
        "world_size": 2,
        "ranks": [
            {"rank": 0, "node": 0, "pid": r0, "agent": agent},
            {"rank": 1, "node": 0, "pid": r1, "agent": agent},
        ],
    }


def test_stop_signals_the_ranks_not_their_agent():
    # the ranks agree to stop at the same step; their agent then exits cleanly
    assert sorted(stop_targets(_ddp_status())) == [101, 102]
    # before the ranks registered: rank 0 and the agent (which forwards SIGTERM)
    early = {"state": "running", "pid": 101, "pids": [101, 100]}
    assert sorted(stop_targets(early)) == [100, 101]
    # one process
    assert stop_targets({"state": "running", "pid": 7}) == [7]
    # ranks of another node are never signalled from here (their pids mean nothing here)
    two_nodes = _ddp_status()
    two_nodes["ranks"].append({"rank": 2, "node": 1, "pid": 555, "agent": 556})
    assert sorted(stop_targets(two_nodes)) == [101, 102]


def test_gpu_panel_attributes_every_rank():
    mapping = pid_map([("tiny-ddp", _ddp_status())])
    assert mapping == {100: "tiny-ddp", 101: "tiny-ddp", 102: "tiny-ddp"}
    procs = [GpuProcess(pid=p, used_mem=2**30) for p in (101, 102, 103)]
    parents = {103: 102}  # e.g. a DataLoader worker of rank 1, not listed itself
    out = attribute(procs, mapping, parent_of=parents.get)
    assert [p.run for p in out] == ["tiny-ddp"] * 3
    assert pid_map([("tiny-ddp", _ddp_status(state="finished"))]) == {}


def test_follower_folder_is_hidden_from_the_run_list(tmp_path):
    path = follower_dir(tmp_path, "tiny", 1, '[experiment]\nname = "tiny"\n')
    assert path.parent == tmp_path / ".nodes" and path.name.startswith("tiny-node1-")
    assert (path / "config.toml").is_file()
    assert list_runs(tmp_path) == []


def test_each_rank_takes_its_shard_and_resumes_mid_epoch_at_its_own_offset():
    from fbtui.train.loaders import EpochSampler, ShardSampler

    n, world = 37, 2
    for epoch in (0, 1):
        shards = []
        for rank in range(world):
            s = EpochSampler(n, seed=3, rank=rank, world=world)
            s.set_epoch(epoch)
            shards.append(list(s))
            assert len(s) == -(-n // world)
            # a mid-epoch resume restarts each rank at its own offset of its own shard
            s.set_epoch(epoch, start=8)
            assert list(s) == shards[-1][8:]
        seen = shards[0] + shards[1]
        assert set(seen) == set(range(n)) and len(seen) == n + 1  # padded by one
    one = EpochSampler(n, seed=3)
    one.set_epoch(0)
    e0 = list(one)
    one.set_epoch(1)
    assert list(one) != e0  # shuffled per epoch
    test = [list(ShardSampler(n, r, world)) for r in range(world)]
    assert sorted(test[0] + test[1]) == list(range(n))  # every test image once


def test_build_loaders_shards_train_and_test(tiny_toml):
    import torch

    from fbtui.config import load_config
    from fbtui.train.loaders import build_loaders
    from fbtui.train.trainer import prepare_data

    cfg = load_config(tiny_toml(n=120))
    prepared = prepare_data(cfg)
    cpu = torch.device("cpu")
    one = build_loaders(cfg, prepared, cpu)
    ranks = [build_loaders(cfg, prepared, cpu, rank=r, world=2) for r in range(2)]
    assert one.steps_per_epoch == 72 // 16
    assert [r.steps_per_epoch for r in ranks] == [36 // 16] * 2  # per_gpu batch scope
    idx = [int(i) for r in ranks for b in r.test for i in b["index"]]
    assert sorted(idx) == list(range(len(prepared.test)))


def test_worker_knows_it_is_not_distributed_without_torchrun(monkeypatch):
    from fbtui.train import distributed

    for k in ("WORLD_SIZE", "RANK", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(k, raising=False)
    assert not distributed.is_ddp() and distributed.world_size() == 1
    assert distributed.local_pids() == [os.getpid()]
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "x")
    assert distributed.is_ddp() and distributed.local_pids() == [os.getpid(), os.getppid()]
    distributed.teardown()  # never joined: a no-op
