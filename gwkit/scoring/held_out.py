"""The rows a run held out, with its network's logits and the matched filter's features.

The hybrid's stacker (:mod:`gwkit.scoring.stack`) is fitted only on the rows
``gwkit.train`` held out: each fold's ``val.h5`` with the fold model's logits
from its ``oof.csv``. :func:`held_out_table` joins them with the filter
bank's features, one row per held-out sample.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gwkit.data.columns import read_oof
from gwkit.scoring.stack import StackError, feature_table, matched_filter_features

__all__ = ["held_out_folds", "held_out_table", "run_validation_mode"]


def held_out_folds(run: Path) -> list[Path]:
    """Fold folders holding ``oof.csv``; StackError when one lacks its ``val.h5``."""
    folds = sorted(p.parent for p in run.glob("fold*/oof.csv"))
    if not folds:
        raise StackError(f"{run}: no fold*/oof.csv (train the run with python -m gwkit.train)")
    missing = [str(f / "val.h5") for f in folds if not (f / "val.h5").is_file()]
    if missing:
        raise StackError(f"{run}: validation sets missing ({', '.join(missing)}); the stacker is "
                          "fitted on the rows gwkit.train held out, which it writes there")
    return folds


def run_validation_mode(run: Path) -> str:
    """The layout of the run's validation rows (``val_mode`` of its config.yaml)."""
    from gwkit.training.config import ConfigError, load_config

    path = run / "config.yaml"
    if not path.is_file():
        return "competition"
    try:
        return load_config(path).val_mode
    except ConfigError as exc:
        raise StackError(f"{path}: {exc}") from None


def held_out_table(run: Path, bank: Path, mode: str, device: str, *, coherent: bool = False
                   ) -> pd.DataFrame:
    """OOF logits, labels and matched-filter features of every fold's validation rows
    (``coherent``: with the costly ``mf_lse_coherent``)."""
    from gwkit.engine import FixedSet

    parts = []
    for fold in held_out_folds(run):
        val = FixedSet.load(fold / "val.h5")
        try:
            oof = read_oof(fold / "oof.csv").sort_values("id").reset_index(drop=True)
        except ValueError as exc:
            raise StackError(str(exc)) from None
        same = (len(oof) == len(val) and np.array_equal(oof["label"].to_numpy(), val.y)
                and np.array_equal(oof["waveform_id"].to_numpy(), val.waveform_id))
        if not same:
            raise StackError(f"{fold}: oof.csv and val.h5 hold different rows")
        print(f"  {fold.name}: matched filter of {len(val)} validation rows ...", file=sys.stderr,
              flush=True)
        t0 = time.perf_counter()
        mf = matched_filter_features(bank, val.x, mode=mode, device=device, coherent=coherent)
        print(f"  {fold.name}: {len(val)} rows filtered in {time.perf_counter() - t0:.0f} s",
              file=sys.stderr)
        table = feature_table(oof["logit"].to_numpy(), mf)
        for column in ("id", "label", "snr_group", "waveform_id"):
            table[column] = oof[column].to_numpy()
        parts.append(table)
    return pd.concat(parts, ignore_index=True)
