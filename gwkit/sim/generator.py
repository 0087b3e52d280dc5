"""Reference generator: the competition's recipe, one sample at a time, on the CPU.

This is the faithful, slow path that everything else is tested against; the
recipe's constants and :class:`~gwkit.sim.recipe.Recipe` live in :mod:`gwkit.sim.recipe`.
``mode="competition"`` reproduces the course generator including its quirks
(see ``COMPETITION.md``):

* only channel 0 carries signal, and it is the **L1** projection (the
  per-detector loop never advanced its output row); channel 1 is pure noise;
* the SNR scaling still uses both detectors' SNRs, so channel 0 holds
  ``snr * rho_L1 / sqrt(rho_H1^2 + rho_L1^2)`` of the nominal SNR;
* ``cos(iota)`` is passed to the waveform as the inclination angle;
* each detector's strain is ``h(t + delay)`` (the sign opposite to physics).

``mode="physical"`` puts H1 in channel 0 and L1 in channel 1, each with its own
projection, the drawn inclination and ``h(t - delay)``.

Randomness: every source and every noise realisation has its own seed derived
from one integer seed (``numpy.random.SeedSequence`` spawn keys), so a block is
byte-for-byte reproducible whatever the number of worker processes, and
blocks made with the same seed share noise, labels, order and sources for
every SNR (the competition's "one seed for every SNR file").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from gwkit.sim import detectors as det
from gwkit.sim.competition_whitening import central_window, competition_whiten, tukey
from gwkit.sim.parallel import process_map
from gwkit.sim.recipe import COMPETITION_SNRS, Mode, Recipe
from gwkit.sim.waveforms import (
    chirp_mass,
    frequency_before_merger_2pn,
    imrphenomd,
    symmetric_mass_ratio,
)

__all__ = [
    "Source",
    "Projection",
    "BlockPlan",
    "draw_source",
    "project",
    "optimal_snr",
    "coloured_noise",
    "make_sample",
    "plan_block",
    "render_rows",
    "simulate_block",
    "simulate_competition",
]

# Spawn-key roots: one stream per kind of randomness.
_SOURCES, _NOISE, _SHUFFLE, _DRAW, _BLOCKS = 0, 1, 2, 3, 4
# Samples kept before the cut (beyond any detector delay) so that the spline
# over the cropped waveform equals the spline over the whole waveform.
_SPLINE_MARGIN = 1024


@dataclass(frozen=True)
class Source:
    """Parameters of one binary (masses in Msun, angles in radians, peak in samples)."""

    m1: float
    m2: float
    inclination: float  # drawn iota (arccos of a uniform cos)
    phase: float
    psi: float
    ra: float
    dec: float
    peak_index: int

    def waveform_inclination(self, mode: Mode) -> float:
        """The angle actually handed to the waveform: cos(iota) in competition mode (quirk)."""
        return math.cos(self.inclination) if mode == "competition" else self.inclination


@dataclass
class Projection:
    """One source's detector signal(s) scaled to unit network SNR, before whitening.

    ``strain`` is (2, nsamples) in the output channel layout of the mode.
    ``snr_ifo`` holds each detector's optimal SNR at unit network SNR;
    ``snr_channel`` the SNR actually present in each output channel.
    """

    source: Source
    strain: np.ndarray
    snr_ifo: dict[str, float]
    snr_channel: tuple[float, float]
    fmin: float
    f_start: float
    antenna: dict[str, tuple[float, float]]
    delay: dict[str, float]

    def record(self, snr: float) -> dict[str, float]:
        """Flat parameter record at network SNR ``snr``."""
        s = self.source
        rec: dict[str, float] = asdict(s)
        rec.update(
            mchirp=chirp_mass(s.m1, s.m2),
            eta=symmetric_mass_ratio(s.m1, s.m2),
            fmin=self.fmin,
            f_start=self.f_start,
        )
        for ifo in self.antenna:
            key = ifo.lower()
            rec[f"fplus_{key}"], rec[f"fcross_{key}"] = self.antenna[ifo]
            rec[f"delay_{key}"] = self.delay[ifo]
            rec[f"snr_{key}"] = snr * self.snr_ifo[ifo]
        rec["snr_ch0"], rec["snr_ch1"] = (snr * v for v in self.snr_channel)
        return rec


def draw_source(rng: np.random.Generator, recipe: Recipe = Recipe()) -> Source:
    """Draw masses and extrinsic parameters from the recipe's distributions."""
    m1, m2 = recipe.masses.sample(rng)
    inclination = math.acos(rng.uniform(-1.0, 1.0))
    phase = rng.uniform(0.0, 2 * math.pi)
    psi = rng.uniform(0.0, 2 * math.pi)
    ra = rng.uniform(0.0, 2 * math.pi)
    dec = math.asin(rng.uniform(-1.0, 1.0))
    peak = int(rng.integers(*recipe.peak_range))
    return Source(m1, m2, inclination, phase, psi, ra, dec, peak)


