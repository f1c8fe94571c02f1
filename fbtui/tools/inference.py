"""Load a trained run for inference: its config, model, test-time preprocessing and device.

`predict` and `beautify` both go through `load_scorer`, so a photo is preprocessed exactly
like the run's test images and "the score of a file" means the same thing in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from fbtui.errors import RunError


@dataclass
class Prediction:
    """One scored image: the 1-5 score, and for distribution heads the 5-way rating
    distribution and its standard deviation (bins heads: the 8 bin probabilities)."""

    score: float
    distribution: list[float] | None = None
    std: float | None = None
    bins: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"score": self.score}
        if self.distribution is not None:
            d["distribution"] = self.distribution
            d["std"] = self.std
        if self.bins is not None:
            d["bins"] = self.bins
        return d


@dataclass
class Scorer:
    """A run's model in eval mode on its device, with the run's test-time transform."""

    run_dir: Path
    checkpoint: Path
    cfg: Any
    model: torch.nn.Module
    transform: Any
    device: torch.device
    notes: list[str] = field(default_factory=list)

    @property
    def head(self) -> str:
        return self.model.head_kind

    def preprocess(self, img: Image.Image) -> torch.Tensor:
        """RGB PIL image -> the normalised [3, H, W] tensor the model saw at test time."""
        return self.transform(img)

    @torch.no_grad()
    def predict_tensors(self, x: torch.Tensor, batch_size: int = 32) -> list[Prediction]:
        """Score a batch of preprocessed images [N, 3, H, W]."""
        out: list[Prediction] = []
        for i in range(0, x.shape[0], batch_size):
            logits = self.model(x[i : i + batch_size].to(self.device)).float()
            out.extend(self.decode(logits))
        return out

    def predict_images(self, images: list[Image.Image], batch_size: int = 32) -> list[Prediction]:
        """Score RGB PIL images with the run's test-time preprocessing."""
        if not images:
            return []
        out: list[Prediction] = []
        for i in range(0, len(images), batch_size):
            x = torch.stack([self.preprocess(im) for im in images[i : i + batch_size]])
            out.extend(self.predict_tensors(x, batch_size))
        return out

    def decode(self, logits: torch.Tensor) -> list[Prediction]:
        from fbtui.model import predicted_std

        scores = self.model.score(logits).float().cpu().tolist()
        if self.head == "distribution":
            probs = logits.softmax(dim=1).cpu().tolist()
            stds = predicted_std(logits).cpu().tolist()
            return [
                Prediction(s, distribution=p, std=sd)
                for s, p, sd in zip(scores, probs, stds, strict=True)
            ]
        if self.head == "bins":
            probs = logits.softmax(dim=1).cpu().tolist()
            return [Prediction(s, bins=p) for s, p in zip(scores, probs, strict=True)]
        return [Prediction(s) for s in scores]


def pick_device() -> torch.device:
    """CUDA when present (inference does not follow the run's train.device), else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def find_checkpoint(run_dir: Path, which: str = "best") -> tuple[Path, list[str]]:
    """checkpoints/<which>.pt, falling back from best to last (with a note saying so)."""
    ckdir = run_dir / "checkpoints"
    path = ckdir / f"{which}.pt"
    if path.is_file():
        return path, []
    if which == "best" and (ckdir / "last.pt").is_file():
        return ckdir / "last.pt", ["no checkpoints/best.pt yet: using checkpoints/last.pt"]
    raise RunError(
        f"{run_dir}: no checkpoint {path.relative_to(run_dir)} (has the run finished an epoch?)"
    )


def load_scorer(run_dir: Path, which: str = "best", device: torch.device | None = None) -> Scorer:
    """Load a run folder's resolved config and checkpoint into an eval-mode model.

    Raises RunError for a missing config or checkpoint, an unsafe pickle (weights_only
    refuses it) or weights that do not fit the run's model."""
    from fbtui.config import load_config
    from fbtui.data.dataset import build_transform
    from fbtui.model import build_model
    from fbtui.train.checkpoint import load_checkpoint, model_state

    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.toml"
    if not cfg_path.is_file():
        raise RunError(f"{run_dir}: no config.toml: not an fbtui run folder")
    cfg = load_config(cfg_path, run_folder=True)
    ckpt_path, notes = find_checkpoint(run_dir, which)
    state = model_state(load_checkpoint(ckpt_path, map_location="cpu"))
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RunError(f"{ckpt_path}: expected a state_dict of tensors")
    # the weights are already on disk: never fetch ImageNet weights just to overwrite them
    cfg.model.pretrained = "none"
    model = build_model(cfg.model)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise RunError(
            f"{ckpt_path}: the weights do not fit the model in {cfg_path} "
            f"({cfg.model.backbone}, head {cfg.model.head}): {first}"
        ) from None
    device = device or pick_device()
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    transform = build_transform(cfg.augment, cfg.data, train=False)
    return Scorer(run_dir, ckpt_path, cfg, model, transform, device, notes)
