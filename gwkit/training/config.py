"""Training configuration: one dataclass, YAML presets, typed ``key=value`` overrides.

Every setting lives once in :class:`TrainConfig` with a one-line comment. A run's
settings resolve as: dataclass defaults, then a preset (``configs/<name>.yaml``,
shipped inside the package as ``gwkit/configs/``, or any YAML file path), then
command-line overrides ``--set key=value`` (typed by the field's annotation).
The resolved config is written next to the run's outputs and into every
checkpoint, and :func:`load_config` reads it back.

Example::

    cfg = resolve_config("demo", ["lr=3e-3", "snr=uniform:8:30"])
    cfg = resolve_config("configs/resnet1d.yaml", ["model_kwargs={drop_rate: 0.2}"])
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from gwkit.core.errors import GwkitError
from gwkit.core.fileio import atomic_write

__all__ = [
    "LOGGERS",
    "PRESET_DIR",
    "ConfigError",
    "TrainConfig",
    "apply_overrides",
    "config_diff",
    "config_from_dict",
    "list_presets",
    "load_config",
    "load_preset",
    "parse_override",
    "resolve_config",
    "save_config",
]

#: Where a run's metrics can go (``logger``): :mod:`gwkit.training.tracking`.
LOGGERS = ("csv", "tensorboard", "wandb")
#: Presets shipped with the package (copies of the repository's ``configs/``).
PRESET_DIR = Path(__file__).resolve().parents[1] / "configs"
DEFAULT_PRESET = "demo"


class ConfigError(GwkitError, ValueError):
    """A bad preset, key or value; the message is one line, fit for the command line."""


@dataclass(frozen=True)
class TrainConfig:
    """All settings of a training run (units: samples, seconds, Hz)."""

    # --- run
    name: str = "demo"  # run name: outputs go to <out_dir>/<name>/fold<k>/
    out_dir: str = "runs"  # root folder of all runs
    seed: int = 0  # master seed: folds, validation sets and engine streams derive from it
    # --- model
    model: str = "resnet1d_tiny"  # gwkit.models name (see gwkit.models.list_models())
    model_kwargs: dict = field(default_factory=dict)  # constructor arguments, e.g. {frontend: {decimate: 4}}
    init_from: str | None = None  # checkpoint whose weights start the model (same architecture); {fold} -> fold index
    # --- distillation (gwkit.training.teacher)
    teacher: str | None = None  # checkpoint (.pt) or filter bank (.h5: the log Bayes factor) giving soft labels
    distill: float = 0.0  # weight of the teacher's soft labels in the loss (0: labels only, 1: teacher only)
    teacher_batches: int = 16  # engine batches the teacher is calibrated on, per fold
    # --- data
    mode: Literal["competition", "physical"] = "competition"  # training channel layout (sim recipe)
    bank: str | None = None  # waveform bank HDF5; None: build and cache bank_size entries in cache_dir
    bank_size: int = 128  # entries of the bank built when bank is None
    bank_seed: int = 0  # seed of the bank built when bank is None
    cache_dir: str = "cache"  # where built banks are cached (resumable builds)
    n_folds: int = 5  # K of the grouped K-fold over bank waveforms
    n_mass_bins: int = 10  # chirp-mass quantile bins the folds are stratified by
    snr: Any = "competition"  # training SNR spec: competition | 20 | "4,5,6" | uniform:4:30 | curriculum list
    signal_fraction: float = 0.5  # share of training samples that carry a signal
    val_mode: Literal["competition", "physical"] = "competition"  # validation layout: the test set's
    val_per_snr: int = 100  # validation rows per competition SNR (half signal, half noise)
    # --- fixed training data (instead of, or mixed with, the engine)
    train_data: list[str] = field(default_factory=list)  # .sav blocks, .npy (+ labels.csv), gwkit .h5, folders; [] = engine only
    groups: Literal["auto", "none"] = "auto"  # train_data rows sharing a waveform or noise: auto (from params) or none (each row alone: may leak)
    val_source: Literal["files", "engine"] = "files"  # train_data runs validate on the files' held-out fold, or on the engine's competition mix (all file rows train)
    engine_fraction: float = 0.0  # train_data runs: share of each batch simulated by the engine
    # --- augmentation (on top of the engine's fresh extrinsics and noise)
    time_shift_p: float = 0.0  # train_data rows: probability of moving the merger to a new place in the competition's range
    sign_flip_p: float = 0.5  # probability of multiplying a sample by -1 (both modes)
    swap_p: float = 0.0  # probability of swapping the detectors (physical mode only)
    detector_shift_p: float = 0.0  # probability of shifting channel 1 against 0 (physical mode only)
    max_detector_shift_s: float = 0.010  # largest such shift, seconds
    # --- optimisation
    epochs: int = 10  # epochs (one validation pass and checkpoint each)
    steps_per_epoch: int = 100  # optimizer steps per epoch
    batch_size: int = 64  # samples per step and process (DDP: global batch = batch_size * world)
    optimizer: Literal["adam", "adamw"] = "adamw"  # torch.optim.Adam or AdamW
    lr: float = 1e-3  # peak learning rate
    weight_decay: float = 1e-2  # AdamW decoupled / Adam L2 weight decay
    beta1: float = 0.9  # Adam beta1
    beta2: float = 0.999  # Adam beta2
    warmup_steps: int = 100  # linear warm-up from 0 to lr over these steps
    min_lr: float = 1e-5  # cosine decay floor, reached at the last step
    grad_clip: float = 1.0  # clip the gradient norm to this (0: off)
    ema: float = 0.0  # EMA decay of the weights, e.g. 0.999 (0: off); validation uses the EMA
    patience: int = 0  # early stopping: epochs without a better select_metric (0: off)
    select_metric: Literal["auc", "pauc"] = "auc"  # picks best.pt, drives early stopping: val AUC or partial AUC to FPR 0.001 (needs >= 10,000 noise rows)
    # --- system
    device: str = "auto"  # auto (cuda > mps > cpu), cpu, cuda, cuda:1, mps
    amp: bool = True  # bf16 autocast on CUDA (no effect elsewhere unless amp_cpu)
    amp_cpu: bool = False  # with amp: bf16 autocast on the CPU too (slower on most CPUs; runs the CUDA recipe's path)
    compile: bool = False  # torch.compile the model
    num_threads: int = 0  # torch CPU threads (0: torch's default; under DDP cores / processes)
    eval_batch_size: int = 256  # batch size of validation passes
    logger: list[str] = field(default_factory=lambda: ["csv"])  # csv (metrics.csv, curves.png), tensorboard, wandb; several: [csv, tensorboard]

    def __post_init__(self) -> None:
        _check_config(self)
        frontend = self.model_kwargs.get("frontend")
        if isinstance(frontend, dict):  # configs written before highpass/lowpass still load
            from gwkit.models.frontend import frontend_arguments

            try:
                upgraded = dict(self.model_kwargs, frontend=frontend_arguments(frontend))
            except ValueError as exc:
                raise ConfigError(f"model_kwargs={self.model_kwargs}: {exc}") from None
            object.__setattr__(self, "model_kwargs", upgraded)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (YAML- and checkpoint-safe)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (validated like every config)."""
        return dataclasses.replace(self, **changes)

    @property
    def total_steps(self) -> int:
        """Optimizer steps of the whole run."""
        return self.epochs * self.steps_per_epoch

    def init_path(self, fold: int) -> str | None:
        """``init_from`` for ``fold``: ``{fold}`` in it becomes the fold index, so each fold can
        start from the same fold of another run (whose training rows exclude this fold's)."""
        return self.init_from.replace("{fold}", str(fold)) if self.init_from else None


