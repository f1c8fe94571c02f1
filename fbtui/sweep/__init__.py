"""Sweeps and the run queue: a grid of `--set` overrides (K seeds each) becomes queued run
folders under one sweep folder, run N at a time by a detached queue runner.

    fbtui sweep CONFIG --set train.lr=0.064,0.04 --set model.dropout=0.2,0.5 \\
        [--repeat K] [--parallel N] [--name N] [--runs-dir D] [--foreground] [--no-start]
    fbtui queue [list] | show SWEEP | pause SWEEP | resume SWEEP | cancel SWEEP

* Values split on top-level commas; brackets and quotes keep theirs
  (`--set schedule.milestones=[140,185],[100,150]`). A `--set` with one value is a fixed
  override for every member. Every member's config is validated before anything is made.
* Members are named by their swept values and seed index (`lr0.064-dropout0.2-s0`) and run
  seed-major: every setting's first seed before any second seed.
* `--parallel N` members at a time (0: one per GPU). With two or more GPUs each member is
  pinned to the least-busy one via CUDA_VISIBLE_DEVICES (members whose config names a
  device, e.g. `cpu` or `cuda:1`, are left alone); without GPUs, N at a time on the CPU
  with the cores shared (OMP_NUM_THREADS).
* pause: no new members start, running ones finish. cancel: running members are stopped
  (checkpoint saved, `stopped`), queued ones stay queued, nothing is deleted. resume: a
  paused, cancelled or killed queue continues; finished members are never redone, stopped
  or lost ones resume from checkpoints/last.pt; `--retry-failed` also retries errors.

Modules: `grid` (parsing, cartesian product, member names; pure), `create` (validate every
point, write the folder), `folder` (sweep.json, locking, listing), `scheduler` (which
members to start; pure), `runner` (the queue process), `control` (pause/resume/cancel),
`table` (swept parameters against best test MSE/PC). No torch anywhere here.
"""
