"""Predict the competition's test.npy with trained runs (hybrid by default), write a submission.

Usage::

    python -m gwkit.predict --runs weights/gwkit_resnet          # hybrid: network + matched filter
    python -m gwkit.predict --runs runs/a runs/b --tta flip --no-stack
    python -m gwkit.predict --runs weights                       # every run folder below weights/

A run is a folder holding ``fold*/best.pt`` (what ``gwkit.train`` writes) or
``*.pt`` files directly (e.g. ``weights/<preset>/fold0.pt``); a folder holding
neither is searched for runs below it. Each checkpoint is rebuilt from its
saved model name and arguments (:mod:`gwkit.scoring.inference`). A file
written by ``python -m gwkit.export`` (``.onnx``, ``.pt2``, TorchScript ``.pt``
with its ``<file>.json`` contract) is a run too: its fold ensemble, the network alone.

Scores are logits end to end. Per run, the folds' logits are averaged; a run
with a ``stacker.json`` (fitted by ``python -m gwkit.hybrid``) then becomes
the hybrid detector: its stacker combines that logit with matched-filter
features of the rows (``--no-stack`` turns this off). Runs are combined by
``--ensemble``: ``logit`` (mean logit, default), ``mean`` (logit of the mean
probability) or ``rank`` (mean of [0, 1]-scaled ranks). The submission's
``target`` is a monotone map of the final score into [0, 1] that ties no two
rows (:func:`gwkit.scoring.inference.submission_target`): the sigmoid of the logit up
to |logit| 20, so the ranking and AUC are the score's.

Test-time augmentation (``--tta``): ``none``; ``flip`` averages the logits of
``x`` and ``-x``; ``all`` adds the detector swap for physical-mode checkpoints.

Outputs, all three checked writable before any work and replaced together
once the submission validates, or none of them (a failed or interrupted
predict leaves the previous files as they were): ``--out`` (default:
``<output dir>/submission.csv``), its provenance sidecar
``<stem>.provenance.json`` (input file and hash, runs, folds, TTA, ensemble,
stackers; the CSV's and the logits' sha256) and ``<stem>.logits.npz`` (every
fold's logits and each run's network and hybrid logits, named by the CSV so
runs of other submissions never mix with it). The CV AUC of each run (network, from its ``oof.csv``;
hybrid, from its ``stacker.json``) is printed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gwkit.core.cli import DEVICE_HELP, CommandParser, run_main
from gwkit.core.devices import DeviceError, pick_device, set_cpu_threads
from gwkit.core.outputs import check_outputs
from gwkit.data.duplicates import resolve_duplicates
from gwkit.scoring.inference import (
    ENSEMBLE_CHOICES,
    TTA_CHOICES,
    InferenceError,
    cv_auc,
    ensemble,
    find_checkpoints,
    one_line,
    run_logit,
    score_runs,
    submission_target,
)
from gwkit.scoring.stack import Stacker, StackError, find_stacker, stacked_logits
from gwkit.scoring.submission import (
    SubmissionError,
    input_record,
    logits_path,
    submission_outputs,
    write_submission,
)

__all__ = ["main"]


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    p = CommandParser(
        prog="python -m gwkit.predict",
        description="Predict test.npy with fold checkpoints (and their stackers), ensemble, "
                    "write an id,target CSV.",
    )
    p.add_argument("--runs", nargs="+", default=None, metavar="RUN",
                   help="run folders (fold*/best.pt or *.pt inside), .pt files, folders of "
                        "runs, or files written by gwkit.export (the network alone) "
                        "(default: ./runs)")
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
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
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

    from gwkit.core.paths import locate_data, output_dir
    from gwkit.data import load_test_npy

    try:
        out = Path(args.out) if args.out else output_dir() / "submission.csv"
        check_outputs(submission_outputs(out, logits=True))
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
        network = {run: run_logit(folds) for run, folds in fold_logits.items()}
        if stackers:
            print(f"hybrid {', '.join(stackers)}: matched filter of {n} rows (per 1,200 rows "
                  f"on 2 CPU cores: about 7 s in competition mode, 25 s in physical mode, "
                  f"60-80 s with the coherent statistic) ...", flush=True)
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
    }
    try:
        write_submission(out, target, n_expected=n, provenance=provenance, logits=arrays)
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
    sys.exit(run_main(main, "gwkit.predict"))
