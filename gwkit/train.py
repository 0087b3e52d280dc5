"""Train a detector with grouped K-fold cross-validation over bank waveforms.

    python -m gwkit.train --fold 0                      # demo preset: CPU, a few minutes
    python -m gwkit.train --preset baseline --fold all
    python -m gwkit.train --preset resnet1d --fold 2 --set lr=3e-3 --set snr=uniform:5:30
    python -m gwkit.train --fold 0 --resume             # after a crash or kill -9
    torchrun --nproc_per_node 4 -m gwkit.train --preset resnet1d --fold 0
    python -m gwkit.train --preset course_sav --train-data data/course_sav --fold 0

With nothing prepared, a small waveform bank is built once and cached
(``cache/bank_n<size>_seed<seed>_v<format>.h5``, resumable). Fold ``k`` validates on the
waveforms of fold ``k`` (a fixed, seeded set with the competition's SNR mix)
and trains on freshly simulated samples of the other folds' waveforms.

With ``--train-data PATH ...`` (``train_data``) it trains on fixed files instead
(:mod:`gwkit.data.training`: course ``.sav`` blocks, ``.npy`` + ``labels.csv``,
gwkit HDF5; read a batch at a time). Their rows are grouped by waveform and
shared noise and the groups dealt to folds (``data_folds.csv``); fold ``k``
validates on its groups' rows (``val_source=files``) or on the engine's set
(``val_source=engine``, every file row trains). Each step reads the next rows
of a seeded pass over the training rows (:func:`gwkit.fold_data.fixed_rows`),
``engine_fraction`` of the batch coming from the engine, and augments them
(``time_shift_p``, ``sign_flip_p``, and in physical mode ``swap_p``,
``detector_shift_p``). What each fold draws from is :mod:`gwkit.fold_data`;
this module is the loop, the checkpoints and the command line.

Outputs, all written atomically and only by rank 0::

    runs/<name>/config.yaml  folds.csv  data_folds.csv (train_data)  oof.csv (folds so far)
    runs/<name>/fold<k>/config.yaml  val.h5  metrics.csv  curves.png
                        best.pt  last.pt  oof.csv

``last.pt`` (every epoch) holds model, optimizer, EMA, step, epoch, best metric,
config and every process's RNG states, so ``--resume`` after a kill continues
exactly as if never interrupted; a fold killed before its first ``last.pt``
(only ``best.pt`` written) restarts from scratch with ``--resume``, which says
so, as it does when there is nothing to resume. ``best.pt`` holds the weights used for
validation (the EMA when ``ema > 0``) of the epoch with the best pooled AUC;
``oof.csv`` holds its validation predictions.

CPU threads: ``num_threads`` (0: the usable CPUs, shared among DDP processes;
:func:`gwkit.devices.cpu_threads`), with OpenMP's passive wait policy that
importing gwkit sets; the first line says what was chosen.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Collection
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from gwkit.config import (
    ConfigError,
    TrainConfig,
    config_diff,
    list_presets,
    load_config,
    resolve_config,
    save_config,
)
from gwkit.core.text import plain_doc
from gwkit.data.columns import OOF_COLUMNS, read_oof
from gwkit.data.competition import DataError
from gwkit.devices import DeviceError, pick_device, set_cpu_threads
from gwkit.distributed import Dist, broadcast, gather, setup_distributed
from gwkit.fileio import atomic_path, atomic_write
from gwkit.fold_data import (
    TEACHER_STREAM,
    TORCH_STREAM,
    TRAIN_STREAM,
    FoldData,
    RunData,
    RunError,
    ValSet,
    check_data_settings,
    derive_seed,
    fold_dir,
    make_train_sampler,
    open_train_data,
    prepare_bank,
    prepare_data_folds,
    prepare_fold_data,
    prepare_folds,
    prepare_val_set,
    uses_engine,
)
from gwkit.metrics import accuracy, per_snr_auc, roc_auc, snr_key

if TYPE_CHECKING:
    from gwkit.teacher import Teacher

__all__ = [  # the data pieces live in gwkit.fold_data and stay importable from here
    "Dist",
    "FoldData",
    "Learner",
    "Progress",
    "RunError",
    "after_epoch",
    "build_model",
    "evaluate",
    "get_lr",
    "derive_seed",
    "fold_dir",
    "main",
    "make_learner",
    "make_optimizer",
    "make_train_sampler",
    "prepare_bank",
    "prepare_folds",
    "prepare_val_set",
    "train_fold",
    "train_step",
]

#: Settings that may change when a fold is resumed or another fold joins the run.
MAY_CHANGE = frozenset({"epochs", "patience", "device", "amp", "compile", "num_threads",
                        "eval_batch_size", "out_dir"})


# ---------------------------------------------------------------- small helpers


def get_lr(step: int, cfg: TrainConfig) -> float:
    """Learning rate at ``step``: linear warm-up to ``lr``, then cosine decay to ``min_lr``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / (cfg.warmup_steps + 1)
    span = cfg.total_steps - cfg.warmup_steps
    ratio = min(1.0, (step - cfg.warmup_steps) / span) if span > 0 else 1.0
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (cfg.lr - cfg.min_lr)