# ---------------------------------------------------------------- validation


def _check_config(cfg: TrainConfig) -> None:
    """ConfigError naming the first bad value."""
    from gwkit.engine.snr import parse_snr

    positive = ("bank_size", "n_folds", "n_mass_bins", "val_per_snr", "epochs", "teacher_batches",
                "steps_per_epoch", "batch_size", "eval_batch_size")
    for key in positive:
        if getattr(cfg, key) < 1:
            raise ConfigError(f"{key}={getattr(cfg, key)}: must be >= 1")
    if cfg.n_folds < 2:
        raise ConfigError(f"n_folds={cfg.n_folds}: must be >= 2")
    for key in ("warmup_steps", "num_threads", "patience"):
        if getattr(cfg, key) < 0:
            raise ConfigError(f"{key}={getattr(cfg, key)}: must be >= 0")
    for key in ("seed", "bank_seed"):  # numpy's SeedSequence takes whole numbers >= 0
        if not 0 <= getattr(cfg, key) < 2**63:
            raise ConfigError(f"{key}={getattr(cfg, key)}: must be a whole number in [0, 2**63)")
    for key in ("lr", "min_lr", "weight_decay", "grad_clip", "max_detector_shift_s"):
        if not getattr(cfg, key) >= 0:
            raise ConfigError(f"{key}={getattr(cfg, key)}: must be >= 0")
    if cfg.min_lr > cfg.lr:
        raise ConfigError(f"min_lr={cfg.min_lr}: must not exceed lr={cfg.lr}")
    for key in ("ema", "beta1", "beta2"):
        if not 0 <= getattr(cfg, key) < 1:
            raise ConfigError(f"{key}={getattr(cfg, key)}: must lie in [0, 1)")
    if cfg.distill > 0 and not cfg.teacher:
        raise ConfigError(f"distill={cfg.distill}: needs a teacher (a checkpoint or filter bank)")
    for key in ("distill", "signal_fraction", "sign_flip_p", "swap_p", "detector_shift_p", "time_shift_p",
                "engine_fraction"):
        if not 0 <= getattr(cfg, key) <= 1:
            raise ConfigError(f"{key}={getattr(cfg, key)}: must be a probability in [0, 1]")
    if cfg.mode == "competition" and (cfg.swap_p > 0 or cfg.detector_shift_p > 0):
        raise ConfigError("swap_p and detector_shift_p need mode=physical: in competition mode "
                          "only channel 0 carries the signal")
    if not all(isinstance(p, str) and p for p in cfg.train_data):
        raise ConfigError(f"train_data={cfg.train_data!r}: must be a list of file or folder paths")
    if not cfg.logger:
        raise ConfigError(f"logger=[]: choose at least one of {', '.join(LOGGERS)}")
    unknown = [name for name in cfg.logger if name not in LOGGERS]
    if unknown:
        raise ConfigError(f"logger={cfg.logger!r}: unknown logger(s) {', '.join(map(repr, unknown))}; "
                          f"choose from {', '.join(LOGGERS)}, several as [csv, tensorboard]")
    if cfg.select_metric not in ("auc", "pauc"):
        raise ConfigError(f"select_metric={cfg.select_metric!r}: expected auc or pauc")
    if not cfg.name or "/" in cfg.name or cfg.name in (".", ".."):
        raise ConfigError(f"name={cfg.name!r}: must be a plain folder name")
    if not isinstance(cfg.model_kwargs, dict):
        raise ConfigError(f"model_kwargs={cfg.model_kwargs!r}: must be a mapping")
    from gwkit.models import list_models

    if cfg.model not in list_models():
        raise ConfigError(f"unknown model {cfg.model!r}; available: {', '.join(list_models())}")
    if not (cfg.device == "auto" or cfg.device.split(":")[0] in ("cpu", "cuda", "mps")):
        raise ConfigError(f"device={cfg.device!r}: use auto, cpu, cuda, cuda:N or mps")
    try:
        parse_snr(cfg.snr)
    except ValueError as exc:
        raise ConfigError(f"snr={cfg.snr!r}: {exc}") from None


