"""Each schedule's value at known steps, including the cyclic cosine's phase and tail."""

import math

import pytest

from fbtui.config import ScheduleCfg
from fbtui.train.schedules import make_schedule, steps_per_epoch


def sched(name, lr=0.1, spe=10, epochs=20, **kw):
    return make_schedule(ScheduleCfg(name=name, **kw), lr, spe, epochs)


def adjust_lr(global_step, steps, learning_rate=0.1, T_max=6, cycles=8):
    """The researcher's adjust_lr, verbatim apart from the arguments."""
    if global_step < (T_max * 2) * cycles * steps:
        max_learning_rate = learning_rate
        min_learning_rate = learning_rate / 100.0
        Tmax = T_max * steps
        amp = (max_learning_rate - min_learning_rate) / 2
        offset = (max_learning_rate + min_learning_rate) / 2
        return amp * math.cos((global_step / Tmax + 1) * 3.141592653589) + offset
    return learning_rate / 100.0


def test_steps_per_epoch_matches_the_trainer():
    assert steps_per_epoch(3300, 40) == 82  # the last partial batch is dropped
    assert steps_per_epoch(3300, 128) == 25
    assert steps_per_epoch(10, 32) == 1


def test_constant():
    s = sched("constant")
    assert {s.lr_at(i) for i in (0, 57, 199)} == {0.1}


def test_step():
    s = sched("step", step_size=5, gamma=0.1)
    assert s.lr_at(49) == pytest.approx(0.1)
    assert s.lr_at(50) == pytest.approx(0.01)
    assert s.lr_at(100) == pytest.approx(0.001)


def test_multistep_base_recipe():
    s = sched("multistep", lr=0.064, spe=25, epochs=200, milestones=[140, 185], gamma=0.1)
    assert s.lr_at(140 * 25 - 1) == pytest.approx(0.064)
    assert s.lr_at(140 * 25) == pytest.approx(0.0064)
    assert s.lr_at(185 * 25 - 1) == pytest.approx(0.0064)
    assert s.lr_at(185 * 25) == pytest.approx(0.00064)
    assert s.plan()[-1] == pytest.approx(0.00064)


def test_exponential_per_epoch():
    s = sched("exponential", gamma=0.5)
    assert s.lr_at(9) == pytest.approx(0.1)
    assert s.lr_at(10) == pytest.approx(0.05)
    assert s.lr_at(35) == pytest.approx(0.1 * 0.5**3)


def test_cosine_per_step():
    s = sched("cosine", min_lr=0.001)  # 200 steps
    assert s.lr_at(0) == pytest.approx(0.1)
    assert s.lr_at(100) == pytest.approx((0.1 + 0.001) / 2)
    assert s.lr_at(50) == pytest.approx(0.001 + 0.099 * (1 + math.cos(math.pi / 4)) / 2)
    assert s.lr_at(200) == pytest.approx(0.001)
    assert s.lr_at(51) != s.lr_at(50)  # changes every step, not every epoch


def test_cosine_restarts():
    s = sched("cosine_restarts", t0_epochs=2, t_mult=1)  # period 20 steps
    assert s.lr_at(0) == pytest.approx(0.1)
    assert s.lr_at(10) == pytest.approx(0.05)
    assert s.lr_at(20) == pytest.approx(0.1)  # restart
    g = sched("cosine_restarts", t0_epochs=1, t_mult=2)  # periods 10, 20, 40
    assert g.lr_at(10) == pytest.approx(0.1) and g.lr_at(30) == pytest.approx(0.1)
    assert g.lr_at(20) == pytest.approx(0.05)


def test_cyclic_cosine_matches_adjust_lr_everywhere():
    spe = 82  # 3300 images, batch 40
    s = sched("cyclic_cosine", spe=spe, epochs=100, period_epochs=12, cycles=8, min_ratio=0.01)
    plan = s.plan()
    assert len(plan) == 8200
    for step in range(0, 8200, 7):
        assert plan[step] == pytest.approx(adjust_lr(step, spe), rel=1e-9, abs=1e-12)


def test_cyclic_cosine_phase_and_tail():
    spe = 10
    s = sched("cyclic_cosine", spe=spe, epochs=100, period_epochs=12, cycles=8, min_ratio=0.01)
    period = 120
    assert s.lr_at(0) == pytest.approx(0.001)  # starts at the minimum
    assert s.lr_at(period // 4) == pytest.approx(0.0505)  # quarter cycle: half way up
    assert s.lr_at(period // 2) == pytest.approx(0.1)  # half cycle (6 epochs): the maximum
    assert s.lr_at(period) == pytest.approx(0.001)  # the next cycle starts at the minimum
    assert s.lr_at(7 * period + 60) == pytest.approx(0.1)  # the 8th cycle's top
    # after 8 cycles (96 epochs): flat at the minimum for the remaining 4 epochs
    assert all(s.lr_at(t) == pytest.approx(0.001) for t in range(960, 1000))
    assert s.lr_at(959) < 0.0011


def test_cyclic_cosine_from_the_maximum():
    s = sched("cyclic_cosine", spe=10, epochs=30, period_epochs=12, cycles=2, start="max")
    assert s.lr_at(0) == pytest.approx(0.1)
    assert s.lr_at(60) == pytest.approx(0.001)
    assert s.lr_at(120) == pytest.approx(0.1)
    assert s.lr_at(240) == pytest.approx(0.001)  # tail


def test_warmup_ramps_linearly_into_the_schedule():
    s = sched("cosine", warmup_epochs=2, min_lr=0.0)  # 20 warmup steps of 200
    target = s._main(20)
    assert s.lr_at(0) == pytest.approx(target / 20)
    assert s.lr_at(9) == pytest.approx(target * 10 / 20)
    assert s.lr_at(19) == pytest.approx(target)
    assert s.lr_at(20) == pytest.approx(target)
    assert s.lr_at(100) == pytest.approx(0.05)  # the schedule keeps its own clock
    m = sched("multistep", warmup_epochs=1, milestones=[5])
    assert m.lr_at(4) == pytest.approx(0.05) and m.lr_at(10) == pytest.approx(0.1)
    assert m.lr_at(50) == pytest.approx(0.01)  # milestone stays at epoch 5


def test_plateau_cuts_after_patience_and_resumes():
    s = sched("plateau", patience=2, gamma=0.5, min_lr=0.01)
    for mse in (0.5, 0.4, 0.41, 0.42):
        s.observe(mse)
    assert s.lr_at(0) == pytest.approx(0.1)  # two bad evaluations: still patient
    s.observe(0.43)
    assert s.lr_at(0) == pytest.approx(0.05)
    state = s.state_dict()
    t = sched("plateau", patience=2, gamma=0.5, min_lr=0.01)
    t.load_state_dict(state)
    assert t.lr_at(5) == pytest.approx(0.05)
    for _ in range(20):
        t.observe(1.0)
    assert t.lr_at(5) == pytest.approx(0.01)  # floored at min_lr
    s.observe(float("nan"))  # ignored


def test_warnings_for_plans_that_do_not_fit():
    short = sched("cyclic_cosine", spe=10, epochs=50, period_epochs=12, cycles=8)
    assert any("mid-cycle" in w for w in short.warnings())
    late = sched("multistep", epochs=20, milestones=[10, 30])
    assert any("[30]" in w for w in late.warnings())
    assert sched("cosine").warnings() == []
