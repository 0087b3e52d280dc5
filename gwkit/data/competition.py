"""Competition files in, validated strain arrays out.

Three formats meet here:

- ``test.npy``: the competition's test set, float64 ``(N, 1, 2, L)`` (or the flat
  ``(N, 2, L)``), whitened strain sampled at 8192 Hz, L = 16384 samples.
- ``*_ts_<i>.sav`` / ``*_params_<i>.sav``: pickled blocks written by the course's
  generator. Pickles run code when loaded, so they go through
  :class:`SafeUnpickler`, which rebuilds numpy arrays and plain containers only.
- HDF5 files written by :func:`write_hdf5` (simulated training / validation sets).

Every problem with a file's content raises :class:`DataError` (a ``ValueError``)
whose message names the file, what was expected and what was found.
"""

from __future__ import annotations

import builtins
import codecs
import importlib
import os
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
import pandas as pd

from gwkit.core.errors import DataError
from gwkit.core.fileio import atomic_path
from gwkit.core.hdf5 import open_hdf5
from gwkit.core.paths import COMPETITION
from gwkit.data.columns import check_labels, upgrade_labelled
from gwkit.sim.recipe import IFOS, NSAMPLES, SAMPLE_RATE

__all__ = [
    "COMPETITION",
    "HDF5_FORMAT",
    "IFOS",
    "MMAP_THRESHOLD_BYTES",
    "NSAMPLES",
    "SAMPLE_RATE",
    "CompetitionData",
    "DataError",
    "SafeUnpickler",
    "check_amplitudes",
    "check_row_amplitudes",
    "hdf5_snr_group_name",
    "load_competition_file",
    "load_hdf5",
    "load_sav_block",
    "load_sav_params",
    "load_test_npy",
    "npy_header",
    "row_amplitudes",
    "validate_strain",
    "write_hdf5",
    "write_sav_block",
]

MMAP_THRESHOLD_BYTES = 256 * 2**20  # .npy files larger than this are memory-mapped
HDF5_FORMAT = 1  # value of the "gwkit_format" file attribute written by write_hdf5
_FINITE_CHUNK_BYTES = 64 * 2**20  # bound on the memory used by the finiteness check
#: RMS per row and detector that whitened strain (RMS ~1) can have: outside, an error
#: (raw strain ~1e-21, a scaled or overflowing file); outside the inner range, a warning.
PLAUSIBLE_RMS = (1e-3, 1e3)
TYPICAL_RMS = (0.1, 10.0)

Layout = Literal["competition", "flat"]
PathLike = str | os.PathLike


# --------------------------------------------------------------------------- validation


