"""One fold of training, readable top to bottom: model, optimizer, steps, epochs, checkpoints.

:func:`train_fold` is the loop: a fold's data (:mod:`gwkit.training.fold_data`),
a :class:`Learner` (model, optimizer, EMA, DDP/compile wrappers), one
:func:`train_step` per batch (BCE on the labels, optionally mixed with a
teacher's soft labels: :mod:`gwkit.training.teacher`), a validation pass and
checkpoints per epoch (``best.pt``, ``last.pt``: everything ``--resume`` needs,
RNG states included), then ``oof.csv``. ``python -m gwkit.train`` is its command line.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from gwkit.core.devices import pick_device
from gwkit.core.distributed import Dist, broadcast, gather
from gwkit.core.fileio import atomic_path, atomic_write
from gwkit.core.metrics import accuracy, partial_auc, per_snr_auc, roc_auc, snr_key
from gwkit.data.columns import OOF_COLUMNS, read_oof
from gwkit.training.config import (
    ConfigError,
    TrainConfig,
    config_diff,
    load_config,
)
from gwkit.training.fold_data import (
    TEACHER_STREAM,
    TORCH_STREAM,
    TRAIN_STREAM,
    FoldData,
    RunData,
    RunError,
    ValSet,
    derive_seed,
    fold_dir,
    prepare_fold_data,
)
from gwkit.training.tracking import epoch_scalars, open_tracker

if TYPE_CHECKING:
    from gwkit.training.teacher import Teacher


#: Settings that may change when a fold is resumed or another fold joins the run.
MAY_CHANGE = frozenset({"epochs", "patience", "device", "amp", "amp_cpu", "compile", "num_threads",
                        "eval_batch_size", "out_dir", "logger"})


# ---------------------------------------------------------------- small helpers


def get_lr(step: int, cfg: TrainConfig) -> float:
    """Learning rate at ``step``: linear warm-up to ``lr``, then cosine decay to ``min_lr``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / (cfg.warmup_steps + 1)
    span = cfg.total_steps - cfg.warmup_steps
    ratio = min(1.0, (step - cfg.warmup_steps) / span) if span > 0 else 1.0
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (cfg.lr - cfg.min_lr)


def autocast_for(cfg: TrainConfig, device: torch.device):
    """bf16 autocast on CUDA when ``cfg.amp`` (on the CPU too with ``amp_cpu``), else a no-op."""
    if cfg.amp and (device.type == "cuda" or (device.type == "cpu" and cfg.amp_cpu)):
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext


def write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_write(path, "w", newline="") as fh:
        df.to_csv(fh, index=False)


# ---------------------------------------------------------------- model and evaluation


def build_model(cfg: TrainConfig, fold: int = 0) -> nn.Module:
    """The config's model; with ``init_from``, holding that checkpoint's weights."""
    from gwkit.models import create_model

    try:
        model = create_model(cfg.model, **cfg.model_kwargs)
    except (TypeError, ValueError, OSError) as exc:
        raise RunError(f"model {cfg.model} with model_kwargs={cfg.model_kwargs}: {exc}") from None
    start_from = cfg.init_path(fold)
    if start_from:
        from gwkit.models import load_checkpoint

        try:
            start, _ = load_checkpoint(start_from)
            if start.gwkit_spec != model.gwkit_spec:
                raise ValueError(f"it holds {start.gwkit_spec['name']} with other arguments than "
                                 f"model={cfg.model}, model_kwargs={cfg.model_kwargs}")
            model.load_state_dict(start.state_dict())
        except (OSError, ValueError, RuntimeError) as exc:
            raise RunError(f"init_from={start_from}: {str(exc).splitlines()[0]}") from None
    return model


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam(W) with weight decay on weight matrices and kernels only (not biases or norms)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))


