"""Fuzzed experiment files: an unknown key, a wrong type or an out-of-range value at a
random dotted key of fbtui.config.Config, or broken TOML syntax. `fbtui run` answers each
with exit 2 and a message naming the key (or the file), creates no run folder, and never
shows a traceback."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Literal, Union, get_args, get_origin

import annotated_types as at
import pytest
import tomllib
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.config import Config, load_config
from fbtui.errors import ConfigError

load_commands()
runner = CliRunner()
N_CASES = int(os.environ.get("FBTUI_FUZZ_EXPERIMENTS", "150"))
CASES = {"experiments": 0, "syntax": 0}

BASE = {
    "experiment": {"name": "fuzz", "seed": 0},
    "data": {"root": "synthetic", "synth_n": 40, "synth_size": 32, "image_size": 32},
    "model": {"backbone": "tiny", "width": 8},
    "train": {"epochs": 1, "batch_size": 16, "device": "cpu"},
}


def _leaves(model: type[BaseModel], prefix: str = ""):
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _leaves(ann, f"{prefix}{name}.")
        elif get_origin(ann) is list and get_args(ann)[0] is not int:
            continue  # data.extra: a list of tables, fuzzed on its own below
        else:
            yield f"{prefix}{name}", ann, field.metadata


LEAVES = list(_leaves(Config))
SECTIONS = sorted({k.rsplit(".", 1)[0] for k, _, _ in LEAVES})


def _kind(ann) -> str:
    if get_origin(ann) is Literal:
        return "literal"
    if get_origin(ann) is Union or str(ann).startswith(
        ("typing.Union", "fbtui.config.Calibration |")
    ):
        return "union"
    if get_origin(ann) is list:
        return "list_int"
    return {bool: "bool", int: "int", float: "float", str: "str"}[ann]


WRONG_TYPE = {
    "int": st.one_of(
        st.text(max_size=5), st.booleans(), st.sampled_from([1.5, 2.0, [1], {"a": 1}])
    ),
    "float": st.one_of(st.text(max_size=5), st.booleans(), st.sampled_from([[1.0], {"a": 1}])),
    "bool": st.one_of(
        st.sampled_from(["true", "yes", "1", 1, 0, 1.0, [True], {"a": True}]), st.text(max_size=4)
    ),
    "str": st.one_of(
        st.integers(), st.floats(allow_nan=False), st.booleans(), st.just([1]), st.just({"a": 1})
    ),
    "literal": st.one_of(st.integers(), st.booleans(), st.just(["x"]), st.just({"a": 1})),
    "list_int": st.one_of(
        st.text(max_size=3), st.integers(), st.just(["a"]), st.just([1.5]), st.just([True])
    ),
    "union": st.one_of(st.integers(), st.just({"k": "x"}), st.just({"z": 1.0}), st.just([1.0])),
}


def _out_of_range(kind: str, meta, choices) -> list:
    """Values of the right type outside the field's documented range or choices."""
    out: list = []
    if kind == "literal":
        return ["definitely-not-a-choice", choices[0].upper() + "x"]
    for m in meta:
        step = 1 if kind == "int" else 0.5
        if isinstance(m, at.Ge):
            out.append(m.ge - step)
        elif isinstance(m, at.Gt):
            out += [m.gt, m.gt - step]
        elif isinstance(m, at.Le):
            out.append(m.le + step)
        elif isinstance(m, at.Lt):
            out += [m.lt, m.lt + step]
    if kind == "float":
        out += [math.nan, math.inf, -math.inf]  # TOML has nan and inf; no fbtui knob takes them
    return out


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        # a JSON string is a TOML basic string, but for DEL, which TOML wants escaped
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def _toml(doc: dict) -> str:
    lines: list[str] = []

    def table(prefix: str, d: dict) -> None:
        plain = {k: v for k, v in d.items() if not (isinstance(v, dict) and k not in INLINE)}
        if prefix:
            lines.append(f"[{prefix}]")
        for k, v in plain.items():
            lines.append(f"{k} = {_toml_value(v)}")
        for k, v in d.items():
            if isinstance(v, dict) and k not in INLINE:
                table(f"{prefix}.{k}" if prefix else k, v)

    table("", doc)
    return "\n".join(lines) + "\n"


INLINE: set[str] = set()  # keys whose dict values are written inline (set per case)


def _set(doc: dict, dotted: str, value) -> None:
    *path, last = dotted.split(".")
    node = doc
    for p in path:
        node = node.setdefault(p, {})
    node[last] = value


