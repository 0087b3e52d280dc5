"""The real-strain search behind ``python -m gwkit.scan``: whiten, window, score, cluster, background.

Whitening of GWOSC series (:func:`whiten_strain`), the fold ensemble that
scores windows (:class:`FoldEnsemble`), the sliding-window scan with its
time-slide or off-source background (:func:`scan`), the output tables
(:func:`write_outputs`) and the plot (:func:`plot_scan`). The steps are
described in :mod:`gwkit.scan`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gwkit.core.fileio import atomic_path
from gwkit.core.outputs import replace_together
from gwkit.sim.recipe import MODES, Recipe
from gwkit.strain.gwosc import (
    StrainSeries,
    check_coincident,
    resample,
)
from gwkit.strain.triggers import Trigger, cluster, far, overlaps
from gwkit.strain.whiten import SpectralDensity, Whiten, check_psd
from gwkit.strain.windows import competition_rows, fill_band, sliding_windows

__all__ = [
    "background_kind",
    "FoldEnsemble",
    "ScanResult",
    "Whitened",
    "load_ensemble",
    "plot_scan",
    "scan",
    "scan_outputs",
    "whiten_strain",
    "write_outputs",
]

RECIPE = Recipe()
SAMPLE_RATE = RECIPE.sample_rate  # Hz, the models' input rate
WINDOW = RECIPE.nsamples  # samples, 2 s
MERGER_OFFSET = 0.5 * sum(RECIPE.peak_range) / SAMPLE_RATE  # s into a window: 1.35
# s: the most a real signal's arrival differs between H1 and L1 (3002 km / c = 10.0 ms)
LIGHT_TRAVEL_S = 0.010
# s: the width of a model's plateau of high scores around a signal (the training merger range)
PLATEAU_S = (RECIPE.peak_range[1] - RECIPE.peak_range[0]) / SAMPLE_RATE
# s: the shortest honest time slide: past the light travel time and the model's plateau, so a
# slide pairs each channel-0 stretch with channel-1 data the model sees as new (shorter
# slides are allowed, with a warning from gwkit.scan: neighbouring slides repeat each other)
MIN_HONEST_SLIDE_S = LIGHT_TRAVEL_S + PLATEAU_S
# channel order of each mode: competition rows carry L1 in channel 0 (the course's quirk)
DEFAULT_CHANNELS = {mode: Recipe(mode=mode).channels for mode in MODES}


# --------------------------------------------------------------------------- whitening


@dataclass(frozen=True)
class Whitened:
    """Whitened strain at the models' rate, one row per channel."""

    ifos: tuple[str, ...]  # detector of each channel
    data: torch.Tensor  # (nchannels, nsamples) float64, unit-variance white noise
    t0: float  # GPS s of data[:, 0]
    sample_rate: float  # Hz
    band: tuple[float, float]  # Hz: where the data carry information (the rest: filled noise)
    level: tuple[float, ...]  # per channel: rms in the band / rms of unit white noise in it

    def window_start_times(self, starts: np.ndarray) -> np.ndarray:
        return self.t0 + np.asarray(starts) / self.sample_rate


def whiten_strain(
    series: Sequence[StrainSeries],
    *,
    fftlength: float = 4.0,
    overlap: float = 3.0,
    fduration: float = 4.0,
    highpass: float = 15.0,
    sample_rate: float = SAMPLE_RATE,
    generator: torch.Generator,
) -> Whitened:
    """Resample coincident ``series`` to ``sample_rate`` Hz and whiten each with its own PSD.

    PSD: Welch median over ``fftlength``-s segments overlapping by ``overlap`` s;
    whitening filter ``fduration`` s long, zero below ``highpass`` Hz and above
    the files' Nyquist frequency; that upper band is then filled with white noise
    from ``generator``. The result starts ``fduration / 2`` s after the files.
    """
    check_coincident(series)
    native = series[0].sample_rate
    x = torch.from_numpy(np.stack([resample(s, sample_rate).data for s in series]))
    lowpass = native / 2 if native < sample_rate else None
    psd = check_psd(SpectralDensity(sample_rate, fftlength, overlap)(x), sample_rate,
                    [s.source for s in series], highpass=highpass, lowpass=lowpass)
    white = Whiten(sample_rate, fduration, highpass=highpass, lowpass=lowpass)(x, psd)
    top = sample_rate / 2 if lowpass is None else lowpass
    fraction = (top - highpass) / (sample_rate / 2)
    level = tuple(float(v) for v in white.std(dim=-1) / math.sqrt(fraction))
    if lowpass is not None:
        white = fill_band(white, sample_rate, lowpass, generator)
    return Whitened(tuple(s.ifo for s in series), white, series[0].t0 + fduration / 2,
                    float(sample_rate), (float(highpass), float(top)), level)


