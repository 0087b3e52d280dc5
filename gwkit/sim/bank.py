"""Waveform bank: IMRPhenomD once per mass pair, in HDF5, for the on-the-fly engine.

IMRPhenomD carries only the (2, 2) mode, so everything but the masses
(inclination, phase, sky position, polarisation, arrival time, SNR) is a cheap
linear operation on the face-on, zero-phase pair ``(hp0, hc0)``
(:func:`gwkit.sim.waveforms.polarisations`). The bank stores, per mass pair, a
segment of that pair around the amplitude peak as **cubic B-spline
coefficients**: the course generator shifts each detector's strain by a
fractional delay with a cubic spline, and with the coefficients stored the
engine evaluates that spline at any shift with a 4-tap gather. Everything is
linear, so the coefficients of ``F+ hp + Fx hc`` are the same combination of
the stored coefficients.

Segment layout: ``length`` samples, the face-on amplitude peak at index
``pre``; amplitudes normalised to a peak of 1 (``amplitude`` holds the
strain at 1 Mpc that the normalisation removed). ``last`` is the segment
index of the waveform's last sample: the course's spline (scipy ``splrep``,
not-a-knot, evaluated with ``ext=1``) is zero beyond it. To make the stored
B-spline equal that spline up to the end, the data are continued past the
end by the spline's own last cubic piece (then zeros far away) before the
coefficients are computed; the engine masks positions beyond ``last``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from gwkit.core.devices import usable_cpus
from gwkit.core.errors import DataError
from gwkit.core.fileio import atomic_path
from gwkit.core.hdf5 import attribute, open_hdf5
from gwkit.sim.parallel import worker_pool
from gwkit.sim.recipe import F_LOWER, MIN_WAVEFORM_LENGTH, SAMPLE_RATE, MassPrior
from gwkit.sim.waveforms import (
    BinaryMasses,
    chirp_time_2pn,
    imrphenomd,
    symmetric_mass_ratio,
)

__all__ = ["BankConfig", "WaveformBank", "build_bank", "load_bank", "bank_entry"]

BANK_FORMAT = 2
_MASSES = 10  # spawn-key root of the bank's mass draws
_FILTER_MARGIN = 512  # samples around the segment while computing spline coefficients
_TAIL = 256  # samples whose not-a-knot spline sets the continuation past the end
_CONTINUE = 48  # samples of that continuation (its influence then decays as 0.27^n)


@dataclass(frozen=True)
class BankConfig:
    """How a bank is made (units: Hz, samples, solar masses)."""

    sample_rate: float = SAMPLE_RATE
    f_lower: float = F_LOWER
    min_waveform_length: int = MIN_WAVEFORM_LENGTH
    pre: int = 8448  # segment samples before the amplitude peak
    length: int = 11264  # segment samples in all
    m_min: float = MassPrior.m_min
    m_total_max: float = MassPrior.m_total_max
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if not 0 < self.pre < self.length:
            raise ValueError(f"need 0 < pre < length, got pre={self.pre}, length={self.length}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")


@dataclass
class WaveformBank(BinaryMasses):
    """A loaded bank: per-entry masses and the (n, 2, length) spline coefficients of (hp0, hc0)."""

    m1: np.ndarray
    m2: np.ndarray
    f_start: np.ndarray
    amplitude: np.ndarray
    last: np.ndarray
    coeffs: np.ndarray
    config: BankConfig
    seed: int
    path: Path | None = None


    @property
    def chirp_time(self) -> np.ndarray:
        """2PN time in seconds from ``f_lower`` to merger."""
        return np.array([
            chirp_time_2pn(self.config.f_lower, m1 + m2, symmetric_mass_ratio(m1, m2))
            for m1, m2 in zip(self.m1, self.m2)
        ])


def _masses(seed: int, n: int, config: BankConfig) -> np.ndarray:
    prior = MassPrior(config.m_min, config.m_total_max)
    rngs = (np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_MASSES, k))) for k in range(n))
    return np.array([prior.sample(r) for r in rngs])


def bank_entry(
    m1: float, m2: float, config: BankConfig = BankConfig()
) -> tuple[np.ndarray, float, float, int]:
    """Spline coefficients (2, length) of the normalised face-on pair, amplitude, f_start, last.

    ``last`` is the segment index of the waveform's final sample (``length``
    or more when the waveform runs past the segment).
    """
    from scipy.interpolate import splev, splrep
    from scipy.ndimage import spline_filter1d

    hp, hc, f_start = imrphenomd(
        m1, m2, sample_rate=config.sample_rate, f_lower=config.f_lower,
        min_length=config.min_waveform_length,
    )
    peak = int(np.argmax(hp**2 + hc**2))
    amplitude = float(np.sqrt(hp[peak] ** 2 + hc[peak] ** 2))
    lo = peak - config.pre - _FILTER_MARGIN
    if lo < 0:
        raise ValueError(f"waveform m1={m1}, m2={m2} has only {peak} samples before its peak")
    seg = np.zeros((2, config.length + 2 * _FILTER_MARGIN))
    avail = min(seg.shape[1], hp.size - lo)
    seg[0, :avail], seg[1, :avail] = hp[lo : lo + avail], hc[lo : lo + avail]
    if avail < seg.shape[1]:  # the waveform ends inside: continue it by its spline's last piece
        more = min(_CONTINUE, seg.shape[1] - avail)
        t = np.arange(_TAIL)
        for row, h in enumerate((hp, hc)):
            seg[row, avail : avail + more] = splev(np.arange(_TAIL, _TAIL + more), splrep(t, h[-_TAIL:], s=0), ext=0)
    coeffs = spline_filter1d(seg / amplitude, order=3, axis=-1, mode="mirror")
    last = hp.size - 1 - (lo + _FILTER_MARGIN)
    return coeffs[:, _FILTER_MARGIN:-_FILTER_MARGIN], amplitude, f_start, int(last)


def _entry_job(args: tuple[float, float, BankConfig]):
    return bank_entry(*args)


def build_bank(
    n: int,
    out: str | os.PathLike,
    *,
    seed: int = 0,
    config: BankConfig = BankConfig(),
    workers: int | None = None,
    chunk: int = 64,
    progress: bool = False,
) -> Path:
    """Generate ``n`` bank entries into ``out`` (HDF5), resumable and atomic.

    Entries are written to ``<out>.partial`` chunk by chunk; a killed build
    continues from the last finished chunk when called again with the same
    arguments, and the file is renamed to ``out`` only when complete.
    ``workers`` defaults to all cores.
    """
    import h5py

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    masses = _masses(seed, n, config)
    attrs = {"gwkit_format": BANK_FORMAT, "kind": "waveform_bank", "seed": seed, "n": n,
             **{f"config_{k}": v for k, v in asdict(config).items()}}
    start = _resume_point(partial, attrs)
    if start is None:
        with atomic_path(partial, suffix=".h5") as tmp, h5py.File(tmp, "w") as f:
            for k, v in attrs.items():
                f.attrs[k] = v
            f.attrs["n_done"] = 0
            f["m1"], f["m2"] = masses[:, 0], masses[:, 1]
            f.create_dataset("f_start", shape=(n,), dtype="f8")
            f.create_dataset("amplitude", shape=(n,), dtype="f8")
            f.create_dataset("last", shape=(n,), dtype="i8")
            f.create_dataset("coeffs", shape=(n, 2, config.length), dtype=config.dtype,
                             chunks=(1, 2, config.length))
        start = 0
    workers = workers or usable_cpus()
    jobs = [(float(m1), float(m2), config) for m1, m2 in masses]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, initial=start, desc="bank")
    try:
        with worker_pool(workers) as pool:  # Ctrl-C: workers stopped, partial kept to resume
            for lo in range(start, n, chunk):
                batch = jobs[lo : lo + chunk]
                results = list(pool.map(_entry_job, batch) if pool else map(_entry_job, batch))
                with open_hdf5(partial, "r+") as f:
                    f["coeffs"][lo : lo + len(batch)] = np.stack([r[0] for r in results])
                    f["amplitude"][lo : lo + len(batch)] = [r[1] for r in results]
                    f["f_start"][lo : lo + len(batch)] = [r[2] for r in results]
                    f["last"][lo : lo + len(batch)] = [r[3] for r in results]
                    f.attrs["n_done"] = lo + len(batch)
                if bar:
                    bar.update(len(batch))
    finally:
        if bar:
            bar.close()
    os.replace(partial, out)
    return out


def _resume_point(partial: Path, attrs: dict) -> int | None:
    if not partial.exists() or partial.is_symlink():  # a link: atomic_path refuses it next
        return None
    try:
        with open_hdf5(partial) as f:
            same = all(_same(f.attrs.get(k), v) for k, v in attrs.items())
            done = int(f.attrs.get("n_done", -1))
    except OSError:
        return None
    return done if same and done >= 0 else None


def _same(a, b) -> bool:
    if isinstance(b, float):
        return a is not None and float(a) == b
    return a is not None and (a.decode() if isinstance(a, bytes) else a) == b


def _entries(f, sel, n: int, config: BankConfig, path: Path) -> dict[str, np.ndarray]:
    """The per-entry datasets of ``sel``, checked: n entries each, finite positive masses and
    amplitudes, whole segment indices, coefficients (n, 2, length)."""
    out = {}
    for key in ("m1", "m2", "f_start", "amplitude", "last"):
        if key not in f or f[key].shape != (n,) or f[key].dtype.kind not in "iuf":
            found = f"{f[key].dtype} {f[key].shape}" if key in f else "nothing"
            raise DataError(f"{path}: the waveform bank's {key} must be {n} numbers, found {found}")
        out[key] = f[key][sel]
    if "coeffs" not in f or f["coeffs"].shape != (n, 2, config.length):
        found = f["coeffs"].shape if "coeffs" in f else "nothing"
        raise DataError(f"{path}: the waveform bank's coeffs must have shape (n, 2, length) = "
                        f"({n}, 2, {config.length}), found {found}")
    for key in ("m1", "m2", "amplitude"):
        if not np.all(np.isfinite(out[key]) & (out[key] > 0)):
            raise DataError(f"{path}: the waveform bank's {key} must be finite and > 0")
    if out["last"].dtype.kind not in "iu":
        raise DataError(f"{path}: the waveform bank's last (the segment index of each "
                        f"waveform's end) must be whole numbers, found {out['last'].dtype}")
    return out


def load_bank(path: str | os.PathLike, ids: Sequence[int] | None = None) -> WaveformBank:
    """Load a bank written by :func:`build_bank` (all entries, or only ``ids``).

    DataError naming the file and the entry for anything that is not such a bank:
    attributes that are text, non-finite or inconsistent (a reference index ``pre``
    of inf), per-entry arrays of other lengths, non-finite masses or coefficients.
    """
    path = Path(path)
    if not path.exists():
        partial = path.with_name(path.name + ".partial")
        hint = f" (an unfinished build is at {partial}: run the same build command again)" if partial.exists() else ""
        raise FileNotFoundError(f"{path}: no waveform bank here{hint}; make one with "
                                f"`python -m gwkit.simulate bank --n N --out {path}`")
    kinds = {"dtype": str, "min_waveform_length": int, "pre": int, "length": int}
    try:
        with open_hdf5(path) as f:
            if f.attrs.get("kind") not in ("waveform_bank", b"waveform_bank"):
                raise DataError(f"{path}: not a gwkit waveform bank (no kind='waveform_bank' attribute)")
            if attribute(f, "gwkit_format", int, path) != BANK_FORMAT:
                raise DataError(f"{path}: bank format {f.attrs.get('gwkit_format')} "
                                f"is not the supported {BANK_FORMAT}")
            fields = {k: attribute(f, f"config_{k}", kinds.get(k, float), path)
                      for k in BankConfig.__dataclass_fields__}
            try:
                config = BankConfig(**fields)
            except ValueError as exc:
                raise DataError(f"{path}: the waveform bank's settings are inconsistent ({exc})") \
                    from None
            seed = attribute(f, "seed", int, path)
            n = f["m1"].shape[0] if "m1" in f and f["m1"].ndim == 1 else 0
            sel = slice(None) if ids is None else np.asarray(ids, dtype=np.int64)
            if ids is not None and (sel.min() < 0 or sel.max() >= n):
                raise ValueError(f"{path}: ids must lie in [0, {n})")
            entries = _entries(f, sel, n, config, path)
            coeffs = f["coeffs"][()] if ids is None else np.stack([f["coeffs"][i] for i in sel])
            bank = WaveformBank(**entries, coeffs=coeffs, config=config, seed=seed, path=path)
    except OSError as exc:
        raise DataError(f"{path}: cannot read the waveform bank ({exc})") from exc
    if not np.all(np.isfinite(bank.coeffs)):
        raise DataError(f"{path}: the bank holds non-finite coefficients")
    return bank
