"""The torch side of the data: a Dataset over Records and the image transforms."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info
from torchvision import transforms as T

from fbtui.data.images import load_image
from fbtui.data.records import Record
from fbtui.errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

__all__ = ["FaceDataset", "build_transform", "denormalize", "load_image"]


class FaceDataset(Dataset):
    """Records -> {"image", "score", "hist", "index"} samples.

    `label_noise_std` adds N(0, std) to the score each time a sample is drawn (fresh
    noise every epoch; pass it for the training set only), clipped to the 1..5 scale.
    After `set_epoch(e)` the noise is a function of (seed, e, index), so a resumed run
    draws the same noise whatever the number of workers.

    A decode failure raises DataError naming the file; with `skip_bad` the sample is
    replaced by the next readable one and the file is remembered in `self.bad`.
    """

    def __init__(
        self,
        records: list[Record],
        transform,
        *,
        label_noise_std: float = 0.0,
        seed: int = 0,
        skip_bad: bool = False,
    ) -> None:
        self.records = list(records)
        self.transform = transform
        self.label_noise_std = float(label_noise_std)
        self.seed = int(seed)
        self.skip_bad = skip_bad
        self.bad: dict[str, str] = {}
        # in shared memory so that persistent DataLoader workers see set_epoch too
        self._epoch = torch.full((1,), -1, dtype=torch.int64).share_memory_()
        self._stream: tuple[int, int] | None = None
        self._draws: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Make the label noise a function of (seed, epoch, index): reproducible on resume."""
        self._epoch[0] = int(epoch)

    def _noise(self, index: int) -> float:
        epoch = int(self._epoch[0])
        if epoch >= 0:
            stream = (1, epoch)
        else:  # no set_epoch: fresh per process, and per epoch in (re-created) workers
            wi = get_worker_info()
            stream = (2, (wi.seed & 0xFFFFFFFFFFFF) if wi is not None else 0)
        if stream != self._stream:
            self._stream, self._draws = stream, {}
        k = self._draws.get(index, 0)  # a second draw of the same sample gets new noise
        self._draws[index] = k + 1
        rng = np.random.default_rng([self.seed, *stream, index, k])
        return float(rng.normal(0.0, self.label_noise_std))

    def _load(self, i: int):
        n = len(self.records)
        for k in range(n):
            j = (i + k) % n
            rec = self.records[j]
            if rec.name in self.bad:
                continue
            try:
                return j, load_image(rec.path)
            except DataError as e:
                if not self.skip_bad:
                    raise DataError(
                        f"{e}; set data.skip_bad = true to train without unreadable images"
                    ) from None
                self.bad[rec.name] = str(e)
                warnings.warn(f"skipping unreadable image {rec.path}", stacklevel=2)
        raise DataError("no readable images left in the data set")

    def __getitem__(self, i: int) -> dict:
        j, img = self._load(int(i))
        rec = self.records[j]
        score = float(rec.score)
        if self.label_noise_std > 0:
            score = min(5.0, max(1.0, score + self._noise(j)))
        hist = rec.hist if rec.hist is not None else (0.0, 0.0, 0.0, 0.0, 0.0)
        return {
            "image": self.transform(img)
            if self.transform is not None
            else T.functional.to_tensor(img),
            "score": torch.tensor(score, dtype=torch.float32),
            "hist": torch.tensor(hist, dtype=torch.float32),
            "index": j,
        }


def build_transform(aug, data, train: bool):
    """PIL RGB image -> normalised tensor [3, image_size, image_size].

    Both: square Resize(data.resize_to) (faces are square crops). Train: then
    RandomRotation, the crop (random with padding / center / none), horizontal flip and
    colour jitter as configured. Test: CenterCrop(image_size) only (with crop = "none",
    the same resize to image_size as training). Then ToTensor and, with aug.normalize,
    ImageNet normalisation.
    """
    size, resize = data.image_size, data.resize_to
    ops: list = [T.Resize((resize, resize), antialias=True)]
    if train:
        if aug.rotation > 0:
            ops.append(T.RandomRotation(aug.rotation))
        if aug.crop == "random":
            ops.append(T.RandomCrop(size, padding=aug.pad or None))
        elif aug.crop == "center":
            ops.append(T.CenterCrop(size))
        elif resize != size:  # "none": keep the whole face, at the model's input size
            ops.append(T.Resize((size, size), antialias=True))
        if aug.hflip:
            ops.append(T.RandomHorizontalFlip())
        cj = aug.color_jitter
        if cj.brightness > 0 or cj.contrast > 0 or cj.saturation > 0 or cj.hue > 0:
            ops.append(T.ColorJitter(cj.brightness, cj.contrast, cj.saturation, cj.hue))
    elif aug.crop == "none" and resize != size:
        ops.append(T.Resize((size, size), antialias=True))  # mirror the training view
    else:
        ops.append(T.CenterCrop(size))
    ops.append(T.ToTensor())
    if aug.normalize:
        ops.append(T.Normalize(IMAGENET_MEAN, IMAGENET_STD))
    return T.Compose(ops)


def denormalize(x: torch.Tensor, normalized: bool = True) -> torch.Tensor:
    """Undo ImageNet normalisation for previews: [.., 3, H, W] -> values in 0..1."""
    if normalized:
        mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        x = x * std + mean
    return x.clamp(0, 1)
