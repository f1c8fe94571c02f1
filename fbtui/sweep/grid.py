"""The sweep grid: `--set key=v1,v2` axes, their cartesian product, seeds and member names.

Pure functions, no I/O: `parse_axes` turns the `--set` strings into axes, `expand` makes
the grid points (K seeds each), `member_name` gives each a readable, folder-safe name such
as `lr0.064-dropout0.2-s0`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fbtui.config import parse_value
from fbtui.errors import ConfigError

SEED_KEY = "experiment.seed"
_OPEN = {"[": "]", "{": "}", "(": ")"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._+]+")


@dataclass(frozen=True)
class Axis:
    """One swept (or fixed, when it has one value) key: the value texts as typed, parsed."""

    key: str
    texts: tuple[str, ...]
    values: tuple[Any, ...]

    @property
    def swept(self) -> bool:
        return len(self.values) > 1


@dataclass
class Point:
    """One member of the sweep: its overrides, the swept values, its seed and name."""

    name: str
    overrides: list[str]  # `key=text` assignments for load_config, fixed ones first
    params: dict[str, Any]  # swept key -> value (what the sweep table groups by)
    seed_index: int = 0
    seed: int | None = None  # None: the config's own experiment.seed (no --repeat)
    labels: dict[str, str] = field(default_factory=dict)  # swept key -> value text


def split_values(text: str) -> list[str]:
    """Split `v1,v2,...` on top-level commas: commas inside [], {}, () or quotes stay,
    so `[140,185],[100,150]` is two values and `"a,b",c` is two."""
    out: list[str] = []
    depth: list[str] = []
    quote = ""
    escaped = False
    cur: list[str] = []
    for ch in text:
        if quote:
            cur.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\" and quote == '"':
                escaped = True  # TOML basic strings escape with a backslash
            elif ch == quote:
                quote = ""
            continue
        if ch in "\"'":
            quote = ch
        elif ch in _OPEN:
            depth.append(_OPEN[ch])
        elif ch in "]})":
            if not depth or depth.pop() != ch:
                raise ConfigError(f"unbalanced {ch!r} in {text!r}")
        elif ch == "," and not depth:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if quote:
        raise ConfigError(f"unclosed quote in {text!r}")
    if depth:
        raise ConfigError(f"unclosed {depth[-1]!r} bracket in {text!r}")
    out.append("".join(cur).strip())
    return out


def parse_axis(assignment: str) -> Axis:
    """`key=v1,v2` -> Axis. Raises ConfigError naming the --set on bad syntax."""
    if "=" not in assignment:
        raise ConfigError(
            f"--set {assignment!r}: expected KEY=V1,V2,..., e.g. --set train.lr=0.064,0.04"
        )
    key, _, rhs = assignment.partition("=")
    key = key.strip()
    if not key or any(not p for p in key.split(".")):
        raise ConfigError(f"--set {assignment!r}: empty or malformed key {key!r}")
    try:
        texts = split_values(rhs)
    except ConfigError as e:
        raise ConfigError(f"--set {assignment!r}: {e}") from None
    if any(t == "" for t in texts):
        raise ConfigError(
            f"--set {assignment!r}: empty value in the list (values are separated by commas; "
            "put lists in brackets: --set schedule.milestones=[140,185],[100,150])"
        )
    values = tuple(parse_value(t) for t in texts)
    seen: set[tuple[str, str]] = set()
    for t, v in zip(texts, values, strict=True):
        ident = (type(v).__name__, repr(v))
        if ident in seen:
            raise ConfigError(f"--set {assignment!r}: value {t} is listed twice")
        seen.add(ident)
    return Axis(key=key, texts=tuple(texts), values=values)


def parse_axes(assignments: Sequence[str]) -> list[Axis]:
    """Parse every `--set`; a key given twice is an error."""
    axes: list[Axis] = []
    for a in assignments:
        axis = parse_axis(a)
        if any(x.key == axis.key for x in axes):
            raise ConfigError(
                f"--set {axis.key}: given twice; list every value in one --set "
                f"({axis.key}=V1,V2,...)"
            )
        axes.append(axis)
    return axes


def fmt_value(text: str) -> str:
    """A value as it appears in a member name: `[140,185]` -> `140_185`, `"sgd"` -> `sgd`,
    a path -> its last part (`/data/SCUT-FBP5500_v2` -> `SCUT_FBP5500_v2`; "-" only
    separates the parts of a name)."""
    s = text.strip().strip("\"'")
    if "/" in s and not s.startswith(("[", "{")):
        s = s.rstrip("/").rsplit("/", 1)[-1] or s
    if s.startswith("-"):
        s = "m" + s[1:]  # minus: -0.5 -> m0.5, not a clash with 0.5
    s = re.sub(r"[\[\]{}()\s\"']+", " ", s).strip()
    s = re.sub(r"\s*,\s*|\s+", "_", s)
    return _UNSAFE.sub("_", s).strip("_")[:40] or "x"


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """The shortest dotted suffix of each key that tells it apart from the others:
    `train.lr` -> `lr`, but `a.lr` and `b.lr` -> `a_lr`, `b_lr`."""
    out: dict[str, str] = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            cand = parts[-n:]
            clash = [k for k in keys if k != key and k.split(".")[-n:] == cand]
            if not clash:
                break
        out[key] = _UNSAFE.sub("_", "_".join(cand))
    return out


def member_name(labels: dict[str, str], seed_index: int | None) -> str:
    """`lr0.064-dropout0.2-s0` from {short key: value text} and the seed index."""
    parts = [f"{k}{fmt_value(v)}" for k, v in labels.items()]
    if seed_index is not None:
        parts.append(f"s{seed_index}")
    return "-".join(parts) or "run"


def expand(axes: Sequence[Axis], repeat: int = 1, base_seed: int = 0) -> list[Point]:
    """The cartesian product of the swept axes, K = `repeat` seeds each
    (experiment.seed = base_seed + k). Seed-major order: every setting's first seed runs
    before any second seed, so a half-finished sweep already covers the whole grid."""
    if repeat < 1:
        raise ConfigError(f"--repeat {repeat}: must be at least 1")
    swept = [a for a in axes if a.swept]
    fixed = [a for a in axes if not a.swept]
    if repeat > 1 and any(a.key == SEED_KEY for a in axes):
        raise ConfigError(
            f"--set {SEED_KEY} and --repeat {repeat} both set the seed; use one of them"
        )
    if not swept and repeat == 1:
        raise ConfigError(
            "nothing to sweep: give at least one --set KEY=V1,V2 with two or more values, "
            "or --repeat K for K seeds"
        )
    short = short_keys([a.key for a in swept])
    fixed_over = [f"{a.key}={a.texts[0]}" for a in fixed]
    combos = list(itertools.product(*[range(len(a.values)) for a in swept]))
    points: list[Point] = []
    names: set[str] = set()
    for k in range(repeat):
        for combo in combos:
            labels = {short[a.key]: a.texts[i] for a, i in zip(swept, combo, strict=True)}
            over = fixed_over + [f"{a.key}={a.texts[i]}" for a, i in zip(swept, combo, strict=True)]
            seed = None
            if repeat > 1:
                seed = base_seed + k
                over.append(f"{SEED_KEY}={seed}")
            name = member_name(labels, k if SEED_KEY not in short else None)
            if name in names:  # two values that only differ in characters a folder drops
                n = 2
                while f"{name}-{n}" in names:
                    n += 1
                name = f"{name}-{n}"
            names.add(name)
            points.append(
                Point(
                    name=name,
                    overrides=over,
                    params={a.key: a.values[i] for a, i in zip(swept, combo, strict=True)},
                    seed_index=k,
                    seed=seed,
                    labels={a.key: a.texts[i] for a, i in zip(swept, combo, strict=True)},
                )
            )
    return points
