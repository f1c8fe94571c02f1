"""The queue's pure scheduling decision."""

from fbtui.sweep.scheduler import Member, Start, has_work, plan_starts, resolve_parallel


def ms(*states, **kw):
    return [Member(f"m{i}", s, **kw) for i, s in enumerate(states)]


def test_fills_free_slots_in_order():
    members = ms("finished", "running", "queued", "queued", "queued")
    assert plan_starts(members, slots=2) == [Start("m2", None)]
    assert plan_starts(members, slots=4) == [
        Start("m2", None),
        Start("m3", None),
        Start("m4", None),
    ]
    assert plan_starts(members, slots=1) == []
    assert plan_starts(members, slots=3, paused=True) == []


def test_interrupted_members_are_resumable_finished_and_attempted_are_not():
    members = [
        Member("done", "finished"),
        Member("lost", "failed (lost)"),
        Member("stopped", "stopped"),
        Member("failed", "failed"),
        Member("diverged", "diverged"),
        Member("tried", "queued", attempted=True),
        Member("starting", "starting"),
    ]
    assert [s.name for s in plan_starts(members, slots=10)] == ["lost", "stopped"]
    assert [s.name for s in plan_starts(members, slots=10, retry_failed=True)] == [
        "lost",
        "stopped",
        "failed",
    ]
    # the starting one holds a slot
    assert [s.name for s in plan_starts(members, slots=2)] == ["lost"]
    assert has_work(members)
    assert not has_work(
        [Member("a", "finished"), Member("b", "failed"), Member("c", "queued", attempted=True)]
    )
    assert has_work([Member("b", "failed")], retry_failed=True)


def test_gpu_pinning_least_busy_first():
    members = [
        Member("a", "running", gpu="0"),
        Member("b", "queued"),
        Member("c", "queued"),
        Member("d", "queued"),
    ]
    starts = plan_starts(members, slots=4, gpus=["0", "1"])
    assert starts == [Start("b", "1"), Start("c", "0"), Start("d", "1")]
    # one GPU or none: nothing pinned
    assert plan_starts(members, slots=2, gpus=["0"]) == [Start("b", None)]
    # a member whose config names its device is never pinned
    cpu = [Member("x", "queued", pinnable=False), Member("y", "queued")]
    assert plan_starts(cpu, slots=2, gpus=["2", "3"]) == [Start("x", None), Start("y", "2")]


def test_resolve_parallel():
    assert resolve_parallel(0, 0) == 1
    assert resolve_parallel(0, 4) == 4
    assert resolve_parallel(2, 8) == 2


def test_sweep_package_never_imports_torch():
    """The dashboard lists, starts and controls sweeps through fbtui.sweep: no torch."""
    import subprocess
    import sys

    code = (
        "import sys, fbtui.sweep.runner, fbtui.sweep.control, fbtui.sweep.table, "
        "fbtui.sweep.create, fbtui.runs;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'textual')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
