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
   far more than the 10 ms light travel time; the last slide stays a step from a
   whole turn) and rescanned. A step up to 10 ms is refused; one shorter than
   ``MIN_HONEST_SLIDE_S`` (0.21 s: light travel time + the model's 0.2 s plateau)
   is warned about, since neighbouring slides then show the model nearly the
   same data. ``offsource``
   (competition-mode models, which look at channel 0 only, so a time slide would
   rescan the same channel-0 data): the zero-lag windows themselves. Either way,
   windows whose data (in either channel) come within ``--exclude`` seconds of
   the loudest on-source trigger are dropped. The loudest trigger's
   false-alarm rate is the number of background clusters at least as loud per
   second of background (``windows * stride``), or the bound 1 / duration.

Outputs in ``--out``, checked writable before any work and replaced together
after the scan succeeded (``summary.json`` last), or not at all: ``scores.csv`` (time, window start,
score), ``triggers.csv``, ``background.csv`` (slide, shift, time, score) and
``summary.json``, or all tables in one ``scan.h5`` with ``--format hdf5``; the
plot ``scan.png`` (whitened strain, spectrogram and score series around the
loudest trigger).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from functools import partial
from pathlib import Path

import torch

from gwkit.core.cli import DEVICE_HELP, CommandParser, nonfinite_option, run_main
from gwkit.core.outputs import check_outputs
from gwkit.strain.gwosc import (
    DEFAULT_DQ_FLAGS,
    StrainSeries,
    check_coincident,
    read_gwosc,
)
from gwkit.strain.search import (
    DEFAULT_CHANNELS,
    MIN_HONEST_SLIDE_S,
    SAMPLE_RATE,
    WINDOW,
    background_kind,
    load_ensemble,
    plot_scan,
    scan,
    scan_outputs,
    whiten_strain,
    write_outputs,
)

# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    p = CommandParser(
        prog="python -m gwkit.scan",
        description="Whiten GWOSC strain files and scan them with trained models in 2 s windows.",
    )
    p.add_argument("files", nargs=2, metavar="HDF5", help="two GWOSC strain files (H1, L1)")
    p.add_argument("--runs", nargs="+", required=True, metavar="RUN",
                   help="run folders, .pt files or files written by gwkit.export (as "
                        "gwkit.predict takes them)")
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
    p.add_argument("--slide-step", type=float, default=1.0,
                   help=f"s between time slides (more than the 10 ms light travel time; below "
                        f"{MIN_HONEST_SLIDE_S:.2f} s, the light travel time plus a model's "
                        "0.2 s plateau, neighbouring slides repeat each other: warned)")
    p.add_argument("--exclude", type=float, default=1.0,
                   help="s around the loudest trigger kept out of the background")
    p.add_argument("--reference-gps", type=float, default=None,
                   help="GPS time to compare the loudest trigger with (e.g. a catalogue time)")
    p.add_argument("--dq-flags", default=",".join(DEFAULT_DQ_FLAGS),
                   help="data-quality flags that must be on throughout ('' for none)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
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


def _channels_from(args: argparse.Namespace, mode: str) -> str:
    """Why the channels are in this order: the option, or the models' mode."""
    if args.channels is not None:
        return "--channels"
    why = {"competition": "trained on the L1 projection in channel 0",
           "physical": "both detectors, H1 first"}.get(mode, "")
    return f"{mode}-mode order" + (f": {why}" if why else "")


def _background_from(args: argparse.Namespace, mode: str) -> str:
    return f"--background {args.background}" if args.background != "auto" else f"{mode} mode"


def _far_text(rate: float, bound: bool, duration: float) -> str:
    if bound:
        return f"< {rate:.3g} Hz (louder than all background: 1 per {duration:.1f} s at most)"
    return f"{rate:.3g} Hz (1 per {1 / rate:.1f} s)"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if (bad := nonfinite_option(args)) is not None:  # a NaN GPS time, an infinite stride
        raise _fail(f"{bad}: expected a finite number")
    from gwkit.core.devices import DeviceError, pick_device, set_cpu_threads

    tic = time.perf_counter()
    flags = tuple(f for f in args.dq_flags.split(",") if f)
    try:
        series = [read_gwosc(path, dq_flags=flags) for path in args.files]
        check_coincident(series)
    except ValueError as err:
        raise _fail(str(err)) from None
    out = Path(args.out) if args.out else _default_out(series[0])
    try:  # every output before any work
        check_outputs(scan_outputs(out, args.format, plot=not args.no_plot))
    except OSError as err:
        raise _fail(f"--out {err}") from None
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
          + ", ".join(f"{c} = {ifo}" for c, ifo in enumerate(white.ifos))
          + f" ({_channels_from(args, ensemble.mode)}); device {device}")
    if background_kind(args.background, ensemble.mode) == "slides" and args.slide_step < MIN_HONEST_SLIDE_S:
        print(f"warning: --slide-step {args.slide_step:g} s is shorter than "
              f"{MIN_HONEST_SLIDE_S:.2f} s (light travel time + the model's plateau): "
              "neighbouring slides show the model nearly the same data, so the background "
              "counts more seconds than it holds independent ones", file=sys.stderr)
    try:
        result = scan(ensemble, white, stride=args.stride, threshold=args.threshold,
                      cluster_window=args.cluster_window, background=args.background,
                      slides=args.slides, slide_step=args.slide_step, exclude=args.exclude)
    except ValueError as err:
        raise _fail(str(err)) from None
    elapsed = time.perf_counter() - tic

    _print_result(args, result, white, ensemble.mode)
    summary = _summary(args, white, first, ensemble, result, elapsed)
    plot = None if args.no_plot else partial(plot_scan, white=white, result=result,
                                             reference=args.reference_gps,
                                             threshold=args.threshold)
    written = write_outputs(out, result, summary, args.format, plot=plot)
    print(f"wrote {', '.join(p.name for p in written)} in {out} ({elapsed:.1f} s)")
    return 0


