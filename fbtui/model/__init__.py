"""Models: a backbone's features plus a head; `build_model(cfg.model)`."""

from __future__ import annotations

import torch
from torch import nn

from fbtui.model.backbones import build_backbone
from fbtui.model.heads import Head, decode, head_loss, out_dim, predicted_std


class FaceScorer(nn.Module):
    """backbone features -> head logits; `score(logits)` decodes to the 1-5 scale."""

    def __init__(self, features: nn.Module, dim: int, head: str, clip: str, dropout: float):
        super().__init__()
        self.features = features
        self.head = Head(dim, out_dim(head), dropout)
        self.head_kind = head
        self.clip = clip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        return decode(logits, self.head_kind, self.clip)


def build_model(mcfg) -> FaceScorer:
    """Build the model an experiment's [model] section describes."""
    feats, dim = build_backbone(mcfg.backbone, mcfg.pretrained, mcfg.width)
    return FaceScorer(feats, dim, mcfg.head, mcfg.clip, mcfg.dropout)


__all__ = ["FaceScorer", "build_model", "decode", "head_loss", "predicted_std"]
