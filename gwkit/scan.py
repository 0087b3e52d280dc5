"""Scan real strain with trained models: ``python -m gwkit.scan H1.hdf5 L1.hdf5 --runs RUN``.

Steps:

1. Read the GWOSC files (:mod:`gwkit.strain.gwosc`: data-quality flags, gaps,
   coincident detectors) and resample them to the models' 8192 Hz.
2. Whiten each detector with its own Welch median PSD by inverse-spectrum
   truncation (:mod:`gwkit.strain.whiten`); the first and last ``fduration / 2``
   seconds are cropped. The band above the files' Nyquist frequency (2048 Hz
   for 4 kHz files) is filled with seeded white noise (:func:`fill_band`).
3. Cut 2 s windows every ``--stride`` seconds and give each the edges of a
   competition row (:func:`gwkit.strain.windows.competition_rows`: Tukey(1/8)
   taper and the competition's whitening, so the model sees its training
   distribution). Each window is scored by every fold checkpoint of the runs;
   the score is the mean logit (over folds, then over runs).
4. A window's time is where the competition puts the merger in a row: its
   start + 1.35 s (the middle of samples 10240-11878). Windows scoring at least
   ``--threshold`` are clustered in time (``--cluster-window``); each cluster is
   a trigger, timed at the middle of the plateau of high scores around its peak
   (:mod:`gwkit.strain.triggers`).
5. Background. ``slides`` (physical-mode models, both detectors carry signal):
   channel 1 is shifted circularly by ``k * --slide-step`` seconds (k = 1, 2, ...,
   far more than the 10 ms light travel time) and rescanned. ``offsource``
   (competition-mode models, which look at channel 0 only, so a time slide would
   rescan the same channel-0 data): the zero-lag windows themselves. Either way,
   windows whose data (in either channel) come within ``--exclude`` seconds of
   the loudest on-source trigger are dropped. The loudest trigger's
   false-alarm rate is the number of background clusters at least as loud per
   second of background (``windows * stride``), or the bound 1 / duration.

Outputs in ``--out`` (written atomically): ``scores.csv`` (time, window start,
score), ``triggers.csv``, ``background.csv`` (slide, shift, time, score) and
``summary.json``, or all tables in one ``scan.h5`` with ``--format hdf5``; the
plot ``scan.png`` (whitened strain, spectrogram and score series around the
loudest trigger).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from gwkit.fileio import atomic_path, atomic_write
from gwkit.sim.recipe import Recipe
from gwkit.strain.gwosc import (
    DEFAULT_DQ_FLAGS,
    StrainSeries,
    check_coincident,
    read_gwosc,
    resample,
)
from gwkit.strain.triggers import Trigger, cluster, far, overlaps
from gwkit.strain.whiten import SpectralDensity, Whiten
from gwkit.strain.windows import competition_rows, fill_band, sliding_windows

__all__ = [
    "Ensemble",
    "ScanResult",
    "Whitened",
    "load_ensemble",
    "main",
    "scan",
    "whiten_strain",
]

RECIPE = Recipe()
SAMPLE_RATE = RECIPE.sample_rate  # Hz, the models' input rate
WINDOW = RECIPE.nsamples  # samples, 2 s
MERGER_OFFSET = 0.5 * sum(RECIPE.peak_range) / SAMPLE_RATE  # s into a window: 1.35
# channel order of each mode: competition rows carry L1 in channel 0 (the course's quirk)
DEFAULT_CHANNELS = {"competition": RECIPE.ifos[::-1], "physical": RECIPE.ifos}


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
    psd = SpectralDensity(sample_rate, fftlength, overlap)(x)
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
class Ensemble:
    """Fold checkpoints of one or more runs; score = mean logit over folds, then over runs."""

    members: list  # gwkit.inference.Detector, one per fold checkpoint
    mode: str  # data mode the checkpoints were trained in
    device: torch.device
    batch_size: int = 128

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Scores (logits) of windows ``x`` of shape ``(n, 2, 16384)``."""
        from gwkit.inference import ensemble, predict_logits

        per_run: dict[str, list[np.ndarray]] = {}
        for det in self.members:
            z = predict_logits(det, x, [(1.0, False)], self.batch_size, self.device)
            per_run.setdefault(det.checkpoint.run, []).append(z)
        return ensemble(list(per_run.values()), "logit")

    def describe(self) -> str:
        runs: dict[str, int] = {}
        for det in self.members:
            runs[det.checkpoint.run] = runs.get(det.checkpoint.run, 0) + 1
        return ", ".join(f"{run} ({n} fold{'s' * (n > 1)})" for run, n in runs.items())


