"""Each head's decoding from logits to a 1-5 score, and its training loss."""

import math

import pytest
import torch

from fbtui.model.heads import (
    BIN_CENTRES,
    decode,
    head_loss,
    out_dim,
    predicted_std,
    score_to_bin,
    score_to_hist,
)


def test_out_dims():
    assert (out_dim("regression"), out_dim("bins"), out_dim("distribution")) == (1, 8, 5)


def test_regression_decoding_is_centred_on_3_and_clips():
    x = torch.tensor([[-5.0], [0.0], [1.2], [4.0]])
    assert decode(x, "regression", "none").tolist() == pytest.approx([-2.0, 3.0, 4.2, 7.0])
    assert decode(x, "regression", "hard").tolist() == pytest.approx([1.0, 3.0, 4.2, 5.0])
    sig = decode(x, "regression", "sigmoid")
    expect = [4 / (1 + math.exp(-v)) + 1 for v in (-5.0, 0.0, 1.2, 4.0)]
    assert sig.tolist() == pytest.approx(expect)
    assert decode(torch.tensor([[-100.0], [100.0]]), "regression", "sigmoid").tolist() == [1, 5]


def test_bins_decoding_is_probability_weighted_centres():
    assert BIN_CENTRES.tolist() == [1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4.25, 4.75]
    one_hot = torch.full((1, 8), -1e4)
    one_hot[0, 5] = 0.0  # all mass on 3.5-4
    assert decode(one_hot, "bins").item() == pytest.approx(3.75)
    uniform = torch.zeros(1, 8)
    assert decode(uniform, "bins").item() == pytest.approx(3.0)
    two = torch.full((1, 8), -1e4)
    two[0, 0] = two[0, 7] = math.log(0.5)  # half 1.25, half 4.75
    assert decode(two, "bins").item() == pytest.approx(3.0)
    skew = torch.log(torch.tensor([[0.1, 0, 0, 0, 0, 0, 0, 0.9]]).clamp_min(1e-30))
    assert decode(skew, "bins").item() == pytest.approx(0.1 * 1.25 + 0.9 * 4.75, abs=1e-5)


def test_score_to_bin_edges():
    s = torch.tensor([1.0, 1.49, 1.5, 2.99, 3.0, 4.5, 4.99, 5.0])
    assert score_to_bin(s).tolist() == [0, 0, 1, 3, 4, 7, 7, 7]


def test_distribution_decoding_expectation_and_std():
    p = torch.tensor(
        [[0.0, 0.1, 0.2, 0.6, 0.1]]
    )  # the researcher's example (their notes say 3.6; the expectation is 3.7)
    logits = torch.log(p.clamp_min(1e-30))
    assert decode(logits, "distribution").item() == pytest.approx(3.7, abs=1e-5)
    mean = float((p[0] * torch.arange(1, 6)).sum())
    var = float((p[0] * (torch.arange(1, 6) - mean) ** 2).sum())
    assert predicted_std(logits).item() == pytest.approx(math.sqrt(var), abs=1e-5)
    certain = torch.full((1, 5), -1e4)
    certain[0, 3] = 0
    assert decode(certain, "distribution").item() == pytest.approx(4.0)
    assert predicted_std(certain).item() == pytest.approx(0.0, abs=1e-4)


def test_score_to_hist_expectation_matches_score():
    s = torch.tensor([1.0, 2.5, 3.6, 5.0])
    h = score_to_hist(s)
    assert h.sum(1).tolist() == pytest.approx([1, 1, 1, 1])
    assert (h @ torch.arange(1.0, 6.0)).tolist() == pytest.approx(s.tolist(), abs=1e-6)
    assert h[2].tolist() == pytest.approx([0, 0, 0.4, 0.6, 0])


@pytest.mark.parametrize("loss", ["mse", "smooth_l1", "l1"])
def test_regression_losses(loss):
    logits = torch.tensor([[0.5], [-1.0]])  # scores 3.5, 2.0
    y = torch.tensor([3.0, 4.0])
    got = head_loss(logits, y, None, "regression", "none", loss).item()
    err = torch.tensor([0.5, -2.0])
    want = {
        "mse": float((err**2).mean()),
        "l1": float(err.abs().mean()),
        "smooth_l1": float(((0.5 * 0.5**2) + (2.0 - 0.5)) / 2),
    }[loss]
    assert got == pytest.approx(want)


def test_hard_clip_has_no_gradient_outside_the_scale():
    logits = torch.tensor([[3.0], [0.2]], requires_grad=True)  # 6.0 (clipped), 3.2
    head_loss(logits, torch.tensor([4.0, 4.0]), None, "regression", "hard").backward()
    assert logits.grad[0, 0] == 0 and logits.grad[1, 0] != 0


def test_bins_and_distribution_losses():
    y = torch.tensor([3.6])
    logits = torch.zeros(1, 8, requires_grad=True)
    ce = head_loss(logits, y, None, "bins")
    assert ce.item() == pytest.approx(math.log(8))
    hist = torch.tensor([[0.0, 0.1, 0.2, 0.6, 0.1]])
    d = head_loss(torch.zeros(1, 5), y, hist, "distribution")
    assert d.item() == pytest.approx(math.log(5))  # uniform prediction: log 5 whatever the target
    # the loss is lowest when the prediction equals the raters' histogram
    exact = head_loss(torch.log(hist.clamp_min(1e-9)), y, hist, "distribution").item()
    assert exact < d.item()


def test_distribution_without_histogram_uses_the_score():
    y = torch.tensor([3.6, 2.0])
    missing = torch.tensor([[float("nan")] * 5, [0.0] * 5])
    target = score_to_hist(y)
    a = head_loss(torch.log(target.clamp_min(1e-9)), y, missing, "distribution")
    b = head_loss(torch.log(target.clamp_min(1e-9)), y, None, "distribution")
    assert a.item() == pytest.approx(b.item())
    assert torch.isfinite(a)
