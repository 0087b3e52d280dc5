"""Labelled sets: labels, scores and strain read and checked in one place.

:func:`load_labels` (a CSV, a gwkit ``.h5``, a ``.npy``'s ``labels.csv`` or a
set's folder; waveform groups from the file or ``params.csv`` beside it),
:func:`load_scores` (a scores CSV joined with labels) and :func:`open_data`
(strain, labels and attributes of a labelled set). Bad input raises
:class:`gwkit.core.errors.LabelledSetError` naming the file and the problem.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gwkit.core.errors import LabelledSetError
from gwkit.core.hdf5 import open_hdf5
from gwkit.core.paths import locate_data
from gwkit.data.columns import (
    check_both_classes,
    check_ids,
    check_labels,
    check_numbers,
    upgrade_labelled,
)

__all__ = ["ScoreSet", "load_labels", "load_scores", "open_data", "read_table"]


@dataclass
class ScoreSet:
    """Scores of one detector on a labelled set.

    ``y``: (N,) 0/1 labels; ``score``: (N,) higher = more signal-like; ``snr_group``:
    (N,) SNR group of each row (noise rows' values are ignored) or None;
    ``groups``: (N,) waveform id per row (-1 or NaN for noise) or None, for the
    grouped bootstrap; ``source``: where the scores came from (for the report).
    """

    name: str
    y: np.ndarray
    score: np.ndarray
    snr_group: np.ndarray | None = None
    groups: np.ndarray | None = None
    source: str = ""

    def __post_init__(self) -> None:
        self.y = np.asarray(self.y).astype(int).ravel()
        self.score = np.asarray(self.score, dtype=np.float64).ravel()
        n = self.y.size
        where = self.source or self.name
        if self.score.size != n:
            raise LabelledSetError(f"{where}: {n} labels but {self.score.size} scores")
        if not np.all(np.isin(self.y, (0, 1))):
            raise LabelledSetError(f"{where}: labels must be 0 or 1")
        if not np.all(np.isfinite(self.score)):
            raise LabelledSetError(f"{where}: {int(np.sum(~np.isfinite(self.score)))} "
                                   "non-finite scores")
        check_both_classes(self.y, where)
        if self.snr_group is not None:
            self.snr_group = np.asarray(self.snr_group, dtype=np.float64).ravel()
            if self.snr_group.size != n:
                raise LabelledSetError(f"{where}: {n} labels but {self.snr_group.size} SNR values")
            signal = np.flatnonzero(self.y == 1)
            bad = signal[~np.isfinite(self.snr_group[signal])]
            if bad.size:  # a signal without an SNR group would fall out of every per-SNR number
                raise LabelledSetError(f"{where}: snr_group of a signal row must be a finite "
                                       f"number; row {bad[0]} has {self.snr_group[bad[0]]} "
                                       f"({bad.size} bad row(s))")
        if self.groups is not None:
            self.groups = np.asarray(self.groups).ravel()
            if self.groups.size != n:
                raise LabelledSetError(f"{where}: {n} labels but {self.groups.size} group ids")

    @property
    def is_probability(self) -> bool:
        """Scores within [0, 1], so that the 0.5 threshold means something."""
        return bool(self.score.size and self.score.min() >= 0.0 and self.score.max() <= 1.0)


# --------------------------------------------------------------------------- labels and data


def read_table(path: Path, what: str, **kwargs) -> pd.DataFrame:
    """``pd.read_csv`` of a scores or labels CSV; LabelledSetError (one line) when unreadable."""
    try:
        return pd.read_csv(path, **kwargs)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        why = " ".join(str(exc).split()) or type(exc).__name__
        raise LabelledSetError(f"{what} {path}: cannot read as a CSV table ({why})") from None


def _shown(value) -> str:
    """A table cell for a message: text quoted, numbers (NaN, inf) plain."""
    return repr(value) if isinstance(value, str) else str(value)


def _labelled(table: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """(``table`` with the current column names, the file's own name of its label column)."""
    column = "target" if "label" not in table and "target" in table else "label"
    return upgrade_labelled(table), column


#: Largest score magnitude: beyond it, differences of scores overflow float64 (no logit,
#: probability or detection statistic comes near it).
SCORE_LIMIT = 1e300


def _finite_scores(values, source: str) -> np.ndarray:
    """Scores as float64; LabelledSetError naming the first row that is NaN, inf, text or
    beyond +-:data:`SCORE_LIMIT`."""
    raw = pd.Series(values).reset_index(drop=True)
    score = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~(np.abs(score) <= SCORE_LIMIT))
    if bad.size:
        i = bad[0]
        raise LabelledSetError(f"{source}: scores must be finite numbers; row {i} has "
                               f"{_shown(raw.iloc[i])} ({bad.size} bad row(s); |score| <= "
                               f"{SCORE_LIMIT:g})")
    return score


def _h5_labels(path: Path) -> pd.DataFrame:
    from gwkit.data.competition import hdf5_snr_group_name

    with open_hdf5(path) as f:
        if "y" not in f:
            raise LabelledSetError(f"{path} has no labels (dataset 'y')")
        y = check_labels(f["y"][()], f"labels {path}", column="y")
        table = pd.DataFrame({"id": np.arange(y.size), "label": y})
        for column, values in ((hdf5_snr_group_name(f), f), ("waveform_id", f.get("params"))):
            if column and values is not None and column in values:
                if values[column].shape != (y.size,):
                    raise LabelledSetError(f"{path}: expected {column} of shape ({y.size},), "
                                           f"found {values[column].shape}")
                table[column] = values[column][()]
    return _checked_labels(table, path, column="y")


def _checked_labels(table: pd.DataFrame, path: Path, *, column: str) -> pd.DataFrame:
    """``table`` (id, label[, snr_group][, waveform_id]) with every column checked: whole,
    distinct ids; 0/1 labels of both classes; numbers for the SNR groups (finite for
    signals) and waveform ids. Errors name ``path``, kept in ``table.attrs["source"]``."""
    source = f"labels {path}"
    table["id"] = check_ids(table["id"], source)
    table["label"] = check_labels(table["label"], source, column=column)
    if "snr_group" in table:
        table["snr_group"] = check_numbers(table["snr_group"], source, column="snr_group",
                                           finite=False)
        check_numbers(table["snr_group"][table["label"] == 1], source,
                      column="snr_group of a signal row")
    if "waveform_id" in table:
        table["waveform_id"] = check_numbers(table["waveform_id"], source, column="waveform_id",
                                             finite=False)
    check_both_classes(table["label"], source)
    table.attrs["source"] = str(path)
    return table


def _with_waveform_groups(table: pd.DataFrame, params: Path) -> pd.DataFrame:
    """``table`` (ids checked) with the ``waveform_id`` of ``params`` (a set's params.csv)
    when it lacks one.

    The competition reuses each waveform with 25 noise draws: without the
    groups, a bootstrap treats copies of one waveform as independent rows.
    """
    if "waveform_id" in table or not params.is_file():
        return table
    extra = read_table(params, "parameters", usecols=lambda c: c in ("id", "waveform_id"))
    if {"id", "waveform_id"} <= set(extra.columns):
        extra["id"] = check_ids(extra["id"], f"parameters {params}")
        table = table.merge(extra, on="id", how="left")
    return table


def load_labels(path: str | Path) -> pd.DataFrame:
    """Labels ``id, label[, snr_group][, waveform_id]`` from a CSV, a gwkit .h5, a .npy's
    labels.csv or a set's folder (legacy ``target``, ``snr`` columns read as these).

    The waveform groups come from the file itself or from ``params.csv`` beside it.
    Every column is checked (:func:`_checked_labels`); the table's ``attrs["source"]``
    names the labels file.
    """
    path = Path(path)
    if not path.exists():
        raise LabelledSetError(f"labels {path} do not exist")
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        return _h5_labels(path)
    if suffix == ".npy" or path.is_dir():
        csv = (path if path.is_dir() else path.parent) / "labels.csv"
        if not csv.is_file():
            raise LabelledSetError(f"{path}: no labels.csv beside it")
    elif suffix == ".csv":
        csv = path
    else:
        raise LabelledSetError(f"labels {path}: expected .csv, .h5/.hdf5 or .npy")
    table, column = _labelled(read_table(csv, "labels"))
    if not {"id", "label"} <= set(table.columns):
        raise LabelledSetError(f"labels {csv}: need columns id and label, found {list(table.columns)}")
    table["id"] = check_ids(table["id"], f"labels {csv}")
    table = _with_waveform_groups(table, csv.parent / "params.csv")
    return _checked_labels(table, csv, column=column)


def _set_file(path: Path) -> Path:
    """The data file a path names: itself, or a set folder's test.npy or only .h5 file."""
    if not path.exists():
        raise LabelledSetError(f"data {path} does not exist")
    try:
        return locate_data(path)  # the file itself or the folder's test.npy: predict's rule
    except FileNotFoundError:
        pass
    candidates = sorted(p for p in path.iterdir() if p.suffix.lower() in (".h5", ".hdf5")
                        and p.is_file())
    if len(candidates) != 1:
        raise LabelledSetError(f"data {path}: a folder must hold test.npy or exactly one .h5 set "
                            f"(found {len(candidates)} .h5 files)")
    return candidates[0]


def open_data(path: str | Path):
    """(strain (N, 2, L) array-like read lazily, labels table, file attributes) of a labelled set."""
    path = _set_file(Path(path))
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        f = open_hdf5(path)  # kept open for the process's lifetime: rows are read in batches
        if "x" not in f or f["x"].ndim != 3:
            raise LabelledSetError(f"{path}: expected dataset x of shape (N, 2, L)")
        from gwkit.data.competition import check_amplitudes, validate_strain

        check_amplitudes(validate_strain(f["x"], path, nsamples=None), path)
        attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
        return f["x"], _h5_labels(path), attrs
    if suffix == ".npy":
        from gwkit.data import DataError, load_test_npy

        try:
            x = load_test_npy(path, layout="flat", mmap=True)
        except DataError as exc:
            raise LabelledSetError(str(exc)) from None
        return x, load_labels(path), {}
    raise LabelledSetError(f"data {path}: expected a labelled .h5 or a .npy with labels.csv")


def _join(scores: pd.DataFrame, labels: pd.DataFrame, path: Path) -> pd.DataFrame:
    """``scores`` (ids checked) with the label, SNR group and waveform id of each id."""
    source = labels.attrs.get("source", "the labels")
    if scores["id"].duplicated().any():
        raise LabelledSetError(f"{path}: duplicate ids, cannot join with {source} "
                            "(a combined oof.csv carries its own labels and SNR groups: omit --labels)")
    scores = scores.assign(id=check_ids(scores["id"], f"scores {path}"))
    keep = [c for c in ("id", "label", "snr_group", "waveform_id") if c in labels]
    merged = scores.drop(columns=[c for c in keep if c != "id" and c in scores]).merge(
        labels[keep], on="id", how="left", validate="one_to_one")
    missing = np.flatnonzero(merged["label"].isna().to_numpy())
    if missing.size:
        raise LabelledSetError(f"{path}: {missing.size} id(s) have no label in {source} (first: "
                               f"id {merged['id'].iloc[missing[0]]})")
    return merged


def load_scores(path: str | Path, *, name: str, labels: pd.DataFrame | None = None,
                score_column: str | None = None) -> ScoreSet:
    """One score set from a CSV (labels from the CSV itself or joined from ``labels`` on id)."""
    path = Path(path)
    if not path.is_file():
        raise LabelledSetError(f"scores {path} do not exist")
    table, column = read_table(path, "scores"), "label"
    if {"score", "logit"} & set(table.columns):  # a table with scores: a target is its label
        table, column = _labelled(table)
    if score_column is None:
        options = ["score", "logit"] + (["target"] if labels is not None else [])
        score_column = next((c for c in options if c in table), None)
        if score_column is None:
            raise LabelledSetError(f"{path}: no score column (score, logit{', target' if labels is not None else ''});"
                                f" found {list(table.columns)}")
    elif score_column not in table:
        raise LabelledSetError(f"{path}: no column {score_column!r}; found {list(table.columns)}")
    table = table.rename(columns={score_column: "_score"})
    if labels is not None:
        if "id" not in table:
            raise LabelledSetError(f"{path}: needs an id column to join with labels")
        table = _join(table, labels, path)
        where = f"{path} with {labels.attrs.get('source', 'its labels')}"
    elif "label" not in table:
        raise LabelledSetError(f"{path}: no label column; pass --labels")
    else:
        where = str(path)
    y = check_labels(table["label"], where, column=column)
    check_both_classes(y, where)
    source = f"{path} (column {score_column})"
    extra = {key: check_numbers(table[col], where, column=col, finite=False)
             for key, col in (("snr_group", "snr_group"), ("groups", "waveform_id")) if col in table}
    scored = ScoreSet(name=name, y=y, score=_finite_scores(table["_score"], source),
                      source=source, **extra)
    if labels is not None and len(labels) != len(table):
        print(f"note: {path} scores {len(table)} of the {len(labels)} rows of "
              f"{labels.attrs.get('source', 'its labels')}", file=sys.stderr)
    return scored
