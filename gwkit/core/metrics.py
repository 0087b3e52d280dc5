"""Detection metrics: ROC AUC (pooled and per SNR group), partial AUC and accuracy.

Per-SNR AUC compares the signals of one SNR group with **all** noise rows, so
every group is scored against the same background, as in the competition's
ranking of the whole test set.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["PAUC_MAX_FPR", "accuracy", "partial_auc", "per_snr_auc", "roc_auc", "snr_key"]

#: False-alarm rate up to which :func:`partial_auc` integrates the ROC curve by default.
PAUC_MAX_FPR = 1e-3


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve; NaN when ``y`` holds only one class."""
    return _auc(y, score, None)


def partial_auc(y: np.ndarray, score: np.ndarray, max_fpr: float = PAUC_MAX_FPR) -> float:
    """ROC area up to FPR ``max_fpr``, McClish-standardised; NaN when ``y`` holds one class.

    ``sklearn.metrics.roc_auc_score(y, score, max_fpr=max_fpr)``: 0.5 for a random
    score, 1 for a perfect one. The curve up to ``max_fpr`` rests on the
    ``max_fpr * n_noise`` highest noise scores (none below ``1 / max_fpr``
    noise rows: the area is then interpolated from the first noise row).
    """
    return _auc(y, score, max_fpr)


def _auc(y: np.ndarray, score: np.ndarray, max_fpr: float | None) -> float:
    y = np.asarray(y).astype(int).ravel()
    score = np.asarray(score, dtype=np.float64).ravel()
    if y.shape != score.shape:
        raise ValueError(f"y has {y.size} rows, score {score.size}")
    if np.unique(y).size < 2:
        return math.nan
    from sklearn.metrics import roc_auc_score  # here: importing sklearn takes ~1 s

    return float(roc_auc_score(y, score, max_fpr=max_fpr))


def per_snr_auc(y: np.ndarray, score: np.ndarray, snr_group: np.ndarray) -> dict[float, float]:
    """``{snr group: AUC of that group's signals against all noise rows}``, sorted by SNR.

    ``snr_group`` is each row's SNR group; noise rows are recognised by ``y == 0``
    whatever their group; signals of unknown SNR (NaN) join no group.
    """
    y = np.asarray(y).astype(int).ravel()
    score = np.asarray(score, dtype=np.float64).ravel()
    group = np.asarray(snr_group, dtype=np.float64).ravel()
    noise = y == 0
    result = {}
    for value in np.unique(group[~noise & np.isfinite(group)]):
        rows = noise | (group == value)
        result[float(value)] = roc_auc(y[rows], score[rows])
    return result


def accuracy(y: np.ndarray, logit: np.ndarray, threshold: float = 0.0) -> float:
    """Share of rows where ``logit > threshold`` matches the label (0 = probability 0.5)."""
    y = np.asarray(y).astype(int).ravel()
    logit = np.asarray(logit, dtype=np.float64).ravel()
    if y.size == 0:
        return math.nan
    return float(np.mean((logit > threshold).astype(int) == y))


def snr_key(snr: float) -> str:
    """Column name of a per-SNR AUC: ``auc_snr15``, ``auc_snr7.5``."""
    return f"auc_snr{snr:g}"
