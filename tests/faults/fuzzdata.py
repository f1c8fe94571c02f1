"""Hypothesis strategies for broken run folders: status.json and config.toml contents."""

from __future__ import annotations

import json
import socket

from hypothesis import strategies as st

GOOD_STATUS = {
    "state": "finished",
    "pid": 999_999,
    "host": socket.gethostname(),
    "started": 1_750_000_000.0,
    "updated": 1_750_003_600.0,
    "epoch": 3,
    "epochs": 3,
    "step": 30,
    "steps_per_epoch": 10,
    "batch": 0,
    "best": {"mse": 0.25, "mae": 0.4, "rmse": 0.5, "pc": 0.7, "epoch": 3, "step": 30},
    "last": {"mse": 0.26, "mae": 0.41, "rmse": 0.51, "pc": 0.69},
    "lr": 0.003,
    "img_per_s": 120.5,
    "data_wait_frac": 0.1,
    "error": "",
    "world_size": 1,
}
GOOD_STATUS_TEXT = json.dumps(GOOD_STATUS, indent=2)

GOOD_CONFIG = """[experiment]
name = "fuzz"
seed = 0

[data]
root = "synthetic"

[train]
epochs = 3
lr = 0.003
"""

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["[/]", "[bold]x", "[/x]", "running", "failed", "\x00", "é", "🙂"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


@st.composite
def status_texts(draw) -> str | bytes:
    """Broken (or oddly typed) status.json contents, in five families."""
    kind = draw(st.sampled_from(["bytes", "cut", "flip", "not-object", "field"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "cut":
        return GOOD_STATUS_TEXT[: draw(st.integers(0, len(GOOD_STATUS_TEXT) - 1))]
    if kind == "flip":
        data = bytearray(GOOD_STATUS_TEXT.encode())
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == "not-object":
        return json.dumps(draw(json_values.filter(lambda v: not isinstance(v, dict))))
    # one known field (or a new one) with any JSON value, the rest as the trainer writes it
    key = draw(st.sampled_from([*GOOD_STATUS, "pids", "ranks", "created", "zzz"]))
    return json.dumps({**GOOD_STATUS, key: draw(json_values)})


@st.composite
def config_texts(draw) -> bytes:
    """Broken config.toml contents: cut, flipped, random or not UTF-8."""
    kind = draw(st.sampled_from(["bytes", "cut", "flip", "latin1"]))
    raw = GOOD_CONFIG.encode()
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "cut":
        return raw[: draw(st.integers(1, len(raw) - 1))]
    if kind == "latin1":
        return raw.replace(b"fuzz", b"f\xe9\xff")
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def write(path, content: str | bytes) -> None:
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
