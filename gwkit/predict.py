"""Predict the competition's test.npy with trained runs (hybrid by default), write a submission.

Usage::

    python -m gwkit.predict --runs weights/gwkit_resnet          # hybrid: network + matched filter
    python -m gwkit.predict --runs runs/a runs/b --tta flip --no-stack
    python -m gwkit.predict --runs weights                       # every run folder below weights/

A run is a folder holding ``fold*/best.pt`` (what ``gwkit.train`` writes) or
``*.pt`` files directly (e.g. ``weights/<preset>/fold0.pt``); a folder holding
neither is searched for runs below it. Each checkpoint is rebuilt from its
saved model name and arguments (:mod:`gwkit.inference`).

Scores are logits end to end. Per run, the folds' logits are averaged; a run
with a ``stacker.json`` (fitted by ``python -m gwkit.hybrid``) then becomes
the hybrid detector: its stacker combines that logit with matched-filter
features of the rows (``--no-stack`` turns this off). Runs are combined by
``--ensemble``: ``logit`` (mean logit, default), ``mean`` (logit of the mean
probability) or ``rank`` (mean of [0, 1]-scaled ranks). The submission's
``target`` is a monotone map of the final score into [0, 1] that ties no two
rows (:func:`gwkit.inference.submission_target`): the sigmoid of the logit up
to |logit| 20, so the ranking and AUC are the score's.

Test-time augmentation (``--tta``): ``none``; ``flip`` averages the logits of
``x`` and ``-x``; ``all`` adds the detector swap for physical-mode checkpoints.

Outputs, written only after the submission validates and only if ``--out``
is writable (checked before any work): ``--out`` (default:
``<output dir>/submission.csv``), its provenance sidecar
``<stem>.provenance.json`` (input file and hash, runs, folds, TTA, ensemble,
stackers) and ``<stem>.logits.npz`` (every fold's logits and each run's
network and hybrid logits, named by the CSV so runs of other submissions
never mix with it). The CV AUC of each run (network, from its ``oof.csv``;
hybrid, from its ``stacker.json``) is printed.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gwkit.data.columns import read_oof
from gwkit.devices import DeviceError, pick_device, set_cpu_threads
from gwkit.fileio import atomic_path, check_writable
from gwkit.inference import (
    ENSEMBLE_CHOICES,
    TTA_CHOICES,
    InferenceError,
    ensemble,
    find_checkpoints,
    one_line,
    score_runs,
    submission_target,
)
from gwkit.metrics import roc_auc
from gwkit.stack import Stacker, StackError, find_stacker, stacked_logits
from gwkit.submission import SubmissionError, input_record, write_submission

__all__ = ["cv_auc", "logits_path", "main", "resolve_duplicates"]


# --------------------------------------------------------------------------- CV from oof.csv


def _read_oof(run_dir: Path) -> pd.DataFrame | None:
    """The run's out-of-fold logits pooled over folds (one row per id), or None."""
    files = sorted(run_dir.glob("fold*/oof.csv")) or sorted(run_dir.glob("oof.csv"))
    frames = []
    for f in files:
        try:
            frames.append(read_oof(f)[["id", "label", "logit"]])  # legacy columns too
        except ValueError as exc:
            print(f"warning: {exc}; skipped", file=sys.stderr)
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True).groupby("id", sort=True).mean()


def _auc(y: np.ndarray, score: np.ndarray) -> float | None:
    auc = roc_auc(y, score)
    return None if math.isnan(auc) else auc


def cv_auc(run_dirs: dict[str, Path], method: str) -> tuple[dict[str, float | None], float | None]:
    """(network AUC per run, AUC of their ensemble or None) from the runs' ``oof.csv`` files."""
    oofs = {name: _read_oof(d) for name, d in run_dirs.items()}
    per_run = {name: None if oof is None else _auc(oof["label"].to_numpy(),
                                                   oof["logit"].to_numpy())
               for name, oof in oofs.items()}
    have = [o for o in oofs.values() if o is not None]
    if len(have) < 2 or len(have) != len(oofs):
        return per_run, (per_run[next(iter(per_run))] if len(oofs) == 1 else None)
    ids = have[0].index
    if any(not o.index.equals(ids) for o in have[1:]):
        return per_run, None
    score = ensemble([[o["logit"].to_numpy()] for o in have], method)
    return per_run, _auc(have[0]["label"].to_numpy(), score)


# --------------------------------------------------------------------------- dedupe