def optimal_snr(
    strain: np.ndarray, psd: np.ndarray, sample_rate: float, fmin: float = 0.0
) -> np.ndarray:
    """The recipe's optimal SNR of ``strain`` (..., N): Tukey(1/8) window, sum from bin int(fmin/df).

    ``4 * sum |rfft(w x) dt|^2 / psd * df`` over bins with psd > 0, square-rooted.
    """
    strain = np.asarray(strain, dtype=np.float64)
    n = strain.shape[-1]
    dt, df = 1.0 / sample_rate, sample_rate / n
    inv = np.zeros_like(psd)
    inv[psd > 0] = 1.0 / psd[psd > 0]
    inv[: int(fmin / df)] = 0.0
    xf = np.fft.rfft(strain * tukey(n), axis=-1) * dt
    return np.sqrt(4.0 * np.sum(np.abs(xf) ** 2 * inv, axis=-1) * df)


def _shifted(h: np.ndarray, shift_s: float, sample_rate: float) -> np.ndarray:
    """h(t + shift) by cubic spline, zero outside the data (scipy splrep/splev, ext=1)."""
    from scipy.interpolate import splev, splrep

    t = np.arange(h.size) / sample_rate
    return splev(t + shift_s, splrep(t, h, s=0), der=0, ext=1)


def project(source: Source, recipe: Recipe = Recipe()) -> Projection:
    """Make the source's signal in the mode's channel layout, at unit network SNR."""
    n, fs = recipe.nsamples, recipe.sample_rate
    hp, hc, f_start = imrphenomd(
        source.m1, source.m2,
        inclination=source.waveform_inclination(recipe.mode), phase=source.phase,
        sample_rate=fs, f_lower=recipe.f_lower, min_length=recipe.min_waveform_length,
    )
    ref = int(np.argmax(hp**2 + hc**2))
    start = ref - source.peak_index  # waveform sample that lands at output sample 0
    crop = max(0, start - _SPLINE_MARGIN)
    hp, hc = hp[crop:], hc[crop:]
    window = central_window(n)
    psd = recipe.psd
    total_mass = source.m1 + source.m2
    fmin = frequency_before_merger_2pn(
        total_mass, symmetric_mass_ratio(source.m1, source.m2),
        (source.peak_index - recipe.central_start) / fs,
    )
    sign = 1.0 if recipe.mode == "competition" else -1.0
    signals, snr_ifo, antenna, delay = {}, {}, {}, {}
    for ifo in recipe.ifos:
        fp, fc = det.antenna_patterns(source.ra, source.dec, source.psi, ifo, recipe.gps)
        dt_ifo = det.time_delay(source.ra, source.dec, ifo, recipe.gps)
        ht = _shifted(fp * hp + fc * hc, sign * dt_ifo, fs)[start - crop :][:n]
        x = np.zeros(n)
        x[: ht.size] = ht
        x *= window
        signals[ifo] = x
        snr_ifo[ifo] = float(optimal_snr(x, psd, fs, fmin))
        antenna[ifo], delay[ifo] = (fp, fc), dt_ifo
    scale = 1.0 / math.sqrt(sum(v * v for v in snr_ifo.values()))
    h1, l1 = recipe.ifos
    if recipe.mode == "competition":
        strain = np.stack([signals[l1], np.zeros(n)])
    else:
        strain = np.stack([signals[h1], signals[l1]])
    strain *= scale
    snr_ch = optimal_snr(strain, psd, fs, fmin)
    return Projection(
        source=source,
        strain=strain,
        snr_ifo={k: v * scale for k, v in snr_ifo.items()},
        snr_channel=(float(snr_ch[0]), float(snr_ch[1])),
        fmin=fmin,
        f_start=f_start,
        antenna=antenna,
        delay=delay,
    )


