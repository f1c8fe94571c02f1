"""Output heads and how each turns logits into a score on the 1-5 scale (and its loss).

* `regression`: one output x, the score's offset from the scale's middle (score = 3 + x,
  so a freshly initialised head starts at 3, inside [1, 5]); `clip` = "none", "hard"
  (clamp 3 + x to [1, 5]) or "sigmoid" (4·σ(x) + 1, also 3 at x = 0).
* `bins`: 8 classes 1-1.5, 1.5-2, ..., 4.5-5 trained with one-hot cross-entropy; the
  score is the probability-weighted mean of the bin centres.
* `distribution`: 5 outputs trained with soft cross-entropy against the raters'
  histogram over 1..5; the score is the expected rating, and the spread of the predicted
  distribution says how much raters would disagree.

Evaluation is always on the decoded score, so every head is compared by the same MSE.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

N_BINS = 8
BIN_CENTRES = torch.arange(N_BINS, dtype=torch.float32) * 0.5 + 1.25  # 1.25, 1.75, ... 4.75
RATINGS = torch.arange(1, 6, dtype=torch.float32)  # 1..5
MIDDLE = 3.0  # regression outputs are centred here: a hard clip never starts dead at 0
HEADS = ("regression", "bins", "distribution")
LOSSES = {"mse": F.mse_loss, "smooth_l1": F.smooth_l1_loss, "l1": F.l1_loss}


def out_dim(head: str) -> int:
    """Number of logits a head needs."""
    return {"regression": 1, "bins": N_BINS, "distribution": 5}[head]


def decode(logits: torch.Tensor, head: str, clip: str = "none") -> torch.Tensor:
    """Logits [N, k] -> score [N] on the 1-5 scale."""
    if head == "regression":
        x = logits[:, 0]
        if clip == "sigmoid":
            return 4.0 * torch.sigmoid(x) + 1.0
        if clip == "hard":
            return (x + MIDDLE).clamp(1.0, 5.0)
        if clip != "none":
            raise ValueError(f"unknown clip {clip!r}")
        return x + MIDDLE
    probs = logits.float().softmax(dim=1)
    if head == "bins":
        centres = BIN_CENTRES
    elif head == "distribution":
        centres = RATINGS
    else:
        raise ValueError(f"unknown head {head!r}")
    return probs @ centres.to(probs.device)


def predicted_std(logits: torch.Tensor) -> torch.Tensor:
    """Distribution head: the standard deviation of the predicted rating distribution."""
    p = logits.float().softmax(dim=1)
    r = RATINGS.to(p.device)
    mean = p @ r
    return ((p * (r[None, :] - mean[:, None]) ** 2).sum(dim=1)).clamp_min(0).sqrt()


def score_to_bin(score: torch.Tensor) -> torch.Tensor:
    """1-1.5 -> 0, 1.5-2 -> 1, ... 4.5-5 -> 7 (5.0 itself falls in the last bin)."""
    return ((score.float() - 1.0) / 0.5).floor().clamp(0, N_BINS - 1).long()


def score_to_hist(score: torch.Tensor) -> torch.Tensor:
    """A histogram over 1..5 whose expectation is `score`: the mass split linearly between
    the two neighbouring ratings (3.6 -> 0.4 at 3, 0.6 at 4). Used where no rater
    histogram exists (list-format and extra data sets)."""
    s = score.float().clamp(1.0, 5.0) - 1.0  # 0..4
    lo = s.floor().clamp(0, 3)
    frac = (s - lo).unsqueeze(1)
    hist = torch.zeros(score.shape[0], 5, device=score.device)
    idx = lo.long().unsqueeze(1)
    hist.scatter_(1, idx, 1.0 - frac)
    hist.scatter_add_(1, idx + 1, frac)
    return hist


def _valid_hist(hist: torch.Tensor | None, score: torch.Tensor) -> torch.Tensor:
    """The raters' histograms, with rows that are missing (NaN or all zero) derived from
    the score instead."""
    fallback = score_to_hist(score)
    if hist is None or hist.ndim != 2 or hist.shape[1] != 5:
        return fallback
    h = hist.float().to(score.device)
    ok = torch.isfinite(h).all(dim=1) & (h.nan_to_num(0.0).sum(dim=1) > 0.5)
    h = h.nan_to_num(0.0)
    h = h / h.sum(dim=1, keepdim=True).clamp_min(1e-8)
    return torch.where(ok[:, None], h, fallback)


def head_loss(
    logits: torch.Tensor,
    score: torch.Tensor,
    hist: torch.Tensor | None,
    head: str,
    clip: str = "none",
    loss: str = "mse",
) -> torch.Tensor:
    """The training loss for a head (the evaluation is always MSE on the score).

    regression: `loss` (mse | smooth_l1 | l1) between the decoded, possibly clipped output
    and the score; bins: cross-entropy against the score's bin; distribution: soft
    cross-entropy against the raters' histogram."""
    if head == "regression":
        pred = decode(logits, head, clip).float()
        return LOSSES[loss](pred, score.float())
    if head == "bins":
        return F.cross_entropy(logits.float(), score_to_bin(score))
    if head == "distribution":
        target = _valid_hist(hist, score)
        return -(target * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()
    raise ValueError(f"unknown head {head!r}")


class Head(nn.Module):
    """Global average pooling, dropout, linear."""

    def __init__(self, in_features: int, out_features: int, dropout: float):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(torch.flatten(self.pool(x), 1)))
