"""Inference as a library: fold checkpoints -> detection logits -> one ensembled logit per row.

Everything that turns trained checkpoints into scores lives here, for
``gwkit.predict``, ``gwkit.evaluate``, ``gwkit.scan`` and the benchmarks:

* discovery: :func:`find_checkpoints` (``fold*/best.pt`` of a training run,
  or ``*.pt`` files directly in a folder, e.g. ``weights/<preset>/fold0.pt``;
  or a fold ensemble exported by ``gwkit.export``, given as a file);
* loading: :func:`load_detector` rebuilds a checkpoint's model and checks
  that it fits the data (input length, one or two outputs), or loads an
  exported file through :mod:`gwkit.scoring.exported` (its contract checked);
* scoring: :func:`predict_logits` with test-time augmentation views
  (:func:`tta_views`);
* combining: :func:`ensemble` over folds, then runs.

Scores are **logits** end to end (log-odds of a signal): probabilities of
confident rows saturate at exactly 1.0 in float32 (at ~17 in float64 they
are still distinct, at ~37 no longer), which ties the loudest noise with the
loudest signals and costs sensitivity at low false-alarm rates. A two-output
model (the course CNN's softmax head) scores the log-odds of class 1 over
class 0. Probabilities are made once, at the very end, by
:func:`submission_target`.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from scipy.stats import rankdata

from gwkit.core.errors import GwkitError
from gwkit.core.metrics import roc_auc
from gwkit.data.columns import read_oof
from gwkit.sim.recipe import NSAMPLES

__all__ = [
    "run_logit",
    "cv_auc",
    "ENSEMBLE_CHOICES",
    "TTA_CHOICES",
    "Checkpoint",
    "Detector",
    "InferenceError",
    "contract_path",
    "ensemble",
    "find_checkpoints",
    "is_exported",
    "load_detector",
    "one_line",
    "predict_logits",
    "score_runs",
    "submission_target",
    "tta_views",
]

TTA_CHOICES = ("none", "flip", "all")
ENSEMBLE_CHOICES = ("logit", "mean", "rank")
EnsembleMethod = Literal["logit", "mean", "rank"]
#: Beyond this |logit| the submission target leaves the sigmoid for a slower tail (see below).
_TAIL_LOGIT = 20.0


class InferenceError(GwkitError, ValueError):
    """Checkpoints or data that cannot be scored; the message is one line naming the file."""


@dataclass(frozen=True)
class Checkpoint:
    """One fold checkpoint of a run."""

    run: str  # display name of the run (unique among the runs scored together)
    fold: str  # fold name ("fold0") or the .pt file's stem
    path: Path
    run_dir: Path


# --------------------------------------------------------------------------- discovery


def contract_path(path: str | os.PathLike) -> Path:
    """The contract beside a file exported by ``gwkit.export``: ``<file>.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def is_exported(path: str | os.PathLike) -> bool:
    """True for a file written by :func:`gwkit.scoring.exported.export_runs`: an ``.onnx`` or
    ``.pt2`` file, or one with a contract beside it (a TorchScript ``.pt``; a ``.pt`` without
    one is a checkpoint). Reads no file, imports no torch: discovery stays light."""
    path = Path(path)
    return path.suffix in (".onnx", ".pt2") or contract_path(path).is_file()


def _visible(path: Path) -> bool:
    """False for hidden files and folders (e.g. the temporary files of an interrupted write)."""
    return not path.name.startswith(".")


def run_checkpoints(folder: Path) -> list[Path]:
    """``fold*/best.pt`` in ``folder``, else ``*.pt`` directly in it (sorted, hidden files and
    exported TorchScript files skipped)."""
    found = sorted(p for p in folder.glob("fold*/best.pt") if p.is_file() and _visible(p.parent))
    if found:
        return found
    return sorted(p for p in folder.glob("*.pt")
                  if p.is_file() and _visible(p) and not is_exported(p))


def _find_runs(root: Path, depth: int = 3) -> list[Path]:
    """Folders at or below ``root`` that hold checkpoints (not searched below a run)."""
    if run_checkpoints(root):
        return [root]
    if depth == 0:
        return []
    runs: list[Path] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and _visible(p)):
        runs.extend(_find_runs(sub, depth - 1))
    return runs


