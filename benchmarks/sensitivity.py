"""Sensitivity benchmark: pooled and per-SNR AUC of trained runs and of the matched filter.

One command simulates (seeded, cached) a competition-like labelled set, the
12 competition SNRs with ``--per-snr`` rows each in the *independent* layout
(``simulate_competition(shared_seed=False, replace=False, per_snr=block_rows)``:
one fresh block per SNR, half noise), scores it with the given runs' fold
checkpoints (``--runs``) and with the template-bank matched filter, and prints
the pooled AUC (bootstrap 95% CI), the partial AUC up to FPR 0.001
(McClish-standardised; marked * below 10,000 noise rows, too few to resolve it)
and per-SNR AUC (each SNR's signals against all noise rows) as a table, one column per detector (``--json`` for JSON),
then every column's AUC minus ``--pair-with``'s (default ``mf_bayes``) on the
same rows with the 95% CI of that difference (a grouped paired bootstrap:
:func:`gwkit.scoring.report.bootstrap_auc_difference`), and each scorer's
inference seconds per 1,200 rows, all measured in the same run. In physical
mode the matched filter adds ``mf_bayes_delay`` (the L1 - H1 delay
marginalised too: pair with it), ``mf_bayes_h1`` and ``mf_bayes_l1`` (one
detector each) and, with ``--coherent``, ``mf_bayes_coherent``
(:mod:`gwkit.sim.mf_features`). In competition mode ``--amplitude`` adds
``mf_bayes_amplitude``: ``mf_bayes`` with the amplitude and phase marginalised
over the recipe's own prior instead of maximised (the exact Bayes factor up to
the bank's templates: how far ``mf_bayes`` is from the bound). A full report
(plots, ``summary.md``) lands in ``--out``. Without ``--filter-bank`` or a run
holding a stacker, the matched filter's bank is built with LALSuite first
(about 9 minutes, once).

Defaults: 4800 rows; on 2 idle CPU cores about 1 minute to simulate, 2 to
run the matched filter (390 templates, ~40 rows/s) and, the first time only,
2 to build the template bank (min match 0.95; slower when the cores are
shared)::

    python benchmarks/sensitivity.py                           # matched filter only
    python benchmarks/sensitivity.py --runs runs/resnet_a      # a run against the matched filter
    python benchmarks/sensitivity.py --per-snr 2000 --nnoise 25 --min-match 0.97   # bigger
    # the README's table: labelled columns, single folds, a fold ensemble, runs combined
    python benchmarks/sensitivity.py --runs course_cnn=weights/course_cnn gwkit_cnn=weights/gwkit_cnn \
        resnet_f0=weights/gwkit_resnet/fold0.pt resnet_f1=weights/gwkit_resnet/fold1.pt \
        resnet_2f=weights/gwkit_resnet cnn+resnet=weights/gwkit_cnn+weights/gwkit_resnet

``--nnoise`` is how many noise realisations share one waveform (the course
used 25; the default 1 gives the most independent waveforms per SNR).
Waveform ids in the cached set are unique across SNR blocks (``block * 10^6 +
id``), so the bootstrap resamples a waveform's copies together. Cached under
``--cache`` (default ``cache/``): the set
(``sensitivity_<mode>_seed<S>_n<per-snr>_nn<nnoise>.h5``) and the bank.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

try:
    import gwkit  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402  (after gwkit: it sets OMP_WAIT_POLICY first)

from gwkit.core.devices import pick_device
from gwkit.data import write_hdf5
from gwkit.data.labelled import ScoreSet, open_data
from gwkit.scoring.inference import TTA_CHOICES, ensemble, run_logit, score_runs
from gwkit.scoring.report import bootstrap_auc_difference, write_report
from gwkit.scoring.stack import (
    Stacker,
    feature_table,
    find_stacker,
    matched_filter_features,
    needs_coherent,
    stacker_bank,
)
from gwkit.sim.generator import simulate_competition
from gwkit.sim.matched_filter import cached_filter_bank
from gwkit.sim.mf_features import FilterBank
from gwkit.sim.recipe import COMPETITION_SNRS, Recipe
from gwkit.sim.signal_prior import competition_amplitudes

#: physical mode's extra matched-filter columns: (column, feature, description)
PHYSICAL_COLUMNS = (
    ("mf_bayes_delay", "mf_lse_delay", "matched filter, log Bayes factor over templates, time "
     "and the L1 - H1 delay (isotropic sky), phase and amplitude per detector"),
    ("mf_bayes_coherent", "mf_lse_coherent", "matched filter, coherent two-detector log Bayes "
     "factor (Gaussian sky/polarisation/inclination response prior per delay)"),
    ("mf_bayes_h1", "mf_lse_h1", "matched filter, H1 alone, log Bayes factor over templates and "
     "time"),
    ("mf_bayes_l1", "mf_lse_l1", "matched filter, L1 alone, log Bayes factor over templates and "
     "time"),
)


def dataset(cache: Path, *, mode: str, seed: int, per_snr: int, nnoise: int, workers: int) -> tuple[Path, float]:
    """The cached labelled set (HDF5), simulated first if missing; (path, seconds spent)."""
    path = cache / f"sensitivity_{mode}_seed{seed}_n{per_snr}_nn{nnoise}.h5"
    if path.is_file():
        return path, 0.0
    t0 = time.perf_counter()
    x, params = simulate_competition(
        COMPETITION_SNRS, per_snr, block_rows=per_snr, nnoise=nnoise, seed=seed,
        shared_seed=False, replace=False, shuffle=True, recipe=Recipe(mode=mode),
        workers=workers, progress=True, dtype=np.float32,
    )
    block = pd.Series(params["snr_group"]).map({s: k for k, s in enumerate(COMPETITION_SNRS)})
    wid = params["waveform_id"].to_numpy()
    params["waveform_id"] = np.where(wid >= 0, block.to_numpy() * 1_000_000 + wid, -1)
    write_hdf5(path, x, y=params["label"].to_numpy(), snr_group=params["snr_group"].to_numpy(float),
               params=params, attrs={"mode": mode, "seed": seed, "per_snr": per_snr,
                                     "nnoise": nnoise, "layout": "independent"})
    return path, time.perf_counter() - t0


def parse_run_spec(spec: str) -> tuple[str, list[str]]:
    """``[LABEL=]RUN[+RUN...]`` -> (label, run paths); the label defaults to the spec."""
    label, sep, runs = spec.partition("=")
    if not sep:
        label, runs = "", spec
    paths = [r for r in runs.split("+") if r]
    if not paths:
        raise SystemExit(f"sensitivity: --runs {spec!r} names no run")
    return label or runs.rstrip("/"), paths


def table(reports: dict[str, dict]) -> str:
    names = list(reports)
    width = max(14, *(len(n) + 2 for n in names))
    lines = ["AUC".ljust(12) + "".join(n.rjust(width) for n in names)]
    lines.append("pooled".ljust(12) + "".join(f"{r['auc']:.4f}".rjust(width) for r in reports.values()))
    lines.append("  95% CI".ljust(12) + "".join(
        f"{r['auc_ci95'][0]:.3f}-{r['auc_ci95'][1]:.3f}".rjust(width) for r in reports.values()))
    lines.append("pAUC<=1e-3".ljust(12) + "".join(  # * : too few noise rows to resolve it
        (f"{r['pauc']:.4f}" + ("" if r["pauc_resolved"] else "*")).rjust(width)
        for r in reports.values()))
    for snr in COMPETITION_SNRS:
        key = f"{snr:g}"
        cells = [r["per_snr_auc"].get(key) for r in reports.values()]
        lines.append(f"SNR {key}".ljust(12) + "".join(
            ("n/a" if c is None else f"{c:.4f}").rjust(width) for c in cells))
    for fpr in ("0.01", "0.001"):
        cells = [r.get("tpr_at_fpr", {}).get(fpr, {}).get("tpr") for r in reports.values()]
        lines.append(f"TPR@FPR{fpr}".ljust(12) + "".join(
            ("n/a" if c is None else f"{c:.4f}").rjust(width) for c in cells))
    return "\n".join(lines)


def paired_table(sets: list[ScoreSet], reference: str, n_boot: int) -> tuple[str, dict]:
    """Every set's AUC minus ``reference``'s on the same rows, grouped paired bootstrap CI."""
    ref = next((s for s in sets if s.name == reference), None)
    if ref is None:
        return f"(no set named {reference} to pair with)", {}
    lines = [f"paired with {reference} (same rows; 95% CI of the difference, waveforms resampled "
             "together)"]
    out = {}
    for s in sets:
        if s is ref:
            continue
        diff, lo, hi = bootstrap_auc_difference(s.y, s.score, ref.score, n_boot=n_boot,
                                                groups=s.groups)
        out[s.name] = {"auc_difference": diff, "ci95": [lo, hi]}
        lines.append(f"  {s.name:<24}{diff:+.4f}  [{lo:+.4f}, {hi:+.4f}]")
    return "\n".join(lines), out


def filter_bank(args: argparse.Namespace, stackers: dict[str, Path]) -> Path:
    """The filter bank the matched-filter columns use: ``--filter-bank``, a stacker's, or built."""
    if args.filter_bank:
        return Path(args.filter_bank)
    if (path := stacker_bank(stackers)) is not None:
        return path
    return cached_filter_bank(args.cache, min_match=args.min_match, seed=args.bank_seed,
                              workers=args.workers, progress=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", nargs="*", default=[], metavar="[LABEL=]RUN[+RUN...]",
                   help="runs to score: a run folder (fold*/best.pt or *.pt) or one .pt file, "
                        "optionally labelled; RUN+RUN scores the mean logit of several runs "
                        "as one column (e.g. ens=weights/a+weights/b). A single run with a "
                        "stacker.json also gets its hybrid column LABEL+mf")
    p.add_argument("--tta", choices=TTA_CHOICES, default="none",
                   help="test-time augmentation of the runs (as in gwkit.predict)")
    p.add_argument("--per-snr", type=int, default=400, help="rows per SNR (default 400: 4800 rows)")
    p.add_argument("--nnoise", type=int, default=1, help="noise realisations per waveform (default 1)")
    p.add_argument("--seed", type=int, default=0, help="simulation seed")
    p.add_argument("--mode", choices=("competition", "physical"), default="competition")
    p.add_argument("--no-mf", action="store_true", help="skip the matched-filter columns")
    p.add_argument("--filter-bank", default=None,
                   help="filter bank .h5 of the matched-filter columns (default: the first "
                        "stacker's, else built from a cached template bank)")
    p.add_argument("--min-match", type=float, default=0.97, help="template bank minimal match (build)")
    p.add_argument("--bank-seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="torch device for runs and the filter")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--cache", type=Path, default=Path("cache"))
    p.add_argument("--out", type=Path, default=Path("reports") / "sensitivity")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("--pair-with", default="mf_bayes",
                   help="the set every other one is paired with (AUC difference, paired CI); "
                        "physical mode: mf_bayes_delay is the marginalised two-detector one")
    p.add_argument("--coherent", action="store_true",
                   help="physical mode: also the coherent two-detector column mf_bayes_coherent "
                        "(1.8-3x the filter's CPU time)")
    p.add_argument("--amplitude", action="store_true",
                   help="competition mode: also mf_bayes_amplitude, the amplitude- and "
                        "phase-marginalised Bayes factor of the recipe's SNR prior")
    args = p.parse_args(argv)
    if args.no_mf and not args.runs:
        raise SystemExit("sensitivity: nothing to score (give --runs or drop --no-mf)")
    if args.amplitude and args.mode != "competition":
        raise SystemExit("sensitivity: --amplitude is a competition-mode column (physical mode: "
                         "--coherent)")
    device = pick_device(args.device)

    seconds: dict[str, float] = {}
    path, seconds["simulate"] = dataset(args.cache, mode=args.mode, seed=args.seed,
                                        per_snr=args.per_snr, nnoise=args.nnoise,
                                        workers=args.workers)
    x, labels, _ = open_data(path)
    x = np.asarray(x)  # 0.6 GB at the defaults; faster than reading HDF5 rows per batch
    sets: list[ScoreSet] = []

    def add(name: str, score: np.ndarray, source: str) -> None:
        sets.append(ScoreSet(name, labels["label"], score, labels["snr_group"], labels["waveform_id"],
                             source=source))

    specs = [parse_run_spec(spec) for spec in args.runs]
    network: dict[str, np.ndarray] = {}  # each run scored once even if named in several columns
    per_1200: dict[str, float] = {}  # inference seconds per 1,200 rows, measured in this run
    t0 = time.perf_counter()
    for _, runs in specs:
        for run in runs:
            if run not in network:
                t_run = time.perf_counter()
                (folds,) = score_runs([run], x, tta=args.tta, batch_size=args.batch_size,
                                      device=device, data_mode=args.mode).values()
                network[run] = run_logit(folds)
                per_1200[run] = (time.perf_counter() - t_run) * 1200 / len(labels)
    seconds["runs"] = time.perf_counter() - t0
    stackers = {run: s for run in network if (s := find_stacker(Path(run)))}
    bank_info, mf = None, None
    if not args.no_mf:
        t0 = time.perf_counter()
        bank_path = filter_bank(args, stackers)
        seconds["bank"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        coherent = args.coherent or any(
            needs_coherent(Stacker.load(s).features) for s in stackers.values())
        amplitudes = competition_amplitudes() if args.amplitude else None
        mf = matched_filter_features(bank_path, x, mode=args.mode, device=device, progress=True,
                                     coherent=coherent, amplitudes=amplitudes)
        seconds["matched_filter"] = time.perf_counter() - t0
        per_1200["matched_filter"] = seconds["matched_filter"] * 1200 / len(labels)
        bank = FilterBank.load(bank_path)
        bank_info = {"path": str(bank_path), "templates": len(bank), "rank": bank.rank,
                     **{k: v for k, v in bank.info.items() if k.startswith("fitting_factor")}}
    for label, runs in specs:
        add(label, ensemble([[network[r]] for r in runs], "logit"),
            f"{' + '.join(runs)}: mean of fold logits" + (" and of the runs" if len(runs) > 1 else "")
            + f", TTA {args.tta}")
        if mf is not None and len(runs) == 1 and runs[0] in stackers:
            stacker = Stacker.load(stackers[runs[0]])
            add(f"{label}+mf", stacker.decision(feature_table(network[runs[0]], mf)),
                f"hybrid: {stackers[runs[0]]} on {' + '.join(stacker.features)}")
    if mf is not None:
        add("matched_filter", mf["mf_snr"], f"matched filter, peak SNR, {bank_info['templates']} "
            f"templates ({bank_info['path']})")
        add("mf_bayes", mf["mf_lse_time"], "matched filter, log Bayes factor over templates "
            "(prior weights) and time" + ("; L1 shift maximised" if args.mode == "physical" else ""))
        for name, feature, what in PHYSICAL_COLUMNS:
            if feature in mf:
                add(name, mf[feature], what)
        if "mf_lse_amplitude" in mf:
            add("mf_bayes_amplitude", mf["mf_lse_amplitude"], "matched filter, log Bayes factor "
                "over templates, time, phase and the recipe's amplitude prior (12 SNRs x the "
                "channel-0 share of an isotropic sky)")

    t0 = time.perf_counter()
    report = write_report(sets, args.out, n_boot=args.bootstrap,
                          title=f"Sensitivity: {path.name}", extra={"data": str(path)})
    seconds["report"] = time.perf_counter() - t0
    reports = report["sets"]
    paired_text, paired = paired_table(sets, args.pair_with, args.bootstrap)
    result = {
        "data": str(path), "rows": int(len(labels)), "mode": args.mode, "per_snr": args.per_snr,
        "nnoise": args.nnoise, "seed": args.seed, "bank": bank_info,
        "sets": {n: {"auc": r["auc"], "auc_ci95": r["auc_ci95"], "pauc": r["pauc"],
                     "pauc_resolved": r["pauc_resolved"], "per_snr_auc": r["per_snr_auc"],
                     "tpr_at_fpr": {f: t["tpr"] for f, t in r.get("tpr_at_fpr", {}).items()}}
                 for n, r in reports.items()},
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "paired": {"reference": args.pair_with, "sets": paired},
        "inference_s_per_1200_rows": {k: round(v, 2) for k, v in per_1200.items()},
        "device": str(device), "torch_threads": torch.get_num_threads(),
        "report": str(args.out),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{path} ({len(labels)} rows, {args.mode} mode, nnoise {args.nnoise})")
    if bank_info:
        print(f"filter bank {bank_info['path']}: {bank_info['templates']} templates (rank "
              f"{bank_info['rank']}), mean fitting factor {bank_info.get('fitting_factor_mean')}")
    print(table(reports))
    print(paired_text)
    print(f"inference cost per 1,200 rows on {device} ({torch.get_num_threads()} threads; the "
          "hybrid costs its run plus the matched filter): " + ", ".join(
              f"{k} {v:.2f} s" for k, v in per_1200.items()))
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
    print(f"report: {args.out}/summary.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