def write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_write(path, "w", newline="") as fh:
        df.to_csv(fh, index=False)


# ---------------------------------------------------------------- model and evaluation


def build_model(cfg: TrainConfig) -> nn.Module:
    from gwkit.models import create_model

    try:
        model = create_model(cfg.model, **cfg.model_kwargs)
    except (TypeError, ValueError, OSError) as exc:
        raise RunError(f"model {cfg.model} with model_kwargs={cfg.model_kwargs}: {exc}") from None
    if cfg.init_from:
        from gwkit.models import load_checkpoint

        try:
            start, _ = load_checkpoint(cfg.init_from)
            if start.gwkit_spec != model.gwkit_spec:
                raise ValueError(f"it holds {start.gwkit_spec['name']} with other arguments than "
                                 f"model={cfg.model}, model_kwargs={cfg.model_kwargs}")
            model.load_state_dict(start.state_dict())
        except (OSError, ValueError, RuntimeError) as exc:
            raise RunError(f"init_from={cfg.init_from}: {str(exc).splitlines()[0]}") from None
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
def evaluate(model: nn.Module, val: ValSet, *, batch_size: int, device: torch.device,
             autocast=nullcontext) -> tuple[dict[str, float], np.ndarray]:
    """Validation metrics (loss, accuracy, pooled and per-SNR AUC) and the logits."""
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
        "snr_group": val.snr_group, "waveform_id": val.waveform_id, "logit": logit, "fold": fold,
    }, columns=list(OOF_COLUMNS))