@st.composite
def invalid_experiments(draw):
    """(toml text, the dotted key the message must name)."""
    import copy

    doc = copy.deepcopy(BASE)
    how = draw(st.sampled_from(["type", "type", "range", "range", "unknown", "section", "extra"]))
    INLINE.clear()
    if how == "unknown":
        section = draw(st.sampled_from(SECTIONS))
        known = {k.rsplit(".", 1)[1] for k, _, _ in LEAVES if k.rsplit(".", 1)[0] == section}
        name = draw(
            st.from_regex(r"[a-z][a-z_]{0,11}", fullmatch=True).filter(lambda n: n not in known)
        )
        key = f"{section}.{name}"
        _set(doc, key, draw(st.sampled_from([1, "x", True, 0.5])))
        return _toml(doc), key
    if how == "section":
        name = draw(
            st.from_regex(r"[a-z][a-z_]{0,11}", fullmatch=True).filter(
                lambda n: n not in Config.model_fields
            )
        )
        doc[name] = {"x": 1}
        return _toml(doc), name
    if how == "extra":
        field = draw(st.sampled_from(["rooot", "weight", "format", "use"]))
        bad = {"rooot": "x", "weight": 0, "format": "csv", "use": "test"}[field]
        entry = {"root": "/tmp/x", field: bad}
        text = (
            _toml(doc)
            + "\n[[data.extra]]\n"
            + "".join(f"{k} = {_toml_value(v)}\n" for k, v in entry.items())
        )
        return text, f"data.extra.0.{field}"
    key, ann, meta = draw(st.sampled_from(LEAVES))
    kind = _kind(ann)
    if how == "type":
        value = draw(WRONG_TYPE[kind])
    else:
        values = _out_of_range(kind, meta, get_args(ann) if kind == "literal" else ())
        assume(values)
        value = draw(st.sampled_from(values))
    if isinstance(value, dict):
        INLINE.add(key.rsplit(".", 1)[1])
    _set(doc, key, value)
    return _toml(doc), key


def _no_run_folder(root: Path) -> bool:
    return not root.exists() or not any(root.iterdir())


@settings(
    max_examples=N_CASES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(case=invalid_experiments())
def test_invalid_experiment_exit_2_names_the_key(case):
    check_invalid(case)


@pytest.mark.soak
@pytest.mark.timeout(1200)
@settings(max_examples=600, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(case=invalid_experiments())
def test_invalid_experiment_exit_2_names_the_key_soak(case):
    check_invalid(case)


def check_invalid(case) -> None:
    text, key = case
    folder = Path(tempfile.mkdtemp(prefix="fbtui-fuzz-exp-"))
    path = folder / "exp.toml"
    path.write_text(text, encoding="utf-8")
    # first the library: a config that validates here would start training below
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert key in str(err.value), (key, str(err.value), text)
    res = runner.invoke(app, ["run", str(path), "--runs-dir", str(folder / "runs")])
    assert res.exit_code == 2, (res.output, res.exception, text)
    flat = " ".join(res.output.split())
    assert key in flat, (key, res.output)
    assert "Traceback" not in res.output
    assert _no_run_folder(folder / "runs")
    CASES["experiments"] += 1


@st.composite
def broken_toml(draw) -> str:
    text = _toml(BASE)
    for _ in range(draw(st.integers(1, 3))):
        at_ = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "cut"]))
        if op == "insert":
            text = (
                text[:at_]
                + draw(st.sampled_from(list('[]="{}\n,.#\\') + ["[[", "'''"]))
                + text[at_:]
            )
        elif op == "delete":
            text = text[:at_] + text[at_ + 1 :]
        else:
            text = text[:at_]
    return text


@settings(max_examples=max(50, N_CASES // 3), deadline=None, database=None)
@given(text=broken_toml())
def test_broken_toml_exit_2_names_the_file(text):
    try:
        tomllib.loads(text)
        assume(False)  # still valid TOML (then it is the other test's business)
    except tomllib.TOMLDecodeError:
        pass
    folder = Path(tempfile.mkdtemp(prefix="fbtui-fuzz-toml-"))
    path = folder / "broken.toml"
    path.write_text(text, encoding="utf-8")
    res = runner.invoke(app, ["run", str(path), "--runs-dir", str(folder / "runs")])
    assert res.exit_code == 2, (res.output, text)
    flat = "".join(res.output.split())
    assert "".join(str(path).split()) in flat and "TOML" in res.output, res.output
    assert "Traceback" not in res.output
    assert _no_run_folder(folder / "runs")
    CASES["syntax"] += 1


def test_not_utf8_exit_2(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[experiment]\nname = "caf\xe9"\n')
    res = runner.invoke(app, ["run", str(path), "--runs-dir", str(tmp_path / "runs")])
    assert res.exit_code == 2 and "UTF-8" in res.output and "latin1.toml" in res.output


def test_experiment_fuzz_case_count():
    if CASES["experiments"] == 0:
        pytest.skip("the fuzz tests did not run in this process")
    assert CASES["experiments"] >= N_CASES * 0.9  # a few draws are rejected by assume()
    print(
        f"fuzzed experiment files: {CASES['experiments']} invalid values, {CASES['syntax']} broken TOML"
    )


def test_messages_quote_user_text_safely(tmp_path):
    """A message that quotes the user's input is printed as text, not as markup."""
    path = tmp_path / "exp.toml"
    path.write_text('[experiment]\nname = "x"\n\n[data]\nroot = 5\nsplit = "[/x]"\n')
    res = runner.invoke(app, ["run", str(path), "--runs-dir", str(tmp_path / "runs")])
    assert res.exit_code == 2, res.output
    assert "[/x]" in res.output and "data.split" in res.output
    assert re.search(r"data\.root", res.output)