def validate_strain(
    x: np.ndarray, source: PathLike, *, nsamples: int | None = NSAMPLES
) -> np.ndarray:
    """Check whitened strain of shape ``(N, 2, L)`` or ``(N, 1, 2, L)``; return it unchanged.

    Checks: numpy array (or an HDF5 dataset, read a chunk at a time), floating-point
    dtype, at least one sample, two detectors (H1, L1), ``L == nsamples`` (skipped
    when ``nsamples`` is None) and finite values. The finiteness check runs over
    chunks of samples, so memory-mapped arrays are never read into memory at once.
    ``source`` names the file in errors. Readers also call :func:`check_amplitudes`.
    """
    if not isinstance(x, (np.ndarray, h5py.Dataset)):
        raise DataError(f"{source}: expected a numpy array of strain, found {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"{source}: expected floating-point strain, found dtype {x.dtype}")
    if x.ndim not in (3, 4):
        raise DataError(
            f"{source}: expected shape (N, 2, L) or (N, 1, 2, L), found {x.shape} ({x.ndim}-D)"
        )
    if x.ndim == 4 and x.shape[1] != 1:
        raise DataError(f"{source}: expected shape (N, 1, 2, L) with 1 on axis 1, found {x.shape}")
    if x.shape[0] == 0:
        raise DataError(f"{source}: expected at least one sample, found none (shape {x.shape})")
    if x.shape[-2] != len(IFOS):
        raise DataError(
            f"{source}: expected {len(IFOS)} detectors {IFOS}, "
            f"found {x.shape[-2]} (shape {x.shape})"
        )
    if nsamples is not None and x.shape[-1] != nsamples:
        raise DataError(f"{source}: expected {nsamples} samples per detector, found {x.shape[-1]}")
    bad = _nonfinite_samples(x)
    if bad:
        shown = ", ".join(str(i) for i in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise DataError(
            f"{source}: expected finite strain, found NaN or inf in {len(bad)} sample(s) "
            f"(rows {shown})"
        )
    return x


def _chunks(x: np.ndarray):
    """``(start, rows)`` of ``x`` (N, ...) in chunks of at most 64 MiB, as numpy arrays."""
    per_sample = max(1, int(np.prod(x.shape[1:], dtype=np.int64)) * x.dtype.itemsize)
    step = max(1, _FINITE_CHUNK_BYTES // per_sample)
    for start in range(0, x.shape[0], step):
        yield start, np.asarray(x[start : start + step])


def _nonfinite_samples(x: np.ndarray) -> list[int]:
    """Indices (axis 0) of samples holding NaN or inf, checked chunk by chunk."""
    bad: list[int] = []
    for start, chunk in _chunks(x):
        ok = np.isfinite(chunk).reshape(chunk.shape[0], -1).all(axis=1)
        bad.extend(int(i) + start for i in np.flatnonzero(~ok))
    return bad


def _rows(rows: np.ndarray) -> str:
    """``"rows 0, 3, 7, ..."`` (at most five)."""
    shown = ", ".join(str(int(i)) for i in rows[:5]) + (", ..." if len(rows) > 5 else "")
    return f"row{'s' * (len(rows) > 1)} {shown}"


def row_amplitudes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(constant, rms)`` of finite strain ``x`` ``(n, [1,] 2, L)``, each ``(n, 2)``: per row
    and detector the value of a series that never changes (NaN where it varies) and the RMS
    (inf where the square overflows). For readers that go through a file in chunks; they
    pass the concatenation to :func:`check_row_amplitudes`."""
    x = np.asarray(x).reshape(len(x), len(IFOS), -1)
    flat = x.max(axis=-1) == x.min(axis=-1)  # np.ptp overflows at 1e308
    with np.errstate(over="ignore"):  # |x| > 1e154 overflows the square: RMS inf
        rms = np.sqrt(np.mean(np.square(x, dtype=np.float64), axis=-1))
    return np.where(flat, x[..., 0], np.nan), rms


def check_row_amplitudes(constant: np.ndarray, rms: np.ndarray, source: PathLike) -> None:
    """The verdict of :func:`check_amplitudes` on a file's :func:`row_amplitudes`."""
    flat = ~np.isnan(constant)
    lo, hi = PLAUSIBLE_RMS
    for bad, value, why in (
            (flat, constant, "is constant ({value:g}) in {rows}: an unfilled file, or no data"),
            (~flat & (rms < lo), rms, "has RMS {value:.3g} in {rows}, below " f"{lo:g}: raw "
                                      "strain? gwkit expects whitened strain (RMS ~1)"),
            (~flat & ~(rms <= hi), rms, "has RMS {value:.3g} in {rows}, above " f"{hi:g}: not "
                                        "whitened strain (RMS ~1)")):
        rows, ifo = np.nonzero(bad)
        if rows.size:
            first = value[rows[0], ifo[0]]
            rows = rows[ifo == ifo[0]]
            shown = f"{_rows(rows)}{f' ({rows.size} rows)' if rows.size > 5 else ''}"
            raise DataError(f"{source}: {IFOS[ifo[0]]} " + why.format(value=first, rows=shown))
    odd = np.flatnonzero(((rms < TYPICAL_RMS[0]) | (rms > TYPICAL_RMS[1])).any(axis=1))
    if odd.size:
        print(f"warning: {source}: {_rows(odd)} {'have' if odd.size > 1 else 'has'} an RMS "
              f"outside {TYPICAL_RMS[0]:g}-{TYPICAL_RMS[1]:g} (whitened strain has ~1); used "
              "as they are", file=sys.stderr)


def check_amplitudes(x: np.ndarray, source: PathLike) -> np.ndarray:
    """Refuse strain that cannot be whitened competition data; return ``x`` unchanged.

    ``x``: finite strain ``(N, [1,] 2, L)`` (after :func:`validate_strain`; a memory
    map or an HDF5 dataset is read a chunk at a time). Per row and detector: a
    constant series (all zeros: an unfilled file or a detector without data) or an
    RMS outside :data:`PLAUSIBLE_RMS` (raw strain ~1e-21, values near float's
    limits) raises :class:`DataError` naming ``source``, the detector and the rows;
    an RMS outside :data:`TYPICAL_RMS` prints one warning line naming the rows.
    """
    parts = [row_amplitudes(chunk) for _, chunk in _chunks(x)]
    check_row_amplitudes(np.concatenate([c for c, _ in parts]),
                         np.concatenate([r for _, r in parts]), source)
    return x


# --------------------------------------------------------------------------- test.npy


def load_test_npy(
    path: PathLike,
    *,
    layout: Layout = "competition",
    mmap: bool | None = None,
    nsamples: int | None = NSAMPLES,
) -> np.ndarray:
    """Read ``test.npy`` stored as ``(N, 1, 2, L)`` or ``(N, 2, L)``; validate it.

    Returns ``(N, 1, 2, L)`` for ``layout="competition"`` or ``(N, 2, L)`` for
    ``layout="flat"`` (views, no copy). The file is memory-mapped read-only when
    ``mmap`` is True, or when it is None and the file is larger than
    :data:`MMAP_THRESHOLD_BYTES`. Pickled (object) arrays are never loaded.
    """
    if layout not in ("competition", "flat"):
        raise ValueError(f"layout must be 'competition' or 'flat', got {layout!r}")
    path = _existing_file(path)
    npy_header(path)  # a truncated file or a lying header fails here, before any allocation
    if mmap is None:
        mmap = path.stat().st_size > MMAP_THRESHOLD_BYTES
    try:
        x = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read as a .npy array ({exc})") from exc
    except MemoryError:
        raise DataError(f"{path}: too large to load into memory (pass mmap=True)") from None
    if not isinstance(x, np.ndarray):  # an .npz archive under a .npy name
        raise DataError(f"{path}: expected a single .npy array, found {type(x).__name__}")
    check_amplitudes(validate_strain(x, path, nsamples=nsamples), path)
    if layout == "competition":
        return x if x.ndim == 4 else x[:, np.newaxis]
    return x if x.ndim == 3 else x[:, 0]


def npy_header(path: PathLike) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a ``.npy`` file from its header alone, checked against its size.

    Raises :class:`DataError` for an empty file, an ``.npz`` archive, a file that
    is not ``.npy``, or a header that claims more data than the file holds.
    """
    path = _existing_file(path)
    fmt = np.lib.format
    try:
        with open(path, "rb") as fh:
            if fh.read(2) == b"PK":
                raise DataError(f"{path}: cannot read as a .npy array: it is an .npz (zip) archive")
            fh.seek(0)
            version = fmt.read_magic(fh)
            if version not in ((1, 0), (2, 0)):
                raise DataError(f"{path}: unsupported .npy format version {version}")
            read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, _, dtype = read(fh)
            offset = fh.tell()
    except DataError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read as a .npy array ({exc})") from None
    if dtype.hasobject:
        raise DataError(f"{path}: cannot read as a .npy array: it holds Python objects "
                        "(pickled data), which gwkit never loads")
    needed = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    held = path.stat().st_size - offset
    if needed > held:
        raise DataError(
            f"{path}: cannot read as a .npy array: truncated or corrupt, its header claims shape "
            f"{shape} of {dtype} "
            f"({needed} bytes of data), the file holds {held} bytes"
        )
    return tuple(int(n) for n in shape), dtype


def _existing_file(path: PathLike) -> Path:
    """``path`` as a Path; FileNotFoundError if it is not a file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return path


# --------------------------------------------------------------------------- safe pickles


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle asked for a global outside :class:`SafeUnpickler`'s allow-list."""

    def __init__(self, module: str, name: str):
        super().__init__(f"refused global {module}.{name}")
        self.module, self.name = module, name


# (module, name) pairs a .sav block may reference; numpy >= 2 spells numpy.core numpy._core.
_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}
_BUILTIN_GLOBALS = frozenset("list dict tuple set frozenset complex bytes bytearray".split())
_OTHER_GLOBALS: dict[tuple[str, str], Callable[..., Any]] = {
    ("_codecs", "encode"): codecs.encode,  # bytes in protocol-2 pickles
}


def _numpy_global(module: str, name: str) -> Any:
    """Resolve an allowed numpy global, preferring ``numpy._core`` (numpy >= 2)."""
    tail = module.removeprefix("numpy._core").removeprefix("numpy.core")
    candidates = [module] if module == "numpy" else [f"numpy._core{tail}", f"numpy.core{tail}"]
    for candidate in candidates:
        try:
            return getattr(importlib.import_module(candidate), name)
        except (ImportError, AttributeError):
            continue
    raise RefusedGlobal(module, name)


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays, dtypes, scalars and plain containers only.

    Any other global (functions, custom classes, ``os.system``, ``builtins.eval``)
    raises :class:`RefusedGlobal` before anything is imported or called. Python-2
    module names (``__builtin__``) are accepted for the same builtins.
    """

    def find_class(self, module: str, name: str) -> Any:
        if module in ("builtins", "__builtin__") and name in _BUILTIN_GLOBALS:
            return getattr(builtins, name)
        canonical = module.replace("numpy._core", "numpy.core", 1)
        if (canonical, name) in _NUMPY_GLOBALS:
            return _numpy_global(module, name)
        if (module, name) in _OTHER_GLOBALS:
            return _OTHER_GLOBALS[(module, name)]
        raise RefusedGlobal(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent references are not allowed")


def _safe_unpickle(path: PathLike) -> Any:
    """Unpickle ``path`` with :class:`SafeUnpickler`; every failure becomes DataError."""
    path = _existing_file(path)
    try:
        with open(path, "rb") as fh:
            return SafeUnpickler(fh, encoding="latin1").load()
    except RefusedGlobal as exc:
        raise DataError(
            f"{path}: refused to unpickle global {exc.module}.{exc.name} "
            "(only numpy arrays, dtypes, scalars and plain containers are allowed); "
            "nothing was executed"
        ) from exc
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        MemoryError,
        UnicodeDecodeError,
    ) as exc:
        raise DataError(f"{path}: cannot unpickle ({type(exc).__name__}: {exc})") from exc


def load_sav_block(
    path: PathLike, *, nsamples: int | None = NSAMPLES
) -> tuple[np.ndarray, np.ndarray]:
    """Read a generator block ``*_ts_<i>.sav`` = ``[X, y]`` safely; validate it.

    Returns ``X`` float ``(n, 2, L)`` whitened strain (L = 16384 samples at 8192 Hz)
    and ``y`` int64 ``(n,)`` labels (1 = signal present, 0 = noise only).
    """
    obj = _safe_unpickle(path)
    if not isinstance(obj, (list, tuple)) or len(obj) != 2:
        found = (
            f"{type(obj).__name__} of {len(obj)} items"
            if isinstance(obj, (list, tuple))
            else type(obj).__name__
        )
        hint = (
            " (a *_params_*.sav file? use load_sav_params)" if "_params_" in Path(path).name else ""
        )
        raise DataError(f"{path}: expected a two-item list [X, y], found {found}{hint}")
    x, y = obj
    validate_strain(x, path, nsamples=nsamples)
    if x.ndim != 3:
        raise DataError(f"{path}: expected X of shape (n, 2, L), found {x.shape}")
    y = check_labels(y, path, n=x.shape[0], integer=True)
    return check_amplitudes(x, path), y


def load_sav_params(path: PathLike) -> list:
    """Read a generator parameter file ``*_params_<i>.sav`` safely.

    Returns the list of parameter records (dicts, lists or arrays of floats;
    ``None`` for noise-only samples). Records pickled as instances of custom
    classes are refused like any other global.
    """
    obj = _safe_unpickle(path)
    if not isinstance(obj, (list, tuple)):
        raise DataError(f"{path}: expected a list of parameter records, found {type(obj).__name__}")
    return list(obj)


def write_sav_block(path: PathLike, x: np.ndarray, y: np.ndarray, records: list, *,
                    params_path: PathLike | None = None) -> list[Path]:
    """Write a block in the course generator's layout, atomically: ``path`` (``*_ts_<i>.sav``)
    holds the pickled ``[X, y]``, its ``*_params_<i>.sav`` the list ``records``.

    ``x`` float ``(n, 2, L)``, ``y`` int ``(n,)``; ``records`` one per row, ``None``
    for noise rows, else a dict of plain numbers. Only numpy arrays and plain
    containers are pickled, so :func:`load_sav_block` and :func:`load_sav_params`
    (the safe unpickler) read them back. ``params_path`` puts the records there
    instead (a staged write, :func:`gwkit.core.outputs.replace_together`, names both files).
    """
    path = Path(path)
    head, sep, tail = path.name.rpartition("_ts_")
    if params_path is None and (not sep or not tail.endswith(".sav")):
        raise ValueError(f"{path}: a block's name must look like <prefix>_ts_<i>.sav")
    x = validate_strain(np.asarray(x), "x", nsamples=None)
    y = check_labels(y, "y", n=x.shape[0], integer=True)
    if len(records) != x.shape[0]:
        raise ValueError(f"records: expected {x.shape[0]} (one per row), found {len(records)}")
    params = Path(params_path) if params_path else path.with_name(f"{head}_params_{tail}")
    for target, obj in ((path, [x, y]), (params, list(records))):
        with atomic_path(target) as tmp, open(tmp, "wb") as fh:
            pickle.dump(obj, fh, protocol=4)
    return [path, params]


# --------------------------------------------------------------------------- HDF5


@dataclass
class CompetitionData:
    """Strain with optional labels, SNR groups and source parameters, as read from a file.

    ``x``: ``(N, 2, L)`` whitened strain (8192 Hz); ``y``: int ``(N,)`` labels;
    ``snr_group``: float ``(N,)`` network SNR of the block each row was drawn from;
    ``params``: one row per sample; ``attrs``: file attributes; ``source``: the file read.
    """

    x: np.ndarray
    y: np.ndarray | None = None
    snr_group: np.ndarray | None = None
    params: pd.DataFrame | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])


def write_hdf5(
    path: PathLike,
    x: np.ndarray,
    *,
    y: np.ndarray | None = None,
    snr_group: np.ndarray | None = None,
    params: pd.DataFrame | None = None,
    attrs: dict[str, Any] | None = None,
    compression: str | None = None,
) -> Path:
    """Write strain ``x`` float32/float64 ``(N, 2, L)`` and its metadata to HDF5, atomically.

    Layout: dataset ``x`` chunked one sample per chunk (no compression unless
    ``compression`` names an h5py filter such as ``"gzip"``), optional datasets
    ``y`` (int labels) and ``snr_group``, group ``params`` with one 1-D dataset per
    column (numeric, bool or string; the row index is not kept), file attributes
    ``attrs`` plus ``gwkit_format`` = :data:`HDF5_FORMAT`.
    """
    path = Path(path)
    x = np.asarray(x)
    validate_strain(x, "x", nsamples=None)
    if x.ndim != 3:
        raise ValueError(f"x: expected shape (N, 2, L), found {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        raise ValueError(f"x: expected float32 or float64, found {x.dtype}")
    n = x.shape[0]
    columns = _params_columns(params, n)
    y_arr = None if y is None else check_labels(y, "y", n=n, integer=True)
    group_arr = None if snr_group is None else _check_snr_group(snr_group, n)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("x", data=x, chunks=(1, *x.shape[1:]), compression=compression)
        if y_arr is not None:
            f.create_dataset("y", data=y_arr)
        if group_arr is not None:
            f.create_dataset("snr_group", data=group_arr)
        if columns is not None:
            _write_params(f.create_group("params"), columns)
        _write_attrs(f, attrs or {})
    return path


def _check_snr_group(snr_group: Any, n: int) -> np.ndarray:
    snr_group = np.asarray(snr_group, dtype=np.float64)
    if snr_group.shape != (n,):
        raise ValueError(f"snr_group: expected shape ({n},), found {snr_group.shape}")
    return snr_group


def _params_columns(params: pd.DataFrame | None, n: int) -> dict[str, np.ndarray] | None:
    """Columns of ``params`` as 1-D arrays ready for HDF5; ValueError for unsupported ones."""
    if params is None:
        return None
    if len(params) != n:
        raise ValueError(f"params: expected {n} rows (one per sample), found {len(params)}")
    columns: dict[str, np.ndarray] = {}
    for name in params.columns:
        if not isinstance(name, str) or not name or "/" in name or name == ".":
            raise ValueError(
                f"params: column names must be non-empty strings without '/', got {name!r}"
            )
        values = params[name].to_numpy()
        if values.dtype.kind in "biufc":
            columns[name] = values
        elif all(isinstance(v, str) for v in values):
            columns[name] = values.astype(object)
        else:
            raise ValueError(
                f"params: column {name!r} has dtype {params[name].dtype}; "
                "expected numbers, booleans or strings"
            )
    return columns


def _write_params(group: h5py.Group, columns: dict[str, np.ndarray]) -> None:
    for name, values in columns.items():
        if values.dtype == object:
            group.create_dataset(name, data=values, dtype=h5py.string_dtype())
        else:
            group.create_dataset(name, data=values)
    group.attrs["columns"] = list(columns)


def _write_attrs(f: h5py.File, attrs: dict[str, Any]) -> None:
    for key, value in attrs.items():
        if key == "gwkit_format":
            raise ValueError("attrs: 'gwkit_format' is reserved (write_hdf5 sets it)")
        try:
            f.attrs[key] = value
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"attrs[{key!r}]: cannot store {type(value).__name__} in HDF5"
            ) from exc
    f.attrs["gwkit_format"] = HDF5_FORMAT


def load_hdf5(path: PathLike, *, nsamples: int | None = NSAMPLES) -> CompetitionData:
    """Read and validate an HDF5 file written by :func:`write_hdf5` into memory."""
    path = _existing_file(path)
    try:
        with open_hdf5(path) as f:
            return _read_hdf5(f, path, nsamples)
    except DataError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: cannot read as a gwkit HDF5 file ({exc})") from exc


def _read_hdf5(f: h5py.File, path: Path, nsamples: int | None) -> CompetitionData:
    fmt = f.attrs.get("gwkit_format")
    if fmt is None:
        raise DataError(
            f"{path}: expected attribute gwkit_format (a file from write_hdf5), found none"
        )
    if int(fmt) != HDF5_FORMAT:
        raise DataError(f"{path}: expected gwkit_format {HDF5_FORMAT}, found {fmt}")
    if "x" not in f:
        raise DataError(f"{path}: expected dataset 'x', found {sorted(f.keys())}")
    x = validate_strain(f["x"][()], path, nsamples=nsamples)
    if x.ndim != 3:
        raise DataError(f"{path}: expected x of shape (N, 2, L), found {x.shape}")
    check_amplitudes(x, path)
    n = x.shape[0]
    y = check_labels(f["y"][()], path, n=n, integer=True) if "y" in f else None
    name = hdf5_snr_group_name(f)
    snr_group = f[name][()] if name else None
    if snr_group is not None and snr_group.shape != (n,):
        raise DataError(f"{path}: expected {name} of shape ({n},), found {snr_group.shape}")
    params = read_params(f["params"], n, path) if "params" in f else None
    if params is not None:
        params = upgrade_labelled(params)
    attrs = {key: _plain(value) for key, value in f.attrs.items()}
    return CompetitionData(x=x, y=y, snr_group=snr_group, params=params, attrs=attrs, source=path)


def hdf5_snr_group_name(f: h5py.File) -> str | None:
    """The dataset of a gwkit HDF5 file that holds the SNR groups: ``snr_group``, or ``snr``
    in files written before (:mod:`gwkit.data.columns`); None when it has neither."""
    return next((name for name in ("snr_group", "snr") if name in f), None)


def read_params(group: h5py.Group, n: int, path: Path) -> pd.DataFrame:
    names = [str(c) for c in group.attrs.get("columns", sorted(group.keys()))]
    data = {}
    for name in names:
        ds = group[name]
        values = ds.asstr()[()] if h5py.check_string_dtype(ds.dtype) else ds[()]
        if values.shape != (n,):
            raise DataError(f"{path}: expected params/{name} of shape ({n},), found {values.shape}")
        data[name] = values
    return pd.DataFrame(data, columns=names)


def _plain(value: Any) -> Any:
    """numpy scalars from h5py attrs as Python scalars; arrays and strings unchanged."""
    return value.item() if isinstance(value, np.generic) else value


# --------------------------------------------------------------------------- dispatch


def load_competition_file(
    path: PathLike, *, mmap: bool | None = None, nsamples: int | None = NSAMPLES
) -> CompetitionData:
    """Read ``.npy`` (test set), ``.sav`` (generator block) or ``.h5``/``.hdf5`` (gwkit).

    ``x`` is always in the flat ``(N, 2, L)`` layout; ``mmap`` applies to ``.npy``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        x = load_test_npy(path, layout="flat", mmap=mmap, nsamples=nsamples)
        return CompetitionData(x=x, source=path)
    if suffix == ".sav":
        x, y = load_sav_block(path, nsamples=nsamples)
        return CompetitionData(x=x, y=y, source=path)
    if suffix in (".h5", ".hdf5"):
        return load_hdf5(path, nsamples=nsamples)
    raise DataError(f"{path}: expected a .npy, .sav, .h5 or .hdf5 file, found suffix {suffix!r}")