@torch.no_grad()
def validate(model: nn.Module, val: ValSet, *, batch_size: int, device: torch.device,
             autocast=nullcontext) -> tuple[dict[str, float], np.ndarray]:
    """Validation metrics (loss, accuracy, pooled, partial and per-SNR AUC) and the logits."""
    model.eval()
    logits = []
    for x, _ in val.batches(batch_size, device):
        with autocast():
            logits.append(model(x).float().squeeze(1).cpu())
    logit = torch.cat(logits)
    y = torch.as_tensor(val.y, dtype=torch.float32)
    metrics = {
        "val_loss": float(F.binary_cross_entropy_with_logits(logit, y)),
        "val_acc": accuracy(val.y, logit.numpy()),
        "val_auc": roc_auc(val.y, logit.numpy()),
        "val_pauc": partial_auc(val.y, logit.numpy()),
    }
    for snr, auc in per_snr_auc(val.y, logit.numpy(), val.snr_group).items():
        metrics[snr_key(snr)] = auc
    return metrics, logit.numpy()


def oof_table(val: ValSet, logit: np.ndarray, fold: int) -> pd.DataFrame:
    """Out-of-fold predictions, one row per validation sample (columns: :data:`OOF_COLUMNS`).

    ``id`` = ``fold * len(val) + row`` is unique within the run, and the same
    sample in every run that shares bank, seed, folds and validation settings.
    """
    return pd.DataFrame({
        "id": fold * len(val) + np.arange(len(val)), "label": val.y.astype(int),
        "snr_group": val.snr_group, "waveform_id": val.row_group, "logit": logit, "fold": fold,
    }, columns=list(OOF_COLUMNS))


def save_curves(history: list[dict[str, Any]], path: Path, title: str = "") -> None:
    """:func:`plot_curves` written to ``path`` (PNG)."""
    fig = plot_curves(history, title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)


def plot_curves(history: list[dict[str, Any]], title: str = ""):
    """Loss and AUC per epoch under ``title``: a ``matplotlib.figure.Figure`` (no pyplot state)."""
    from matplotlib.figure import Figure

    df = pd.DataFrame(history)
    fig = Figure(figsize=(10, 4))
    ax_loss, ax_auc = fig.subplots(1, 2)
    ax_loss.plot(df["epoch"], df["train_loss"], label="train")
    ax_loss.plot(df["epoch"], df["val_loss"], label="validation")
    ax_loss.set(xlabel="epoch", ylabel="BCE loss")
    ax_loss.legend()
    ax_auc.plot(df["epoch"], df["val_auc"], "k-", lw=2, label="pooled")
    for snr in (4, 6, 8, 10, 15):
        if snr_key(snr) in df:
            ax_auc.plot(df["epoch"], df[snr_key(snr)], lw=1, label=f"SNR {snr}")
    ax_auc.set(xlabel="epoch", ylabel="validation AUC", ylim=(0.45, 1.01))
    ax_auc.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def format_auc(metrics: dict[str, float]) -> str:
    """``AUC 0.8710 pAUC 0.5512 | per SNR 2: 0.51, 4: 0.58, ...``."""
    per = ", ".join(f"{k.removeprefix('auc_snr')}: {v:.3f}" for k, v in metrics.items()
                    if k.startswith("auc_snr"))
    return f"AUC {metrics['val_auc']:.4f} pAUC {metrics['val_pauc']:.4f} | per SNR {per}"


# ---------------------------------------------------------------- checks before any write


def fold_plan(cfg: TrainConfig, fold: int, *, resume: bool, skip_existing: bool) -> str:
    """``"skip"``, ``"resume"``, ``"restart"``, ``"absent"`` or ``"fresh"``; RunError if it
    would overwrite.

    With ``resume``: ``"restart"`` for a fold killed between its first ``best.pt``
    and ``last.pt`` (no training state to continue; starting again from scratch
    reproduces that ``best.pt``), ``"absent"`` when there is nothing to resume.
    Both train from scratch, like ``"fresh"``.
    """
    out = fold_dir(cfg, fold)
    last, best, oof = out / "last.pt", out / "best.pt", out / "oof.csv"
    if skip_existing and best.is_file() and oof.is_file():
        return "skip"
    if resume and last.is_file():
        check_resumable(cfg, last)
        return "resume"
    if resume:
        return "restart" if best.is_file() else "absent"
    if best.is_file() and not last.is_file():
        raise RunError(f"{out} holds best.pt but no last.pt (killed during its first epoch); "
                       "pass --resume to restart the fold from scratch, or choose another --name")
    if last.is_file():
        raise RunError(f"{out} already holds a run; pass --resume to continue it, "
                       "--skip-existing to skip finished folds, or choose another --name")
    return "fresh"