def coloured_noise(
    rng: np.random.Generator, psd: np.ndarray, nsamples: int, sample_rate: float, nchannels: int = 2
) -> np.ndarray:
    """Gaussian noise with one-sided PSD ``psd``, made in the frequency domain as the recipe does.

    Real and imaginary parts are independent normals with std ``sqrt(T psd / 4)``,
    DC bin zero, back to time as ``N * irfft(...) * df``. Returns (nchannels, nsamples).
    """
    duration = nsamples / sample_rate
    amp = np.sqrt(0.25 * duration * psd)
    z = rng.standard_normal((nchannels, 2, psd.size))
    spec = amp * (z[:, 0] + 1j * z[:, 1])
    spec[:, 0] = 0.0
    return nsamples * np.fft.irfft(spec, n=nsamples, axis=-1) / duration


def make_sample(
    rng: np.random.Generator,
    recipe: Recipe = Recipe(),
    *,
    snr: float | None = None,
    projection: Projection | None = None,
) -> tuple[np.ndarray, dict]:
    """One whitened sample (2, N) the literal way: competition_whiten(noise + signal).

    Noise only when ``snr`` is None; otherwise a signal at network SNR ``snr``
    (from ``projection``, or a freshly drawn source).
    """
    psd = recipe.psd
    if snr is not None and projection is None:
        projection = project(draw_source(rng, recipe), recipe)
    noise = coloured_noise(rng, psd, recipe.nsamples, recipe.sample_rate)
    if snr is None:
        return competition_whiten(noise, psd, recipe.sample_rate), {"label": 0}
    x = competition_whiten(noise + snr * projection.strain, psd, recipe.sample_rate)
    return x, {"label": 1, "snr": snr, **projection.record(snr)}


# ----------------------------------------------------------------------------- blocks


