"""Fixed training sets, read lazily: course ``.sav`` blocks, ``test.npy``-shaped ``.npy``, gwkit HDF5.

``python -m gwkit.train --train-data PATH [PATH ...]`` trains on these instead of
(or mixed with) the engine. :func:`open_training_data` concatenates the files
and returns a :class:`TrainingData`: labels, SNR groups, merger indices and
**row groups** (``row_group``) for every row, and the strain read on demand, a batch at a time:

- ``.npy`` (``(N, 1, 2, L)`` or ``(N, 2, L)``, the competition's layout): rows are
  read from the file with ``os.pread``, never memory-mapped, so resident memory
  stays at a batch whatever the file's size. Labels come from ``labels.csv``
  beside it (columns ``id, label`` and optionally ``snr_group``; files written
  before use ``target`` and ``snr``), waveforms and merger
  indices from ``params.csv`` when present (what ``python -m gwkit.simulate`` writes).
- gwkit HDF5 (``write_hdf5``: datasets ``x``, ``y``, optional ``snr_group`` and
  ``params``): rows are read through h5py, one chunk per row.
- ``*_ts_<i>.sav`` (the course generator's pickled ``[X, y]``) with its
  ``*_params_<i>.sav``: a pickle cannot be read in parts, so each block is
  unpickled once through :class:`~gwkit.data.competition.SafeUnpickler`, checked,
  and its strain spilled as float32 to ``<cache_dir>/train_data/<key>.npy``
  (keyed by path, size and modification time; reused on the next run), then read
  like a ``.npy``. Peak memory is one block, once.

A folder stands for the training files in it (``*_ts_*.sav``, else ``*.npy``,
else ``*.h5``/``*.hdf5``).

Groups (no leakage across folds). Rows that share a waveform must land in one
fold: the course writes every waveform with ``Nnoise`` noise draws, and blocks
made with one seed share their noise row by row. A row's group joins

- its waveform: the ``waveform_id`` column (HDF5 ``params``, ``params.csv``), or
  for ``.sav`` blocks the content of its parameter record (the ``Nnoise`` copies
  carry the same record; keys naming an SNR are left out, so the same waveform
  at another block's SNR joins too);
- its noise: rows whose channel 1 is identical (the competition's layout leaves
  channel 1 pure noise) share noise.

Groups are the connected components of those links. A signal row whose waveform
cannot be known (no ``params.csv``, no ``*_params_*.sav``) is refused unless
``groups="none"`` (every row its own group: folds may then leak).

Every problem with a file raises :class:`~gwkit.data.competition.DataError`
with a one-line message naming the file.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from gwkit.core.fileio import atomic_path
from gwkit.core.hdf5 import check_format, open_hdf5
from gwkit.data.columns import check_labels, upgrade_labelled
from gwkit.data.competition import (
    HDF5_FORMAT,
    DataError,
    check_row_amplitudes,
    hdf5_snr_group_name,
    load_sav_block,
    load_sav_params,
    npy_header,
    row_amplitudes,
)
from gwkit.sim.recipe import IFOS, NSAMPLES

__all__ = [
    "TrainingData",
    "TrainingFile",
    "expand_paths",
    "group_rows",
    "open_training_data",
    "sav_params_path",
]

Grouping = Literal["auto", "none"]
_CHUNK_ROWS = 256  # rows per read in the checking pass (float32: 32 MiB)
_SPILL_FORMAT = 1  # bump when the spill file's content changes
_SNR_KEY = re.compile("snr", re.IGNORECASE)


# ---------------------------------------------------------------- readers


class _NpyRows:
    """Rows of a C-ordered ``.npy`` array read with ``os.pread`` (no memory map)."""

    def __init__(self, path: Path, offset: int, nrows: int, dtype: np.dtype) -> None:
        self.path, self.offset, self.nrows, self.dtype = path, offset, nrows, dtype
        self.row_bytes = len(IFOS) * NSAMPLES * dtype.itemsize
        self._fd: int | None = None
        self._pid = -1

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # a forked process opens its own
            self._fd, self._pid = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0)), os.getpid()
        return self._fd

    def read(self, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), 2, L)`` float32, in the order of ``rows``."""
        fd = self._descriptor()
        out = np.empty((len(rows), len(IFOS), NSAMPLES), dtype=np.float32)
        for i, row in enumerate(np.asarray(rows, dtype=np.int64)):
            data = os.pread(fd, self.row_bytes, self.offset + int(row) * self.row_bytes)
            if len(data) != self.row_bytes:
                raise DataError(f"{self.path}: row {row} is cut short (the file changed?)")
            out[i] = np.frombuffer(data, dtype=self.dtype).reshape(len(IFOS), NSAMPLES)
        return out

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fd": None, "_pid": -1}