def read_training_checkpoint(path: Path) -> dict[str, Any]:
    """``best.pt``/``last.pt`` through the one checkpoint reader; RunError naming the file."""
    from gwkit.models import read_checkpoint

    try:
        ckpt = read_checkpoint(path)
    except (OSError, ValueError) as exc:
        raise RunError(str(exc).splitlines()[0]) from None
    if "config" not in ckpt or "model" not in ckpt:
        raise RunError(f"{path}: not a gwkit training checkpoint (no config or model entry)")
    return ckpt


#: What ``last.pt`` holds beyond a model checkpoint (``best.pt`` lacks these).
_TRAINING_STATE = ("optimizer", "step", "epoch", "stopped", "best_epoch", "bad_epochs",
                   "history", "rng")


def check_resumable(cfg: TrainConfig, path: Path) -> None:
    """RunError unless ``path`` is a training state written by this model and these settings
    that ``--resume`` can load: whole counters, a list of epoch rows, one generator state per
    process and stream, and weights, optimizer and EMA state that load into a fresh learner
    of ``cfg`` on the CPU. Nothing is written: a file that fails is left as it is."""
    ckpt = read_training_checkpoint(path)
    missing = [k for k in _TRAINING_STATE if k not in ckpt]
    if missing:
        raise RunError(f"{path} holds no training state (no {', '.join(missing[:3])}): a copy of "
                       "best.pt? Put the run's own last.pt back, or delete it and pass --resume "
                       "to restart the fold from scratch")
    if not isinstance(ckpt["model"], dict) or not isinstance(ckpt["config"], dict):
        raise RunError(f"{path}: cannot resume from it: its model spec or config is not a mapping"
                       f"{_RESTART}")
    name = ckpt["model"].get("name")
    if name != cfg.model:
        raise RunError(f"{path} holds model {name!r}, the config asks for {cfg.model!r}; "
                       "resume with the same model or choose another --name")
    diff = {k: v for k, v in config_diff(ckpt["config"], cfg).items() if k not in MAY_CHANGE}
    if diff:
        what = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
        raise RunError(f"{path} was trained with other settings ({what}); resume with the "
                       "same settings or choose another --name")
    _check_progress(ckpt, path)
    _check_rng(ckpt, path)
    # the state replaces every weight: no need to read init_from
    load_training_state(ckpt, make_learner(replace(cfg, init_from=None), Dist(),
                                           torch.device("cpu")), path)


#: The way out of a last.pt that cannot be resumed, for the end of its message.
_RESTART = ("; delete it and pass --resume to restart the fold from scratch, or choose another "
            "--name")