def load_ensemble(
    runs: Sequence[str | Path], device: torch.device, batch_size: int = 128
) -> Ensemble:
    """Every fold checkpoint under ``runs`` (``gwkit.inference.find_checkpoints``), loaded.

    ValueError (``gwkit.inference.InferenceError``) naming the file when a run
    has no checkpoint or one cannot score 2 s windows, or when the runs mix modes.
    """
    from gwkit.inference import find_checkpoints, load_detector

    members = [load_detector(ck, device, nsamples=WINDOW) for ck in find_checkpoints(runs)]
    modes = sorted({det.mode for det in members})
    if len(modes) > 1:
        raise ValueError(f"the runs mix data modes {modes}; scan one mode at a time")
    return Ensemble(members, modes[0], device, batch_size)


# --------------------------------------------------------------------------- scanning


def score_windows(
    ensemble: Ensemble, white: Whitened, stride: int, shift: int = 0, chunk: int = 512
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


def scan(
    ensemble: Ensemble,
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

    kind = background
    if kind == "auto":
        kind = "slides" if ensemble.mode == "physical" else "offsource"
    if kind not in ("slides", "offsource"):
        raise ValueError(f"background must be auto, slides or offsource, got {background!r}")
    shifts = [0]
    if kind == "slides":
        shifts = _slide_shifts(white, _samples(slide_step, fs, "slide_step"), slides)
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
                      per_trigger)


def _slide_shifts(white: Whitened, nstep: int, slides: int | None) -> list[int]:
    """Shifts in samples of channel 1: ``k * nstep`` for k = 1..slides (default: all that fit)."""
    nsamples = white.data.shape[-1]
    if white.data.shape[0] < 2:
        raise ValueError("time slides need two detectors")
    most = (nsamples - 1) // nstep
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


def write_outputs(out: Path, result: ScanResult, summary: dict, fmt: str) -> list[Path]:
    """Tables (CSV files or one HDF5 file) and ``summary.json``, each written atomically."""
    import pandas as pd

    tables = _tables(result)
    written = []
    if fmt == "hdf5":
        import h5py

        path = out / "scan.h5"
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
            for name, columns in tables.items():
                group = f.create_group(name)
                for key, value in columns.items():
                    group.create_dataset(key, data=value)
            f.attrs["summary"] = json.dumps(summary)
        written.append(path)
    else:
        for name, columns in tables.items():
            path = out / f"{name}.csv"
            with atomic_write(path, newline="") as fh:
                pd.DataFrame(columns).to_csv(fh, index=False)
            written.append(path)
    path = out / "summary.json"
    with atomic_write(path) as fh:
        json.dump(summary, fh, indent=2)
        fh.write("\n")
    written.append(path)
    return written


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


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gwkit.scan",
        description="Whiten GWOSC strain files and scan them with trained models in 2 s windows.",
    )
    p.add_argument("files", nargs=2, metavar="HDF5", help="two GWOSC strain files (H1, L1)")
    p.add_argument("--runs", nargs="+", required=True, metavar="RUN",
                   help="run folders or .pt files (as gwkit.predict takes them)")
    p.add_argument("--channels", default=None,
                   help="detector per model channel, e.g. L1,H1 (default: L1,H1 for "
                        "competition-mode models, trained on the L1 projection in channel 0; "
                        "H1,L1 for physical-mode ones)")
    p.add_argument("--out", default=None, help="output folder (default: scans/<GPS start>)")
    p.add_argument("--format", choices=("csv", "hdf5"), default="csv", help="tables' format")
    p.add_argument("--stride", type=float, default=0.1, help="s between windows")
    p.add_argument("--fftlength", type=float, default=4.0, help="Welch segment length, s")
    p.add_argument("--overlap", type=float, default=3.0, help="Welch segment overlap, s")
    p.add_argument("--fduration", type=float, default=4.0, help="whitening filter length, s")
    p.add_argument("--highpass", type=float, default=15.0, help="whitening high-pass, Hz")
    p.add_argument("--threshold", type=float, default=0.0, help="trigger threshold (logit)")
    p.add_argument("--cluster-window", type=float, default=1.0,
                   help="s: windows above threshold closer than this form one trigger")
    p.add_argument("--background", choices=("auto", "slides", "offsource"), default="auto",
                   help="auto: slides for physical-mode models, offsource for competition-mode")
    p.add_argument("--slides", type=int, default=None,
                   help="number of time slides (default: as many as fit)")
    p.add_argument("--slide-step", type=float, default=1.0, help="s between time slides")
    p.add_argument("--exclude", type=float, default=1.0,
                   help="s around the loudest trigger kept out of the background")
    p.add_argument("--reference-gps", type=float, default=None,
                   help="GPS time to compare the loudest trigger with (e.g. a catalogue time)")
    p.add_argument("--dq-flags", default=",".join(DEFAULT_DQ_FLAGS),
                   help="data-quality flags that must be on throughout ('' for none)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda:0, ...")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise filling the empty band")
    p.add_argument("--no-plot", action="store_true")
    return p