# ---------------------------------------------------------------- typed values


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def _defaults() -> dict[str, Any]:
    """Every setting's default, without building (and checking) a config."""
    return {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
            for f in dataclasses.fields(TrainConfig)}


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """``value`` (from YAML or already parsed) checked and converted to field type ``tp``."""
    if tp is Any:
        return value
    if _is_union(tp):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None):
                try:
                    return _coerce(key, value, arg)
                except ConfigError:
                    pass
        raise ConfigError(f"{key}={value!r}: expected {_type_name(tp)}")
    if typing.get_origin(tp) is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"{key}={value!r}: expected one of {', '.join(map(str, choices))}")
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}={value!r}: expected true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key}={value!r}: expected an integer")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"{key}={value!r}: expected a finite number")
            return float(value)
        raise ConfigError(f"{key}={value!r}: expected a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}={value!r}: expected a string")
    if typing.get_origin(tp) is list:
        if isinstance(value, str):  # one path
            value = [value]
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
        raise ConfigError(f"{key}={value!r}: expected a list of strings such as [a.sav, b.sav]")
    if tp is dict:
        if isinstance(value, dict):
            return value
        raise ConfigError(f"{key}={value!r}: expected a mapping such as {{a: 1, b: x}}")
    raise ConfigError(f"{key}: field type {tp} is not supported")