def _why(exc: BaseException) -> str:
    """An exception's message on one line (at most 200 characters)."""
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _check_progress(ckpt: dict[str, Any], path: Path) -> None:
    """RunError unless the counters and history of ``last.pt`` are numbers and rows."""
    whole = {"step": 0, "epoch": 0, "best_epoch": -1, "bad_epochs": 0,
             "world_size": 1}
    for key, least in whole.items():
        value = ckpt.get(key, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise RunError(f"{path}: cannot resume from it: {key} is {value!r}, expected a whole "
                           f"number >= {least}{_RESTART}")
    best = ckpt.get("best_score", ckpt.get("best_auc"))
    if not isinstance(best, (int, float)) or isinstance(best, bool) or math.isnan(best):
        raise RunError(f"{path}: cannot resume from it: best_score is {best!r}, expected a "
                       f"number{_RESTART}")
    if not isinstance(ckpt["stopped"], bool):
        raise RunError(f"{path}: cannot resume from it: stopped is {ckpt['stopped']!r}, expected "
                       f"true or false{_RESTART}")
    history = ckpt["history"]
    if not isinstance(history, list) or not all(isinstance(row, dict) for row in history):
        raise RunError(f"{path}: cannot resume from it: its history is not a list of epoch "
                       f"rows{_RESTART}")


#: Bytes of a CUDA generator's state (seed and offset of its Philox stream).
_CUDA_STATE_BYTES = 16


def _check_rng(ckpt: dict[str, Any], path: Path) -> None:
    """RunError unless ``last.pt`` holds one generator state per process for every stream:
    CPU states (``torch``, and ``engine`` on the CPU) load into a scratch generator, CUDA
    ones (``cuda``, ``engine`` on a GPU) have a CUDA state's size and, where CUDA is
    available, load into a scratch CUDA generator."""
    rng, world = ckpt["rng"], ckpt.get("world_size", 1)
    cpu_bytes = torch.get_rng_state().numel()
    sizes = {"engine": (cpu_bytes, _CUDA_STATE_BYTES), "torch": (cpu_bytes,),
             "cuda": (_CUDA_STATE_BYTES,)}
    for stream, allowed in sizes.items():
        states = rng.get(stream) if isinstance(rng, dict) else None
        if stream == "cuda" and states is None:
            continue
        if not isinstance(states, list) or len(states) != world:
            raise RunError(f"{path}: cannot resume from it: its {stream} RNG states are not a "
                           f"list of {world} (one per process){_RESTART}")
        for rank, state in enumerate(states):
            ok = (isinstance(state, torch.Tensor) and state.dtype == torch.uint8
                  and state.dim() == 1 and state.numel() in allowed)
            scratch = ("cpu" if state.numel() == cpu_bytes else "cuda" if torch.cuda.is_available()
                       else None) if ok else None
            if scratch is not None:  # load it into a generator of its kind
                try:
                    torch.Generator(device=scratch).set_state(state)
                except RuntimeError:
                    ok = False
            if not ok:
                raise RunError(f"{path}: cannot resume from it: the {stream} RNG state of "
                               f"process {rank} is not a generator state{_RESTART}")


def load_training_state(ckpt: dict[str, Any], learner: Learner, path: Path) -> None:
    """Load the weights, optimizer and EMA of ``ckpt`` (``last.pt``) into ``learner``.

    RunError naming ``path`` when a tensor has another shape, the optimizer other
    parameter groups or sizes, or the EMA other entries than ``learner``'s.
    """
    pieces = [("weights do", learner.model, ckpt["state_dict"]),
              ("optimizer state does", learner.optimizer, ckpt["optimizer"])]
    if learner.ema is not None:
        pieces.append(("EMA weights do", learner.ema, ckpt.get("ema")))
    for what, target, state in pieces:
        try:
            if not isinstance(state, dict):
                raise TypeError(f"found {type(state).__name__}, expected a mapping")
            target.load_state_dict(state)
        except (RuntimeError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise RunError(f"{path}: cannot resume from it: its {what} not fit this "
                           f"{learner.model.gwkit_spec['name']} ({_why(exc)}){_RESTART}") from None
    for group in learner.optimizer.param_groups:
        for param in group["params"]:
            for key, value in learner.optimizer.state.get(param, {}).items():
                if isinstance(value, torch.Tensor) and value.dim() and value.shape != param.shape:
                    raise RunError(f"{path}: cannot resume from it: its optimizer's {key} has "
                                   f"shape {tuple(value.shape)} for a parameter of shape "
                                   f"{tuple(param.shape)}{_RESTART}")


def check_run_config(cfg: TrainConfig) -> None:
    """RunError if ``<out_dir>/<name>/config.yaml`` holds different settings."""
    path = Path(cfg.out_dir) / cfg.name / "config.yaml"
    if not path.is_file():
        return
    try:
        previous = load_config(path)
    except ConfigError as exc:  # its message names the file
        raise RunError(str(exc)) from None
    diff = {k: v for k, v in config_diff(previous, cfg).items() if k not in MAY_CHANGE}
    if diff:
        what = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
        raise RunError(f"run {path.parent} was made with other settings ({what}); "
                       "use another --name")


# ---------------------------------------------------------------- one fold: the pieces


@dataclass
class Progress:
    """Where a fold stands: what ``last.pt`` keeps beyond weights, optimizer and RNG states."""

    step: int = 0
    epoch: int = 0
    best_score: float = -math.inf  # best value of the selection metric (cfg.select_metric)
    best_epoch: int = -1
    bad_epochs: int = 0
    stopped: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)


def select_key(cfg: TrainConfig) -> str:
    """The validation column ``cfg.select_metric`` names: ``val_auc`` or ``val_pauc``."""
    return f"val_{cfg.select_metric}"


def after_epoch(progress: Progress, row: dict[str, Any], patience: int,
                metric: str = "val_auc") -> tuple[Progress, bool]:
    """``progress`` after an epoch scored as ``row``; and whether ``row[metric]`` improved.

    Early stopping: ``stopped`` once ``patience`` epochs in a row did not beat the
    best ``metric`` (never when ``patience`` is 0).
    """
    improved = row[metric] > progress.best_score
    if improved:
        best_score, best_epoch, bad_epochs = row[metric], progress.epoch, 0
    else:
        best_score, best_epoch, bad_epochs = (progress.best_score, progress.best_epoch,
                                              progress.bad_epochs + 1)
    return replace(progress, best_score=best_score, best_epoch=best_epoch, bad_epochs=bad_epochs,
                   stopped=patience > 0 and bad_epochs >= patience,
                   history=[*progress.history, row]), improved


@dataclass
class Learner:
    """The model, its optimizer and EMA, and the modules that train and validate."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    ema: nn.Module | None  # torch.optim.swa_utils.AveragedModel when cfg.ema > 0
    train_model: nn.Module  # model, wrapped by DDP and/or torch.compile when asked
    eval_model: nn.Module  # the EMA's weights when cfg.ema > 0, else model


def make_learner(cfg: TrainConfig, d: Dist, device: torch.device, fold: int = 0) -> Learner:
    """Model (initialised from torch's RNG, or ``fold``'s ``init_from``), optimizer and EMA
    on ``device``."""
    model = build_model(cfg, fold).to(device)
    optimizer = make_optimizer(model, cfg)
    ema = None
    if cfg.ema > 0:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True)
    train_model: nn.Module = model
    if d.enabled:
        ids = [device.index] if device.type == "cuda" else None
        train_model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if cfg.compile:
        train_model = torch.compile(train_model)
    return Learner(model, optimizer, ema, train_model, ema.module if ema is not None else model)


def seed_fold(cfg: TrainConfig, fold: int, d: Dist, device: torch.device) -> torch.Generator:
    """Seed torch's RNG (initialisation, dropout) and return the data stream's generator."""
    torch.manual_seed(derive_seed(cfg.seed, TORCH_STREAM, fold, d.rank))
    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(cfg.seed, TRAIN_STREAM, fold, d.rank))
    return gen


def restore(path: Path, learner: Learner, gen: torch.Generator, d: Dist,
            device: torch.device) -> Progress:
    """Load ``last.pt`` into ``learner`` and the RNGs; return the progress it recorded."""
    ckpt = read_training_checkpoint(path)
    if ckpt.get("world_size", 1) != d.world_size:
        raise RunError(f"{path} was written by {ckpt.get('world_size', 1)} processes; "
                       f"resume it with the same number (now {d.world_size})")
    load_training_state(ckpt, learner, path)
    try:
        gen.set_state(ckpt["rng"]["engine"][d.rank])
        torch.set_rng_state(ckpt["rng"]["torch"][d.rank])
        if device.type == "cuda" and ckpt["rng"].get("cuda"):
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"][d.rank], device)
    except (RuntimeError, TypeError, KeyError, IndexError) as exc:
        raise RunError(f"{path}: cannot resume from it: its RNG states do not fit this "
                       f"device ({_why(exc)}){_RESTART}") from None
    best = ckpt["best_score"] if "best_score" in ckpt else ckpt["best_auc"]  # older: by AUC
    return Progress(step=ckpt["step"], epoch=ckpt["epoch"], best_score=best,
                    best_epoch=ckpt["best_epoch"], bad_epochs=ckpt["bad_epochs"],
                    stopped=ckpt["stopped"], history=ckpt["history"])


def rng_states(gen: torch.Generator, d: Dist, device: torch.device) -> dict[str, Any]:
    """Every process's data-stream, torch and CUDA RNG states (a collective under DDP)."""
    return {"engine": gather(gen.get_state(), d), "torch": gather(torch.get_rng_state(), d),
            "cuda": gather(torch.cuda.get_rng_state(device), d)
            if device.type == "cuda" else None}


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> float:
    """Set every parameter group's learning rate to ``lr``; returns it."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def train_step(learner: Learner, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig,
               autocast=nullcontext, soft: torch.Tensor | None = None) -> torch.Tensor:
    """One optimizer step on ``(x, y)`` (gradient clipping, EMA update); the detached loss.

    ``soft``: a teacher's probabilities, weighted by ``cfg.distill`` against the labels.
    """
    with autocast():
        logit = learner.train_model(x).squeeze(1)
    # BCE is linear in its target: (1 - w) BCE(l, y) + w BCE(l, p) = BCE(l, (1 - w) y + w p)
    target = y if soft is None else torch.lerp(y, soft, cfg.distill)
    loss = F.binary_cross_entropy_with_logits(logit.float(), target)
    learner.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(learner.model.parameters(), cfg.grad_clip)
    learner.optimizer.step()
    if learner.ema is not None:
        learner.ema.update_parameters(learner.model)
    return loss.detach()


def save_epoch(out: Path, learner: Learner, cfg: TrainConfig, fold: int, progress: Progress,
               best_metrics: dict[str, float] | None, rng: dict[str, Any], d: Dist) -> None:
    """``best.pt`` (when the epoch improved: ``best_metrics``), ``last.pt``, metrics and curves."""
    if best_metrics is not None:
        _save(out / "best.pt", learner.eval_model, cfg, fold=fold, epoch=progress.epoch,
              step=progress.step, metrics=best_metrics, select_metric=cfg.select_metric,
              best_score=progress.best_score)
    _save(out / "last.pt", learner.model, cfg, fold=fold, epoch=progress.epoch,
          step=progress.step, optimizer=learner.optimizer.state_dict(),
          ema=learner.ema.state_dict() if learner.ema is not None else None,
          select_metric=cfg.select_metric, best_score=progress.best_score,
          best_epoch=progress.best_epoch,
          bad_epochs=progress.bad_epochs, stopped=progress.stopped, history=progress.history,
          rng=rng, world_size=d.world_size)
    if "csv" not in cfg.logger:
        return
    write_csv(pd.DataFrame(progress.history), out / "metrics.csv")
    save_curves(progress.history, out / "curves.png",
                f"{cfg.name} fold {fold}: {cfg.model}, {progress.step * cfg.batch_size * d.world_size:,} "
                f"samples")


def epoch_line(fold: int, cfg: TrainConfig, progress: Progress, improved: bool) -> str:
    """``fold 0 epoch 3/10: loss ... AUC 0.8123 pAUC 0.5521 * | 250 samples/s``.

    ``*`` marks an epoch that improved ``cfg.select_metric`` (a new ``best.pt``).
    """
    row = progress.history[-1]
    note = " *" if improved else (" (early stop)" if progress.stopped else "")
    return (f"fold {fold} epoch {progress.epoch}/{cfg.epochs}: loss {row['train_loss']:.4f} "
            f"val_loss {row['val_loss']:.4f} acc {row['val_acc']:.3f} "
            f"AUC {row['val_auc']:.4f} pAUC {row['val_pauc']:.4f}{note} | "
            f"{row['samples_per_s']:.0f} samples/s")


def finish_fold(out: Path, learner: Learner, val: ValSet, cfg: TrainConfig, fold: int,
                autocast, device: torch.device) -> dict[str, float]:
    """Score the validation set with ``best.pt``'s weights; write ``oof.csv``; the metrics."""
    best = read_training_checkpoint(out / "best.pt")
    learner.eval_model.load_state_dict(best["state_dict"])
    summary, logit = validate(learner.eval_model, val, batch_size=cfg.eval_batch_size,
                              device=device, autocast=autocast)
    write_csv(oof_table(val, logit, fold), out / "oof.csv")
    print(f"fold {fold} best epoch {best['epoch']}: {format_auc(summary)}", flush=True)
    return summary


def fold_teacher(cfg: TrainConfig, fold: int, fold_data: FoldData, d: Dist,
                 device: torch.device) -> Teacher:
    """``cfg.teacher``, calibrated on the fold's own training samples (seeded, resumable)."""
    from gwkit.training.teacher import calibrate, load_teacher

    try:
        teacher = load_teacher(cfg.teacher, device)
    except (OSError, ValueError) as exc:
        raise RunError(f"teacher={cfg.teacher}: {str(exc).splitlines()[0]}") from None
    gen = torch.Generator(device=fold_data.device)
    gen.manual_seed(derive_seed(cfg.seed, TEACHER_STREAM, fold, d.rank))
    last = cfg.total_steps - 1  # the curriculum's last SNR mix: the one scored

    def batch(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = (fold_data.engine_batch(cfg.batch_size, last, gen) if fold_data.sampler else
                fold_data.train_batch(i, gen))
        return x.to(device), y.to(device)

    teacher = calibrate(teacher, batch, cfg.teacher_batches)
    if d.is_main:
        print(f"fold {fold}: teacher {cfg.teacher} calibrated on {cfg.teacher_batches} batches: "
              f"log-odds = {teacher.scale:.3f} * 10 asinh(t / 10) {teacher.bias:+.3f}; "
              f"distill {cfg.distill}", flush=True)
    return teacher


# ---------------------------------------------------------------- one fold: the loop


def train_fold(cfg: TrainConfig, fold: int, data: RunData, *,
               resume: bool = False, d: Dist = Dist(), device: torch.device | None = None,
               ) -> dict[str, float]:
    """Train fold ``fold`` (fresh or from ``last.pt``); returns the best epoch's metrics."""
    device = device or pick_device(cfg.device, d.local_rank)
    out = fold_dir(cfg, fold)
    autocast = autocast_for(cfg, device)
    fold_data = prepare_fold_data(cfg, fold, data, d, device)  # training batches, validation set
    gen = seed_fold(cfg, fold, d, fold_data.device)
    learner = make_learner(cfg, d, device, fold)
    teacher = fold_teacher(cfg, fold, fold_data, d, device) if cfg.distill > 0 else None
    progress = Progress()
    if resume:
        progress = restore(out / "last.pt", learner, gen, d, device)
        if d.is_main:
            print(f"fold {fold}: resuming after epoch {progress.epoch} (step {progress.step})",
                  flush=True)
    tracker = open_tracker(cfg.logger if d.is_main else (), out, name=f"{cfg.name}-fold{fold}",
                           group=cfg.name, job_type="train", config={**cfg.to_dict(), "fold": fold},
                           purge_step=progress.step + 1, resume=resume)

    from tqdm.auto import tqdm

    while progress.epoch < cfg.epochs and not progress.stopped:
        learner.train_model.train()
        bar = tqdm(range(cfg.steps_per_epoch), desc=f"fold {fold} epoch {progress.epoch + 1}/"
                   f"{cfg.epochs}", leave=False, dynamic_ncols=True, mininterval=1.0,
                   disable=None if d.is_main else True)  # None: a bar on a terminal only
        loss_sum, t_epoch = torch.zeros((), device=device), time.perf_counter()
        for i in bar:
            lr = set_lr(learner.optimizer, get_lr(progress.step, cfg))
            x, y = fold_data.train_batch(progress.step, gen)
            x, y = x.to(device), y.to(device)
            soft = teacher.soft_labels(x) if teacher is not None else None
            loss = train_step(learner, x, y, cfg, autocast, soft)
            loss_sum += loss
            progress.step += 1
            if d.is_main and (i + 1) % 10 == 0:
                rate = (i + 1) * cfg.batch_size * d.world_size / (time.perf_counter() - t_epoch)
                step_loss = loss.item()
                bar.set_postfix(loss=f"{step_loss:.3f}", lr=f"{lr:.2e}", smp_s=f"{rate:.0f}")
                tracker.log(progress.step, {"train/loss": step_loss, "train/lr": lr,
                                            "train/samples_per_s": rate})
        bar.close()
        seconds = time.perf_counter() - t_epoch
        progress.epoch += 1

        rng = rng_states(gen, d, device)  # before validation: a collective under DDP
        if d.is_main:
            metrics, _ = validate(learner.eval_model, fold_data.val, batch_size=cfg.eval_batch_size,
                                  device=device, autocast=autocast)
            samples = cfg.steps_per_epoch * cfg.batch_size * d.world_size
            row = {"epoch": progress.epoch, "step": progress.step, "lr": lr,
                   "train_loss": float(loss_sum) / cfg.steps_per_epoch, **metrics,
                   "samples_per_s": samples / seconds, "epoch_s": seconds}
            progress, improved = after_epoch(progress, row, cfg.patience, select_key(cfg))
            save_epoch(out, learner, cfg, fold, progress, metrics if improved else None, rng, d)
            tracker.log(progress.step, epoch_scalars(row))
            tqdm.write(epoch_line(fold, cfg, progress, improved))
        progress.stopped = broadcast(progress.stopped, d)
    if tracker:
        tracker.log_figure("curves", plot_curves(progress.history, f"{cfg.name} fold {fold}"),
                           progress.step)
    tracker.close()

    summary = finish_fold(out, learner, fold_data.val, cfg, fold, autocast, device) \
        if d.is_main else {}
    d.barrier()
    return summary


def _save(path: Path, model: nn.Module, cfg: TrainConfig, **extra: Any) -> None:
    from gwkit.models import save_checkpoint

    save_checkpoint(path, model, config=cfg.to_dict(), **extra)


def combine_oof(cfg: TrainConfig, reported: Collection[int] = ()) -> pd.DataFrame | None:
    """Concatenate the finished folds' ``oof.csv`` into ``<run>/oof.csv``; prints the CV AUC.

    The AUC line is left out when it would repeat the one fold in ``reported``
    (folds whose own AUC line was just printed).
    """
    run = Path(cfg.out_dir) / cfg.name
    found = {k: fold_dir(cfg, k) / "oof.csv" for k in range(cfg.n_folds)}
    done = [k for k, p in found.items() if p.is_file()]
    if not done:
        return None
    oof = pd.concat([read_oof(found[k]) for k in done], ignore_index=True)  # legacy files too
    write_csv(oof, run / "oof.csv")
    missing = [k for k in found if k not in done]
    note = f" (folds {missing} not run yet)" if missing else ""
    if len(done) == 1 and done[0] in reported:
        print(f"CV over 1 fold{note}: fold {done[0]}'s AUC above", flush=True)
        return oof
    per = per_snr_auc(oof["label"], oof["logit"], oof["snr_group"])
    metrics = {"val_auc": roc_auc(oof["label"], oof["logit"]),
               "val_pauc": partial_auc(oof["label"], oof["logit"]),
               **{snr_key(s): a for s, a in per.items()}}
    print(f"CV over {len(done)} fold{'s' if len(done) > 1 else ''}{note}: {format_auc(metrics)}",
          flush=True)
    return oof