def _fail(message: str) -> SystemExit:
    return SystemExit(f"gwkit.scan: {message}")


def _order(series: list[StrainSeries], channels: str | None, mode: str) -> list[StrainSeries]:
    wanted = DEFAULT_CHANNELS[mode] if channels is None else tuple(channels.split(","))
    by_ifo = {s.ifo: s for s in series}
    if sorted(wanted) != sorted(by_ifo):
        raise _fail(f"--channels {','.join(wanted)} does not match the files' detectors "
                    f"{','.join(by_ifo)}")
    return [by_ifo[ifo] for ifo in wanted]


def _far_text(rate: float, bound: bool, duration: float) -> str:
    if bound:
        return f"< {rate:.3g} Hz (louder than all background: 1 per {duration:.1f} s at most)"
    return f"{rate:.3g} Hz (1 per {1 / rate:.1f} s)"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from gwkit.devices import DeviceError, pick_device, set_cpu_threads

    tic = time.perf_counter()
    flags = tuple(f for f in args.dq_flags.split(",") if f)
    try:
        series = [read_gwosc(path, dq_flags=flags) for path in args.files]
        check_coincident(series)
    except ValueError as err:
        raise _fail(str(err)) from None
    try:
        device = pick_device(args.device)
        print(f"device {device}; {set_cpu_threads()}", flush=True)
        ensemble = load_ensemble(args.runs, device, args.batch_size)
    except (DeviceError, ValueError, FileNotFoundError) as err:
        raise _fail(str(err)) from None
    series = _order(series, args.channels, ensemble.mode)
    first = series[0]
    print(f"data: {', '.join(f'{s.ifo} {s.source}' for s in series)}: GPS {first.t0:.0f}-"
          f"{first.t0 + first.duration:.0f} ({first.duration:g} s, {first.sample_rate:g} Hz -> "
          f"{SAMPLE_RATE:g} Hz)")
    for s in series:
        transient = [name for name in s.hardware_injections if name in ("CBC", "BURST")]
        if transient:
            print(f"warning: {s.source}: {' and '.join(transient)} hardware injection in this "
                  "stretch", file=sys.stderr)
    generator = torch.Generator().manual_seed(args.seed)
    try:
        white = whiten_strain(series, fftlength=args.fftlength, overlap=args.overlap,
                              fduration=args.fduration, highpass=args.highpass,
                              generator=generator)
    except ValueError as err:
        raise _fail(str(err)) from None
    nsec = white.data.shape[-1] / white.sample_rate
    print(f"whitened: Welch median PSD ({args.fftlength:g} s segments, "
          f"{args.overlap:g} s overlap), "
          f"{args.fduration:g} s filter, {white.band[0]:g}-{white.band[1]:g} Hz"
          + (" (above: seeded white noise)" if white.band[1] < white.sample_rate / 2 else "")
          + "; noise level "
          + ", ".join(f"{ifo} {lv:.3f}" for ifo, lv in zip(white.ifos, white.level))
          + f" (1 = white); {nsec:g} s after cropping")
    print(f"models: {ensemble.describe()}, {ensemble.mode} mode; channels: "
          + ", ".join(f"{c} = {ifo}" for c, ifo in enumerate(white.ifos)) + f"; device {device}")
    try:
        result = scan(ensemble, white, stride=args.stride, threshold=args.threshold,
                      cluster_window=args.cluster_window, background=args.background,
                      slides=args.slides, slide_step=args.slide_step, exclude=args.exclude)
    except ValueError as err:
        raise _fail(str(err)) from None
    elapsed = time.perf_counter() - tic

    loud = result.loudest
    print(f"scan: {result.times.size} windows of {WINDOW / SAMPLE_RATE:g} s every "
          f"{args.stride:g} s; "
          f"{len(result.triggers)} trigger(s) at score >= {args.threshold:g}")
    line = (f"loudest trigger: GPS {loud.time:.3f} (middle of its plateau; peak window "
            f"{loud.peak_time:.3f}), score {loud.score:.2f} (logit)")
    if args.reference_gps is not None:
        line += f", {loud.time - args.reference_gps:+.3f} s from GPS {args.reference_gps}"
    print(line)
    nbg = result.background["score"].size
    what = (f"{int(result.background['slide'].max())} time slides of {args.slide_step:g} s"
            if result.background_kind == "slides" else "off-source zero-lag windows")
    print(f"background: {what}, {nbg} windows = {result.background_duration:.1f} s; loudest "
          f"background window {result.background_max:.2f}; FAR of the loudest "
          f"{_far_text(result.far, result.far_is_bound, result.background_duration)}")

    out = Path(args.out) if args.out else _default_out(first)
    summary = {
        "files": [str(p) for p in args.files],
        "channels": list(white.ifos),
        "gps_start": first.t0, "duration_s": first.duration,
        "whitening": {"fftlength_s": args.fftlength, "overlap_s": args.overlap,
                      "fduration_s": args.fduration, "band_hz": list(white.band),
                      "noise_level": dict(zip(white.ifos, white.level))},
        "models": ensemble.describe(), "mode": ensemble.mode,
        "stride_s": args.stride, "threshold": args.threshold,
        "loudest": asdict(loud),
        "reference_gps": args.reference_gps,
        "offset_s": None if args.reference_gps is None else loud.time - args.reference_gps,
        "background": {"kind": result.background_kind, "windows": nbg,
                       "duration_s": result.background_duration,
                       "loudest_score": result.background_max,
                       "exclude_s": args.exclude, "slide_step_s": args.slide_step},
        "far_hz": result.far, "far_is_upper_bound": result.far_is_bound,
        "seconds": round(elapsed, 2),
    }
    written = write_outputs(out, result, summary, args.format)
    if not args.no_plot:
        plot_scan(out / "scan.png", white, result, reference=args.reference_gps,
                  threshold=args.threshold)
        written.append(out / "scan.png")
    print(f"wrote {', '.join(p.name for p in written)} in {out} ({elapsed:.1f} s)")
    return 0


def _default_out(first: StrainSeries) -> Path:
    from gwkit.paths import output_dir

    return output_dir("scans") / f"{first.t0:.0f}-{first.duration:g}"


if __name__ == "__main__":
    sys.exit(main())
