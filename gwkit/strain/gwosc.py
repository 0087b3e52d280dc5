"""GWOSC strain files (HDF5) in, checked and resampled strain out.

A GWOSC file holds ``strain/Strain`` (attributes ``Xstart``: GPS start in s,
``Xspacing``: sample spacing in s), ``meta/Detector`` and 1 Hz bit masks:
``quality/simple/DQmask`` (names in ``DQShortnames``: ``DATA``, ``CBC_CAT1``, ...;
a bit is set while that flag is on) and ``quality/injections/Injmask``
(``NO_CBC_HW_INJ``, ...; a bit is off while that hardware injection runs).
Gaps are NaN in the strain with the ``DATA`` bit off.

Every problem is a ``ValueError`` whose one-line message names the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from gwkit.core.hdf5 import attribute, open_hdf5

__all__ = [
    "DEFAULT_DQ_FLAGS",
    "DQ_SHORTNAMES",
    "INJ_SHORTNAMES",
    "StrainSeries",
    "check_coincident",
    "read_gwosc",
    "resample",
    "write_gwosc",
]

DEFAULT_DQ_FLAGS = ("DATA", "CBC_CAT1")  # data present and fit for a CBC search
#: Bit names of GWOSC's 1 Hz masks (O1 files), bit 0 first.
DQ_SHORTNAMES = ("DATA", "CBC_CAT1", "CBC_CAT2", "CBC_CAT3", "BURST_CAT1", "BURST_CAT2",
                 "BURST_CAT3")
INJ_SHORTNAMES = ("NO_CBC_HW_INJ", "NO_BURST_HW_INJ", "NO_DETCHAR_HW_INJ", "NO_CW_HW_INJ",
                  "NO_STOCH_HW_INJ")
_IFO_FROM_NAME = re.compile(r"^[A-Z]-([A-Z][0-9])_")  # H-H1_LOSC_4_V2-1126259446-32.hdf5
#: Detector names a file name may hold (LIGO Hanford, Livingston, Virgo, KAGRA, GEO).
_DETECTORS = ("H1", "L1", "V1", "K1", "G1")
#: GWOSC's file names: <site>-<detector>_<description>-<GPS start>-<duration in s>.<ext>
_GWOSC_NAME = re.compile(r"^(?P<site>[A-Z])-(?P<ifo>[A-Z][0-9])_.*-(?P<gps>\d+)-(?P<duration>\d+)"
                         r"\.(hdf5|h5)$")


@dataclass(frozen=True)
class StrainSeries:
    """One detector's strain: ``data[i]`` is at GPS ``t0 + i / sample_rate`` s."""

    ifo: str  # "H1", "L1", ...
    data: np.ndarray  # float64 strain, dimensionless
    t0: float  # GPS time of the first sample, s
    sample_rate: float  # Hz
    source: str = ""  # where it came from (file name), for messages
    hardware_injections: tuple[str, ...] = ()  # injection types active in the span

    @property
    def nsamples(self) -> int:
        return int(self.data.shape[-1])

    @property
    def duration(self) -> float:
        """Length in s."""
        return self.nsamples / self.sample_rate

    def times(self) -> np.ndarray:
        """GPS time of every sample, s."""
        return self.t0 + np.arange(self.nsamples) / self.sample_rate


def _text(value) -> str:
    if isinstance(value, np.ndarray):
        value = value.item() if value.size == 1 else value.tolist()
    return value.decode() if isinstance(value, bytes) else str(value)


def _ifo(f, path: Path) -> str:
    if "meta/Detector" in f:
        return _text(f["meta/Detector"][()])
    match = _IFO_FROM_NAME.match(path.name)
    if match:
        return match.group(1)
    raise ValueError(f"{path}: no meta/Detector entry and no detector in the file name")