def _print_result(args: argparse.Namespace, result, white, mode: str) -> None:
    """The scan's lines: windows and triggers, the loudest trigger, its background and FAR."""
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
    if result.background_kind == "slides":
        what = (f"{result.nslides} time slides ({_background_from(args, mode)}): channel 1 "
                f"({white.ifos[1]}) shifted circularly by k x {result.slide_step:.4g} s, "
                f"k = 1..{result.nslides}")
    else:
        why = ("" if args.background != "auto" else
               ": its models look at channel 0 only, so a time slide would rescan the same data")
        what = f"off-source zero-lag windows ({_background_from(args, mode)}{why})"
    print(f"background: {what}; {nbg} windows = {result.background_duration:.1f} s; loudest "
          f"background window {result.background_max:.2f}; FAR of the loudest "
          f"{_far_text(result.far, result.far_is_bound, result.background_duration)}")


def _summary(args: argparse.Namespace, white, first: StrainSeries, ensemble, result,
             elapsed: float) -> dict:
    """What ``summary.json`` records: inputs, whitening, models, the loudest trigger, its FAR."""
    loud = result.loudest
    nbg = result.background["score"].size
    summary = {
        "files": [str(p) for p in args.files],
        "channels": list(white.ifos), "channels_from": _channels_from(args, ensemble.mode),
        "gps_start": first.t0, "duration_s": first.duration,
        "whitening": {"fftlength_s": args.fftlength, "overlap_s": args.overlap,
                      "fduration_s": args.fduration, "band_hz": list(white.band),
                      "noise_level": dict(zip(white.ifos, white.level))},
        "models": ensemble.describe(), "mode": ensemble.mode,
        "stride_s": args.stride, "threshold": args.threshold,
        "loudest": asdict(loud),
        "reference_gps": args.reference_gps,
        "offset_s": None if args.reference_gps is None else loud.time - args.reference_gps,
        "background": {"kind": result.background_kind,
                       "kind_from": _background_from(args, ensemble.mode),
                       "windows": nbg, "duration_s": result.background_duration,
                       "loudest_score": result.background_max, "exclude_s": args.exclude,
                       "slides": result.nslides, "slide_step_s": result.slide_step,
                       "shifted_channel": (white.ifos[1] if result.background_kind == "slides"
                                           else None)},
        "far_hz": result.far, "far_is_upper_bound": result.far_is_bound,
        "seconds": round(elapsed, 2),
    }
    return summary


def _default_out(first: StrainSeries) -> Path:
    from gwkit.core.paths import output_dir

    return output_dir("scans") / f"{first.t0:.0f}-{first.duration:g}"


if __name__ == "__main__":
    sys.exit(run_main(main, "gwkit.scan"))
