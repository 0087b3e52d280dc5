"""Matched filtering of whitened strain with an IMRPhenomD template bank.

The optimal detector for a known waveform in Gaussian noise, and the yardstick
for any classifier: what a network could reach on this data if it learned
nothing but the physics.

Templates are made **exactly like the data's signals**: the face-on,
zero-phase ``hp`` of IMRPhenomD, its amplitude peak (of ``hp^2 + hc^2``) put
at sample ``ref_index`` of the 2 s segment, cut by the central Tukey window and
whitened with the competition's Tukey window, design PSD and filter
(:func:`gwkit.sim.competition_whitening.competition_whiten`), then scaled to unit norm. Whitened noise is
unit-variance white noise in the middle of the segment, so the correlation of
data with a unit-norm template is N(0, 1) in noise.

The filter, per channel and template, in the frequency domain::

    z(tau) = 2/N * sum_{0 < k < M} X_k conj(T_k) exp(2 pi i k tau / N)

is the complex (analytic) correlation: ``Re z`` is the correlation with the
template shifted by ``tau`` samples and ``Im z`` the correlation with its
Hilbert transform (the other phase of the (2, 2) mode; ``hc = H[hp]`` for
IMRPhenomD up to window edges). Both are unit-variance in noise, so
``|z|`` is the phase-maximised SNR (chi with 2 degrees of freedom in noise).
Only bins below ``f_max`` Hz are kept (M = f_max / df; the whitened signal
has little power above 1 kHz) and ``z`` is evaluated every ``stride`` samples
by a length ``N / stride`` inverse FFT; the maximum over time is refined by a
parabola through the largest ``|z|^2`` and its neighbours.

Time window: the merger sample lies in ``peak_range`` (10240-11878) shifted
by the detector delay (up to ~21 ms from the geocentre); ``tau`` is searched
over ``peak_range`` widened by ``margin`` samples (200 by default).

Channel combination (``mode``):

* ``"competition"``: only channel 0 carries signal (the course generator's
  quirk, see COMPETITION.md); the statistic is ``max |z_0|`` over templates and
  time. Channel 1 is ignored (it is pure noise; using it only adds noise).
* ``"physical"``: channel 0 = H1, channel 1 = L1, with independent antenna
  patterns, so each channel has its own amplitude and phase. The statistic is
  ``max_tau sqrt(|z_0(tau)|^2 + max_{|d| <= max_shift} |z_1(tau + d)|^2)``:
  the quadrature sum of the channel SNRs, L1 allowed a relative shift of up
  to ``max_shift`` seconds (default 11 ms: the 10 ms H1-L1 light travel time
  plus a sample of slack), phases maximised separately (a coincident, not
  coherent, network statistic). In noise it is chi with 4 degrees of freedom
  before the maxima.

Bank placement (:meth:`TemplateBank.build`) is stochastic: candidate mass
pairs are drawn from the competition's mass prior (log-uniform, m1 >= m2 > 5,
m1 + m2 < 100) and kept when their match (normalised overlap maximised over
time and phase) with every template already kept is below ``min_match``.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gwkit.core.errors import DataError
from gwkit.core.fileio import atomic_path, check_writable
from gwkit.core.hdf5 import attribute, check_format, open_hdf5
from gwkit.sim.competition_whitening import central_window, competition_whiten
from gwkit.sim.mf_features import filter_spectra, output_grid
from gwkit.sim.parallel import ignore_sigint, process_map
from gwkit.sim.recipe import MassPrior, Mode, Recipe
from gwkit.sim.waveforms import (
    BinaryMasses,
    chirp_mass,
    frequency_before_merger_2pn,
    imrphenomd,
    symmetric_mass_ratio,
)

__all__ = [
    "TemplateBank",
    "MatchedFilterResult",
    "whitened_template",
    "matched_filter",
    "matched_filter_statistic",
    "fitting_factor",
    "prior_weights",
    "build_filter_bank",
    "cached_filter_bank",
]

BANK_FORMAT = 1
_LEAD_MARGIN = 0.5  # s of waveform generated before the template's first sample
_PLACEMENT = 20  # spawn-key root of the bank's candidate draws
_FIRST_GROUP = 24  # templates nearest in chirp mass checked first during placement
_PRIOR_DRAWS = 21  # spawn-key root of the prior draws that weight the templates


def _default_ref_index(recipe: Recipe) -> int:
    lo, hi = recipe.peak_range
    return (lo + hi) // 2


def whitened_template(
    m1: float, m2: float, *, recipe: Recipe = Recipe(), ref_index: int | None = None
) -> np.ndarray:
    """Unit-norm whitened template (nsamples,) of the face-on, zero-phase ``hp``.

    Masses in solar masses. The waveform's peak of ``hp^2 + hc^2`` is at
    sample ``ref_index`` (default: the middle of ``recipe.peak_range``), it is
    cut by the central window and whitened exactly like the competition's data.
    The waveform starts at ``max(recipe.f_lower, f(lead))`` Hz, ``f(lead)``
    being the 2PN frequency ``ref_index / sample_rate + 0.5`` s before merger:
    only the part inside the window matters, and it equals the part of the
    12 Hz waveform up to a constant phase (checked: overlap > 0.99998).
    """
    n, fs = recipe.nsamples, recipe.sample_rate
    ref = _default_ref_index(recipe) if ref_index is None else int(ref_index)
    if not 0 <= ref < n:
        raise ValueError(f"ref_index must lie in [0, {n}), got {ref}")
    lead = ref / fs + _LEAD_MARGIN
    f_lead = frequency_before_merger_2pn(m1 + m2, symmetric_mass_ratio(m1, m2), lead)
    hp, hc, _ = imrphenomd(
        m1, m2, sample_rate=fs, f_lower=max(recipe.f_lower, f_lead), min_length=n // 4
    )
    peak = int(np.argmax(hp**2 + hc**2))
    src = np.arange(n) - ref + peak
    ok = (src >= 0) & (src < hp.size)
    x = np.zeros(n)
    x[ok] = hp[src[ok]]
    x *= central_window(n)
    w = competition_whiten(x, recipe.psd, fs)
    norm = float(np.linalg.norm(w))
    if not norm > 0:
        raise ValueError(f"template m1={m1}, m2={m2} vanishes after windowing and whitening")
    return w / norm


def _template_job(args: tuple[float, float, Recipe, int]) -> np.ndarray:
    m1, m2, recipe, ref = args
    return whitened_template(m1, m2, recipe=recipe, ref_index=ref).astype(np.float32)


# ----------------------------------------------------------------------------- the bank


def _check_placement(n: int | None, min_match: float | None, mchirp_ratio: float | None) -> None:
    """ValueError naming the first :meth:`TemplateBank.build` argument out of range."""
    if n is None and min_match is None:
        raise ValueError("give n, min_match or both")
    if n is not None and n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if min_match is not None and not 0.0 < min_match < 1.0:
        raise ValueError(f"min_match must lie in (0, 1), got {min_match}")
    if mchirp_ratio is not None and not mchirp_ratio > 1.0:
        raise ValueError(f"mchirp_ratio must exceed 1, got {mchirp_ratio}")


def _nearest_kept(kept_lmc: np.ndarray, lmc: float, log_ratio: float) -> np.ndarray:
    """Kept templates within the chirp-mass ratio of a candidate, nearest first."""
    dist = np.abs(kept_lmc - lmc)
    near = np.flatnonzero(dist < log_ratio)
    return near[np.argsort(dist[near], kind="stable")]


def _best_match(tf, kept_f, near: np.ndarray, min_match: float, nsamples: int, nout: int) -> float:
    """The candidate's (spectrum ``tf``) largest match with the kept filters ``near``.

    Nearest chirp masses first: most rejections need only that group, so the
    rest are correlated only when the first group stayed below ``min_match``.
    """
    import torch

    match = 0.0
    for group in (near[:_FIRST_GROUP], near[_FIRST_GROUP:]):
        if group.size == 0 or match >= min_match:
            continue
        bank_f = kept_f[torch.from_numpy(group)]
        # the candidate as data, normalised: undo the filter's 2/N and conjugate
        z = torch.fft.ifft(bank_f * (tf.conj() * nsamples / 2.0), n=nout, norm="forward")
        match = max(match, float(z.abs().max()))
    return match


def _candidates(
    prior: MassPrior, rng: np.random.Generator, recipe: Recipe, ref: int, *,
    max_candidates: int, workers: int,
) -> Iterator[tuple[float, float, np.ndarray]]:
    """``(m1, m2, template)`` of up to ``max_candidates`` draws from ``prior``, in draw order.

    Templates are made a chunk of draws at a time; with ``workers > 1`` by that
    many processes, the next chunk while the caller checks this one. Close the
    generator (``contextlib.closing``) to stop the processes early.
    """
    chunk = max(8, 4 * max(1, workers))
    drawn = 0

    def submit():
        nonlocal drawn
        count = min(chunk, max_candidates - drawn)
        masses = [prior.sample(rng) for _ in range(count)]
        drawn += count
        jobs = [(a, b, recipe, ref) for a, b in masses]
        if pool is None:
            return masses, [_template_job(j) for j in jobs]
        return masses, [pool.submit(_template_job, j) for j in jobs]

    pool = (ProcessPoolExecutor(max_workers=workers, initializer=ignore_sigint)
            if workers > 1 else None)
    try:
        pending = submit()
        while pending[0]:
            masses, temps = pending
            if pool is not None:
                temps = [f.result() for f in temps]
            pending = submit() if drawn < max_candidates else ([], [])
            for (a, b), t in zip(masses, temps):
                yield a, b, t
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


class _Kept:
    """The templates kept so far: masses, templates, filter spectra and log chirp masses."""

    def __init__(self, capacity: int, nbins: int) -> None:
        import torch

        self.masses: list[tuple[float, float]] = []
        self.templates: list[np.ndarray] = []
        self.spectra = torch.zeros((capacity, nbins), dtype=torch.complex64)  # grown by doubling
        self.log_mchirp = np.zeros(capacity)

    def __len__(self) -> int:
        return len(self.masses)

    def best_match(self, tf, log_mchirp: float, log_ratio: float, min_match: float,
                   nsamples: int, nout: int) -> float:
        """The largest match of the candidate (spectrum ``tf``) with the kept templates
        whose chirp mass is within ``exp(log_ratio)`` of its own."""
        near = _nearest_kept(self.log_mchirp[: len(self)], log_mchirp, log_ratio)
        return _best_match(tf, self.spectra, near, min_match, nsamples, nout)

    def add(self, m1: float, m2: float, template: np.ndarray, tf, log_mchirp: float) -> None:
        import torch

        k = len(self)
        if k == self.spectra.shape[0]:  # grow the preallocated store
            self.spectra = torch.cat([self.spectra, torch.zeros_like(self.spectra)])
            self.log_mchirp = np.concatenate([self.log_mchirp, np.zeros_like(self.log_mchirp)])
        self.spectra[k] = tf
        self.log_mchirp[k] = log_mchirp
        self.masses.append((m1, m2))
        self.templates.append(template)


@dataclass
class TemplateBank(BinaryMasses):
    """Whitened, unit-norm IMRPhenomD templates (K, nsamples), peak at ``ref_index``.

    ``m1``, ``m2`` in solar masses; ``recipe`` holds the sample rate, segment
    length, PSD cut-off and mass prior the templates were made with. ``info``
    records how the bank was placed (seed, min_match, candidates tried, ...).
    """

    m1: np.ndarray
    m2: np.ndarray
    templates: np.ndarray
    ref_index: int
    recipe: Recipe = field(default_factory=Recipe)
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.m1 = np.asarray(self.m1, dtype=np.float64)
        self.m2 = np.asarray(self.m2, dtype=np.float64)
        self.templates = np.asarray(self.templates)
        k = self.m1.size
        if self.m2.shape != (k,) or self.templates.shape != (k, self.recipe.nsamples):
            raise ValueError(
                f"bank arrays disagree: m1 {self.m1.shape}, m2 {self.m2.shape}, "
                f"templates {self.templates.shape} (expected ({k}, {self.recipe.nsamples}))"
            )


    # ------------------------------------------------------------------ building

    @classmethod
    def build(
        cls,
        n: int | None = None,
        *,
        min_match: float | None = 0.97,
        seed: int = 0,
        recipe: Recipe = Recipe(),
        ref_index: int | None = None,
        patience: int = 300,
        max_candidates: int = 50_000,
        mchirp_ratio: float | None = 1.6,
        f_max: float = 1024.0,
        stride: int = 4,
        workers: int = 1,
        progress: bool = False,
    ) -> TemplateBank:
        """Stochastic placement over the competition's mass prior.

        Candidates (m1, m2) are drawn from ``recipe.masses`` (seeded by
        ``seed``) and kept when their match with every kept template is below
        ``min_match``. Stops at ``n`` templates, after ``patience`` rejections
        in a row (the bank covers the prior at ``min_match``), or after
        ``max_candidates`` draws. ``min_match=None`` keeps the first ``n``
        draws without any check. Matches use the filter's ``f_max`` and
        ``stride``, and are computed only against kept templates whose chirp
        mass is within a factor ``mchirp_ratio`` of the candidate's (None: all;
        in the default bank no pair with match >= 0.9 differs by more than
        1.37). The result does not depend on ``workers`` (processes that make
        the templates while the main process checks the previous chunk).
        """
        _check_placement(n, min_match, mchirp_ratio)
        import torch
        from tqdm.auto import tqdm

        ref = _default_ref_index(recipe) if ref_index is None else int(ref_index)
        nsamples, fs = recipe.nsamples, recipe.sample_rate
        nbins, nout = output_grid(nsamples, fs, f_max, stride)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_PLACEMENT,)))
        limit = n if n is not None else max_candidates
        log_ratio = math.inf if mchirp_ratio is None else math.log(mchirp_ratio)
        kept = _Kept(max(limit, 1) if n is not None else 256, nbins)
        tried, streak = 0, 0
        stream = _candidates(recipe.masses, rng, recipe, ref, max_candidates=max_candidates,
                             workers=workers)
        bar = tqdm(desc="template bank", unit=" candidates", disable=not progress)
        with contextlib.closing(stream), bar:
            for m1, m2, t in stream:
                tried += 1
                tf = torch.as_tensor(filter_spectra(t[None], nbins), dtype=torch.complex64)
                lmc = math.log(chirp_mass(m1, m2))
                if (min_match is not None and len(kept)
                        and kept.best_match(tf, lmc, log_ratio, min_match, nsamples, nout)
                        >= min_match):
                    streak += 1
                    if streak >= patience:  # the bank covers the prior at min_match
                        break
                else:
                    streak = 0
                    kept.add(m1, m2, t, tf[0], lmc)
                    if len(kept) >= limit:
                        break
                bar.update(1)
                # placement ends after `patience` rejections in a row: the streak is its progress
                bar.set_postfix(kept=len(kept), rejected_in_a_row=f"{streak}/{patience}",
                                refresh=False)
        m = np.array(kept.masses).reshape(-1, 2)
        info = {
            "placement": "stochastic" if min_match is not None else "random",
            "seed": int(seed), "min_match": float(min_match or 0.0), "n_requested": int(n or 0),
            "candidates": int(tried), "patience": int(patience), "f_max": float(f_max),
            "stride": int(stride), "mchirp_ratio": float(mchirp_ratio or 0.0),
            "converged": bool(streak >= patience),
        }
        return cls(m[:, 0], m[:, 1], np.stack(kept.templates), ref, recipe, info)

    @classmethod
    def cached(
        cls,
        path: str | os.PathLike | None = None,
        *,
        cache_dir: str | os.PathLike = "cache",
        n: int | None = None,
        min_match: float | None = 0.97,
        seed: int = 0,
        patience: int = 300,
        workers: int = 1,
        progress: bool = False,
    ) -> tuple[TemplateBank, Path]:
        """(bank, its file): load ``path`` (default: named after the settings in ``cache_dir``),
        or :meth:`build` it with these settings and save it there first."""
        if path is None:
            tag = f"mm{min_match or 0:g}_seed{seed}_p{patience}" + (f"_n{n}" if n else "")
            path = Path(cache_dir) / f"template_bank_{tag}.h5"
        path = Path(path)
        if path.is_file():
            return cls.load(path), path
        check_writable(path)  # before minutes of building, not after
        bank = cls.build(n, min_match=min_match, seed=seed, patience=patience,
                         workers=workers, progress=progress)
        return bank, bank.save(path)

    # ------------------------------------------------------------------ files

    def save(self, path: str | os.PathLike) -> Path:
        """Write the bank to HDF5 (atomically): datasets m1, m2, templates; recipe and info as attrs."""
        import h5py

        path = Path(path)
        r = self.recipe
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
            f.create_dataset("m1", data=self.m1)
            f.create_dataset("m2", data=self.m2)
            f.create_dataset("templates", data=self.templates.astype(np.float32))
            f.attrs.update({
                "gwkit_template_bank": BANK_FORMAT, "ref_index": self.ref_index,
                "sample_rate": r.sample_rate, "nsamples": r.nsamples, "psd_flow": r.psd_flow,
                "f_lower": r.f_lower, "m_min": r.masses.m_min, "m_total_max": r.masses.m_total_max,
                "peak_lo": r.peak_range[0], "peak_hi": r.peak_range[1],
            })
            for key, value in self.info.items():
                f.attrs[f"info_{key}"] = value
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> TemplateBank:
        """Read a bank written by :meth:`save`; DataError (a ValueError) naming the file and the
        problem if it is not one (a missing entry, an attribute that is text or not finite)."""
        path = Path(path)
        try:
            with open_hdf5(path) as f:
                check_format(f, "gwkit_template_bank", BANK_FORMAT, path, "a gwkit template bank")
                num = {k: attribute(f, k, float, path) for k in
                       ("sample_rate", "psd_flow", "f_lower", "m_min", "m_total_max")}
                whole = {k: attribute(f, k, int, path) for k in
                         ("nsamples", "peak_lo", "peak_hi", "ref_index")}
                recipe = Recipe(
                    sample_rate=num["sample_rate"], nsamples=whole["nsamples"],
                    psd_flow=num["psd_flow"], f_lower=num["f_lower"],
                    peak_range=(whole["peak_lo"], whole["peak_hi"]),
                    masses=MassPrior(num["m_min"], num["m_total_max"]),
                )
                a = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
                info = {k[5:]: v for k, v in a.items() if k.startswith("info_")}
                return cls(f["m1"][()], f["m2"][()], f["templates"][()], whole["ref_index"],
                           recipe, info)
        except DataError:
            raise
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise DataError(f"{path}: not a readable gwkit template bank ({exc})") from None


# ----------------------------------------------------------------------------- filtering


@dataclass
class MatchedFilterResult:
    """Per-row maximum of the matched filter.

    ``snr``: the statistic (N,); ``template``: index of the best template;
    ``peak_index``: the merger sample in channel 0 that template implies
    (fractional after the parabolic refinement); ``snr_channel``: (N, 2) the
    channels' SNRs at the maximum (channel 1 is 0 in competition mode).
    """

    snr: np.ndarray
    template: np.ndarray
    peak_index: np.ndarray
    snr_channel: np.ndarray


def matched_filter(
    x: np.ndarray,
    bank: TemplateBank,
    *,
    mode: Mode = "competition",
    batch: int = 32,
    template_batch: int = 64,
    f_max: float | None = 1024.0,
    stride: int = 4,
    margin: int = 200,
    peak_range: tuple[int, int] | None = None,
    max_shift: float = 0.011,
    device="cpu",
    progress: bool = False,
) -> MatchedFilterResult:
    """Maximise the matched filter over templates and merger time for each row of ``x``.

    The reference: every template filtered exactly (no low-rank compression),
    by :class:`gwkit.sim.mf_features.MatchedFilter`. ``x``: whitened strain
    (N, 2, nsamples) (or (N, nsamples) for one channel in competition mode),
    numpy (memory-mapped is fine: read ``batch`` rows at a time). ``mode``:
    which channels carry signal and how they combine (module docstring).
    ``f_max`` (Hz) and ``stride`` (samples) set the resolution; ``margin``
    (samples) widens ``peak_range`` (default: the bank's recipe) for detector
    delays; ``max_shift`` (s) is the L1-H1 shift allowed in physical mode.
    ``device``: a torch device ("cpu", "cuda").
    """
    from gwkit.sim.mf_features import FilterBank, MatchedFilter

    if batch < 1 or template_batch < 1:
        raise ValueError(f"batch sizes must be >= 1, got {batch} and {template_batch}")
    if len(bank) == 0:
        raise ValueError("the template bank is empty")
    n = bank.recipe.nsamples
    if x.ndim == 2 and mode == "competition":
        x = x[:, None, :]
    if x.ndim != 3 or x.shape[-1] != n or x.shape[1] < (2 if mode == "physical" else 1):
        raise ValueError(f"x must be (N, 2, {n}), got {x.shape}")
    filters = FilterBank.from_templates(bank, f_max=f_max, stride=stride, tolerance=None)
    if peak_range is not None:
        filters.peak_range = tuple(peak_range)
    mf = MatchedFilter(filters, mode=mode, margin=margin, max_shift=max_shift,
                       template_batch=template_batch).to(device)
    feats = mf.features(x, batch=batch, progress=progress)
    return MatchedFilterResult(feats["mf_snr"], feats["mf_template"].astype(np.int64),
                               feats["mf_time"] * bank.recipe.sample_rate,
                               feats["mf_snr_channel"])


def matched_filter_statistic(
    x: np.ndarray, bank: TemplateBank, mode: Mode = "competition", batch: int = 32, **kwargs
) -> np.ndarray:
    """The matched-filter detection statistic (N,) of whitened strain ``x`` (N, 2, nsamples).

    A thin wrapper of :func:`matched_filter` (same keyword arguments).
    """
    return matched_filter(x, bank, mode=mode, batch=batch, **kwargs).snr


def fitting_factor(
    signals: np.ndarray, bank: TemplateBank, **kwargs
) -> tuple[np.ndarray, np.ndarray]:
    """Fitting factor of noise-free whitened ``signals`` (N, nsamples) against ``bank``.

    The best match over templates, time and phase, normalised by each signal's
    full-band norm (so the ``f_max`` cut and the time grid count as mismatch).
    Returns (fitting factor (N,), best template index (N,)); keyword
    arguments go to :func:`matched_filter` (competition mode, one channel).
    """
    signals = np.asarray(signals, dtype=np.float64)
    if signals.ndim != 2:
        raise ValueError(f"signals must be (N, nsamples), got {signals.shape}")
    norm = np.linalg.norm(signals, axis=-1)
    if np.any(norm <= 0):
        raise ValueError("a signal is identically zero")
    res = matched_filter(signals / norm[:, None], bank, mode="competition", **kwargs)
    return res.snr, res.template


def prior_weights(
    bank: TemplateBank,
    *,
    n_draws: int = 4000,
    seed: int = 0,
    pseudocount: float = 0.5,
    workers: int = 1,
    progress: bool = False,
    **filter_kwargs,
) -> tuple[np.ndarray, np.ndarray]:
    """Prior weight of each template and the fitting factors of the prior draws.

    ``n_draws`` mass pairs from ``bank.recipe.masses`` (seeded), each matched
    against the bank (:class:`gwkit.sim.mf_features.MatchedFilter` with
    ``filter_kwargs``: ``f_max``, ``stride``, ``tolerance``); the weight of
    template k is the share of draws it matches best (plus ``pseudocount``
    per template, so no template weighs zero). Returns (weights (K,), fitting
    factor of every draw (n_draws,)).
    """
    from gwkit.sim.mf_features import FilterBank, MatchedFilter

    if n_draws < 1 or pseudocount < 0:
        raise ValueError(f"need n_draws >= 1 and pseudocount >= 0, got {n_draws}, {pseudocount}")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_PRIOR_DRAWS,)))
    jobs = [(*bank.recipe.masses.sample(rng), bank.recipe, bank.ref_index) for _ in range(n_draws)]
    signals = np.stack(process_map(_template_job, jobs, workers=workers))[:, None, :]
    mf = MatchedFilter(FilterBank.from_templates(bank, **filter_kwargs))
    feats = mf.features(signals, progress=progress)
    counts = np.bincount(feats["mf_template"].astype(np.int64), minlength=len(bank)) + pseudocount
    return counts / counts.sum(), feats["mf_snr"]


def build_filter_bank(
    bank: TemplateBank,
    *,
    f_max: float = 1023.5,
    stride: int = 8,
    tolerance: float = 1e-3,
    n_draws: int = 4000,
    seed: int = 0,
    workers: int = 1,
    progress: bool = False,
):
    """The compressed, prior-weighted :class:`gwkit.sim.mf_features.FilterBank` of ``bank``.

    Templates are weighted by the mass prior (:func:`prior_weights`). Its ``info`` records
    the fitting factor of the prior draws against it (mean and 5th
    percentile), with the filter's own band and time grid.
    """
    from gwkit.sim.mf_features import FilterBank

    kwargs = dict(f_max=f_max, stride=stride, tolerance=tolerance)
    weight, ff = prior_weights(bank, n_draws=n_draws, seed=seed, workers=workers,
                               progress=progress, **kwargs)
    filters = FilterBank.from_templates(bank, weight=weight, **kwargs)
    filters.info.update(prior_draws=int(n_draws), prior_seed=int(seed),
                        fitting_factor_mean=float(ff.mean()),
                        fitting_factor_p05=float(np.percentile(ff, 5)))
    return filters


def cached_filter_bank(cache_dir: str | os.PathLike = "cache", *, min_match: float = 0.97,
                       seed: int = 0, workers: int = 1, progress: bool = False) -> Path:
    """The file of the default filter bank: built once (LALSuite) from a cached template bank.

    ``<cache_dir>/filter_bank_<template bank name>.h5``: the template bank of
    :meth:`TemplateBank.cached` (``min_match``, ``seed``), compressed and
    weighted by :func:`build_filter_bank`.
    """
    check_writable(cache_dir, folder=True)  # a cache that is a file fails here, at once
    bank, path = TemplateBank.cached(cache_dir=cache_dir, min_match=min_match, seed=seed,
                                     workers=workers, progress=progress)
    target = Path(cache_dir) / f"filter_bank_{path.stem}.h5"
    if not target.is_file():
        check_writable(target)
        build_filter_bank(bank, workers=workers, progress=progress).save(target)
    return target
