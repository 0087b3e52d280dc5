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
from gwkit.core.paths import locate_data
from gwkit.data.columns import check_labels, upgrade_labelled

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
        if self.score.size != n:
            raise ValueError(f"{self.name}: {n} labels but {self.score.size} scores")
        if not np.all(np.isin(self.y, (0, 1))):
            raise ValueError(f"{self.name}: labels must be 0 or 1")
        if not np.all(np.isfinite(self.score)):
            raise ValueError(f"{self.name}: {int(np.sum(~np.isfinite(self.score)))} non-finite scores")
        if self.snr_group is not None:
            self.snr_group = np.asarray(self.snr_group, dtype=np.float64).ravel()
            if self.snr_group.size != n:
                raise ValueError(f"{self.name}: {n} labels but {self.snr_group.size} SNR values")
        if self.groups is not None:
            self.groups = np.asarray(self.groups).ravel()
            if self.groups.size != n:
                raise ValueError(f"{self.name}: {n} labels but {self.groups.size} group ids")

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


def _finite_scores(values, source: str) -> np.ndarray:
    """Scores as float64; LabelledSetError naming the first row that is NaN, inf or text."""
    raw = pd.Series(values).reset_index(drop=True)
    score = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(score))
    if bad.size:
        i = bad[0]
        raise LabelledSetError(f"{source}: scores must be finite numbers; row {i} has "
                            f"{_shown(raw.iloc[i])} ({bad.size} bad row(s))")
    return score


def _h5_labels(path: Path) -> pd.DataFrame:
    import h5py

    from gwkit.data.competition import hdf5_snr_group_name

    with h5py.File(path, "r") as f:
        if "y" not in f:
            raise LabelledSetError(f"{path} has no labels (dataset 'y')")
        y = check_labels(f["y"][()], f"labels {path}", column="y")
        table = pd.DataFrame({"id": np.arange(y.size), "label": y})
        if name := hdf5_snr_group_name(f):
            table["snr_group"] = f[name][()]
        if "params" in f and "waveform_id" in f["params"]:
            table["waveform_id"] = f["params"]["waveform_id"][()]
    return table


def _with_waveform_groups(table: pd.DataFrame, params: Path) -> pd.DataFrame:
    """``table`` with the ``waveform_id`` of ``params`` (a set's params.csv) when it lacks one.

    The competition reuses each waveform with 25 noise draws: without the
    groups, a bootstrap treats copies of one waveform as independent rows.
    """
    if "waveform_id" in table or not params.is_file() or "id" not in table:
        return table
    extra = read_table(params, "parameters", usecols=lambda c: c in ("id", "waveform_id"))
    if {"id", "waveform_id"} <= set(extra.columns):
        table = table.merge(extra, on="id", how="left")
    return table


def load_labels(path: str | Path) -> pd.DataFrame:
    """Labels ``id, label[, snr_group][, waveform_id]`` from a CSV, a gwkit .h5, a .npy's
    labels.csv or a set's folder (legacy ``target``, ``snr`` columns read as these).

    The waveform groups come from the file itself or from ``params.csv`` beside it.
    """
    path = Path(path)
    if not path.exists():
        raise LabelledSetError(f"labels {path} do not exist")
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        return _h5_labels(path)
    if suffix == ".npy" or path.is_dir():
        folder = path if path.is_dir() else path.parent
        csv = folder / "labels.csv"
        if not csv.is_file():
            raise LabelledSetError(f"{path}: no labels.csv beside it")
        table = _with_waveform_groups(read_table(csv, "labels"), folder / "params.csv")
    elif suffix == ".csv":
        table = _with_waveform_groups(read_table(path, "labels"), path.parent / "params.csv")
    else:
        raise LabelledSetError(f"labels {path}: expected .csv, .h5/.hdf5 or .npy")
    table, column = _labelled(table)
    if not {"id", "label"} <= set(table.columns):
        raise LabelledSetError(f"labels {path}: need columns id and label, found {list(table.columns)}")
    if table["id"].duplicated().any():
        raise LabelledSetError(f"labels {path}: duplicate ids")
    table["label"] = check_labels(table["label"], f"labels {path}", column=column)
    return table


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
        import h5py

        f = h5py.File(path, "r")  # kept open for the process's lifetime: rows are read in batches
        if "x" not in f or f["x"].ndim != 3:
            raise LabelledSetError(f"{path}: expected dataset x of shape (N, 2, L)")
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


def _join(scores: pd.DataFrame, labels: pd.DataFrame, name: str) -> pd.DataFrame:
    if scores["id"].duplicated().any():
        raise LabelledSetError(f"{name}: duplicate ids, cannot join with labels "
                            "(a combined oof.csv carries its own labels and SNR groups: omit --labels)")
    keep = [c for c in ("id", "label", "snr_group", "waveform_id") if c in labels]
    merged = scores.drop(columns=[c for c in keep if c != "id" and c in scores]).merge(
        labels[keep], on="id", how="left", validate="one_to_one")
    missing = np.flatnonzero(merged["label"].isna().to_numpy())
    if missing.size:
        raise LabelledSetError(f"{name}: {missing.size} ids have no label (first: id "
                            f"{merged['id'].iloc[missing[0]]!r} is not in the labels)")
    if len(labels) != len(merged):
        print(f"note: {name} scores {len(merged)} of the {len(labels)} labelled rows", file=sys.stderr)
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
        table = _join(table, labels, name)
    elif "label" not in table:
        raise LabelledSetError(f"{path}: no label column; pass --labels")
    source = f"{path} (column {score_column})"
    return ScoreSet(
        name=name, y=check_labels(table["label"], f"{path}", column=column),
        score=_finite_scores(table["_score"], source),
        snr_group=table["snr_group"].to_numpy() if "snr_group" in table else None,
        groups=table["waveform_id"].to_numpy() if "waveform_id" in table else None,
        source=source,
    )
