"""The experiment file: TOML validated into typed models, every default filled in.

`load_config(path, overrides)` is the only entry point the rest of fbtui uses. Errors are
`ConfigError`s that name the file and the dotted key, never a pydantic traceback.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import tomllib
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fbtui.errors import ConfigError

BACKBONES = (
    "tiny",
    "mobilenet_v2",
    "vgg16",
    "vgg16_bn",
    "resnet18",
    "resnet50",
    "resnext50_32x4d",
)


class _Section(BaseModel):
    # strict: `epochs = "10"` or `hflip = "yes"` is a wrong type (DESIGN §5), not a value to
    # guess at (an int still fills a float); nan/inf fit no knob, and `lr = inf` passed gt=0
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, strict=True, allow_inf_nan=False
    )


class ExperimentCfg(_Section):
    name: str = ""
    seed: int = 0
    notes: str = ""


class Calibration(_Section):
    k: float = 1.0
    b: float = 0.0


class ExtraDataCfg(_Section):
    """A second, differently rated data set merged into training (DESIGN §5)."""

    root: str
    format: Literal["scut", "list"] = "list"
    calibration: Calibration | Literal["fit", "none"] = "none"
    fit_from: str = Field(
        "", description='calibration = "fit": run to fit against (default model.init_from)'
    )
    use: Literal["train"] = "train"
    weight: float = Field(1.0, gt=0)


class DataCfg(_Section):
    root: str = "synthetic"
    format: Literal["scut", "list"] = "scut"
    split: Literal["60/40", "cv1", "cv2", "cv3", "cv4", "cv5"] = "60/40"
    image_size: int = Field(224, ge=8, le=1024)
    resize: int = Field(0, ge=0, le=2048, description="resize before cropping; 0 = image_size")
    label: Literal["mean", "original"] = "mean"
    label_noise_std: float = Field(0.0, ge=0)
    num_workers: int = Field(0, ge=0)
    cache: Literal["memory", "disk", "none"] = "none"
    skip_bad: bool = False
    synth_n: int = Field(2000, ge=20, description="images in the synthetic set")
    synth_size: int = Field(128, ge=16, description="side of synthetic images in pixels")
    # labels of a differently rated main set mapped y' = k*y + b (fine-tuning on it)
    calibration: Calibration | Literal["fit", "none"] = "none"
    fit_from: str = Field(
        "", description='calibration = "fit": run to fit against (default model.init_from)'
    )
    extra: list[ExtraDataCfg] = Field(default_factory=list)

    @property
    def resize_to(self) -> int:
        return self.resize or self.image_size


class ModelCfg(_Section):
    backbone: Literal[BACKBONES] = "tiny"  # type: ignore[valid-type]
    pretrained: str = "none"
    head: Literal["regression", "bins", "distribution"] = "regression"
    bins: int = Field(8, ge=2)
    dropout: float = Field(0.2, ge=0, lt=1)
    clip: Literal["none", "hard", "sigmoid"] = "none"
    init_from: str = ""
    width: int = Field(32, ge=4, description="channels of the tiny backbone's first stage")
    sync_bn: bool = False


class TrainCfg(_Section):
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(32, ge=1)
    batch_scope: Literal["per_gpu", "global"] = "per_gpu"
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = Field(0.01, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(1e-4, ge=0)
    # regression: mse | smooth_l1 | l1; the classification heads have one loss each,
    # which the resolved config records (see Config._check)
    loss: Literal["mse", "smooth_l1", "l1", "cross_entropy", "soft_cross_entropy"] = "mse"
    amp: bool = True
    channels_last: bool = True
    device: str = "auto"
    nan_policy: Literal["stop", "skip"] = "stop"
    grad_clip: float = Field(0.0, ge=0)
    eval_every: int = Field(1, ge=1)


class ScheduleCfg(_Section):
    name: Literal[
        "constant",
        "step",
        "multistep",
        "plateau",
        "exponential",
        "cosine",
        "cosine_restarts",
        "cyclic_cosine",
    ] = "constant"
    warmup_epochs: float = Field(0.0, ge=0)
    # step / multistep / exponential / plateau
    step_size: int = Field(30, ge=1, description="step: epochs between decays")
    milestones: list[int] = Field(default_factory=lambda: [30, 60])
    gamma: float = Field(0.1, gt=0)
    patience: int = Field(5, ge=0)
    # cosine family
    min_lr: float = Field(0.0, ge=0)
    t0_epochs: float = Field(10.0, gt=0, description="cosine_restarts: first period")
    t_mult: int = Field(1, ge=1)
    period_epochs: float = Field(12.0, gt=0, description="cyclic_cosine: one full cycle")
    cycles: int = Field(8, ge=1)
    min_ratio: float = Field(0.01, gt=0, le=1, description="cyclic_cosine: min lr = lr*ratio")
    start: Literal["min", "max"] = "min"


class ColorJitterCfg(_Section):
    brightness: float = Field(0.0, ge=0)
    contrast: float = Field(0.0, ge=0)
    saturation: float = Field(0.0, ge=0)
    hue: float = Field(0.0, ge=0, le=0.5)


class AugmentCfg(_Section):
    hflip: bool = False
    rotation: float = Field(0.0, ge=0, le=180)
    crop: Literal["random", "center", "none"] = "center"
    pad: int = Field(0, ge=0)
    color_jitter: ColorJitterCfg = Field(default_factory=ColorJitterCfg)
    normalize: bool = True


class LogCfg(_Section):
    every_steps: int = Field(10, ge=1)
    flush_secs: float = Field(2.0, gt=0)
    gpu_every_secs: float = Field(5.0, gt=0)


class Config(_Section):
    experiment: ExperimentCfg = Field(default_factory=ExperimentCfg)
    data: DataCfg = Field(default_factory=DataCfg)
    model: ModelCfg = Field(default_factory=ModelCfg)
    train: TrainCfg = Field(default_factory=TrainCfg)
    schedule: ScheduleCfg = Field(default_factory=ScheduleCfg)
    augment: AugmentCfg = Field(default_factory=AugmentCfg)
    log: LogCfg = Field(default_factory=LogCfg)

    @model_validator(mode="after")
    def _check(self) -> Config:
        if self.model.head == "bins" and self.model.bins != 8:
            # the researcher's bins are fixed: 1-1.5 ... 4.5-5
            raise ValueError("model.bins: the bins head uses 8 half-point bins; set bins = 8")
        self._check_head_loss()
        if self.data.resize and self.data.resize < self.data.image_size:
            raise ValueError(
                f"data.resize: {self.data.resize} is smaller than data.image_size "
                f"{self.data.image_size}; resize must be 0 or at least image_size"
            )
        if self.schedule.name == "multistep":
            ms = self.schedule.milestones
            if ms != sorted(ms):
                raise ValueError("schedule.milestones: must be increasing epochs")
        return self

    def _check_head_loss(self) -> None:
        """Each classification head has its own loss; train.loss then records it, so the
        resolved config (and compare's config diff) never says mse for a cross-entropy
        run. "mse" is taken as "the head's loss": it is the default, and older resolved
        configs hold it for every head. Any other mismatch is the user's mistake."""
        head, loss = self.model.head, self.train.loss
        own = {"bins": "cross_entropy", "distribution": "soft_cross_entropy"}.get(head)
        if own is None:
            if loss not in HEAD_LOSSES["regression"]:
                raise ValueError(
                    f'train.loss: "{loss}" is a classification head\'s loss; the regression '
                    'head trains with "mse", "smooth_l1" or "l1"'
                )
        elif loss in ("mse", own):
            self.train.loss = own
        else:
            raise ValueError(
                f'train.loss: the {head} head trains with "{own}" (its only loss), not "{loss}"; '
                f'leave train.loss out or set it to "{own}"'
            )
        if own is not None and self.model.clip != "none":
            raise ValueError(
                f'model.clip: "{self.model.clip}" applies to the regression head only; the '
                f'{head} head\'s score is an expectation over 1..5 already (set clip = "none")'
            )


HEAD_LOSSES = {"regression": ("mse", "smooth_l1", "l1")}


def _fmt_loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if not str(p).startswith("function-after"))


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (`X`, `list[X]`, `X | Literal[...]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def did_you_mean(loc: tuple[Any, ...]) -> str:
    """` (did you mean train.epochs?)` for an unknown key at `loc`, or "" without a close
    match: the known keys of the table that holds it, compared with difflib."""
    model: type[BaseModel] | None = Config
    parents = [p for p in loc[:-1] if not isinstance(p, int)]
    for p in parents:
        field = model.model_fields.get(str(p)) if model else None
        model = _model_in(field.annotation) if field else None
        if model is None:
            return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.6)
    if not close:
        return ""
    return f" (did you mean {'.'.join(str(p) for p in (*loc[:-1], close[0]))}?)"


def _override_for(key: str, overrides: Sequence[str]) -> str:
    """The `--set` assignment that set `key` (or a table above or below it), or ""."""
    for o in reversed(overrides):  # the last one wins, as when applying them
        k = ".".join(p for p in o.partition("=")[0].strip().split(".") if p)
        if k and (key == k or key.startswith(k + ".") or k.startswith(key + ".")):
            return o
    return ""


def _format_validation(err: ValidationError, source: str, overrides: Sequence[str] = ()) -> str:
    """One line per mistake; a mistake made on the command line names its `--set`, not the
    file (`--set train.epoch=1: unknown key train.epoch (did you mean train.epochs?)`)."""
    file_lines, set_lines = [], []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not str(p).startswith("function-after"))
        key = _fmt_loc(loc)
        msg = e["msg"]
        hint = ""
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
            hint = did_you_mean(loc)
        elif e["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        elif e["type"] == "model_type":  # "... instance of TrainCfg": a class name, not a key
            msg = f"a table of settings ([{key}] in the file), not a single value"
        got = e.get("input")
        got_s = "" if isinstance(got, dict) or e["type"] == "extra_forbidden" else f" (got {got!r})"
        # a model-level check names its key at the start of the message ("model.bins: ...")
        named = key or msg.partition(":")[0]
        o = _override_for(named, overrides) if named else ""
        if o and e["type"] == "extra_forbidden":
            set_lines.append(f"--set {o}: unknown key {key}{hint}")
        elif o:
            set_lines.append(f"--set {o}: {f'{key}: ' if key else ''}{msg}{got_s}")
        else:
            file_lines.append(f"  {key or '(top level)'}: {msg}{hint}{got_s}")
    parts = set_lines
    if file_lines:
        parts = [*parts, f"{source}: invalid experiment file:", *file_lines]
    return "\n".join(parts)


def parse_value(text: str) -> Any:
    """Parse an override value: TOML scalar/array syntax first, then a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply one `a.b.c=value` override to a raw config dict in place."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. --set train.lr=0.04")
    key, _, value = assignment.partition("=")
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"--set {assignment!r}: empty key")
    node = raw
    for p in parts[:-1]:
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"--set {assignment!r}: {p} is not a table")
        node = nxt
    node[parts[-1]] = parse_value(value.strip())


def config_from_dict(
    raw: dict[str, Any], source: str = "<config>", overrides: Sequence[str] = ()
) -> Config:
    """Validate a raw config; `overrides` (the `--set`s applied to it) name the mistakes
    made on the command line."""
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_format_validation(e, source, overrides)) from None


def read_toml(path: Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: a folder, not an experiment file (e.g. experiments/demo.toml)")
    if not path.is_file():
        raise ConfigError(f"{path}: experiment file not found")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a UTF-8 text file ({e.reason})") from None


def relax_run_config(raw: dict[str, Any]) -> dict[str, Any]:
    """A resolved config written by an earlier fbtui (a run folder's config.toml, the one
    stored in a checkpoint): settings that never had an effect on a classification head
    (a clip, a regression loss) and that the schema now refuses are dropped, so older
    runs still resume, predict and calibrate. Changes and returns `raw`."""
    model = raw.get("model")
    if isinstance(model, dict) and model.get("head", "regression") != "regression":
        model["clip"] = "none"
        train = raw.get("train")
        if isinstance(train, dict) and train.get("loss") in ("smooth_l1", "l1"):
            train["loss"] = "mse"  # read as "the head's own loss"
    return raw


def load_config(
    path: str | Path, overrides: list[str] | tuple[str, ...] = (), run_folder: bool = False
) -> Config:
    """Read, override and validate an experiment file. Raises ConfigError.

    `run_folder`: the resolved config.toml of an existing run, which was valid when it was
    written; a setting that later versions refuse because it never had an effect (a clip
    on a classification head) is dropped instead, so older runs still resume and predict."""
    path = Path(path)
    raw = read_toml(path)
    if run_folder:
        relax_run_config(raw)
    for o in overrides:
        apply_override(raw, o)
    cfg = config_from_dict(raw, str(path), list(overrides))
    if not cfg.experiment.name:
        cfg.experiment.name = path.stem
    return cfg


def to_toml(cfg: Config) -> str:
    """Serialise the fully resolved config as TOML (every default filled in)."""
    return dumps_toml(cfg.model_dump(mode="json"))


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    if v is None:
        return '""'
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def dumps_toml(data: dict[str, Any]) -> str:
    """A small TOML writer for the shapes fbtui configs have (tables of scalars/arrays)."""
    out: list[str] = []

    def table(prefix: str, d: dict[str, Any]) -> None:
        scalars = {
            k: v
            for k, v in d.items()
            if not isinstance(v, dict)
            and not (isinstance(v, list) and v and isinstance(v[0], dict))
        }
        if prefix:
            out.append(f"[{prefix}]")
        for k, v in scalars.items():
            out.append(f"{k} = {_toml_value(v)}")
        out.append("")
        for k, v in d.items():
            if isinstance(v, dict):
                table(f"{prefix}.{k}" if prefix else k, v)
            elif isinstance(v, list) and v and isinstance(v[0], dict):
                for item in v:
                    out.append(f"[[{prefix}.{k}]]" if prefix else f"[[{k}]]")
                    for ik, iv in item.items():
                        out.append(f"{ik} = {_toml_value(iv)}")
                    out.append("")

    table("", data)
    return "\n".join(out).rstrip() + "\n"