def _type_name(tp: Any) -> str:
    if _is_union(tp):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(tp)))
    return "null" if tp is type(None) else getattr(tp, "__name__", str(tp))


def _unknown_key(key: str, where: str) -> ConfigError:
    valid = ", ".join(f.name for f in dataclasses.fields(TrainConfig))
    return ConfigError(f"{where}: unknown key {key!r}; valid keys: {valid}")


def parse_override(text: str) -> tuple[str, Any]:
    """``"key=value"`` -> ``(key, typed value)``; the value is read as YAML, then type-checked.

    Strings need no quotes (``name=run1``); ``none``/``null`` clears an optional field.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {text!r}: expected key=value")
    types_ = _field_types()
    if key not in types_:
        raise _unknown_key(key, f"override {text!r}")
    tp = types_[key]
    raw = raw.strip()
    args = typing.get_args(tp) if _is_union(tp) else ()
    if type(None) in args and raw.lower() in ("none", "null", "~", ""):
        return key, None
    if tp is str or str in args or typing.get_origin(tp) is Literal:
        return key, _coerce(key, raw, tp)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise ConfigError(f"override {text!r}: cannot read the value as YAML") from None
    if tp is float and isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
        try:
            value = float(value)
        except ValueError:
            pass
    return key, _coerce(key, value, tp)


def config_from_dict(data: dict[str, Any], where: str = "config") -> TrainConfig:
    """Build a config from a mapping (unknown keys and wrong types raise ConfigError
    naming ``where``, e.g. the file)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of settings, found {type(data).__name__}")
    types_ = _field_types()
    values = {}
    for key, value in data.items():
        if key not in types_:
            raise _unknown_key(key, where)
        if types_[key] is float and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        try:
            values[key] = _coerce(key, value, types_[key])
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    try:
        return TrainConfig(**values)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def apply_overrides(cfg: TrainConfig, overrides: list[str] | tuple[str, ...]) -> TrainConfig:
    """Apply ``key=value`` strings in order."""
    changes = dict(parse_override(text) for text in overrides)
    return cfg.replace(**changes) if changes else cfg


# ---------------------------------------------------------------- presets and files


def list_presets() -> list[str]:
    """Names of the presets shipped with the package."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def _preset_path(preset: str | os.PathLike) -> Path:
    path = Path(preset)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"preset file {path} not found")
        return path
    candidate = PRESET_DIR / f"{preset}.yaml"
    if not candidate.is_file():
        raise ConfigError(
            f"unknown preset {str(preset)!r}; available: {', '.join(list_presets())} "
            "(or give a YAML file path)"
        )
    return candidate


def load_preset(preset: str | os.PathLike) -> TrainConfig:
    """Defaults updated by a preset: a shipped name (``demo``) or a YAML file path."""
    path = _preset_path(preset)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte {exc.start} is "
                          f"{exc.object[exc.start:exc.start + 1]!r}); save it as UTF-8 YAML") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML ({first})") from None
    return config_from_dict(data, where=str(path))


def resolve_config(
    preset: str | os.PathLike | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> TrainConfig:
    """Defaults, then the preset (default ``demo``), then ``key=value`` overrides."""
    return apply_overrides(load_preset(preset or DEFAULT_PRESET), overrides)


def save_config(cfg: TrainConfig, path: str | os.PathLike) -> Path:
    """Write the config as YAML (atomic)."""
    path = Path(path)
    with atomic_write(path, "w") as fh:
        yaml.safe_dump(cfg.to_dict(), fh, sort_keys=False)
    return path


def load_config(path: str | os.PathLike) -> TrainConfig:
    """Read a config written by :func:`save_config` (or any preset file)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    return load_preset(path)


def config_diff(a: TrainConfig | dict, b: TrainConfig | dict) -> dict[str, tuple[Any, Any]]:
    """``{key: (value in a, value in b)}`` for every setting that differs.

    A setting missing from a dict (one written before the setting existed) counts
    as its default, as when :func:`load_config` reads that dict from YAML.
    """
    da = a.to_dict() if isinstance(a, TrainConfig) else {**_defaults(), **a}
    db = b.to_dict() if isinstance(b, TrainConfig) else {**_defaults(), **b}
    return {k: (da.get(k), db.get(k)) for k in sorted(da.keys() | db.keys()) if da.get(k) != db.get(k)}