class _H5Rows:
    """Rows of a gwkit HDF5 file's ``x`` dataset, read through h5py."""

    def __init__(self, path: Path, nrows: int) -> None:
        self.path, self.nrows = path, nrows
        self._file = None
        self._pid = -1

    def read(self, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), 2, L)`` float32, in the order of ``rows``."""
        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = open_hdf5(self.path), os.getpid()
        rows = np.asarray(rows, dtype=np.int64)
        unique, inverse = np.unique(rows, return_inverse=True)  # h5py wants increasing indices
        return np.asarray(self._file["x"][unique], dtype=np.float32)[inverse]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_file": None, "_pid": -1}


# ---------------------------------------------------------------- one file


@dataclass
class TrainingFile:
    """One training file: its reader and per-row metadata."""

    path: Path
    reader: _NpyRows | _H5Rows
    y: np.ndarray  # int64 (n,)
    snr_group: np.ndarray  # float64 (n,), NaN unknown
    peak_index: np.ndarray  # int64 (n,), -1 for noise or unknown
    waveform: list[Any]  # per row a hashable waveform key, or None (noise, or unknown)
    chirp_mass: np.ndarray  # float64 (n,), NaN unknown
    mode: str | None = None  # the file's channel layout when it says so (HDF5 attribute)
    waveforms_known: bool = True  # False: signal rows have no waveform (no params)


def _column(table: pd.DataFrame | None, name: str, n: int, fill: float) -> np.ndarray:
    if table is None or name not in table:
        return np.full(n, fill, dtype=np.float64)
    return pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=np.float64)


def _from_table(path: Path, reader, y: np.ndarray, snr_group: np.ndarray, params: pd.DataFrame | None,
                mode: str | None = None) -> TrainingFile:
    """A file whose per-row parameters are a table (HDF5 ``params``, ``params.csv``)."""
    n = len(y)
    if params is not None and len(params) != n:
        raise DataError(f"{path}: expected {n} rows of parameters, found {len(params)}")
    wid = _column(params, "waveform_id", n, math.nan)
    known = params is not None and "waveform_id" in params
    waveform = [("id", int(w)) if (label == 1 and math.isfinite(w) and w >= 0) else None
                for label, w in zip(y, wid)]
    peak = _column(params, "peak_index", n, math.nan)
    peak = np.where(np.isfinite(peak) & (y == 1), peak, -1).astype(np.int64)
    mchirp = _column(params, "mchirp", n, math.nan)
    return TrainingFile(path, reader, y, snr_group, peak, waveform, mchirp, mode, known)


def _open_npy(path: Path) -> TrainingFile:
    """``test.npy``-shaped strain with ``labels.csv`` (and optionally ``params.csv``) beside it."""
    shape, dtype = npy_header(path)
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[1] != 1) \
            or shape[-2:] != (len(IFOS), NSAMPLES) or shape[0] == 0:
        raise DataError(f"{path}: expected strain of shape (N, 1, {len(IFOS)}, {NSAMPLES}) or "
                        f"(N, {len(IFOS)}, {NSAMPLES}), found {shape}")
    if dtype.kind != "f":
        raise DataError(f"{path}: expected floating-point strain, found dtype {dtype}")
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) \
            else np.lib.format.read_array_header_2_0
        _, fortran, _ = read(fh)
        offset = fh.tell()
    if fortran:
        raise DataError(f"{path}: expected a C-ordered array, found Fortran order")
    n = shape[0]
    labels_path = path.parent / "labels.csv"
    if not labels_path.is_file():
        raise DataError(f"{path}: training needs labels: no labels.csv beside it "
                        "(columns id, label)")
    labels = upgrade_labelled(_read_csv(labels_path))  # files written before: target, snr
    if "label" not in labels:
        raise DataError(f"{labels_path}: expected a column 'label' (or 'target'), found "
                        f"{list(labels.columns)}")
    if len(labels) != n:
        raise DataError(f"{labels_path}: expected {n} rows (one per row of {path.name}), "
                        f"found {len(labels)}")
    if "id" in labels and not np.array_equal(labels["id"].to_numpy(), np.arange(n)):
        raise DataError(f"{labels_path}: expected ids 0..{n - 1} in file order")
    y = check_labels(labels["label"], labels_path)
    params_path = path.parent / "params.csv"
    params = _read_csv(params_path) if params_path.is_file() else None
    snr_group = _column(labels, "snr_group", n, math.nan)
    return _from_table(path, _NpyRows(path, offset, n, dtype), y, snr_group, params)


def _open_hdf5(path: Path) -> TrainingFile:
    """A gwkit HDF5 set (``write_hdf5``), labels required; ``x`` is not read here."""
    from gwkit.data.competition import read_params

    try:
        with open_hdf5(path) as f:
            check_format(f, "gwkit_format", HDF5_FORMAT, path, "a gwkit HDF5 set")
            if "x" not in f:
                raise DataError(f"{path}: expected dataset 'x', found {sorted(f.keys())}")
            x = f["x"]
            if x.ndim != 3 or x.shape[1:] != (len(IFOS), NSAMPLES) or x.shape[0] == 0:
                raise DataError(f"{path}: expected x of shape (N, {len(IFOS)}, {NSAMPLES}), "
                                f"found {x.shape}")
            if x.dtype.kind != "f":
                raise DataError(f"{path}: expected floating-point strain, found dtype {x.dtype}")
            n = x.shape[0]
            if "y" not in f:
                raise DataError(f"{path}: training needs labels, the file has no dataset 'y'")
            y = check_labels(f["y"][()], path, n=n)
            name = hdf5_snr_group_name(f)
            snr_group = np.asarray(f[name][()], dtype=np.float64) if name \
                else np.full(n, math.nan)
            if snr_group.shape != (n,):
                raise DataError(f"{path}: expected {name} of shape ({n},), found {snr_group.shape}")
            params = read_params(f["params"], n, path) if "params" in f else None
            mode = f.attrs.get("mode")
    except DataError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: cannot read as a gwkit HDF5 file ({exc})") from None
    mode = mode.decode() if isinstance(mode, bytes) else (str(mode) if mode is not None else None)
    return _from_table(path, _H5Rows(path, n), y, snr_group, params, mode)


def sav_params_path(path: str | os.PathLike) -> Path:
    """``<prefix>_params_<i>.sav`` of a block ``<prefix>_ts_<i>.sav``."""
    path = Path(path)
    head, sep, tail = path.name.rpartition("_ts_")
    return path.with_name(f"{head}_params_{tail}" if sep else f"{path.stem}_params.sav")


def _record_key(record: Any) -> Any:
    """A hashable form of a parameter record without its SNR-dependent entries."""
    if isinstance(record, dict):
        return tuple(sorted((str(k), _record_key(v)) for k, v in record.items()
                            if not _SNR_KEY.search(str(k))))
    if isinstance(record, (list, tuple)):
        return tuple(_record_key(v) for v in record)
    if isinstance(record, np.ndarray):
        return (record.dtype.str, record.shape, record.tobytes())
    if isinstance(record, np.generic):
        return record.item()
    return record


def _record_value(record: Any, key: str) -> float:
    if isinstance(record, dict) and key in record:
        try:
            return float(record[key])
        except (TypeError, ValueError):
            return math.nan
    return math.nan


def _open_sav(path: Path, cache_dir: Path) -> TrainingFile:
    """A course block: unpickled safely once, its strain spilled to a float32 ``.npy`` cache."""
    stat = path.stat()
    key = hashlib.sha256(f"{_SPILL_FORMAT}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
                         .encode()).hexdigest()[:20]
    spill = cache_dir / "train_data" / f"{path.stem}-{key}.npy"
    labels = spill.with_suffix(".y.npy")
    if not (spill.is_file() and labels.is_file()):
        x, y = load_sav_block(path)
        spill.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(labels) as tmp:
            np.save(tmp, y)
        with atomic_path(spill) as tmp:
            np.save(tmp, x.astype(np.float32, copy=False))
        del x
    y = np.load(labels, allow_pickle=False)
    shape, dtype = npy_header(spill)
    n = shape[0]
    offset = spill.stat().st_size - n * len(IFOS) * NSAMPLES * dtype.itemsize
    params_path = sav_params_path(path)
    records: list[Any] = [None] * n
    known = params_path.is_file()
    if known:
        records = load_sav_params(params_path)
        if len(records) != n:
            raise DataError(f"{params_path}: expected {n} parameter records (one per row of "
                            f"{path.name}), found {len(records)}")
        bad = [i for i, (label, rec) in enumerate(zip(y, records)) if (rec is None) != (label == 0)]
        if bad:
            raise DataError(f"{params_path}: record {bad[0]} is "
                            f"{'None' if records[bad[0]] is None else 'a record'} but row "
                            f"{bad[0]} of {path.name} has label {y[bad[0]]} "
                            "(expected None exactly for noise rows)")
    waveform = [("sav", _record_key(r)) if r is not None else None for r in records]
    snr_group = np.array([_record_value(r, "snr") for r in records])  # a block has one SNR
    peak = np.array([_record_value(r, "peak_index") for r in records])
    peak = np.where(np.isfinite(peak) & (y == 1), peak, -1).astype(np.int64)
    mchirp = np.array([_record_value(r, "mchirp") for r in records])
    return TrainingFile(path, _NpyRows(spill, offset, n, dtype), y, snr_group, peak, waveform, mchirp,
                 waveforms_known=known)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: cannot read as a CSV table ({first})") from None


def _open_file(path: Path, cache_dir: Path) -> TrainingFile:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".sav":
        if "_params_" in path.name:
            raise DataError(f"{path}: a parameter file; give the block *_ts_*.sav (its params "
                            "file is found beside it)")
        return _open_sav(path, cache_dir)
    if suffix == ".npy":
        return _open_npy(path)
    if suffix in (".h5", ".hdf5"):
        return _open_hdf5(path)
    raise DataError(f"{path}: expected a .sav block, a .npy with labels.csv, or a gwkit "
                    f".h5/.hdf5 file, found suffix {suffix!r}")


def expand_paths(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """The training files named by ``paths``; a folder stands for the training files in it."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            out.append(path)
            continue
        found = sorted(path.glob("*_ts_*.sav"), key=_natural) or sorted(path.glob("*.npy")) \
            or sorted([*path.glob("*.h5"), *path.glob("*.hdf5")])
        if not found:
            raise DataError(f"{path}: a folder without training files (*_ts_*.sav, *.npy "
                            "with labels.csv, *.h5)")
        out.extend(found)
    twice = sorted({str(p) for p in out if sum(q.resolve() == p.resolve() for q in out) > 1})
    if twice:
        raise DataError(f"{twice[0]}: given twice (each training file once)")
    return out