def find_checkpoints(runs: Sequence[str | Path]) -> list[Checkpoint]:
    """Every fold checkpoint of every run; :class:`InferenceError` when a run has none.

    A run is a ``.pt`` file, a folder holding ``fold*/best.pt`` or ``*.pt``, or a
    folder of such folders (searched three levels deep); or an exported file
    (``gwkit.export``), a run of its own whose ``run_dir`` is the file (so no
    stacker or ``oof.csv`` is found for it: the network alone).
    """
    out: list[Checkpoint] = []
    names: set[str] = set()
    for given in runs:
        root = Path(given)
        if root.is_file() and is_exported(root):
            run_dirs, files = [root], {root: [root]}
        elif root.is_file() and root.suffix == ".pt":
            run_dirs, files = [root.parent], {root.parent: [root]}
        elif root.is_dir():
            run_dirs = _find_runs(root)
            files = {d: run_checkpoints(d) for d in run_dirs}
        else:
            raise InferenceError(f"run {root} does not exist")
        if not run_dirs:
            raise InferenceError(f"no checkpoint found under {root} "
                                 "(expected fold*/best.pt or *.pt files)")
        for run_dir in run_dirs:
            name = run_dir.name or "run"
            base, k = name, 1
            while name in names:
                k += 1
                name = f"{base}-{k}"
            names.add(name)
            for path in files[run_dir]:
                fold = ("exported" if path == run_dir
                        else path.parent.name if path.name == "best.pt" else path.stem)
                out.append(Checkpoint(name, fold, path, run_dir))
    if not out:
        raise InferenceError("no checkpoint found (pass --runs RUN_DIR)")
    return out


# --------------------------------------------------------------------------- loading


@dataclass
class Detector:
    """A loaded checkpoint: the model (eval mode, on its device) and what it was trained on."""

    checkpoint: Checkpoint
    model: Any  # torch.nn.Module
    config: dict = field(default_factory=dict)
    input_length: int | None = None  # raw samples the model takes (None: any)
    num_outputs: int = 1
    folds: int = 1  # fold models inside (an exported ensemble holds several)

    @property
    def mode(self) -> str:
        """The data layout the model was trained in (``competition`` or ``physical``)."""
        return self.config.get("mode", "competition")

    @property
    def name(self) -> str:
        return f"{self.checkpoint.run}/{self.checkpoint.fold}"


def load_detector(checkpoint: Checkpoint, device: Any = "cpu", *, nsamples: int | None = None
                  ) -> Detector:
    """Rebuild ``checkpoint``'s model on ``device``; InferenceError if it cannot score the data.

    ``nsamples``: the data's samples per row, checked against the length the
    model was built for (a flatten head only fits one length).
    """
    import torch

    from gwkit.models import load_checkpoint
    from gwkit.scoring.exported import load_exported

    if is_exported(checkpoint.path):
        model = load_exported(checkpoint.path, device, nsamples=nsamples)
        c = model.contract
        return Detector(checkpoint, model, {"mode": c.mode}, c.nsamples, 1, c.folds)
    try:
        model, meta = load_checkpoint(checkpoint.path, map_location=device, input_length=nsamples)
    except (ValueError, FileNotFoundError, OSError) as exc:
        raise InferenceError(one_line(exc)) from None
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    length = meta["model"]["kwargs"].get("input_length")
    probe_length = int(length or nsamples or NSAMPLES)
    with torch.inference_mode():
        out = model(torch.zeros(1, 2, probe_length, device=device))
    outputs = int(out.reshape(1, -1).shape[1])
    if outputs not in (1, 2):
        raise InferenceError(f"{checkpoint.path}: the model has {outputs} outputs; a detector "
                             "has one logit or two class scores (noise, signal)")
    return Detector(checkpoint, model, config, None if length is None else int(length), outputs)


def one_line(err: BaseException) -> str:
    """An exception's message on one line (its lines joined by '; '), for command lines."""
    return "; ".join(line.strip() for line in str(err).splitlines() if line.strip())


# --------------------------------------------------------------------------- scoring