@dataclass(frozen=True)
class BlockPlan:
    """What each row of a course-style block holds, decided before any heavy work.

    A block has ``nrows`` rows, half noise (``waveform_id == -1``) and half
    signal, each waveform repeated with ``nnoise`` noise realisations, shuffled.
    """

    seed: int
    recipe: Recipe
    label: np.ndarray  # (nrows,) int, 1 = signal
    waveform_id: np.ndarray  # (nrows,) int, -1 for noise
    sources: tuple[Source, ...]

    @property
    def nrows(self) -> int:
        return int(self.label.size)


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def plan_block(nrows: int, *, nnoise: int = 25, seed: int = 1, recipe: Recipe = Recipe()) -> BlockPlan:
    """Labels, waveform assignment and sources of a block (cheap: no waveform is made)."""
    if nrows < 2:
        raise ValueError(f"a block needs at least 2 rows (noise and signal), got {nrows}")
    if nnoise < 1:
        raise ValueError(f"nnoise must be >= 1, got {nnoise}")
    nsignal = nrows // 2
    nwave = -(-nsignal // nnoise)
    sources = tuple(draw_source(_rng(seed, _SOURCES, k), recipe) for k in range(nwave))
    wid = np.concatenate([np.full(nrows - nsignal, -1), np.repeat(np.arange(nwave), nnoise)[:nsignal]])
    order = _rng(seed, _SHUFFLE).permutation(nrows)
    wid = wid[order]
    return BlockPlan(seed, recipe, (wid >= 0).astype(np.int64), wid, sources)


def _project_whitened(args: tuple[Source, Recipe]) -> tuple[Projection, np.ndarray]:
    source, recipe = args
    proj = project(source, recipe)
    return proj, competition_whiten(proj.strain, recipe.psd, recipe.sample_rate)


def _whitened_noise(args: tuple[int, int, Recipe]) -> np.ndarray:
    seed, row, recipe = args
    noise = coloured_noise(_rng(seed, _NOISE, row), recipe.psd, recipe.nsamples, recipe.sample_rate)
    return competition_whiten(noise, recipe.psd, recipe.sample_rate)


def render_rows(
    plan: BlockPlan,
    rows: Sequence[int],
    snrs: float | Sequence[float],
    *,
    workers: int = 1,
    progress: bool = False,
    dtype=np.float64,
    label: str = "",
) -> tuple[np.ndarray, pd.DataFrame]:
    """Whitened samples for ``rows`` of the block, each at its network SNR.

    ``label`` prefixes the progress bars (e.g. which SNR block).

    ``snrs`` is one SNR for all rows or one per row (rows of one block at
    different SNRs share noise and source, as in the competition). Uses
    linearity of whitening: competition_whiten(noise) + snr * competition_whiten(unit signal).
    Returns x (len(rows), 2, N) and a per-row parameter table.
    """
    rows = np.asarray(rows, dtype=np.int64)
    snr_row = np.broadcast_to(np.asarray(snrs, dtype=np.float64), rows.shape)
    if rows.size and (rows.min() < 0 or rows.max() >= plan.nrows):
        raise ValueError(f"rows must lie in [0, {plan.nrows}), got {rows.min()}..{rows.max()}")
    recipe = plan.recipe
    wanted = sorted({int(plan.waveform_id[r]) for r in rows if plan.waveform_id[r] >= 0})
    projected = dict(zip(wanted, process_map(
        _project_whitened, [(plan.sources[k], recipe) for k in wanted], workers=workers,
        progress=progress, desc=f"{label}waveforms")))
    unique_rows = sorted(set(rows.tolist()))
    noise = dict(zip(unique_rows, process_map(
        _whitened_noise, [(plan.seed, r, recipe) for r in unique_rows], workers=workers,
        progress=progress, desc=f"{label}noise")))
    x = np.empty((rows.size, 2, recipe.nsamples), dtype=dtype)
    records = []
    for i, (row, snr) in enumerate(zip(rows.tolist(), snr_row.tolist())):
        wid = int(plan.waveform_id[row])
        rec: dict = {"block_row": row, "label": int(plan.label[row]), "waveform_id": wid}
        if wid < 0:
            x[i] = noise[row]
            rec["snr"] = 0.0
        else:
            proj, white = projected[wid]
            x[i] = noise[row] + snr * white
            rec["snr"] = snr
            rec.update(proj.record(snr))
        records.append(rec)
    params = pd.DataFrame.from_records(records)
    params.insert(0, "id", np.arange(rows.size))
    return x, params


def simulate_block(
    snr: float,
    nrows: int,
    *,
    nnoise: int = 25,
    seed: int = 1,
    recipe: Recipe = Recipe(),
    workers: int = 1,
    progress: bool = False,
    dtype=np.float64,
) -> tuple[np.ndarray, pd.DataFrame]:
    """A whole course-style block at one network SNR (what one ``*_ts_<i>.sav`` held)."""
    plan = plan_block(nrows, nnoise=nnoise, seed=seed, recipe=recipe)
    return render_rows(plan, np.arange(nrows), snr, workers=workers, progress=progress, dtype=dtype)


def simulate_competition(
    snrs: Sequence[float] = COMPETITION_SNRS,
    per_snr: int = 100,
    *,
    block_rows: int = 10000,
    nnoise: int = 25,
    seed: int = 1,
    shared_seed: bool = True,
    replace: bool = True,
    shuffle: bool = True,
    recipe: Recipe = Recipe(),
    workers: int = 1,
    progress: bool = False,
    dtype=np.float64,
) -> tuple[np.ndarray, pd.DataFrame]:
    """A competition-like test set: ``per_snr`` rows drawn with replacement from one block per SNR.

    With ``shared_seed`` (the competition's quirk) all blocks use ``seed``, so
    they share noise, labels and sources and differ only in amplitude; expect
    duplicate noise rows across SNR groups. Otherwise each block has its own
    seed (derived from ``seed``). With ``replace=False`` every block row is
    used once instead of drawn (needs ``per_snr == block_rows``). Only the
    drawn rows are rendered. ``params`` has columns ``id``,
    ``snr_group`` (the block's SNR), ``block_row``, ``label``, ``waveform_id``, ``snr``
    (the row's own SNR, 0 for noise), ... (names: :mod:`gwkit.data.columns`)
    """
    draw = _rng(seed, _DRAW)
    xs, tables = [], []
    for k, snr in enumerate(snrs):
        block_seed = seed if shared_seed else int(np.random.SeedSequence(seed, spawn_key=(_BLOCKS, k)).generate_state(1)[0])
        plan = plan_block(block_rows, nnoise=nnoise, seed=block_seed, recipe=recipe)
        if replace:
            rows = draw.integers(0, block_rows, per_snr)
        elif per_snr == block_rows:
            rows = np.arange(block_rows)
        else:
            raise ValueError(f"replace=False needs per_snr == block_rows, got {per_snr} and {block_rows}")
        x, table = render_rows(plan, rows, snr, workers=workers, progress=progress, dtype=dtype,
                               label=f"SNR {snr:g} ({k + 1}/{len(snrs)}): ")
        table["snr_group"] = float(snr)
        if not shared_seed:  # independent blocks hold different waveforms: keep ids unique
            table.loc[table.waveform_id >= 0, "waveform_id"] += k * block_rows
        xs.append(x)
        tables.append(table)
    x = np.concatenate(xs)
    params = pd.concat(tables, ignore_index=True)
    if shuffle:
        order = draw.permutation(len(params))
        x, params = x[order], params.iloc[order].reset_index(drop=True)
    params["id"] = np.arange(len(params))
    return x, params
