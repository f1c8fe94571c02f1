"""Grid expansion and member naming (pure)."""

import pytest

from fbtui.errors import ConfigError
from fbtui.sweep.grid import expand, fmt_value, parse_axes, parse_axis, short_keys, split_values


def test_split_values_keeps_commas_inside_brackets_and_quotes():
    assert split_values("0.064,0.04") == ["0.064", "0.04"]
    assert split_values("[140,185],[100,150]") == ["[140,185]", "[100,150]"]
    assert split_values('"a,b", c') == ['"a,b"', "c"]
    assert split_values("'x,y',{k = 1, b = 2}") == ["'x,y'", "{k = 1, b = 2}"]
    assert split_values(r'"q\",w",z') == [r'"q\",w"', "z"]
    assert split_values("[[1,2],[3]],[4]") == ["[[1,2],[3]]", "[4]"]
    for bad in ("[1,2", "1,2]", '"open', "[1,2)"):
        with pytest.raises(ConfigError):
            split_values(bad)


def test_parse_axis_values_and_errors():
    a = parse_axis("schedule.milestones=[140,185],[100,150]")
    assert a.key == "schedule.milestones" and a.values == ([140, 185], [100, 150]) and a.swept
    b = parse_axis("train.optimizer=sgd,adam")
    assert b.values == ("sgd", "adam")
    assert parse_axis("train.lr=0.01").swept is False
    for bad in ("train.lr", "=1,2", "train..lr=1,2", "train.lr=0.1,,0.2", "train.lr=1,1"):
        with pytest.raises(ConfigError) as e:
            parse_axis(bad)
        assert "--set" in str(e.value)
    with pytest.raises(ConfigError, match="given twice"):
        parse_axes(["train.lr=1,2", "train.lr=3"])


def test_expand_cartesian_product_names_and_seeds():
    axes = parse_axes(["train.lr=0.064,0.04", "model.dropout=0.2,0.5", "train.epochs=3"])
    points = expand(axes, repeat=2, base_seed=7)
    assert [p.name for p in points] == [
        "lr0.064-dropout0.2-s0",
        "lr0.064-dropout0.5-s0",
        "lr0.04-dropout0.2-s0",
        "lr0.04-dropout0.5-s0",
        "lr0.064-dropout0.2-s1",
        "lr0.064-dropout0.5-s1",
        "lr0.04-dropout0.2-s1",
        "lr0.04-dropout0.5-s1",
    ]
    p = points[5]
    assert p.params == {"train.lr": 0.064, "model.dropout": 0.5}
    assert p.seed == 8 and p.seed_index == 1
    # fixed overrides first, then the swept values, then the seed
    assert p.overrides == [
        "train.epochs=3",
        "train.lr=0.064",
        "model.dropout=0.5",
        "experiment.seed=8",
    ]
    # no --repeat: the config's own seed, still named s0
    one = expand(axes)
    assert len(one) == 4 and one[0].seed is None
    assert all("experiment.seed" not in o for p in one for o in p.overrides)


def test_names_lists_strings_clashes():
    axes = parse_axes(["schedule.milestones=[140,185],[100,150]", 'train.optimizer="sgd",adam'])
    assert [p.name for p in expand(axes)] == [
        "milestones140_185-optimizersgd-s0",
        "milestones140_185-optimizeradam-s0",
        "milestones100_150-optimizersgd-s0",
        "milestones100_150-optimizeradam-s0",
    ]
    assert short_keys(["a.lr", "b.lr", "train.wd"]) == {
        "a.lr": "a_lr",
        "b.lr": "b_lr",
        "train.wd": "wd",
    }
    assert fmt_value("'a b,c'") == "a_b_c"
    assert (fmt_value("-0.5"), fmt_value("1e-4")) == ("m0.5", "1e_4")
    assert fmt_value("/data/SCUT-FBP5500_v2/") == "SCUT_FBP5500_v2"  # "-" separates parts
    # values that differ only in dropped characters still get distinct folders
    names = [p.name for p in expand(parse_axes(['experiment.notes="a b","a_b"']))]
    assert names == ["notesa_b-s0", "notesa_b-s0-2"]


def test_seed_axis_and_nothing_to_sweep():
    pts = expand(parse_axes(["experiment.seed=1,2,3"]))
    assert [p.name for p in pts] == ["seed1", "seed2", "seed3"]
    with pytest.raises(ConfigError, match="both set the seed"):
        expand(parse_axes(["experiment.seed=1,2"]), repeat=2)
    with pytest.raises(ConfigError, match="nothing to sweep"):
        expand(parse_axes(["train.lr=0.1"]))
    only_seeds = expand([], repeat=3, base_seed=10)
    assert [(p.name, p.seed) for p in only_seeds] == [("s0", 10), ("s1", 11), ("s2", 12)]
    with pytest.raises(ConfigError):
        expand([], repeat=0)
