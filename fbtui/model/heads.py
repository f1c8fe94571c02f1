"""Output heads and how each turns logits into a score on the 1-5 scale (and its loss)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BIN_CENTRES = torch.arange(8, dtype=torch.float32) * 0.5 + 1.25  # 1.25, 1.75, ... 4.75
RATINGS = torch.arange(1, 6, dtype=torch.float32)  # 1..5


def out_dim(head: str) -> int:
    return {"regression": 1, "bins": 8, "distribution": 5}[head]


def decode(logits: torch.Tensor, head: str, clip: str = "none") -> torch.Tensor:
    """Logits [N, k] -> score [N] on the 1-5 scale."""
    if head == "regression":
        x = logits[:, 0]
        if clip == "hard":
            return x.clamp(1.0, 5.0)
        if clip == "sigmoid":
            return 4.0 * torch.sigmoid(x) + 1.0
        return x
    probs = logits.float().softmax(dim=1)
    centres = BIN_CENTRES if head == "bins" else RATINGS
    return probs @ centres.to(probs.device)


def predicted_std(logits: torch.Tensor) -> torch.Tensor:
    """Distribution head: the standard deviation of the predicted rating distribution."""
    p = logits.float().softmax(dim=1)
    r = RATINGS.to(p.device)
    mean = p @ r
    return ((p * (r[None, :] - mean[:, None]) ** 2).sum(dim=1)).clamp_min(0).sqrt()


def score_to_bin(score: torch.Tensor) -> torch.Tensor:
    """1-1.5 -> 0, 1.5-2 -> 1, ... 4.5-5 -> 7."""
    return ((score - 1.0) / 0.5).floor().clamp(0, 7).long()


def head_loss(
    logits: torch.Tensor,
    score: torch.Tensor,
    hist: torch.Tensor,
    head: str,
    clip: str = "none",
    loss: str = "mse",
) -> torch.Tensor:
    """The training loss for a head (the evaluation is always MSE on the score)."""
    if head == "regression":
        pred = decode(logits, head, clip).float()
        fn = {"mse": F.mse_loss, "smooth_l1": F.smooth_l1_loss, "l1": F.l1_loss}[loss]
        return fn(pred, score.float())
    if head == "bins":
        return F.cross_entropy(logits.float(), score_to_bin(score))
    # distribution: soft cross-entropy against the raters' histogram
    return -(hist.float() * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


class Head(nn.Module):
    """Global average pooling, dropout, linear."""

    def __init__(self, in_features: int, out_features: int, dropout: float):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(torch.flatten(self.pool(x), 1)))