def save_curves(history: list[dict[str, Any]], path: Path, title: str = "") -> None:
    """Loss and AUC per epoch (matplotlib, Agg backend), under ``title``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.DataFrame(history)
    fig, (ax_loss, ax_auc) = plt.subplots(1, 2, figsize=(10, 4))
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
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def format_auc(metrics: dict[str, float]) -> str:
    """``AUC 0.871 | SNR 2: 0.51, 4: 0.58, ...``."""
    per = ", ".join(f"{k.removeprefix('auc_snr')}: {v:.3f}" for k, v in metrics.items()
                    if k.startswith("auc_snr"))
    return f"AUC {metrics['val_auc']:.4f} | per SNR {per}"


# ---------------------------------------------------------------- checks before any write


def _fold_state(cfg: TrainConfig, fold: int, *, resume: bool, skip_existing: bool) -> str:
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
        _check_resumable(cfg, last)
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


def _load_raw(path: Path) -> dict[str, Any]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same message
        raise RunError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or "config" not in ckpt or "model" not in ckpt:
        raise RunError(f"{path}: not a gwkit training checkpoint (no config or model entry)")
    return ckpt


#: What ``last.pt`` holds beyond a model checkpoint (``best.pt`` lacks these).
_TRAINING_STATE = ("optimizer", "step", "epoch", "stopped", "best_auc", "best_epoch",
                   "bad_epochs", "history", "rng")


def _check_resumable(cfg: TrainConfig, path: Path) -> None:
    """RunError unless ``path`` is a training state written by this model and these settings."""
    ckpt = _load_raw(path)
    missing = [k for k in _TRAINING_STATE if k not in ckpt]
    if missing:
        raise RunError(f"{path} holds no training state (no {', '.join(missing[:3])}): a copy of "
                       "best.pt? Put the run's own last.pt back, or delete it and pass --resume "
                       "to restart the fold from scratch")
    name = ckpt["model"].get("name")
    if name != cfg.model:
        raise RunError(f"{path} holds model {name!r}, the config asks for {cfg.model!r}; "
                       "resume with the same model or choose another --name")
    diff = {k: v for k, v in config_diff(ckpt["config"], cfg).items() if k not in MAY_CHANGE}
    if diff:
        what = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
        raise RunError(f"{path} was trained with other settings ({what}); resume with the "
                       "same settings or choose another --name")


def _check_run_config(cfg: TrainConfig) -> None:
    """RunError if ``<out_dir>/<name>/config.yaml`` holds different settings."""
    path = Path(cfg.out_dir) / cfg.name / "config.yaml"
    if not path.is_file():
        return
    try:
        previous = load_config(path)
    except ConfigError as exc:
        raise RunError(f"{path}: {exc}") from None
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
    best_auc: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    stopped: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)


def after_epoch(progress: Progress, row: dict[str, Any], patience: int) -> tuple[Progress, bool]:
    """``progress`` after an epoch scored as ``row`` (with ``val_auc``); and whether it improved.

    Early stopping: ``stopped`` once ``patience`` epochs in a row did not beat the
    best AUC (never when ``patience`` is 0).
    """
    improved = row["val_auc"] > progress.best_auc
    if improved:
        best_auc, best_epoch, bad_epochs = row["val_auc"], progress.epoch, 0
    else:
        best_auc, best_epoch, bad_epochs = progress.best_auc, progress.best_epoch, progress.bad_epochs + 1
    return replace(progress, best_auc=best_auc, best_epoch=best_epoch, bad_epochs=bad_epochs,
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


def make_learner(cfg: TrainConfig, d: Dist, device: torch.device) -> Learner:
    """Model (initialised from torch's RNG), optimizer and EMA on ``device``."""
    model = build_model(cfg).to(device)
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
    ckpt = _load_raw(path)
    if ckpt.get("world_size", 1) != d.world_size:
        raise RunError(f"{path} was written by {ckpt.get('world_size', 1)} processes; "
                       f"resume it with the same number (now {d.world_size})")
    learner.model.load_state_dict(ckpt["state_dict"])
    learner.optimizer.load_state_dict(ckpt["optimizer"])
    if learner.ema is not None:
        learner.ema.load_state_dict(ckpt["ema"])
    gen.set_state(ckpt["rng"]["engine"][d.rank])
    torch.set_rng_state(ckpt["rng"]["torch"][d.rank])
    if device.type == "cuda" and ckpt["rng"].get("cuda"):
        torch.cuda.set_rng_state(ckpt["rng"]["cuda"][d.rank], device)
    return Progress(step=ckpt["step"], epoch=ckpt["epoch"], best_auc=ckpt["best_auc"],
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
    loss = F.binary_cross_entropy_with_logits(logit.float(), y)
    if soft is not None:
        loss = (1 - cfg.distill) * loss + cfg.distill * F.binary_cross_entropy_with_logits(
            logit.float(), soft)
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
              step=progress.step, metrics=best_metrics)
    _save(out / "last.pt", learner.model, cfg, fold=fold, epoch=progress.epoch,
          step=progress.step, optimizer=learner.optimizer.state_dict(),
          ema=learner.ema.state_dict() if learner.ema is not None else None,
          best_auc=progress.best_auc, best_epoch=progress.best_epoch,
          bad_epochs=progress.bad_epochs, stopped=progress.stopped, history=progress.history,
          rng=rng, world_size=d.world_size)
    write_csv(pd.DataFrame(progress.history), out / "metrics.csv")
    save_curves(progress.history, out / "curves.png",
                f"{cfg.name} fold {fold}: {cfg.model}, {progress.step * cfg.batch_size * d.world_size:,} "
                f"samples")


def epoch_line(fold: int, cfg: TrainConfig, progress: Progress, improved: bool) -> str:
    """``fold 0 epoch 3/10: loss ... AUC 0.8123 * | 250 samples/s``."""
    row = progress.history[-1]
    note = " *" if improved else (" (early stop)" if progress.stopped else "")
    return (f"fold {fold} epoch {progress.epoch}/{cfg.epochs}: loss {row['train_loss']:.4f} "
            f"val_loss {row['val_loss']:.4f} acc {row['val_acc']:.3f} "
            f"AUC {row['val_auc']:.4f}{note} | {row['samples_per_s']:.0f} samples/s")


def finish_fold(out: Path, learner: Learner, val: ValSet, cfg: TrainConfig, fold: int,
                autocast, device: torch.device) -> dict[str, float]:
    """Score the validation set with ``best.pt``'s weights; write ``oof.csv``; the metrics."""
    best = _load_raw(out / "best.pt")
    learner.eval_model.load_state_dict(best["state_dict"])
    summary, logit = evaluate(learner.eval_model, val, batch_size=cfg.eval_batch_size,
                              device=device, autocast=autocast)
    write_csv(oof_table(val, logit, fold), out / "oof.csv")
    print(f"fold {fold} best epoch {best['epoch']}: {format_auc(summary)}", flush=True)
    return summary


def fold_teacher(cfg: TrainConfig, fold: int, fold_data: FoldData, d: Dist,
                 device: torch.device) -> Teacher:
    """``cfg.teacher``, calibrated on the fold's own training samples (seeded, resumable)."""
    from gwkit.teacher import calibrate, load_teacher

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
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) \
        if (cfg.amp and device.type == "cuda") else nullcontext
    fold_data = prepare_fold_data(cfg, fold, data, d, device)  # training batches, validation set
    gen = seed_fold(cfg, fold, d, fold_data.device)
    learner = make_learner(cfg, d, device)
    teacher = fold_teacher(cfg, fold, fold_data, d, device) if cfg.distill > 0 else None
    progress = Progress()
    if resume:
        progress = restore(out / "last.pt", learner, gen, d, device)
        if d.is_main:
            print(f"fold {fold}: resuming after epoch {progress.epoch} (step {progress.step})",
                  flush=True)

    from tqdm.auto import tqdm

    while progress.epoch < cfg.epochs and not progress.stopped:
        learner.train_model.train()
        bar = tqdm(range(cfg.steps_per_epoch), desc=f"fold {fold} epoch {progress.epoch + 1}/"
                   f"{cfg.epochs}", disable=not d.is_main, leave=False, dynamic_ncols=True,
                   mininterval=1.0)
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
                bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.2e}", smp_s=f"{rate:.0f}")
        bar.close()
        seconds = time.perf_counter() - t_epoch
        progress.epoch += 1

        rng = rng_states(gen, d, device)  # before validation: a collective under DDP
        if d.is_main:
            metrics, _ = evaluate(learner.eval_model, fold_data.val, batch_size=cfg.eval_batch_size,
                                  device=device, autocast=autocast)
            samples = cfg.steps_per_epoch * cfg.batch_size * d.world_size
            row = {"epoch": progress.epoch, "step": progress.step, "lr": lr,
                   "train_loss": float(loss_sum) / cfg.steps_per_epoch, **metrics,
                   "samples_per_s": samples / seconds, "epoch_s": seconds}
            progress, improved = after_epoch(progress, row, cfg.patience)
            save_epoch(out, learner, cfg, fold, progress, metrics if improved else None, rng, d)
            tqdm.write(epoch_line(fold, cfg, progress, improved))
        progress.stopped = broadcast(progress.stopped, d)

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
    auc = roc_auc(oof["label"], oof["logit"])
    per = per_snr_auc(oof["label"], oof["logit"], oof["snr_group"])
    metrics = {"val_auc": auc, **{snr_key(s): a for s, a in per.items()}}
    print(f"CV over {len(done)} fold{'s' if len(done) > 1 else ''}{note}: {format_auc(metrics)}",
          flush=True)
    return oof


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m gwkit.train", description=plain_doc(__doc__.split("\n\n")[0]),
        epilog=f"presets: {', '.join(list_presets())}; settings: see gwkit/config.py",
    )
    parser.add_argument("--preset", default=None, help="preset name or YAML file (default: demo)")
    parser.add_argument("--fold", default="0", help="fold index, or 'all' (default: 0)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a setting (repeatable)")
    parser.add_argument("--train-data", nargs="+", metavar="PATH",
                        help="train on these files or folders: course *_ts_*.sav blocks, .npy with "
                             "labels.csv, gwkit .h5 (same as --set train_data=[...])")
    parser.add_argument("--device", help="auto, cpu, cuda, cuda:N, mps (same as --set device=)")
    parser.add_argument("--epochs", type=int, help="same as --set epochs=N")
    parser.add_argument("--name", help="run name (same as --set name=)")
    parser.add_argument("--out", help="output root folder (same as --set out_dir=)")
    parser.add_argument("--resume", action="store_true", help="continue folds from last.pt")
    parser.add_argument("--skip-existing", action="store_true",
                        help="skip folds whose best.pt and oof.csv exist")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved config as YAML and exit")
    return parser.parse_args(argv)