def _natural(path: Path) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name))


# ---------------------------------------------------------------- groups


def group_rows(waveform: Sequence[Any], noise_key: Sequence[bytes | None]) -> np.ndarray:
    """Group ids ``0..G-1`` (int64): rows linked by an equal waveform key or noise key.

    ``None`` keys link nothing; a row linked to nothing is a group of its own.
    Groups are numbered in order of their first row.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(waveform)
    keys: dict[Any, int] = {}
    rows, cols = [], []
    for i, (w, k) in enumerate(zip(waveform, noise_key)):
        for key in (("w", w) if w is not None else None, ("n", k) if k is not None else None):
            if key is not None:
                rows.append(i)
                cols.append(n + keys.setdefault(key, len(keys)))
    size = n + len(keys)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))
    _, label = connected_components(graph, directed=False)
    first = {}
    return np.array([first.setdefault(g, len(first)) for g in label[:n]], dtype=np.int64)


def _check_and_hash(f: TrainingFile) -> list[bytes | None]:
    """Read every row once (chunked): NaN/inf or implausible amplitudes
    (:func:`gwkit.data.competition.check_amplitudes`) are a DataError; the digest of each
    row's channel 1."""
    keys: list[bytes | None] = []
    amplitudes = []
    for lo in range(0, f.reader.nrows, _CHUNK_ROWS):
        chunk = f.reader.read(np.arange(lo, min(lo + _CHUNK_ROWS, f.reader.nrows)))
        finite = np.isfinite(chunk).reshape(len(chunk), -1).all(axis=1)
        if not finite.all():
            bad = lo + int(np.flatnonzero(~finite)[0])
            raise DataError(f"{f.path}: expected finite strain, found NaN or inf in row {bad}")
        amplitudes.append(row_amplitudes(chunk))
        for row in chunk[:, 1]:
            constant = row[0] == row[-1] and np.all(row == row[0])
            keys.append(None if constant else hashlib.blake2b(row.tobytes(), digest_size=16).digest())
    if amplitudes:
        check_row_amplitudes(*(np.concatenate(a) for a in zip(*amplitudes)), f.path)
    return keys


