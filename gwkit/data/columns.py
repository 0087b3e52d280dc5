"""Column names of gwkit's tables, one meaning each, and the read of tables written before.

========== ================================================================
``label``  the truth of a row: 1 signal, 0 noise (``labels.csv``, ``oof.csv``,
           ``params.csv``, evaluation tables)
``snr_group`` the network SNR of the block a row was drawn from; noise rows carry
           their block's value too, so per-SNR metrics compare a group's signals
           with all noise
``snr``    the network SNR injected into that row (0 for noise; ``params.csv``,
           training batches)
``logit``  a model's log-odds of a signal (``oof.csv``)
``target`` only the competition's submission column: the prediction in [0, 1]
========== ================================================================

Labelled tables written before these names (``labels.csv``, ``oof.csv`` and
``scores_<set>.csv`` of earlier versions, the shipped ``weights/*/oof.csv``)
used ``target`` for the label and ``snr`` for the SNR group;
:func:`upgrade_labelled` reads them with the current names.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from gwkit.core.errors import DataError

__all__ = [
    "check_both_classes",
    "check_ids",
    "check_labels",
    "check_numbers",
    "LABEL",
    "LEGACY_LABELLED",
    "LOGIT",
    "OOF_COLUMNS",
    "SNR",
    "SNR_GROUP",
    "TARGET",
    "read_oof",
    "upgrade_labelled",
]

LABEL = "label"
SNR_GROUP = "snr_group"
SNR = "snr"
LOGIT = "logit"
TARGET = "target"
#: Columns of an ``oof.csv`` (out-of-fold validation predictions of a training run).
OOF_COLUMNS = ("id", LABEL, SNR_GROUP, "waveform_id", LOGIT, "fold")
#: Old name -> current name, in labelled tables written before the names above.
LEGACY_LABELLED = {"target": LABEL, "snr": SNR_GROUP}


def upgrade_labelled(table: pd.DataFrame) -> pd.DataFrame:
    """A labelled table with the names of :data:`LEGACY_LABELLED` read as the current ones.

    A table that already has a ``label`` column is returned as it is; a legacy
    column whose current name is present is left alone (``params.csv`` keeps its
    per-row ``snr`` beside ``snr_group``).
    """
    if LABEL in table.columns:
        return table
    renames = {old: new for old, new in LEGACY_LABELLED.items()
               if old in table.columns and new not in table.columns}
    return table.rename(columns=renames)


def read_oof(path: str | os.PathLike) -> pd.DataFrame:
    """An ``oof.csv`` with the columns of :data:`OOF_COLUMNS` that it has, checked.

    Files written before hold ``target`` (the label), ``snr`` (the group) and a
    probability ``score`` beside (or, in the oldest, instead of) the ``logit``;
    they are read as current files. DataError (a ValueError naming the file) when
    the file is unreadable, lacks ``id``, ``label`` or any score, or holds ids that
    are not whole numbers (a run's combined file repeats them: one set per fold),
    labels other than 0/1, scores that are not finite numbers, or text in another
    numeric column.
    """
    try:
        table = upgrade_labelled(pd.read_csv(path))
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        why = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"{path}: cannot read as a CSV table ({why})") from None
    if LOGIT not in table and "score" in table:
        from scipy.special import logit

        score = check_numbers(table["score"], path, column="score")
        table[LOGIT] = logit(np.clip(score, 1e-12, 1 - 1e-12))
    missing = [c for c in ("id", LABEL, LOGIT) if c not in table]
    if missing:
        raise DataError(f"{path}: an oof.csv needs columns id, {LABEL} and {LOGIT} (or a legacy "
                        f"score); missing {', '.join(missing)}")
    table["id"] = check_ids(table["id"], path, distinct=False)
    table[LABEL] = check_labels(table[LABEL], path, column=LABEL)
    table[LOGIT] = check_numbers(table[LOGIT], path, column=LOGIT)
    for column in (SNR_GROUP, "waveform_id", "fold"):
        if column in table:
            table[column] = check_numbers(table[column], path, column=column, finite=False)
    return table[[c for c in OOF_COLUMNS if c in table]]


def check_labels(values, source, *, n: int | None = None, column: str | None = None,
                 integer: bool = False) -> np.ndarray:
    """Labels as int64 in {0, 1}: the one label check of every reader.

    ``n``: the expected row count; ``column``: the file's own name of the label
    column (named in the message); ``integer``: refuse a non-integer dtype
    (arrays whose labels must be stored as integers). Raises
    :class:`gwkit.core.errors.DataError` naming ``source``, the first bad row
    and its value, and how many rows are bad.
    """
    raw = np.asarray(values)
    if n is not None and raw.shape != (n,):
        raise DataError(f"{source}: expected labels of shape ({n},), found {raw.shape}")
    if integer and raw.dtype.kind not in "biuf":
        raise DataError(f"{source}: expected integer labels, found dtype {raw.dtype}")
    numeric = pd.to_numeric(pd.Series(raw.ravel()), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isin(numeric, (0.0, 1.0)))
    if bad.size:
        value = raw.ravel()[bad[0]]
        value = value.item() if isinstance(value, np.generic) else value
        shown = repr(value) if isinstance(value, str) else str(value)
        name = f" ({column})" if column else ""
        raise DataError(f"{source}: labels{name} must be 0 or 1; row {bad[0]} has {shown} "
                        f"({bad.size} bad row(s))")
    if integer and raw.dtype.kind == "f":
        raise DataError(f"{source}: expected integer labels, found dtype {raw.dtype}")
    return numeric.astype(np.int64)


def _cell(value) -> str:
    """A table cell for a message: text quoted, numbers (NaN, inf) plain."""
    value = value.item() if isinstance(value, np.generic) else value
    return repr(value) if isinstance(value, str) else str(value)


def check_ids(values, source, *, column: str = "id", distinct: bool = True) -> np.ndarray:
    """Row ids as int64: whole numbers (a row of ``test.npy`` each), every id once (unless
    not ``distinct``).

    Raises :class:`gwkit.core.errors.DataError` naming ``source``, the first bad
    row and its value (text, a fraction, NaN) or the first repeated id.
    """
    raw = pd.Series(np.asarray(values, dtype=object).ravel())
    numeric = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(~np.isfinite(numeric) | (numeric != np.round(numeric))
                             | (np.abs(numeric) >= 2**53))
    if bad.size:
        raise DataError(f"{source}: {column} must hold whole numbers (row numbers); "
                        f"row {bad[0]} has {_cell(raw.iloc[bad[0]])} ({bad.size} bad row(s))")
    ids = numeric.astype(np.int64)
    seen = pd.Series(ids).duplicated()
    if distinct and seen.any():
        first = int(np.flatnonzero(seen.to_numpy())[0])
        raise DataError(f"{source}: {column} {ids[first]} appears more than once "
                        f"({int(seen.sum())} repeated row(s)); every id names one row")
    return ids


def check_numbers(values, source, *, column: str, finite: bool = True) -> np.ndarray:
    """A numeric column as float64; :class:`gwkit.core.errors.DataError` naming ``source``,
    the column and its first cell that is text (or NaN/inf when ``finite``)."""
    raw = pd.Series(np.asarray(values, dtype=object).ravel())
    numeric = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(numeric) if finite else (np.isnan(numeric) & raw.notna().to_numpy())
    rows = np.flatnonzero(bad)
    if rows.size:
        what = "finite numbers" if finite else "numbers"
        raise DataError(f"{source}: {column} must be {what}; row {rows[0]} has "
                        f"{_cell(raw.iloc[rows[0]])} ({rows.size} bad row(s))")
    return numeric


def check_both_classes(labels, source) -> None:
    """:class:`gwkit.core.errors.DataError` naming ``source`` unless ``labels`` (0/1) hold
    signals and noise: an ROC curve (AUC, TPR at an FPR) needs both."""
    y = np.asarray(labels).ravel()
    n_signal = int(np.sum(y == 1))
    if y.size == 0:
        raise DataError(f"{source}: no labelled rows; an AUC needs signals and noise rows")
    if n_signal in (0, y.size):
        what = "signals (label 1)" if n_signal else "noise (label 0)"
        raise DataError(f"{source}: all {y.size} labelled rows are {what}; an AUC needs both "
                        "signals and noise rows")
