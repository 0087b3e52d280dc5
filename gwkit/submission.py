"""Submission CSVs: validate before writing or uploading, write atomically.

A valid submission has the header exactly ``id,target``, one row per test
sample, ids ``0..N-1`` in file order and finite targets in ``[0, 1]``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd

from gwkit.fileio import atomic_path

__all__ = ["COLUMNS", "SubmissionError", "validate_submission", "write_submission"]

COLUMNS = ("id", "target")


class SubmissionError(ValueError):
    """A submission CSV (or DataFrame) that Kaggle would reject or mis-score."""


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise SubmissionError(f"{path}: no such submission file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SubmissionError(f"{path}: cannot read as a text CSV ({exc})") from exc
    if not text.strip():
        raise SubmissionError(f"{path}: file is empty (expected header 'id,target')")
    header = text.splitlines()[0].strip()
    if header != ",".join(COLUMNS):
        raise SubmissionError(f"{path}: header must be exactly 'id,target', found {header!r}")
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise SubmissionError(f"{path}: cannot parse as CSV ({exc})") from exc


def validate_submission(
    df_or_path: pd.DataFrame | str | os.PathLike, n_expected: int | None = None
) -> pd.DataFrame:
    """Check a submission; return it as a DataFrame (``id`` int64, ``target`` float64).

    ``n_expected`` is the number of test samples (rows required). Raises
    :class:`SubmissionError` naming the file (or "submission") and the problem.
    """
    if isinstance(df_or_path, pd.DataFrame):
        name = "submission"
        raw = df_or_path
        if tuple(str(c) for c in raw.columns) != COLUMNS:
            raise SubmissionError(
                f"{name}: columns must be exactly ['id', 'target'], found {list(raw.columns)}"
            )
    else:
        name = str(df_or_path)
        raw = _read_csv(Path(df_or_path))
    n = len(raw)
    if n == 0:
        raise SubmissionError(f"{name}: no rows (expected one row per test sample)")
    if n_expected is not None and n != n_expected:
        raise SubmissionError(f"{name}: {n} rows, expected {n_expected} (one per test sample)")

    ids = pd.to_numeric(raw["id"], errors="coerce")
    bad = np.flatnonzero(ids.isna().to_numpy())
    if bad.size:
        raise SubmissionError(f"{name}: non-numeric id in row {bad[0]} ({raw['id'].iloc[bad[0]]!r})")
    ids_f = ids.to_numpy(dtype=np.float64)
    expected = np.arange(n, dtype=np.float64)
    wrong = np.flatnonzero(ids_f != expected)
    if wrong.size:
        i = wrong[0]
        raise SubmissionError(
            f"{name}: ids must be 0..{n - 1} in file order; row {i} has id {raw['id'].iloc[i]!r}"
        )

    target = pd.to_numeric(raw["target"], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(target))
    if bad.size:
        raise SubmissionError(
            f"{name}: target must be a finite number; row {bad[0]} has "
            f"{raw['target'].iloc[bad[0]]!r} ({bad.size} bad row(s))"
        )
    out = np.flatnonzero((target < 0) | (target > 1))
    if out.size:
        raise SubmissionError(
            f"{name}: target must lie in [0, 1]; row {out[0]} has {target[out[0]]!r} "
            f"({out.size} row(s) out of range)"
        )
    return pd.DataFrame({"id": np.arange(n, dtype=np.int64), "target": target})


def write_submission(
    path: str | os.PathLike, target: np.ndarray, n_expected: int | None = None
) -> Path:
    """Validate ``target`` (one per test sample) and write ``id,target`` atomically.

    Nothing is written when validation fails, so a good file already at
    ``path`` is never replaced by a bad one.
    """
    target = np.asarray(target, dtype=np.float64).reshape(-1)
    df = validate_submission(
        pd.DataFrame({"id": np.arange(target.size, dtype=np.int64), "target": target}),
        n_expected=n_expected,
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.8g")
        validate_submission(tmp, n_expected=n_expected)  # the bytes on disk read back valid
    return path