def tta_views(tta: str, mode: str) -> list[tuple[float, bool]]:
    """(sign, swap detectors) per view for a checkpoint trained in data ``mode``.

    ``none``: the data as it is; ``flip``: also ``-x`` (valid in both modes);
    ``all``: also the detector swap, for physical-mode checkpoints only.
    """
    if tta not in TTA_CHOICES:
        raise ValueError(f"tta must be one of {TTA_CHOICES}, got {tta!r}")
    views = [(1.0, False)]
    if tta in ("flip", "all"):
        views.append((-1.0, False))
    if tta == "all" and mode == "physical":
        views += [(1.0, True), (-1.0, True)]
    return views


def _detection_logit(out):
    """Log-odds of a signal from a model's output: the logit, or class 1 over class 0."""
    out = out.reshape(out.shape[0], -1).double()
    return out[:, 0] if out.shape[1] == 1 else out[:, 1] - out[:, 0]


def predict_logits(detector: Detector | Any, x: np.ndarray, views: Sequence[tuple[float, bool]],
                   batch_size: int, device: Any) -> np.ndarray:
    """Mean over TTA ``views`` of the detection logits of ``x`` ``(N, 2, L)`` (float64, (N,)).

    ``detector``: a :class:`Detector` or a bare model. ``x`` may be memory-mapped:
    it is read ``batch_size`` rows at a time.
    """
    import torch

    model = detector.model if isinstance(detector, Detector) else detector
    n = x.shape[0]
    logits = np.zeros(n, dtype=np.float64)
    model.eval()
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size],
                                                          dtype=np.float32)).to(device)
            acc = torch.zeros(batch.shape[0], dtype=torch.float64, device=device)
            for sign, swap in views:
                view = batch.flip(1) if swap else batch
                acc += _detection_logit(model(view * sign if sign != 1.0 else view))
            logits[start:start + batch.shape[0]] = (acc / len(views)).cpu().numpy()
    return logits


def score_runs(runs: Sequence[str | Path], x: np.ndarray, *, tta: str = "none",
               batch_size: int = 64, device: Any = "cpu", data_mode: str | None = None,
               log=None) -> dict[str, dict[str, np.ndarray]]:
    """``{run: {fold: logits (N,)}}`` of every fold checkpoint of ``runs`` on ``x`` (N, 2, L).

    ``data_mode``: the layout of ``x``; a checkpoint trained in another mode
    gets a warning. ``log``: a ``print``-like callable for one line per fold
    (default: stderr). InferenceError on a checkpoint that cannot score ``x``
    or gives non-finite logits.
    """
    import time

    log = log or (lambda msg: print(msg, file=sys.stderr))
    out: dict[str, dict[str, np.ndarray]] = {}
    for ck in find_checkpoints(runs):
        t0 = time.perf_counter()
        det = load_detector(ck, device, nsamples=x.shape[-1])
        if data_mode and det.mode != data_mode:
            log(f"warning: {det.name} was trained in {det.mode} mode, the data is {data_mode}")
        z = predict_logits(det, x, tta_views(tta, det.mode), batch_size, device)
        if not np.all(np.isfinite(z)):
            raise InferenceError(f"{ck.path} gave non-finite logits")
        out.setdefault(ck.run, {})[ck.fold] = z
        log(f"  {det.name}: {det.checkpoint.path.name} mode={det.mode} "
            f"views={len(tta_views(tta, det.mode))} {x.shape[0]} rows in "
            f"{time.perf_counter() - t0:.1f} s")
        del det
    return out


# --------------------------------------------------------------------------- combining


def _logit_of_mean_probability(z: Sequence[np.ndarray]) -> np.ndarray:
    p = np.mean([expit(np.asarray(v, np.float64)) for v in z], axis=0)
    p = np.clip(p, np.finfo(np.float64).tiny, 1.0 - np.finfo(np.float64).epsneg)
    return logit(p)


def _rank01(z: np.ndarray) -> np.ndarray:
    """Average ranks scaled to [0, 1] (0.5 for a single sample)."""
    z = np.asarray(z, dtype=np.float64)
    if z.size <= 1:
        return np.full(z.shape, 0.5)
    return (rankdata(z) - 1.0) / (z.size - 1.0)


