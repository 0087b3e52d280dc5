"""Distillation: a teacher's calibrated probability as a soft label for every training sample.

BCE on 0/1 labels spends most of the faint rows (SNR 2-5: indistinguishable
from noise) on noise in the labels; a teacher that computes the likelihood
ratio (the filter bank's log Bayes factor, :mod:`gwkit.models.mfnet`) gives
each sample the probability that it holds a signal, a target of far lower
variance. ``train`` mixes the two: ``(1 - distill) BCE(logit, y) + distill
BCE(logit, p_teacher)``.

The teacher is a gwkit checkpoint (``.pt``) or a filter bank (``.h5``,
scored as an untrained ``mfnet``: the log Bayes factor ``mf_lse_time``). Its
output is calibrated once per fold by a two-parameter logistic regression of
the labels on ``10 asinh(t / 10)`` over fresh engine samples of the fold's
training waveforms (seeded: the same on ``--resume``), so its soft labels are
probabilities, not raw log-likelihood ratios.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

__all__ = ["Teacher", "calibrate", "load_teacher"]


def _squash(t: torch.Tensor) -> torch.Tensor:
    """``10 asinh(t / 10)``: identity for faint rows, logarithmic for loud ones (as the stacker)."""
    return 10.0 * torch.asinh(t / 10.0)


@dataclass
class Teacher:
    """A frozen model and the affine map of its squashed logit to calibrated log-odds."""

    model: nn.Module
    scale: float = 1.0
    bias: float = 0.0

    @torch.no_grad()
    def logit(self, x: torch.Tensor) -> torch.Tensor:
        """Calibrated log-odds that each row holds a signal: (B,)."""
        return self.scale * _squash(self.model(x).float().reshape(x.shape[0], -1)[:, 0]) + self.bias

    def soft_labels(self, x: torch.Tensor) -> torch.Tensor:
        """Calibrated probabilities: (B,)."""
        return torch.sigmoid(self.logit(x))


def load_teacher(path: str | os.PathLike, device: torch.device) -> Teacher:
    """The teacher of ``path``: a gwkit checkpoint, or a filter bank scored as ``mfnet``."""
    from gwkit.models import create_model, load_checkpoint

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"teacher={path}: no such file")
    if path.suffix in (".h5", ".hdf5"):
        model = create_model("mfnet", filter_bank=path)
    else:
        model, _ = load_checkpoint(path)
    model.eval().requires_grad_(False)
    return Teacher(model.to(device))


def calibrate(teacher: Teacher, batches: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
              n_batches: int) -> Teacher:
    """Fit ``teacher``'s scale and bias (a logistic regression, practically unpenalised, by
    scikit-learn as the stacker's) on ``n_batches`` batches; ``batches(i)`` returns batch
    ``i`` as ``(x, y)``.
    """
    from sklearn.linear_model import LogisticRegression

    feats, labels = [], []
    raw = Teacher(teacher.model)
    for i in range(n_batches):
        x, y = batches(i)
        feats.append(raw.logit(x).double().cpu())
        labels.append(y.double().cpu())
    f, y = torch.cat(feats).numpy(), torch.cat(labels).numpy()
    if y.min() == y.max():
        raise ValueError("teacher calibration needs signal and noise samples")
    fit = LogisticRegression(C=1e10, max_iter=1000).fit(f[:, None], y)
    return Teacher(teacher.model, float(fit.coef_[0, 0]), float(fit.intercept_[0]))
