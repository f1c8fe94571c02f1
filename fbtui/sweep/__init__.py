"""Sweeps and the run queue: a grid of `--set` overrides (K seeds each) becomes queued run
folders under one sweep folder, run N at a time by a detached queue runner.

Modules: `grid` (parsing, cartesian product, member names; pure), `create` (validate every
point, write the folder), `folder` (sweep.json, locking, listing), `scheduler` (which
members to start; pure), `runner` (the queue process), `control` (pause/resume/cancel),
`table` (swept parameters against best test MSE/PC). No torch anywhere here.
"""
