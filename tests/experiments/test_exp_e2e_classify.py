"""End to end on the synthetic set, the two classification heads (a file of their own so
that xdist's per-file scheduling trains them beside the regression file)."""

import csv
import json

import numpy as np
import pytest


@pytest.mark.parametrize("head", ["bins", "distribution"])
def test_classification_head_learns_the_synthetic_set(e2e_runs, head):
    run = e2e_runs(head)
    summary = json.loads((run / "summary.json").read_text())
    best = summary["best"]
    print(f"{head}: best test pc {best['pc']:.4f} mse {best['mse']:.4f} at epoch {best['epoch']}")
    assert best["pc"] >= 0.6, best
    rows = list(csv.DictReader(open(run / "predictions.csv")))
    preds = np.array([float(r["prediction"]) for r in rows])
    assert 1.0 <= preds.min() and preds.max() <= 5.0
    if head == "distribution":
        assert {"p1", "p2", "p3", "p4", "p5", "std"} <= set(rows[0])
        p = np.array([[float(r[f"p{k}"]) for k in range(1, 6)] for r in rows])
        assert np.allclose(p.sum(1), 1.0, atol=1e-4)
        assert np.allclose(p @ np.arange(1, 6), preds, atol=1e-4)
        std = np.array([float(r["std"]) for r in rows])
        assert 0.2 < std.mean() < 1.5  # raters disagree by roughly a rating point