# --------------------------------------------------------------------------- models


@dataclass
class FoldEnsemble:
    """Fold checkpoints of one or more runs; score = mean logit over folds, then over runs."""

    members: list  # gwkit.scoring.inference.Detector, one per fold checkpoint
    mode: str  # data mode the checkpoints were trained in
    device: torch.device
    batch_size: int = 128

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Scores (logits) of windows ``x`` of shape ``(n, 2, 16384)``."""
        from gwkit.scoring.inference import ensemble, predict_logits

        per_run: dict[str, list[np.ndarray]] = {}
        for det in self.members:
            z = predict_logits(det, x, [(1.0, False)], self.batch_size, self.device)
            per_run.setdefault(det.checkpoint.run, []).append(z)
        return ensemble(list(per_run.values()), "logit")

    def describe(self) -> str:
        runs: dict[str, int] = {}
        for det in self.members:
            runs[det.checkpoint.run] = runs.get(det.checkpoint.run, 0) + det.folds
        return ", ".join(f"{run} ({n} fold{'s' * (n > 1)})" for run, n in runs.items())


def load_ensemble(
    runs: Sequence[str | Path], device: torch.device, batch_size: int = 128
) -> FoldEnsemble:
    """Every fold checkpoint under ``runs`` (``gwkit.scoring.inference.find_checkpoints``), loaded;
    an exported ensemble (``gwkit.export``) is one member, its contract's mode and length checked.

    ValueError (``gwkit.scoring.inference.InferenceError``) naming the file when a run
    has no checkpoint or one cannot score 2 s windows, or when the runs mix modes.
    """
    from gwkit.scoring.inference import find_checkpoints, load_detector

    members = [load_detector(ck, device, nsamples=WINDOW) for ck in find_checkpoints(runs)]
    modes = sorted({det.mode for det in members})
    if len(modes) > 1:
        raise ValueError(f"the runs mix data modes {modes}; scan one mode at a time")
    return FoldEnsemble(members, modes[0], device, batch_size)


# --------------------------------------------------------------------------- scanning


def score_windows(
    ensemble: FoldEnsemble, white: Whitened, stride: int, shift: int = 0, chunk: int = 512
) -> np.ndarray:
    """Scores of every ``stride``-sample window; channel 1 rolled by ``shift`` samples first."""
    data = white.data
    if shift:
        data = torch.stack([data[0], torch.roll(data[1], shift)])
    windows = sliding_windows(data, WINDOW, stride).transpose(0, 1)  # (nwindows, channels, WINDOW)
    out = []
    for lo in range(0, windows.shape[0], chunk):
        rows = competition_rows(windows[lo:lo + chunk], SAMPLE_RATE)
        out.append(ensemble.logits(rows.cpu().numpy()))
    return np.concatenate(out)


@dataclass
class ScanResult:
    times: np.ndarray  # GPS s: window start + MERGER_OFFSET
    scores: np.ndarray  # logits
    triggers: list[Trigger]
    loudest: Trigger  # the loudest window (a trigger when above threshold)
    far: float  # Hz, of the loudest
    far_is_bound: bool
    background_kind: str  # "slides" or "offsource"
    background: dict[str, np.ndarray]  # slide, shift (s), time, score of the kept windows
    background_duration: float  # s
    background_max: float  # loudest background window (-inf when none)
    trigger_far: list[tuple[float, bool]]  # per trigger
    slide_step: float | None = None  # s actually used (whole samples) between slides
    nslides: int = 0  # time slides in the background (0: off-source windows)


def background_kind(background: str, mode: str) -> str:
    """``slides`` or ``offsource``: ``auto`` picks slides for physical-mode models (both
    detectors carry the signal) and off-source windows for competition-mode ones."""
    kind = background
    if kind == "auto":
        kind = "slides" if mode == "physical" else "offsource"
    if kind not in ("slides", "offsource"):
        raise ValueError(f"background must be auto, slides or offsource, got {background!r}")
    return kind


def scan(
    ensemble: FoldEnsemble,
    white: Whitened,
    *,
    stride: float = 0.1,
    threshold: float = 0.0,
    cluster_window: float = 1.0,
    background: str = "auto",
    slides: int | None = None,
    slide_step: float = 1.0,
    exclude: float = 1.0,
) -> ScanResult:
    """Score the whitened strain, find triggers, and rate the loudest against a background."""
    fs = white.sample_rate
    nstride = _samples(stride, fs, "stride")
    stride = nstride / fs  # the stride actually used
    nsamples = white.data.shape[-1]
    if nsamples < WINDOW:
        raise ValueError(
            f"{nsamples / fs:.1f} s of whitened data (after cropping fduration) are shorter "
            f"than one {WINDOW / fs:.0f} s window"
        )
    starts = np.arange(0, nsamples - WINDOW + 1, nstride)
    times = white.window_start_times(starts) + MERGER_OFFSET
    scores = score_windows(ensemble, white, nstride)
    best = int(np.argmax(scores))
    loudest = Trigger(*(float(v) for v in (times[best], scores[best], times[best], times[best],
                                            times[best])), 1)
    triggers = cluster(times, scores, threshold, cluster_window)
    if triggers:
        loudest = max(triggers, key=lambda t: t.score)

    kind = background_kind(background, ensemble.mode)
    shifts, nstep = [0], None
    if kind == "slides":
        nstep = _samples(slide_step, fs, "slide_step")
        if min(slide_step, nstep / fs) <= LIGHT_TRAVEL_S:
            raise ValueError(
                f"slide_step={slide_step} s is not a time slide: a shift within the "
                f"{LIGHT_TRAVEL_S * 1e3:g} ms light travel time between the detectors keeps real "
                "signals coincident"
            )
        shifts = _slide_shifts(white, nstep, slides)
    # on-source: the loudest trigger's time +- exclude, in samples of the whitened series
    event = (loudest.time - white.t0) * fs
    on_source = (event - exclude * fs, event + exclude * fs)
    rows: dict[str, list[np.ndarray]] = {"slide": [], "shift": [], "time": [], "score": []}
    maxima: list[float] = []
    for k, shift in enumerate(shifts, start=1 if kind == "slides" else 0):
        z = scores if shift == 0 else score_windows(ensemble, white, nstride, shift)
        # channel 0 holds data [s, s + WINDOW); channel 1 the data from s - shift (circularly)
        keep = ~(overlaps(starts, WINDOW, *on_source)
                 | overlaps((starts - shift) % nsamples, WINDOW, *on_source, period=nsamples))
        nkeep = int(keep.sum())
        for key, value in (("slide", np.full(nkeep, k)), ("shift", np.full(nkeep, shift / fs)),
                           ("time", times[keep]), ("score", z[keep])):
            rows[key].append(value)
        level = min(threshold, loudest.score)
        maxima += [t.score for t in cluster(times[keep], z[keep], level, cluster_window)]
    bg = {key: np.concatenate(value) for key, value in rows.items()}
    duration = bg["score"].size * stride
    if duration <= 0:
        raise ValueError(
            f"no background left: every window lies within --exclude {exclude} s of the loudest "
            "trigger; scan a longer stretch or lower --exclude"
        )
    rate, bound = far(loudest.score, np.asarray(maxima), duration)
    per_trigger = [far(t.score, np.asarray(maxima), duration) for t in triggers]
    bg_max = float(bg["score"].max()) if bg["score"].size else -math.inf
    return ScanResult(times, scores, triggers, loudest, rate, bound, kind, bg, duration, bg_max,
                      per_trigger, None if nstep is None else nstep / fs,
                      len(shifts) if kind == "slides" else 0)


def _slide_shifts(white: Whitened, nstep: int, slides: int | None) -> list[int]:
    """Shifts in samples of channel 1: ``k * nstep`` for k = 1..slides (default: all that fit).

    The shift is circular, so ``k * nstep`` is also a shift of ``nsamples - k * nstep`` the
    other way: the last slide keeps at least ``nstep`` from a whole turn (zero lag).
    """
    nsamples = white.data.shape[-1]
    if white.data.shape[0] < 2:
        raise ValueError("time slides need two detectors")
    most = (nsamples - nstep) // nstep
    nslides = most if slides is None else slides
    if not 1 <= nslides <= most:
        raise ValueError(
            f"slides={nslides}: {nsamples / white.sample_rate:.1f} s of data allow 1 to {most} "
            f"slides of {nstep / white.sample_rate:g} s"
        )
    return [k * nstep for k in range(1, nslides + 1)]


def _samples(seconds: float, sample_rate: float, name: str) -> int:
    """``seconds`` as the nearest whole number of samples (at least 1)."""
    n = round(seconds * sample_rate)
    if not n >= 1:
        raise ValueError(f"{name}={seconds} s is less than one sample at {sample_rate} Hz")
    return int(n)


# --------------------------------------------------------------------------- outputs


def _tables(result: ScanResult) -> dict[str, dict[str, np.ndarray]]:
    starts = result.times - MERGER_OFFSET
    trig = result.triggers
    return {
        "scores": {"time": result.times, "window_start": starts, "score": result.scores},
        "triggers": {
            "time": np.array([t.time for t in trig]), "score": np.array([t.score for t in trig]),
            "peak_time": np.array([t.peak_time for t in trig]),
            "start": np.array([t.start for t in trig]), "end": np.array([t.end for t in trig]),
            "nwindows": np.array([t.nwindows for t in trig], dtype=np.int64),
            "far_hz": np.array([f for f, _ in result.trigger_far]),
            "far_is_bound": np.array([b for _, b in result.trigger_far], dtype=bool),
        },
        "background": {k: result.background[k] for k in ("slide", "shift", "time", "score")},
    }


def scan_outputs(out: Path, fmt: str, *, plot: bool) -> list[Path]:
    """The files :func:`write_outputs` writes into ``out``, in the order it replaces them
    (``summary.json`` last)."""
    tables = [out / "scan.h5"] if fmt == "hdf5" else \
        [out / f"{name}.csv" for name in ("scores", "triggers", "background")]
    return [*tables, *([out / "scan.png"] if plot else []), out / "summary.json"]


def write_outputs(out: Path, result: ScanResult, summary: dict, fmt: str,
                  plot: Callable[[Path], None] | None = None) -> list[Path]:
    """Tables (CSV files or one HDF5 file), the plot (``plot(path)`` writes it) and
    ``summary.json``, replaced together once every one is written; returns them."""
    import pandas as pd

    tables = _tables(result)
    paths = scan_outputs(out, fmt, plot=plot is not None)
    with replace_together(paths) as staged:
        if fmt == "hdf5":
            import h5py

            with h5py.File(staged[out / "scan.h5"], "w") as f:
                for name, columns in tables.items():
                    group = f.create_group(name)
                    for key, value in columns.items():
                        group.create_dataset(key, data=value)
                f.attrs["summary"] = json.dumps(summary)
        else:
            for name, columns in tables.items():
                pd.DataFrame(columns).to_csv(staged[out / f"{name}.csv"], index=False)
        if plot is not None:
            plot(staged[out / "scan.png"])
        with open(staged[out / "summary.json"], "w") as fh:
            json.dump(summary, fh, indent=2)
            fh.write("\n")
    return paths


def plot_scan(path: Path, white: Whitened, result: ScanResult, *, reference: float | None,
              threshold: float, span: float = 1.0) -> None:
    """Whitened strain (band-passed for display), a spectrogram of channel 0, the score series."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import spectrogram

    fs = white.sample_rate
    t_ev = result.loudest.time
    i0 = max(0, int((t_ev - span - white.t0) * fs))
    i1 = min(white.data.shape[-1], int((t_ev + span - white.t0) * fs))
    seg = white.data[:, i0:i1].numpy()
    t = white.t0 + np.arange(i0, i1) / fs - t_ev
    spec = np.fft.rfft(seg, axis=-1)
    freqs = np.fft.rfftfreq(seg.shape[-1], 1.0 / fs)
    shown = np.fft.irfft(spec * ((freqs >= white.band[0]) & (freqs <= 350.0)), n=seg.shape[-1])

    fig, axes = plt.subplots(3, 1, figsize=(9, 9), constrained_layout=True)
    for c, ifo in enumerate(white.ifos):
        axes[0].plot(t, shown[c] + 4 * c, lw=0.6, label=f"channel {c}: {ifo} (+{4 * c})")
    axes[0].set(xlabel=f"time from GPS {t_ev:.3f} s", ylabel="whitened strain",
                title=f"whitened strain, {white.band[0]:g}-350 Hz for display")
    axes[0].legend(loc="upper left", fontsize=8)
    f, ts, sxx = spectrogram(white.data[0, i0:i1].numpy(), fs=fs, nperseg=int(fs / 16),
                             noverlap=int(fs / 16) - int(fs / 256))
    band = (f >= white.band[0]) & (f <= 512)
    axes[1].pcolormesh(ts + t[0], f[band], sxx[band], shading="auto", cmap="viridis")
    axes[1].set(yscale="log", ylim=(white.band[0], 512), ylabel="frequency (Hz)",
                xlabel=f"time from GPS {t_ev:.3f} s",
                title=f"spectrogram of channel 0 ({white.ifos[0]}), 1/16 s segments")
    axes[2].plot(result.times - t_ev, result.scores, lw=1, label="on-source")
    axes[2].axhline(threshold, color="grey", ls=":", label=f"threshold {threshold:g}")
    if np.isfinite(result.background_max):
        axes[2].axhline(result.background_max, color="C3", ls="--",
                        label=f"loudest background window ({result.background_kind})")
    if reference is not None:
        axes[2].axvline(reference - t_ev, color="k", lw=0.8, label=f"reference GPS {reference}")
    axes[2].set(xlabel=f"window time - GPS {t_ev:.3f} s", ylabel="score (logit)",
                title="score per window (time = window start + 1.35 s)")
    axes[2].legend(loc="upper right", fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