def run_logit(folds: Mapping[str, np.ndarray], method: EnsembleMethod = "logit") -> np.ndarray:
    """One run's score from its folds' logits (``{fold: (N,)}``): :func:`ensemble` of one group."""
    return ensemble([list(folds.values())], method)


def ensemble(groups: Sequence[Sequence[np.ndarray]], method: EnsembleMethod = "logit") -> np.ndarray:
    """Combine logits: the folds of each group (run) first, then the groups with equal weight.

    ``logit`` (default): the mean logit, an unbounded score that never ties by
    saturation. ``mean``: the logit of the mean probability. ``rank``: the
    mean of [0, 1]-scaled ranks (a score, not a logit: only for ranking).
    """
    if method not in ENSEMBLE_CHOICES:
        raise ValueError(f"ensemble must be one of {ENSEMBLE_CHOICES}, got {method!r}")
    groups = [list(g) for g in groups if len(g)]
    if not groups:
        raise ValueError("nothing to ensemble")
    if method == "logit":
        return np.mean([np.mean(np.asarray(g, np.float64), axis=0) for g in groups], axis=0)
    if method == "mean":
        return _logit_of_mean_probability([_logit_of_mean_probability(g) for g in groups])
    return np.mean([np.mean([_rank01(z) for z in g], axis=0) for g in groups], axis=0)


def submission_target(score: np.ndarray) -> np.ndarray:
    """A monotone map of logits into [0, 1] that ties no two distinct logits.

    The probability ``expit(score)`` for ``|score| <= 20`` (within 2e-9 of 0
    or 1), then a tail ``1 - expit(-20) * 20 / score`` (mirrored below -20):
    continuous, strictly increasing, and far from float64's last digits up to
    |score| ~ 1e6, where the plain sigmoid would have rounded every logit above
    ~37 to exactly 1.0. The ranking, hence the AUC, is the logits'.
    """
    s = np.asarray(score, dtype=np.float64)
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    a = np.abs(s)
    tail = expit(-_TAIL_LOGIT) * _TAIL_LOGIT / np.maximum(a, _TAIL_LOGIT)
    upper = np.where(a <= _TAIL_LOGIT, expit(-a), tail)  # distance from the nearer bound
    return np.where(s >= 0, 1.0 - upper, upper)


# --------------------------------------------------------------------------- CV from oof.csv files


def _read_oof(run_dir: Path, log) -> pd.DataFrame | None:
    """The run's out-of-fold logits pooled over folds (one row per id), or None."""
    files = sorted(run_dir.glob("fold*/oof.csv")) or sorted(run_dir.glob("oof.csv"))
    frames = []
    for f in files:
        try:
            frames.append(read_oof(f)[["id", "label", "logit"]])  # legacy columns too
        except ValueError as exc:
            log(f"warning: {exc}; skipped")
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True).groupby("id", sort=True).mean()


def _auc(y: np.ndarray, score: np.ndarray) -> float | None:
    auc = roc_auc(y, score)
    return None if math.isnan(auc) else auc


def cv_auc(run_dirs: dict[str, Path], method: str, log=None,
           ) -> tuple[dict[str, float | None], float | None]:
    """(network AUC per run, AUC of their ensemble or None) from the runs' ``oof.csv`` files.

    ``log``: a ``print``-like callable for an unreadable file's warning (default: stderr),
    as :func:`score_runs`.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    oofs = {name: _read_oof(d, log) for name, d in run_dirs.items()}
    per_run = {name: None if oof is None else _auc(oof["label"].to_numpy(),
                                                   oof["logit"].to_numpy())
               for name, oof in oofs.items()}
    have = [o for o in oofs.values() if o is not None]
    if len(have) < 2 or len(have) != len(oofs):
        return per_run, (per_run[next(iter(per_run))] if len(oofs) == 1 else None)
    ids = have[0].index
    if any(not o.index.equals(ids) for o in have[1:]):
        return per_run, None
    score = ensemble([[o["logit"].to_numpy()] for o in have], method)
    return per_run, _auc(have[0]["label"].to_numpy(), score)