# ---------------------------------------------------------------- the concatenation


@dataclass
class TrainingData:
    """Rows of one or more training files, concatenated; strain read on demand.

    ``index`` selects rows of the concatenation (a fold's training or validation
    rows are a :meth:`take` of the whole). Per-row arrays follow ``index``.
    """

    paths: list[Path]
    files: list[TrainingFile]
    file_of: np.ndarray  # int64 (rows,): which file
    row_in_file: np.ndarray  # int64 (rows,): row within it
    y: np.ndarray  # float32 labels
    snr_group: np.ndarray  # float64 SNR group, NaN unknown
    peak_index: np.ndarray  # int64 merger index (samples), -1 for noise or unknown
    row_group: np.ndarray  # int64 row group (:func:`group_rows`: rows sharing a waveform or noise)
    chirp_mass: np.ndarray  # float64, NaN unknown

    def __len__(self) -> int:
        return int(self.y.size)

    def take(self, index: np.ndarray) -> TrainingData:
        """The rows ``index`` (positions in this set), in that order."""
        index = np.asarray(index, dtype=np.int64)
        return replace(self, file_of=self.file_of[index], row_in_file=self.row_in_file[index],
                       y=self.y[index], snr_group=self.snr_group[index],
                       peak_index=self.peak_index[index],
                       row_group=self.row_group[index], chirp_mass=self.chirp_mass[index])

    def read(self, index: np.ndarray) -> np.ndarray:
        """Strain of rows ``index`` (positions in this set): float32 ``(len(index), 2, L)``."""
        index = np.asarray(index, dtype=np.int64)
        out = np.empty((index.size, len(IFOS), NSAMPLES), dtype=np.float32)
        files, rows = self.file_of[index], self.row_in_file[index]
        for k in np.unique(files):
            where = np.flatnonzero(files == k)
            out[where] = self.files[k].reader.read(rows[where])
        return out

    def batches(self, batch_size: int, device: torch.device | str = "cpu",
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(x, y)`` tensors in order (a validation pass)."""
        for lo in range(0, len(self), batch_size):
            index = np.arange(lo, min(lo + batch_size, len(self)))
            yield (torch.as_tensor(self.read(index), device=device),
                   torch.as_tensor(self.y[index], device=device))


def open_training_data(paths: Sequence[str | os.PathLike], *, groups: Grouping = "auto",
                       cache_dir: str | os.PathLike = "cache") -> TrainingData:
    """Open, check and group the training files ``paths`` (files or folders); see the module doc.

    Reads every row once (finiteness, channel-1 digests), a chunk at a time.
    """
    if groups not in ("auto", "none"):
        raise ValueError(f"groups must be 'auto' or 'none', got {groups!r}")
    files_ = expand_paths(paths)
    if not files_:
        raise DataError("train_data: no files given")
    opened = [_open_file(p, Path(cache_dir)) for p in files_]
    if groups == "auto":
        for f in opened:
            if not f.waveforms_known and (f.y == 1).any():
                where = "params.csv beside it" if f.path.suffix == ".npy" else (
                    sav_params_path(f.path).name if f.path.suffix == ".sav" else "params group")
                raise DataError(f"{f.path}: which rows share a waveform cannot be known (no "
                                f"waveform_id: {where} missing), so folds could leak; add it, "
                                "or pass --set groups=none to treat every row as its own waveform")
    noise_keys = [k for f in opened for k in _check_and_hash(f)]
    waveform = [w for f in opened for w in f.waveform]
    n = len(waveform)
    row_group = group_rows(waveform, noise_keys) if groups == "auto" else np.arange(n)
    return TrainingData(
        paths=files_, files=opened,
        file_of=np.concatenate([np.full(len(f.y), k) for k, f in enumerate(opened)]),
        row_in_file=np.concatenate([np.arange(len(f.y)) for f in opened]),
        y=np.concatenate([f.y for f in opened]).astype(np.float32),
        snr_group=np.concatenate([f.snr_group for f in opened]),
        peak_index=np.concatenate([f.peak_index for f in opened]),
        row_group=row_group,
        chirp_mass=np.concatenate([f.chirp_mass for f in opened]),
    )