def resolve_duplicates(x: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Exploit the course generator's shared seed (competition-mode data only; opt-in).

    Every SNR block of the test set was made with one seed, so rows drawn from
    the same block row share channel 1 (pure noise in competition mode). In such
    a group, a channel 0 that differs means the same signal at different SNRs
    (score 1, certain); identical channel 0 everywhere means noise (score 0),
    unless one signal row was drawn twice within one SNR block (rare in the
    real test set: ~100 draws from 10,000 rows per block). Other rows keep
    their scores. Returns the new scores and the counts set to 0 and 1.
    """
    from gwkit.data.duplicates import duplicate_groups

    out = np.array(target, dtype=np.float64, copy=True)
    n0 = n1 = 0
    for group in duplicate_groups(x)[1]:
        first = np.asarray(x[group[0], 0])
        if all(np.array_equal(first, x[r, 0]) for r in group[1:]):
            out[group], n0 = 0.0, n0 + len(group)
        else:
            out[group], n1 = 1.0, n1 + len(group)
    return out, n0, n1


# --------------------------------------------------------------------------- CLI


def logits_path(csv_path: str | Path) -> Path:
    """The logits archive written beside a submission: ``<stem>.logits.npz``."""
    csv_path = Path(csv_path)
    return csv_path.with_name(f"{csv_path.stem}.logits.npz")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gwkit.predict",
        description="Predict test.npy with fold checkpoints (and their stackers), ensemble, "
                    "write an id,target CSV.",
    )
    p.add_argument("--runs", nargs="+", default=None, metavar="RUN",
                   help="run folders (fold*/best.pt or *.pt inside), .pt files, or folders of "
                        "runs (default: ./runs)")
    p.add_argument("--data", default=None, help="test.npy or its folder (default: located)")
    p.add_argument("--tta", choices=TTA_CHOICES, default="none",
                   help="test-time augmentation: none (default), flip (x and -x), all (also "
                        "the detector swap, physical-mode checkpoints only)")
    p.add_argument("--ensemble", choices=ENSEMBLE_CHOICES, default="logit",
                   help="how runs are combined: logit (mean logit, default), mean (of "
                        "probabilities) or rank (mean rank)")
    p.add_argument("--no-stack", dest="stack", action="store_false",
                   help="ignore the runs' stacker.json: network logits only")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda:0, ...")
    p.add_argument("--out", default=None,
                   help="submission CSV (default: submissions/submission.csv; on Kaggle "
                        "/kaggle/working/submission.csv)")
    p.add_argument("--dedupe", action="store_true",
                   help="resolve rows that share channel-1 noise (exploits the course generator's "
                        "shared seed; competition-mode data only; off by default)")
    return p


def _fail(message: str) -> SystemExit:
    return SystemExit(f"gwkit.predict: {message}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.batch_size < 1:
        raise _fail("--batch-size must be at least 1")

    from gwkit.data import load_test_npy
    from gwkit.paths import locate_data, output_dir

    try:
        out = Path(args.out) if args.out else output_dir() / "submission.csv"
        for path in (out, logits_path(out)):
            check_writable(path)
        checkpoints = find_checkpoints(args.runs or ["runs"])
        data_path = locate_data(args.data)
        x = load_test_npy(data_path, layout="flat")
        device = pick_device(args.device)
        threads = set_cpu_threads()
    except (OSError, ValueError, DeviceError) as exc:  # DataError, InferenceError: ValueErrors
        raise _fail(one_line(exc)) from None
    n = x.shape[0]
    run_dirs: dict[str, Path] = {}
    for ck in checkpoints:
        run_dirs.setdefault(ck.run, ck.run_dir)
    stackers = {run: p for run, d in run_dirs.items() if args.stack and (p := find_stacker(d))}
    print(f"test data: {data_path} ({n} samples); device: {device} ({threads}); {len(checkpoints)} "
          f"checkpoint(s) in {len(run_dirs)} run(s); tta={args.tta}; ensemble={args.ensemble}; "
          f"hybrid: {', '.join(stackers) or 'none'}")
    try:
        fold_logits = score_runs(args.runs or ["runs"], x, tta=args.tta, batch_size=args.batch_size,
                                 device=device, log=print)
        network = {run: ensemble([list(folds.values())], "logit")
                   for run, folds in fold_logits.items()}
        hybrid = stacked_logits(stackers, network, x, device=device) if stackers else {}
    except (InferenceError, StackError) as exc:
        raise _fail(one_line(exc)) from None
    groups = [[hybrid[run]] if run in hybrid else list(folds.values())
              for run, folds in fold_logits.items()]
    score = ensemble(groups, args.ensemble)
    target = submission_target(score) if args.ensemble != "rank" else score
    if args.dedupe:
        target, n0, n1 = resolve_duplicates(x, target)
        print(f"dedupe: {n0} row(s) sharing noise set to 0, {n1} sharing a signal set to 1")

    arrays = {f"fold/{run}/{fold}": z for run, folds in fold_logits.items()
              for fold, z in folds.items()}
    arrays.update({f"network/{run}": z for run, z in network.items()})
    arrays.update({f"hybrid/{run}": z for run, z in hybrid.items()})
    arrays["score"] = score
    provenance = {
        "input": input_record(data_path), "rows": n, "tta": args.tta, "ensemble": args.ensemble,
        "dedupe": bool(args.dedupe),
        "runs": {run: {"path": str(run_dirs[run].resolve()), "folds": sorted(folds),
                       "stacker": str(stackers[run].resolve()) if run in stackers else None}
                 for run, folds in fold_logits.items()},
        "logits": logits_path(out).name,
    }
    try:
        with atomic_path(logits_path(out), suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
        write_submission(out, target, n_expected=n, provenance=provenance)
    except (SubmissionError, OSError) as exc:
        raise _fail(f"refusing to write {out}: {one_line(exc)}") from None
    print(f"wrote {out} ({n} rows), {out.with_name(out.stem + '.provenance.json').name} and "
          f"{logits_path(out).name}")

    per_run, ens = cv_auc(run_dirs, args.ensemble)
    for name, auc in per_run.items():
        line = f"CV AUC {name}: network " + ("n/a (no oof.csv)" if auc is None else f"{auc:.5f}")
        if name in stackers:
            cv = Stacker.load(stackers[name]).cv.get("auc", {})
            line += f", hybrid {cv.get('stacked', float('nan')):.5f}"
        print(line)
    if len(per_run) > 1:
        print(f"CV AUC ensemble of networks ({args.ensemble}): "
              + ("n/a (runs lack oof.csv or do not share OOF ids)" if ens is None else f"{ens:.5f}"))
    return 0



if __name__ == "__main__":
    sys.exit(main())
