"""Batched tensor augmentation: shapes, ranges, determinism, and the same semantics as
the PIL path (fbtui.data.dataset.build_transform) for each step."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from fbtui.config import AugmentCfg
from fbtui.data.dataset import IMAGENET_MEAN, IMAGENET_STD, build_transform
from fbtui.data.synth import draw_face
from fbtui.data.tensor_augment import (
    HUE,
    AugmentSpec,
    BatchAugment,
    geometry,
    sample_params,
)

R, S = 48, 40


@pytest.fixture(scope="module")
def face() -> Image.Image:
    img, _, _ = draw_face(np.random.default_rng(5), "CF", R)
    return img


def as_u8(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img).transpose(2, 0, 1).copy())


def batch_of(img: Image.Image, n: int = 1) -> torch.Tensor:
    return as_u8(img)[None].repeat(n, 1, 1, 1)


def params_for(spec, n=1, **fixed):
    p = sample_params(spec, n, torch.Generator().manual_seed(0))
    for k, v in fixed.items():
        getattr(p, k)[:] = torch.as_tensor(v, dtype=getattr(p, k).dtype)
    return p


def test_shapes_dtype_and_range(face):
    x = torch.randint(0, 256, (6, 3, R, R), dtype=torch.uint8)
    full = AugmentSpec(
        S, R, rotation=15, crop="random", pad=4, hflip=True, brightness=0.4, contrast=0.4,
        saturation=0.4, hue=0.1, normalize=False,
    )  # fmt: skip
    out = BatchAugment(full)(x, generator=torch.Generator().manual_seed(1))
    assert out.shape == (6, 3, S, S) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1
    norm = BatchAugment(AugmentSpec(S, R, crop="random", pad=4))(x)
    lo = (0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    hi = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert (norm.amin((0, 2, 3)) >= lo - 1e-5).all() and (norm.amax((0, 2, 3)) <= hi + 1e-5).all()
    with pytest.raises(ValueError, match="expected uint8"):
        BatchAugment(full)(torch.zeros(2, 3, S, S, dtype=torch.uint8))


def test_seeded_draws_are_deterministic():
    spec = AugmentSpec(
        S, R, rotation=10, crop="random", pad=4, hflip=True, brightness=0.3, hue=0.05
    )
    aug = BatchAugment(spec)
    x = torch.randint(0, 256, (5, 3, R, R), dtype=torch.uint8)
    a = aug(x, generator=torch.Generator().manual_seed(7))
    b = aug(x, generator=torch.Generator().manual_seed(7))
    c = aug(x, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # chunking (how many images are processed at once) changes nothing
    d = BatchAugment(spec, chunk=2)(x, generator=torch.Generator().manual_seed(7))
    assert torch.allclose(a, d, atol=1e-5)


def test_parameter_distributions_match_torchvision():
    spec = AugmentSpec(
        S, R, rotation=12, crop="random", pad=3, hflip=True, brightness=0.4, contrast=1.5,
        saturation=0.2, hue=0.1,
    )  # fmt: skip
    p = sample_params(spec, 4000, torch.Generator().manual_seed(0))
    assert -12 <= p.angle.min() < -11 and 11 < p.angle.max() <= 12
    span = R + 2 * 3 - S  # RandomCrop: randint(0, h + 2 pad - S + 1)
    for off in (p.top, p.left):
        assert off.min() == 0 and off.max() == span
        counts = torch.bincount(off, minlength=span + 1).float()
        assert counts.min() > 0.6 * counts.mean()
    assert 0.45 < p.flip.float().mean() < 0.55
    b, c, s, h = p.factors.unbind(1)
    assert 0.6 <= b.min() < 0.62 and 1.38 < b.max() <= 1.4
    assert 0 <= c.min() < 0.02 and 2.45 < c.max() <= 2.5  # max(0, 1 - 1.5) .. 2.5
    assert 0.8 <= s.min() and s.max() <= 1.2
    assert -0.1 <= h.min() < -0.09 and 0.09 < h.max() <= 0.1
    assert (p.order.sort(1).values == torch.arange(4)).all()  # permutations
    assert len({tuple(r) for r in p.order.tolist()}) == 24
    # disabled steps draw nothing and stay the identity
    q = sample_params(AugmentSpec(S, R, crop="center"), 10)
    assert (q.angle == 0).all() and not q.flip.any()
    assert (q.top == round((R - S) / 2)).all()
    assert (q.factors[:, :3] == 1).all() and (q.factors[:, HUE] == 0).all()


def test_flip_mirrors_the_width(face):
    spec = AugmentSpec(S, R, crop="random", pad=2, hflip=True, normalize=False)
    x = batch_of(face)
    plain = geometry(x, spec, params_for(spec, top=[3], left=[5], flip=[False]))
    flipped = geometry(x, spec, params_for(spec, top=[3], left=[5], flip=[True]))
    assert torch.equal(flipped, plain.flip(-1))


@pytest.mark.parametrize("top,left,pad", [(0, 0, 0), (8, 3, 0), (0, 0, 6), (17, 2, 6), (5, 20, 6)])
def test_random_crop_with_padding_equals_pil(face, top, left, pad):
    spec = AugmentSpec(S, R, crop="random", pad=pad, hflip=True, normalize=False)
    for flip in (False, True):
        got = geometry(batch_of(face), spec, params_for(spec, top=[top], left=[left], flip=[flip]))
        ref = T.functional.crop(T.functional.pad(face, pad) if pad else face, top, left, S, S)
        if flip:
            ref = T.functional.hflip(ref)
        assert torch.equal(got[0], as_u8(ref))


def test_center_crop_equals_torchvision(face):
    for size in (S, S - 1, R):
        spec = AugmentSpec(size, R, train=False, crop="center", normalize=False)
        got = geometry(batch_of(face), spec, sample_params(spec, 1))
        assert torch.equal(got[0], as_u8(T.CenterCrop(size)(face)))


@pytest.mark.parametrize("angle", [7.5, -13.0, 29.0])
def test_rotation_matches_pil_nearest(face, angle):
    spec = AugmentSpec(R, R, rotation=30, crop="none", normalize=False)
    got = geometry(batch_of(face), spec, params_for(spec, angle=[angle]))[0]
    ref = as_u8(T.functional.rotate(face, angle))  # RandomRotation's call: NEAREST, fill 0
    differ = (got != ref).any(0).float().mean().item()
    assert differ < 0.01  # only exact ties of PIL's fixed-point arithmetic may differ


def test_rotation_then_padded_crop_and_flip_match_pil(face):
    spec = AugmentSpec(S, R, rotation=20, crop="random", pad=5, hflip=True, normalize=False)
    p = params_for(spec, angle=[-17.0], top=[1], left=[12], flip=[True])
    got = geometry(batch_of(face), spec, p)[0]
    ref = T.functional.hflip(
        T.functional.crop(T.functional.pad(T.functional.rotate(face, -17.0), 5), 1, 12, S, S)
    )
    assert (got != as_u8(ref)).any(0).float().mean().item() < 0.01


ADJUST = [
    T.functional.adjust_brightness,
    T.functional.adjust_contrast,
    T.functional.adjust_saturation,
    T.functional.adjust_hue,
]


@pytest.mark.parametrize(
    "order,factors",
    [
        ([0, 1, 2, 3], [1.3, 0.6, 1.4, 0.07]),
        ([2, 0, 3, 1], [0.7, 1.5, 0.3, -0.1]),
        ([3, 1, 0, 2], [1.2, 1.2, 1.2, 0.2]),
        ([1, 2, 0, 3], [1.35, 1.4, 1.0, 0.0]),  # hue off: one fused affine run
    ],
)
def test_colour_jitter_matches_pil_within_rounding(face, order, factors):
    spec = AugmentSpec(
        R, R, crop="none", brightness=0.4, contrast=0.6, saturation=0.7, hue=0.2, normalize=False
    )
    p = params_for(spec, order=[order], factors=[factors])
    got = BatchAugment(spec)(batch_of(face), params=p)[0] * 255
    ref = face
    for op in order:
        if op != 3 or factors[3] != 0:
            ref = ADJUST[op](ref, factors[op])
    diff = (got - as_u8(ref).float()).abs()
    # PIL rounds to 8 bits after each step and shifts hue in 8-bit HSV
    assert diff.mean() < 1.5 and diff.max() <= 12


def test_fused_colour_is_close_to_exact(face):
    spec = AugmentSpec(R, R, crop="none", brightness=0.4, contrast=0.4, saturation=0.4)
    x = batch_of(face, 16)
    g = torch.Generator().manual_seed(3)
    p = sample_params(spec, 16, g)
    exact = BatchAugment(spec, exact=True)(x, params=p)
    fused = BatchAugment(spec, exact=False)(x, params=p)
    d = (exact - fused).abs() * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255
    assert d.mean() < 2.0  # differs only where a pixel clips between two adjustments


def cfgs(**augment):
    aug = AugmentCfg(**augment)
    data = SimpleNamespace(image_size=S, resize_to=R)
    return aug, data


@pytest.mark.parametrize("crop", ["center", "none", "random"])
def test_test_split_is_the_pil_path_exactly(face, crop):
    aug, data = cfgs(crop=crop, hflip=True, rotation=10, pad=4)
    spec = AugmentSpec.from_config(aug, data, train=False)
    assert not spec.train and spec.rotation == 0 and not spec.hflip
    got = BatchAugment(spec)(batch_of(face))[0]
    ref = build_transform(aug, data, train=False)(face)
    tol = 1e-5 if crop != "none" else 0.05  # "none": PIL vs torch antialiased resize
    assert torch.allclose(got, ref, atol=tol)


def test_train_spec_from_config_mirrors_build_transform():
    aug, data = cfgs(
        crop="random",
        pad=16,
        hflip=True,
        rotation=10,
        color_jitter={"brightness": 0.2, "hue": 0.05},
        normalize=False,
    )
    spec = AugmentSpec.from_config(aug, data, train=True)
    assert (spec.size, spec.resize, spec.crop, spec.pad) == (S, R, "random", 16)
    assert spec.hflip and spec.rotation == 10 and spec.brightness == 0.2 and spec.hue == 0.05
    assert not spec.normalize
    center = AugmentSpec.from_config(cfgs(crop="center", pad=16)[0], data, train=True)
    assert center.pad == 0  # pad only applies to the random crop, as in build_transform


def test_crop_none_with_resize_gives_image_size(face):
    aug, data = cfgs(crop="none", hflip=True)
    spec = AugmentSpec.from_config(aug, data, train=True)
    out = BatchAugment(spec)(batch_of(face, 3), generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, 3, S, S)