def _resolve(args: argparse.Namespace) -> TrainConfig:
    flags = {"device": args.device, "epochs": args.epochs, "name": args.name,
             "out_dir": args.out}
    extra = [f"{k}={v}" for k, v in flags.items() if v is not None]
    if args.train_data:  # JSON is YAML: any path survives
        extra.append(f"train_data={json.dumps(args.train_data)}")
    return resolve_config(args.preset, [*args.overrides, *extra])


def _folds_to_run(text: str, n_folds: int) -> list[int]:
    if text.strip().lower() == "all":
        return list(range(n_folds))
    try:
        folds = [int(v) for v in text.split(",")]
    except ValueError:
        raise RunError(f"--fold {text!r}: expected a fold index, a list like 0,2 or 'all'") from None
    bad = [k for k in folds if not 0 <= k < n_folds]
    if bad:
        raise RunError(f"--fold {text}: folds run from 0 to {n_folds - 1} (n_folds={n_folds})")
    twice = sorted({k for k in folds if folds.count(k) > 1})
    if twice:
        raise RunError(f"--fold {text}: fold {twice[0]} given twice (each fold trains once)")
    return folds


_PLAN_NOTES = {
    "skip": "best.pt and oof.csv exist, skipped",
    "restart": "{out} has best.pt but no last.pt (killed during its first epoch); "
               "restarting the fold from scratch",
    "absent": "--resume: nothing to resume in {out} (no last.pt); training from scratch",
}


