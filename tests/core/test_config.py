import pytest
import tomllib

from fbtui.config import Config, apply_override, load_config, parse_value, to_toml
from fbtui.errors import ConfigError


def write(tmp_path, text, name="exp.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_defaults_filled_and_name_from_stem(tmp_path):
    cfg = load_config(write(tmp_path, "[train]\nlr = 0.04\n", "cosine.toml"))
    assert cfg.experiment.name == "cosine"
    assert cfg.train.lr == 0.04
    assert cfg.schedule.name == "constant"
    assert cfg.data.resize_to == cfg.data.image_size


def test_unknown_key_names_dotted_path(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, "[train]\nlearning_rate = 0.1\n"))
    msg = str(e.value)
    assert "train.learning_rate" in msg and "unknown key" in msg and "exp.toml" in msg


def test_wrong_type_names_key_and_value(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, '[train]\nepochs = "many"\n'))
    assert "train.epochs" in str(e.value) and "'many'" in str(e.value)


def test_bad_literal(tmp_path):
    with pytest.raises(ConfigError, match="model.head"):
        load_config(write(tmp_path, '[model]\nhead = "ranking"\n'))


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[train\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_overrides(tmp_path):
    p = write(tmp_path, "[train]\nlr = 0.1\n")
    cfg = load_config(
        p,
        [
            "train.lr=0.04",
            "schedule.milestones=[5, 8]",
            "model.backbone=resnet18",
            "augment.hflip=true",
        ],
    )
    assert cfg.train.lr == 0.04
    assert cfg.schedule.milestones == [5, 8]
    assert cfg.model.backbone == "resnet18"
    assert cfg.augment.hflip is True
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(p, ["train.lr"])
    with pytest.raises(ConfigError, match="train.nope"):
        load_config(p, ["train.nope=1"])


def test_parse_value():
    assert parse_value("3") == 3
    assert parse_value("0.5") == 0.5
    assert parse_value("true") is True
    assert parse_value("cosine") == "cosine"
    assert parse_value("[1, 2]") == [1, 2]


def test_cross_field_validation(tmp_path):
    with pytest.raises(ConfigError, match="data.resize"):
        load_config(write(tmp_path, "[data]\nimage_size = 224\nresize = 100\n"))
    with pytest.raises(ConfigError, match="milestones"):
        load_config(write(tmp_path, '[schedule]\nname = "multistep"\nmilestones = [10, 5]\n'))


def test_resolved_toml_round_trips(tmp_path):
    raw = {}
    apply_override(
        raw, "data.extra=[{root = 'x', format = 'list', calibration = {k = 0.8, b = -0.04}}]"
    )
    cfg = Config.model_validate(raw)
    text = to_toml(cfg)
    again = Config.model_validate(tomllib.loads(text))
    assert again == cfg
    assert again.data.extra[0].calibration.k == 0.8
