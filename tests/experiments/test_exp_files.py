"""Every experiments/*.toml validates, says what it tests, and holds the recipe it claims."""

from pathlib import Path

import pytest

from fbtui.config import load_config
from fbtui.tools.lr_plot import lr_plan

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
FILES = sorted(EXPERIMENTS.glob("*.toml"))
RECIPES = {
    "base",
    "cosine",
    "classify_bins",
    "classify_distribution",
    "noise_label",
    "clip_hard",
    "clip_sigmoid",
    "merged_extra",
    "finetune_extra",
    "cv5",
    "vgg16_bn",
}


def test_every_recipe_is_there():
    assert RECIPES <= {f.stem for f in FILES}


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_validates_and_has_a_header(path):
    cfg = load_config(path)
    assert cfg.experiment.name == path.stem
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# "), f"{path.name}: no comment header"
    if path.stem != "demo":
        assert cfg.data.root == "data/SCUT-FBP5500_v2" or path.stem == "finetune_extra"


def test_base_recipe():
    c = load_config(EXPERIMENTS / "base.toml")
    assert (c.model.backbone, c.model.pretrained, c.model.head) == (
        "mobilenet_v2",
        "imagenet",
        "regression",
    )
    assert (c.train.batch_size, c.train.optimizer, c.train.momentum) == (128, "sgd", 0.9)
    assert (c.train.lr, c.train.weight_decay, c.train.epochs) == (0.064, 1e-4, 200)
    assert (c.schedule.name, c.schedule.milestones, c.schedule.gamma) == (
        "multistep",
        [140, 185],
        0.1,
    )
    assert (c.data.image_size, c.data.resize_to, c.augment.crop, c.augment.pad) == (
        224,
        224,
        "random",
        16,
    )
    assert c.augment.hflip


def test_one_change_from_base():
    base = load_config(EXPERIMENTS / "base.toml").model_dump()
    changes = {
        # the head, and the loss that comes with it (train.loss records it)
        "classify_bins": {("model", "head"): "bins", ("train", "loss"): "cross_entropy"},
        "classify_distribution": {
            ("model", "head"): "distribution",
            ("train", "loss"): "soft_cross_entropy",
        },
        "noise_label": {("data", "label_noise_std"): 0.1},
        "clip_hard": {("model", "clip"): "hard"},
        "clip_sigmoid": {("model", "clip"): "sigmoid"},
    }
    for stem, want in changes.items():
        d = load_config(EXPERIMENTS / f"{stem}.toml").model_dump()
        for (sec, key), v in want.items():
            assert d[sec][key] == v, stem
            d[sec][key] = base[sec][key]
        d["experiment"] = base["experiment"]
        assert d == base, f"{stem} differs from base in more than {list(want)}"


def test_cosine_recipe_is_100_epochs_of_8_cycles_and_a_tail():
    c = load_config(EXPERIMENTS / "cosine.toml")
    assert (c.model.backbone, c.train.batch_size, c.train.lr) == ("vgg16_bn", 40, 0.1)
    s = c.schedule
    assert (s.name, s.period_epochs, s.cycles, s.start) == ("cyclic_cosine", 12, 8, "min")
    assert c.train.lr * s.min_ratio == pytest.approx(0.001)
    assert s.period_epochs * s.cycles + 4 == c.train.epochs == 100
    sched, size = lr_plan(c)
    assert sched.spe == 82 and size.n == 3300  # no data here: the 60/40 split's size
    assert sched.warnings() == []


def test_merged_and_finetune_extra():
    m = load_config(EXPERIMENTS / "merged_extra.toml")
    (extra,) = m.data.extra
    assert extra.format == "list" and (extra.calibration.k, extra.calibration.b) == (0.823, -0.042)
    f = load_config(EXPERIMENTS / "finetune_extra.toml")
    assert f.data.format == "list" and f.data.calibration == "fit" and f.model.init_from


def test_cv5_is_base_on_the_folds():
    c = load_config(EXPERIMENTS / "cv5.toml")
    assert c.data.split == "cv1" and c.model.backbone == "mobilenet_v2"