def main(argv: list[str] | None = None) -> dict[int, dict[str, float]]:
    """Command-line entry point; returns each trained fold's best metrics (rank 0)."""
    args = parse_args(argv)
    try:
        cfg = _resolve(args)
        if args.print_config:
            import yaml

            print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
            return {}
        folds_to_run = _folds_to_run(args.fold, cfg.n_folds)
        # every check before anything is written
        check_data_settings(cfg)
        if uses_engine(cfg) and cfg.bank is not None and not Path(cfg.bank).is_file():
            raise RunError(f"bank={cfg.bank}: no such file (leave bank unset to build and "
                           f"cache {cfg.bank_size} waveforms in {cfg.cache_dir}/)")
        plan = {k: _fold_state(cfg, k, resume=args.resume, skip_existing=args.skip_existing)
                for k in folds_to_run}
        _check_run_config(cfg)
        build_model(cfg)  # fails here, before any write, on bad model_kwargs
        device = pick_device(cfg.device, int(os.environ.get("LOCAL_RANK", "0")))
        fixed = open_train_data(cfg)  # reads every row once: bad files fail here
    except (ConfigError, RunError, DeviceError, DataError) as exc:
        raise SystemExit(f"error: {exc}") from None

    d = setup_distributed(device)
    threads = set_cpu_threads(cfg.num_threads, d.world_size if d.enabled else 1)
    results: dict[int, dict[str, float]] = {}
    try:
        if d.is_main:
            print(f"run {Path(cfg.out_dir) / cfg.name}: model {cfg.model}, device {device}"
                  f"{f' x {d.world_size} processes' if d.enabled else ''}, "
                  f"folds {folds_to_run}; {threads}", flush=True)
        bank = prepare_bank(cfg, d) if uses_engine(cfg) else None
        data = RunData(bank, prepare_folds(cfg, bank, d) if bank is not None else None, fixed,
                       prepare_data_folds(cfg, fixed, d) if fixed is not None else None)
        if d.is_main and fixed is not None:
            print(f"train_data: {len(fixed)} rows ({int(fixed.y.sum())} signals) in "
                  f"{len(fixed.paths)} file(s), {int(fixed.group.max()) + 1} groups", flush=True)
        run_config = Path(cfg.out_dir) / cfg.name / "config.yaml"
        if d.is_main and not run_config.is_file():
            save_config(cfg, run_config)
        d.barrier()
        for k in folds_to_run:
            if d.is_main and plan[k] in _PLAN_NOTES:
                print(f"fold {k}: {_PLAN_NOTES[plan[k]].format(out=fold_dir(cfg, k))}", flush=True)
            if plan[k] == "skip":
                continue
            results[k] = train_fold(cfg, k, data, resume=plan[k] == "resume", d=d,
                                    device=device)
        if d.is_main:  # the run's oof.csv always covers every finished fold
            combine_oof(cfg, reported=results)
    except (RunError, DataError) as exc:
        raise SystemExit(f"error: {exc}") from None
    finally:
        if d.enabled and dist.is_initialized():
            dist.destroy_process_group()
    return results


if __name__ == "__main__":
    main()
