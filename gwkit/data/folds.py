"""Grouped, stratified K-fold assignment of bank waveforms.

Folds are over waveforms, not samples: every sample made from one waveform
(its many noise realisations, extrinsic draws and SNRs) lands in the fold of its
waveform, so near-duplicates never straddle train and validation. Waveforms are
stratified by chirp-mass quantile bin so every fold spans the whole mass range.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from gwkit.core.fileio import atomic_write
from gwkit.data.competition import DataError

__all__ = ["FOLD_COLUMNS", "assign_folds", "fold_split", "load_folds", "row_groups", "save_folds"]

FOLD_COLUMNS = ("waveform_id", "chirp_mass", "mass_bin", "fold")


def assign_folds(
    waveform_ids: np.ndarray | list[int],
    chirp_mass: np.ndarray | list[float],
    n_folds: int = 5,
    seed: int = 0,
    n_bins: int = 10,
) -> pd.DataFrame:
    """Assign each waveform to one of ``n_folds`` folds, stratified by chirp mass.

    ``chirp_mass`` (solar masses) is cut into ``n_bins`` quantile bins of equal
    size (ties broken by waveform id). Within a bin, waveforms are shuffled with
    ``seed`` and dealt round-robin, continuing the deal from bin to bin, so fold
    sizes differ by at most 1 within every bin and overall. The result depends
    only on the (id, chirp mass) pairs and ``seed``, not on input order.

    Returns a DataFrame with columns ``waveform_id, chirp_mass, mass_bin, fold``
    in input order.
    """
    ids, mass = _check_inputs(waveform_ids, chirp_mass, n_folds, n_bins)
    n = ids.size
    order = np.lexsort((ids, mass))  # by chirp mass, then id
    bins = np.empty(n, dtype=np.int64)
    bins[order] = np.arange(n) * n_bins // n
    rng = np.random.default_rng(seed)
    fold_labels = rng.permutation(n_folds)  # which fold receives the remainders
    folds = np.empty(n, dtype=np.int64)
    dealt = 0
    for b in range(n_bins):
        members = order[bins[order] == b]
        members = members[rng.permutation(members.size)]
        folds[members] = fold_labels[(dealt + np.arange(members.size)) % n_folds]
        dealt += members.size
    return pd.DataFrame({"waveform_id": ids, "chirp_mass": mass, "mass_bin": bins, "fold": folds})


def _check_inputs(
    waveform_ids: np.ndarray | list[int],
    chirp_mass: np.ndarray | list[float],
    n_folds: int,
    n_bins: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Ids as int64 and chirp masses as float64, 1-D and consistent; ValueError otherwise."""
    ids = np.asarray(waveform_ids)
    mass = np.asarray(chirp_mass, dtype=np.float64)
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise ValueError(
            f"waveform_ids: expected a 1-D array of integers, found {ids.dtype} {ids.shape}"
        )
    if mass.shape != ids.shape:
        raise ValueError(
            f"chirp_mass: expected one value per waveform ({ids.size}), found shape {mass.shape}"
        )
    if not np.isfinite(mass).all():
        raise ValueError("chirp_mass: expected finite values, found NaN or inf")
    if np.unique(ids).size != ids.size:
        raise ValueError("waveform_ids: expected unique ids, found duplicates")
    if n_folds < 2:
        raise ValueError(f"n_folds: expected at least 2, got {n_folds}")
    if n_folds > ids.size:
        raise ValueError(
            f"n_folds: expected at most the number of waveforms ({ids.size}), got {n_folds}"
        )
    if n_bins < 1:
        raise ValueError(f"n_bins: expected at least 1, got {n_bins}")
    return ids.astype(np.int64), mass


def save_folds(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a fold table to CSV atomically (columns :data:`FOLD_COLUMNS`)."""
    _check_table(df, "folds")
    path = Path(path)
    with atomic_write(path, "w", newline="") as fh:
        df.loc[:, list(FOLD_COLUMNS)].to_csv(fh, index=False)
    return path


def load_folds(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate a fold table written by :func:`save_folds`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read as a fold table CSV ({exc})") from exc
    _check_table(df, path)
    return df.astype({"waveform_id": np.int64, "mass_bin": np.int64, "fold": np.int64})


def _check_table(df: pd.DataFrame, source: str | os.PathLike) -> None:
    """DataError unless ``df`` has the fold columns, integer ids/folds and unique ids."""
    missing = [c for c in FOLD_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(
            f"{source}: expected columns {list(FOLD_COLUMNS)}, missing {missing} "
            f"(found {list(df.columns)})"
        )
    for col in ("waveform_id", "mass_bin", "fold"):
        if not pd.api.types.is_integer_dtype(df[col]):
            raise DataError(f"{source}: expected integer column {col!r}, found {df[col].dtype}")
    if df["waveform_id"].duplicated().any():
        dupes = df.loc[df["waveform_id"].duplicated(), "waveform_id"].head(5).tolist()
        raise DataError(f"{source}: expected each waveform_id once, found repeats {dupes}")
    if len(df) and df["fold"].min() < 0:
        raise DataError(f"{source}: expected folds >= 0, found {df['fold'].min()}")


def fold_split(df: pd.DataFrame, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """Waveform ids for training (every other fold) and validation (``fold``), sorted int64."""
    _check_table(df, "folds")
    n_folds = int(df["fold"].max()) + 1 if len(df) else 0
    if not 0 <= fold < n_folds:
        raise ValueError(f"fold: expected 0..{n_folds - 1}, got {fold}")
    ids = df["waveform_id"].to_numpy(dtype=np.int64)
    is_val = df["fold"].to_numpy() == fold
    return np.sort(ids[~is_val]), np.sort(ids[is_val])


def row_groups(waveform_id: np.ndarray, label: np.ndarray | None = None) -> np.ndarray:
    """Group of each row for grouped CV and bootstraps: rows sharing a waveform together,
    every other row alone (noise rows: id < 0 or NaN, or ``label`` 0 when given).

    Returns integer group ids (0..G-1).
    """
    wid = np.asarray(waveform_id, dtype=np.float64).ravel()
    own = ~np.isfinite(wid) | (wid < 0)
    if label is not None:
        own |= np.asarray(label).ravel() == 0
    keys = np.where(own, -1.0 - np.arange(wid.size), wid)  # negative keys: one group per row
    return np.unique(keys, return_inverse=True)[1].astype(np.int64)
