"""Partial loading (model.init_from): only tensors matching by name and shape are copied."""

import pytest
import torch

from fbtui.config import ModelCfg
from fbtui.errors import ConfigError
from fbtui.model import build_model
from fbtui.train.checkpoint import save_checkpoint
from fbtui.train.transfer import checkpoint_path, init_from, load_matching


def tiny(head="regression", width=8):
    torch.manual_seed(0)
    return build_model(ModelCfg(backbone="tiny", width=width, head=head))


def test_same_model_loads_everything():
    src, dst = tiny(), tiny()
    rep = load_matching(dst, src.state_dict())
    n = len(src.state_dict())
    assert (len(rep.loaded), len(rep.skipped), len(rep.new)) == (n, 0, 0)


def test_new_head_keeps_features_and_leaves_head_new():
    src = tiny("regression")
    with torch.no_grad():
        for p in src.parameters():
            p.add_(1.0)
    dst = tiny("bins")
    fresh_head = dst.head.fc.weight.clone()
    rep = load_matching(dst, src.state_dict())
    feats = [k for k in src.state_dict() if k.startswith("features.")]
    assert len(feats) == 24  # 4 conv + 4 x 5 batch-norm tensors
    assert sorted(rep.loaded) == sorted(feats)
    assert sorted(rep.skipped) == ["head.fc.bias", "head.fc.weight"]  # shape 1 vs 8
    assert sorted(rep.new) == ["head.fc.bias", "head.fc.weight"]
    assert torch.equal(dst.features.features[0].weight, src.features.features[0].weight)
    assert torch.equal(dst.head.fc.weight, fresh_head)


def test_extra_and_foreign_tensors_are_skipped():
    src = tiny().state_dict()
    src["t2p.x_para"] = torch.zeros(1, 3, 8, 8)  # the researcher's input layer
    src["classifier.0.weight"] = torch.zeros(4096, 25088 // 1024)
    rep = load_matching(tiny(), src)
    assert len(rep.skipped) == 2 and len(rep.new) == 0


def test_init_from_run_folder_and_file(tmp_path):
    src = tiny()
    run = tmp_path / "base-run"
    save_checkpoint({"model": src.state_dict(), "epoch": 3}, run / "checkpoints" / "best.pt")
    assert checkpoint_path(run) == run / "checkpoints" / "best.pt"
    msg = init_from(tiny("distribution"), run)
    assert "loaded 24 tensors (" in msg and "skipped 2" in msg and "left 2 new" in msg
    assert "head.fc.weight" in msg
    bare = tmp_path / "weights.pth"
    torch.save({f"module.{k}": v for k, v in src.state_dict().items()}, bare)
    msg = init_from(tiny(), bare)  # DataParallel prefix
    assert "loaded 26 tensors (100.0% of the model's weights), skipped 0" in msg


def test_init_from_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such run folder"):
        init_from(tiny(), tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no checkpoints"):
        init_from(tiny(), tmp_path / "empty")
    other = tmp_path / "other.pt"
    torch.save({"a.weight": torch.zeros(2)}, other)
    with pytest.raises(ConfigError, match="no layer"):
        init_from(tiny(), other)


def test_a_changed_layer_is_left_new_whole(tmp_path):
    """A wider network: every conv, BatchNorm and the head change shape. Their biases
    and BatchNorm counters still fit alone, but nothing is loaded half: init_from says
    no layer matches instead of "loaded 5 tensors"."""
    src = tiny(width=8)
    rep = load_matching(tiny(width=12), src.state_dict())
    assert rep.loaded == [] and rep.loaded_params == 0
    path = tmp_path / "w8.pt"
    save_checkpoint({"model": src.state_dict()}, path)
    with pytest.raises(ConfigError, match="no layer .* matches"):
        init_from(tiny(width=12), path)


def test_head_bias_alone_is_not_loaded():
    """A regression checkpoint into a model whose head input changed: head.fc.bias has
    the same shape [1], head.fc.weight does not; the head stays new as a whole."""
    src = tiny().state_dict()
    dst = tiny()
    src["head.fc.weight"] = torch.zeros(1, 3)  # a different feature size
    src["head.fc.bias"] = torch.full((1,), 7.0)
    rep = load_matching(dst, src)
    assert "head.fc.bias" in rep.skipped and "head.fc.bias" in rep.new
    assert float(dst.head.fc.bias.detach()) != 7.0
    assert 0 < rep.loaded_params < rep.total_params


def test_init_from_resolves_a_run_name(tmp_path, monkeypatch):
    run = tmp_path / "runs" / "base-20250101-000000"
    save_checkpoint({"model": tiny().state_dict()}, run / "checkpoints" / "last.pt")
    (run / "status.json").write_text('{"state": "finished"}')
    monkeypatch.setenv("FBTUI_RUNS", str(tmp_path / "runs"))
    assert checkpoint_path("base-2025") == run / "checkpoints" / "last.pt"