def _check_metadata(path: Path, f, ifo: str, t0: float, duration: float) -> None:
    """ValueError when the file's metadata (``meta/GPSstart``, ``meta/Duration``) or its
    GWOSC-style name (detector, GPS start, duration) contradicts its strain."""
    for key, expected in (("GPSstart", t0), ("Duration", duration)):
        if f"meta/{key}" in f:
            value = np.asarray(f[f"meta/{key}"][()])
            if value.dtype.kind not in "iuf" or value.size != 1 \
                    or not abs(float(value.reshape(())) - expected) < 1.0:
                raise ValueError(f"{path}: meta/{key} is {_text(value)}, the strain says "
                                 f"{expected:.10g}")
    name = _GWOSC_NAME.match(path.name)
    if name is None:  # another name: one detector in it (L1.hdf5, h1_strain.h5) must be ifo
        named = {t.upper() for t in re.split(r"[^A-Za-z0-9]+", path.stem)} & set(_DETECTORS)
        if len(named) == 1 and ifo not in named:
            raise ValueError(f"{path}: the file name says detector {named.pop()}, its "
                             f"meta/Detector says {ifo}; rename the file or fix its metadata")
        return
    if name["ifo"] != ifo or name["site"] != ifo[0]:
        raise ValueError(f"{path}: the file name says detector {name['ifo']}, its meta/Detector "
                         f"says {ifo}; rename the file or fix its metadata")
    for what, named, actual in (("GPS start", int(name["gps"]), t0),
                                ("duration (s)", int(name["duration"]), duration)):
        if not abs(named - actual) < 1.0:
            raise ValueError(f"{path}: the file name says {what} {named}, the strain says "
                             f"{actual:.10g}; rename the file or fix its metadata")


def _mask(f, group: str, mask: str, names: str, path: Path
          ) -> tuple[np.ndarray, list[str]] | None:
    if f"{group}/{mask}" not in f or f"{group}/{names}" not in f:
        return None
    bits, labels = f[f"{group}/{mask}"], f[f"{group}/{names}"]
    if bits.dtype.kind not in "iu" or bits.ndim != 1 or labels.ndim != 1:
        raise ValueError(f"{path}: {group}/{mask} must be a 1-D integer bit mask with a 1-D "
                         f"{names}, found {bits.dtype} {bits.shape} and {labels.shape}")
    return np.asarray(bits[()], dtype=np.int64), [_text(n) for n in labels[()]]


def _span(seconds: np.ndarray, t0: float) -> str:
    return f"{len(seconds)} s, first at GPS {t0 + seconds[0]:.0f}"


