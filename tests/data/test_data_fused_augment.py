"""The fast augmentation path training uses (BatchAugment(exact=False)): colour jitter
fused into one affine map per image with hue as a YIQ turn, and the rotation gather over
a wide zero frame. Checked against the exact (PIL-faithful) path and torchvision."""

import numpy as np
import pytest
import torch
from torchvision.transforms import functional as TF

from fbtui.data.dataset import IMAGENET_MEAN, IMAGENET_STD
from fbtui.data.synth import draw_face
from fbtui.data.tensor_augment import (
    HUE,
    AugmentSpec,
    BatchAugment,
    _bordered,
    _frame,
    geometry,
    hue_matrix,
    sample_params,
)

R, S = 48, 40


@pytest.fixture(scope="module")
def faces() -> list:
    rng = np.random.default_rng(11)
    return [draw_face(rng, g, R)[0] for g in ("AF", "AM", "CF", "CM")]


def u8(img) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img).transpose(2, 0, 1).copy())


def batch(faces) -> torch.Tensor:
    return torch.stack([u8(f) for f in faces])


def jitter_spec(**kw) -> AugmentSpec:
    base = dict(crop="none", brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
    return AugmentSpec(R, R, **{**base, **kw})


def test_hue_matrix_is_a_turn_about_the_grey_axis():
    h = torch.tensor([0.0, 0.1, -0.25, 0.5, 1.0])
    H = hue_matrix(h)
    eye = torch.eye(3, dtype=torch.float64)
    assert torch.allclose(H[0], eye) and torch.allclose(H[4], eye, atol=1e-12)
    ones = torch.ones(3, dtype=torch.float64)
    assert torch.allclose(H @ ones, ones.expand(5, 3), atol=1e-12)  # greys stay grey
    assert torch.allclose(ones @ H, ones.expand(5, 3), atol=1e-12)  # R + G + B kept
    assert torch.allclose(H @ H.transpose(1, 2), eye.expand(5, 3, 3), atol=1e-12)  # a rotation
    both = hue_matrix(torch.tensor([0.1])) @ hue_matrix(torch.tensor([-0.25]))
    assert torch.allclose(both[0], hue_matrix(torch.tensor([-0.15]))[0], atol=1e-12)
    # a third of a turn: red -> green -> blue, as HSV's hue
    third = hue_matrix(torch.tensor([1 / 3], dtype=torch.float64))[0]
    assert torch.allclose(third @ torch.tensor([1.0, 0, 0], dtype=torch.float64),
                          torch.tensor([0.0, 1, 0], dtype=torch.float64), atol=1e-12)  # fmt: skip


def test_fused_equals_exact_at_zero_strength(faces):
    """Identity factors (the draws of a zero-strength jitter) change nothing."""
    spec = jitter_spec(normalize=True)
    x = batch(faces)
    p = sample_params(spec, len(x), torch.Generator().manual_seed(0))
    p.factors[:, :3] = 1.0
    p.factors[:, HUE] = 0.0
    fused = BatchAugment(spec, exact=False)(x, params=p)
    exact = BatchAugment(spec, exact=True)(x, params=p)
    plain = BatchAugment(AugmentSpec(R, R, crop="none"))(x)
    assert torch.allclose(fused, exact, atol=1e-5) and torch.allclose(fused, plain, atol=1e-5)


@pytest.mark.parametrize("op,factor", [(0, 1.35), (1, 0.6), (2, 1.4), (2, 0.0)])
def test_single_linear_adjustment_matches_torchvision(faces, op, factor):
    """Brightness, contrast and saturation alone are affine: fused = PIL up to rounding."""
    spec = jitter_spec(normalize=False)
    x = batch(faces)
    p = sample_params(spec, len(x), torch.Generator().manual_seed(1))
    p.factors[:, :3] = 1.0
    p.factors[:, HUE] = 0.0
    p.factors[:, op] = factor
    got = BatchAugment(spec, exact=False)(x, params=p) * 255
    adjust = [TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation][op]
    ref = torch.stack([u8(adjust(f, factor)).float() for f in faces])
    d = (got - ref).abs()
    assert d.mean() < 0.6 and d.max() <= 2.5  # PIL's 8-bit rounding (and integer mean)


def test_fused_hue_is_close_to_torchvision_and_turns_the_right_way(faces):
    x = batch(faces).float()
    errs = {}
    for h in (0.1, -0.1):
        ref = torch.stack([u8(TF.adjust_hue(f, h)).float() for f in faces])
        for sign in (1, -1):
            H = hue_matrix(torch.tensor([sign * h])).float()[0]
            got = torch.einsum("ck,bkhw->bchw", H, x).clamp(0, 255)
            errs[h, sign] = (got - ref).abs().mean().item()
        errs[h, 0] = (x - ref).abs().mean().item()
        # a circle about the grey axis, not HSV's hexagon: close, not equal; closer than
        # no turn at all, far closer than the opposite turn
        assert errs[h, 1] < 0.9 * errs[h, 0] and errs[h, 1] < 0.5 * errs[h, -1], errs


@pytest.mark.parametrize("hue,mean_diff,image_diff", [(0.0, 0.6, 4.0), (0.1, 4.5, 9.0)])
def test_fused_full_jitter_is_statistically_close_to_exact(faces, hue, mean_diff, image_diff):
    """Differences in 8-bit levels. Without hue they come only from the clips PIL makes
    between adjustments (measured 0.23 mean); with hue, mostly from the linear turn
    (3.3 mean, see hue_matrix). No colour bias, the same spread."""
    spec = jitter_spec(hue=hue)
    x = batch(faces).repeat(4, 1, 1, 1)
    p = sample_params(spec, len(x), torch.Generator().manual_seed(3))
    fused = BatchAugment(spec, exact=False)(x, params=p)
    exact = BatchAugment(spec, exact=True)(x, params=p)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    d = (fused - exact) * std * 255
    assert d.abs().mean() < mean_diff
    per_image = d.mean((2, 3))  # the mean colour of each image, as a model sees it
    assert per_image.abs().max() < image_diff and per_image.mean(0).abs().max() < 2.0
    spread = (fused * std).std() / (exact * std).std()
    assert 0.98 < spread < 1.02
    lo = (0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    hi = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert (fused.amin((0, 2, 3)) >= lo - 1e-5).all() and (fused.amax((0, 2, 3)) <= hi + 1e-5).all()


def test_fused_seeded_and_chunking_invariant(faces):
    spec = AugmentSpec(
        S, R, rotation=10, crop="random", hflip=True, brightness=0.3, contrast=0.3,
        saturation=0.3, hue=0.05,
    )  # fmt: skip
    x = batch(faces).repeat(3, 1, 1, 1)
    a = BatchAugment(spec, exact=False)(x, generator=torch.Generator().manual_seed(4))
    b = BatchAugment(spec, exact=False, chunk=5)(x, generator=torch.Generator().manual_seed(4))
    rows = torch.tensor([3, 0, 7, 7, 11])
    c = BatchAugment(spec, exact=False)(x, generator=torch.Generator().manual_seed(9), rows=rows)
    d = BatchAugment(spec, exact=False)(x[rows], generator=torch.Generator().manual_seed(9))
    assert torch.allclose(a, b, atol=1e-5) and torch.equal(c, d)


@pytest.mark.parametrize("angle", [9.5, -6.0, 0.7])
def test_rotation_over_the_wide_frame_matches_pil_and_the_clamped_path(faces, angle, monkeypatch):
    spec = AugmentSpec(S, R, rotation=10, crop="random", hflip=True, normalize=False)
    assert _frame(spec) > 1  # no padding: the frame holds every source pixel, no clamps
    x = batch(faces)
    p = sample_params(spec, len(x), torch.Generator().manual_seed(5))
    p.angle[:] = angle
    p.top[:] = torch.tensor([0, 8, 3, 8])
    p.left[:] = torch.tensor([8, 0, 5, 8])
    wide = geometry(x, spec, p)
    for i, f in enumerate(faces):
        ref = TF.crop(TF.rotate(f, angle), int(p.top[i]), int(p.left[i]), S, S)
        if p.flip[i]:
            ref = TF.hflip(ref)
        assert (wide[i] != u8(ref)).any(0).float().mean() < 0.01
    monkeypatch.setattr("fbtui.data.tensor_augment._frame", lambda spec: 1)
    assert torch.equal(geometry(x, spec, p), wide)


def test_large_rotation_falls_back_to_the_clamped_frame():
    assert _frame(AugmentSpec(S, R, rotation=90, crop="random")) == 1
    assert _frame(AugmentSpec(S, R, rotation=10, crop="random", pad=4)) == 1


def test_framed_copy_per_row_equals_a_padded_batch():
    """The CPU's reused per-thread frame and the GPU's one pad give the same pixels."""
    x = torch.randint(0, 256, (6, 3, R, R), dtype=torch.uint8)
    rows = torch.tensor([5, 1, 1, 3])
    for m in (1, 7):
        pad = _bordered(x, rows, m, reuse=False)
        assert torch.equal(pad, torch.nn.functional.pad(x[rows], (m, m, m, m)))
        assert torch.equal(_bordered(x, rows, m, reuse=True), pad)
        assert torch.equal(_bordered(x[:2], None, m, reuse=True), _bordered(x[:2], None, m, False))
