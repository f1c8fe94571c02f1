"""Feature extractors: torchvision backbones (optionally ImageNet-initialised) and `tiny`."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from fbtui.errors import ConfigError

# torchvision builder name and the weights enum attribute for each backbone
TORCHVISION = {
    "mobilenet_v2": ("mobilenet_v2", "MobileNet_V2_Weights"),
    "vgg16": ("vgg16", "VGG16_Weights"),
    "vgg16_bn": ("vgg16_bn", "VGG16_BN_Weights"),
    "resnet18": ("resnet18", "ResNet18_Weights"),
    "resnet50": ("resnet50", "ResNet50_Weights"),
    "resnext50_32x4d": ("resnext50_32x4d", "ResNeXt50_32X4D_Weights"),
}


class TinyNet(nn.Module):
    """A small CNN for CPUs: four conv-BN-ReLU stages, global average pooling."""

    def __init__(self, width: int = 32):
        super().__init__()
        chans = [3, width, width * 2, width * 4, width * 4]
        layers: list[nn.Module] = []
        for i in range(4):
            layers += [
                nn.Conv2d(chans[i], chans[i + 1], 3, stride=2 if i else 1, padding=1, bias=False),
                nn.BatchNorm2d(chans[i + 1]),
                nn.ReLU(inplace=True),
            ]
            if i == 0:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.out_features = chans[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def weights_file_hint(backbone: str) -> tuple[str, Path]:
    """The file torchvision downloads for a backbone's ImageNet weights and where it looks."""
    import torchvision

    builder, enum_name = TORCHVISION[backbone]
    weights = getattr(torchvision.models, enum_name).DEFAULT
    url = weights.url
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    return url, hub / os.path.basename(url)


def _imagenet_state(backbone: str) -> dict[str, torch.Tensor]:
    url, local = weights_file_hint(backbone)
    if local.is_file():
        return torch.load(local, map_location="cpu", weights_only=True)
    if os.environ.get("FBTUI_NO_DOWNLOAD"):
        err: Exception | None = RuntimeError("downloads disabled by FBTUI_NO_DOWNLOAD")
    else:
        try:
            return torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=False)
        except Exception as e:  # noqa: BLE001 - any network failure gets the same advice
            err = e
    raise ConfigError(
        f'model.pretrained = "imagenet": the ImageNet weights for {backbone} are not on this '
        f"machine and could not be downloaded ({type(err).__name__}: {err}). Download\n  {url}\n"
        f"on a machine with internet and copy it to\n  {local}\n"
        f'(or set pretrained to that file\'s path, or to "none").'
    )


def _load_local(path: str) -> dict[str, torch.Tensor]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(
            f'model.pretrained = {path!r}: no such file (expected "imagenet", "none" or a .pth path)'
        )
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise ConfigError(
            f"model.pretrained: {p} is not a plain state_dict checkpoint ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}); fbtui only loads weights_only files"
        ) from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise ConfigError(f"model.pretrained: {p} does not hold a state_dict")
    return state


def build_backbone(name: str, pretrained: str = "none", width: int = 32) -> tuple[nn.Module, int]:
    """Return (features producing [N, C, h, w], C)."""
    if name == "tiny":
        net = TinyNet(width)
        if pretrained not in ("none", ""):
            if pretrained == "imagenet":
                raise ConfigError(
                    'model.pretrained: the tiny backbone has no ImageNet weights; use "none"'
                )
            net.load_state_dict(_load_local(pretrained), strict=False)
        return net, net.out_features
    if name not in TORCHVISION:
        raise ConfigError(f"model.backbone: unknown backbone {name!r}")
    import torchvision

    builder, _ = TORCHVISION[name]
    full = getattr(torchvision.models, builder)(weights=None)
    if pretrained == "imagenet":
        full.load_state_dict(_imagenet_state(name))
    elif pretrained not in ("none", ""):
        state = _load_local(pretrained)
        own = full.state_dict()
        matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        full.load_state_dict(matched, strict=False)
    if name.startswith(("resnet", "resnext")):
        dim = full.fc.in_features
        feats = nn.Sequential(*list(full.children())[:-2])
    elif name == "mobilenet_v2":
        dim = full.last_channel
        feats = full.features
    else:  # vgg: conv features only; the 25088x4096 classifier is what made VGG 500 MB
        dim = 512
        feats = full.features
    return feats, dim
