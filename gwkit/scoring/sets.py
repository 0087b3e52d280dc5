"""Scores on a labelled set: runs' fold ensembles and the matched filter, for reports.

:func:`run_score_sets` scores every run's fold checkpoints on a labelled set's
strain; :func:`matched_filter_scores` runs the filter bank on it (the
``matched_filter`` and ``mf_bayes`` columns of ``python -m gwkit.evaluate``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gwkit.core.errors import LabelledSetError
from gwkit.data.labelled import ScoreSet

__all__ = ["matched_filter_scores", "run_score_sets", "score_set"]


def score_set(name: str, labels: pd.DataFrame, score: np.ndarray, source: str) -> ScoreSet:
    return ScoreSet(name=name, y=labels["label"].to_numpy(), score=score,
                    snr_group=labels["snr_group"].to_numpy() if "snr_group" in labels else None,
                    groups=labels["waveform_id"].to_numpy() if "waveform_id" in labels else None,
                    source=source)


def run_score_sets(runs: Sequence[str], x, *, data_mode: str | None, ensemble: str = "logit",
               batch_size: int = 64, device: str = "auto", tta: str = "none") -> dict[str, np.ndarray]:
    """``{run name: ensembled logit}`` of every run's fold checkpoints on ``x`` (N, 2, L)."""
    from gwkit.core.devices import pick_device
    from gwkit.scoring.inference import InferenceError, run_logit
    from gwkit.scoring.inference import score_runs as fold_logits

    try:
        logits = fold_logits(runs, x, tta=tta, batch_size=batch_size, device=pick_device(device),
                             data_mode=data_mode)
    except InferenceError as exc:
        raise LabelledSetError(str(exc)) from None
    return {run: run_logit(folds, ensemble) for run, folds in logits.items()}


def matched_filter_scores(x, *, filter_bank: str | None, mode: str, batch: int = 32,
                         device: str = "cpu", cache_dir: str = "cache", workers: int = 1
                         ) -> tuple[dict[str, np.ndarray], Path]:
    """(features of :class:`gwkit.sim.mf_features.MatchedFilter`, filter bank path) on ``x``."""
    from gwkit.scoring.stack import StackError, matched_filter_features
    from gwkit.sim.matched_filter import cached_filter_bank

    if filter_bank:
        path = Path(filter_bank)
        if not path.is_file():
            raise LabelledSetError(f"filter bank {path} does not exist")
    else:
        try:
            path = cached_filter_bank(cache_dir, workers=workers, progress=True)
        except OSError as exc:  # the cache folder, checked before the bank is built
            raise LabelledSetError(f"filter bank cache {exc}") from None
    t0 = time.perf_counter()
    try:
        features = matched_filter_features(path, x, mode=mode, device=device, batch=batch,
                                           progress=True)
    except StackError as exc:
        raise LabelledSetError(str(exc)) from None
    print(f"  matched filter: {x.shape[0]} rows, {mode} mode, {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    return features, path