def read_gwosc(
    path: str | os.PathLike, *, dq_flags: Sequence[str] = DEFAULT_DQ_FLAGS
) -> StrainSeries:
    """Read one GWOSC HDF5 strain file.

    ``dq_flags``: data-quality flags (``DQShortnames``) that must be on for
    every second of the file (default ``DATA`` and ``CBC_CAT1``; ``()`` checks
    none). ValueError, naming the file, for a missing dataset, an attribute that is
    text or not finite (a NaN GPS start), a bad sample spacing, NaN/inf samples
    (gaps), constant strain (no data), ``meta/GPSstart``, ``meta/Duration`` or a
    GWOSC-style file name (``H-H1_..._<GPS>-<duration>.hdf5``) that contradicts the
    strain or ``meta/Detector``, or a required flag that is off.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        f = open_hdf5(path)
    except OSError as err:
        raise ValueError(f"{path}: not an HDF5 file ({err})") from None
    with f:
        if "strain/Strain" not in f:
            raise ValueError(f"{path}: no strain/Strain dataset (not a GWOSC strain file)")
        dset = f["strain/Strain"]
        missing = [a for a in ("Xstart", "Xspacing") if a not in dset.attrs]
        if missing:
            raise ValueError(f"{path}: strain/Strain lacks the attribute(s) {', '.join(missing)}")
        t0 = attribute(dset, "Xstart", float, path)
        spacing = attribute(dset, "Xspacing", float, path)
        if dset.dtype.kind not in "iuf":
            raise ValueError(f"{path}: strain/Strain holds {dset.dtype}, expected numbers")
        data = np.asarray(dset[()], dtype=np.float64)
        ifo = _ifo(f, path)
        dq = _mask(f, "quality/simple", "DQmask", "DQShortnames", path)
        inj = _mask(f, "quality/injections", "Injmask", "InjShortnames", path)
        if not spacing > 0 or abs(1.0 / spacing - round(1.0 / spacing)) > 1e-6:
            raise ValueError(f"{path}: Xspacing={spacing} s is not 1 / (a whole number of Hz)")
        sample_rate = float(round(1.0 / spacing))
        if data.ndim != 1 or data.size < 2:
            raise ValueError(f"{path}: strain/Strain has shape {data.shape}, expected a 1-D series")
        _check_metadata(path, f, ifo, t0, data.size / sample_rate)
    bad = np.flatnonzero(~np.isfinite(data))
    if bad.size:
        raise ValueError(
            f"{path}: {bad.size} NaN/inf samples, first at GPS {t0 + bad[0] / sample_rate:.3f} "
            "(a gap in the data); choose a stretch without gaps"
        )
    if data.max() == data.min():
        raise ValueError(f"{path}: the strain is constant ({data[0]:g}): the file holds no data")
    if dq_flags:
        if dq is None:
            raise ValueError(
                f"{path}: no quality/simple/DQmask to check {', '.join(dq_flags)} "
                "(pass dq_flags=() to skip the check)"
            )
        mask, names = dq
        for flag in dq_flags:
            if flag not in names:
                raise ValueError(f"{path}: DQ flag {flag!r} not among {names}")
            off = np.flatnonzero(((mask >> names.index(flag)) & 1) == 0)
            if off.size:
                raise ValueError(f"{path}: DQ flag {flag} is off for {_span(off, t0)}")
    injections: tuple[str, ...] = ()
    if inj is not None:
        mask, names = inj
        injections = tuple(
            name.removeprefix("NO_").removesuffix("_HW_INJ")
            for bit, name in enumerate(names) if np.any(((mask >> bit) & 1) == 0)
        )
    return StrainSeries(ifo, data, t0, sample_rate, path.name, injections)


def check_coincident(series: Sequence[StrainSeries]) -> None:
    """ValueError unless the series are distinct detectors with equal start, rate and length."""
    first = series[0]
    seen: dict[str, str] = {}
    for s in series:
        if s.ifo in seen:
            raise ValueError(
                f"{seen[s.ifo]} and {s.source} are both {s.ifo}; give distinct detectors"
            )
        seen[s.ifo] = s.source
        for what, a, b in (("sample rates (Hz)", first.sample_rate, s.sample_rate),
                           ("GPS start times (s)", first.t0, s.t0),
                           ("durations (s)", first.duration, s.duration)):
            if a != b:
                raise ValueError(
                    f"{first.source} and {s.source} have different {what}: {a} and {b}; "
                    "give coincident segments"
                )


def resample(series: StrainSeries, sample_rate: float) -> StrainSeries:
    """``series`` at ``sample_rate`` Hz by ``scipy.signal.resample_poly`` (polyphase, Kaiser FIR).

    Upsampling leaves the band above the old Nyquist frequency empty. ValueError
    when the rate ratio is not a simple fraction (denominator up to 1000).
    """
    if sample_rate == series.sample_rate:
        return series
    ratio = Fraction(sample_rate / series.sample_rate).limit_denominator(1000)
    if not sample_rate > 0 or abs(float(ratio) * series.sample_rate - sample_rate) > 1e-9:
        raise ValueError(
            f"{series.source}: cannot resample {series.sample_rate} Hz to {sample_rate} Hz "
            "(not a simple ratio)"
        )
    from scipy.signal import resample_poly

    data = resample_poly(series.data, ratio.numerator, ratio.denominator)
    return replace(series, data=data, sample_rate=float(sample_rate))


def write_gwosc(
    path: str | os.PathLike,
    series: StrainSeries,
    *,
    dqmask: np.ndarray | None = None,
    injmask: np.ndarray | None = None,
) -> Path:
    """Write ``series`` as a GWOSC-style HDF5 file (atomically) that :func:`read_gwosc` reads.

    ``dqmask``/``injmask``: 1 Hz integer masks (bits as :data:`DQ_SHORTNAMES`,
    :data:`INJ_SHORTNAMES`); by default every flag is on and no injection runs.
    For simulated strain or for testing; not a full GWOSC file (no ``meta`` but
    ``Detector``, ``GPSstart`` and ``Duration``).
    """
    import h5py

    from gwkit.core.fileio import atomic_path

    nseconds = int(np.ceil(series.duration))
    masks = {
        "quality/simple": ("DQmask", "DQShortnames", DQ_SHORTNAMES, dqmask),
        "quality/injections": ("Injmask", "InjShortnames", INJ_SHORTNAMES, injmask),
    }
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        dset = f.create_dataset("strain/Strain", data=np.asarray(series.data, dtype=np.float64))
        dset.attrs["Xstart"] = series.t0
        dset.attrs["Xspacing"] = 1.0 / series.sample_rate
        dset.attrs["Npoints"] = series.nsamples
        f["meta/Detector"] = series.ifo
        f["meta/GPSstart"] = series.t0
        f["meta/Duration"] = series.duration
        for group, (mask_name, names_name, names, mask) in masks.items():
            full = (1 << len(names)) - 1
            mask = np.full(nseconds, full, dtype=np.uint32) if mask is None else mask
            f.create_dataset(f"{group}/{mask_name}", data=np.asarray(mask, dtype=np.uint32))
            f[f"{group}/{names_name}"] = np.array([n.encode() for n in names])
    return path
