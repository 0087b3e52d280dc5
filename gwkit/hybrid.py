"""Fit the hybrid detector of a trained run: its network logits stacked with matched-filter features.

    python -m gwkit.hybrid --runs runs/gwkit_resnet                 # build a filter bank, fit
    python -m gwkit.hybrid --runs runs/a --filter-bank weights/gwkit_resnet/mf_bank.h5

The stacker (:mod:`gwkit.scoring.stack`) is fitted on the run's out-of-fold
validation rows: ``fold<k>/val.h5`` (the fixed validation set
``gwkit.train`` writes) with the fold model's logits from ``fold<k>/oof.csv``.
No row any fold model trained on enters the fit, and the stacker's own CV
keeps each waveform's rows in one fold. Outputs in the run folder:
``stacker.json`` (plain JSON) and ``mf_bank.h5`` (the filter bank, a few MB;
built once from an IMRPhenomD template bank with LALSuite unless
``--filter-bank`` names one), replaced together once the stacker is fitted, so
a bank that fails leaves the run's own as it was. The run is locked while the
hybrid works (:mod:`gwkit.core.runlock`: one writer per run, training included).
``python -m gwkit.predict`` then applies it to the run by default; neither needs
LALSuite.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from gwkit.core.cli import CommandParser, nonfinite_option, run_main
from gwkit.core.errors import GwkitError
from gwkit.core.fileio import file_sha256
from gwkit.core.outputs import check_outputs, replace_together
from gwkit.core.runlock import run_lock
from gwkit.core.text import plain_doc
from gwkit.data.folds import row_groups
from gwkit.scoring.held_out import held_out_folds, held_out_table, run_validation_mode
from gwkit.scoring.stack import (
    DEFAULT_FEATURES,
    FILTER_BANK_FILE,
    KNOWN_FEATURES,
    STACKER_FILE,
    fit_best_stacker,
    needs_coherent,
)

#: measured for the default bank (644 templates at min match 0.97), README "The hybrid detector"
BANK_BUILD_TIME = ("about 9 minutes on an idle 2-core CPU (LALSuite templates, then their prior "
                   "weights); later runs reuse it")


class HybridError(SystemExit):
    def __init__(self, message: str):
        super().__init__(f"gwkit.hybrid: {message}")


def _filter_bank(args: argparse.Namespace, run: Path) -> Path:
    """The filter bank to fit with: ``--filter-bank``, else the run's own, else one built with
    LALSuite (cached). It enters the run folder only with the stacker fitted on it."""
    from gwkit.sim.mf_features import FilterBank

    target = run / FILTER_BANK_FILE
    if args.filter_bank:
        source = Path(args.filter_bank)
        if not source.is_file():
            raise HybridError(f"--filter-bank {source}: no such file")
        FilterBank.load(source)  # a bad bank fails here, before any work (FilterBankError)
        return source
    if target.is_file():
        FilterBank.load(target)
        return target
    from gwkit.sim.matched_filter import cached_filter_bank

    print(f"building the filter bank (min match {args.min_match}; once, cached in "
          f"{args.cache}/): {BANK_BUILD_TIME} ...", file=sys.stderr, flush=True)
    return cached_filter_bank(args.cache, min_match=args.min_match, workers=args.workers,
                              progress=True)


def _run_loggers(run: Path) -> list[str]:
    """The loggers the run's ``config.yaml`` asks for (ConfigError if one is not installed)."""
    from gwkit.training.config import load_config
    from gwkit.training.tracking import require_loggers

    loggers = load_config(run / "config.yaml").logger if (run / "config.yaml").is_file() else []
    require_loggers(loggers)
    return loggers


def _log_cv(run: Path, loggers: list[str], cv: dict, args: argparse.Namespace) -> None:
    """The stacker's CV AUC, and each candidate's, to the run's loggers (W&B: ``<run>-hybrid``)."""
    from gwkit.training.tracking import open_tracker

    tracker = open_tracker(loggers, run, name=f"{run.name}-hybrid", group=run.name,
                           job_type="hybrid", config={**vars(args), "rows": cv["rows"]})
    candidates = cv.get("rejected_stack", cv)["auc"]  # the stack and each feature alone
    tracker.log(0, {"hybrid/cv_auc": cv["auc"]["stacked"],
                    **{f"hybrid/auc_{name}": value for name, value in candidates.items()}})
    tracker.close()


def _parser() -> argparse.ArgumentParser:
    p = CommandParser(prog="python -m gwkit.hybrid", description=plain_doc(__doc__),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", required=True, metavar="RUN",
                   help="the trained run folder (fold*/oof.csv and fold*/val.h5)")
    p.add_argument("--filter-bank", default=None, metavar="H5",
                   help=f"a filter bank file to use (default: {FILTER_BANK_FILE} in the run, else build one)")
    p.add_argument("--features", nargs="+", default=list(DEFAULT_FEATURES),
                   choices=KNOWN_FEATURES, help="stacking features (default: %(default)s)")
    p.add_argument("--min-match", type=float, default=0.97,
                   help="template bank minimal match when building (default: %(default)s)")
    p.add_argument("--cache", default="cache", help="where built template banks are cached")
    p.add_argument("--workers", type=int, default=2, help="processes for building the bank")
    p.add_argument("--device", default="cpu", help="torch device of the matched filter")
    p.add_argument("--seed", type=int, default=0, help="seed of the stacker's CV folds")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if (bad := nonfinite_option(args)) is not None:
        raise HybridError(f"{bad}: expected a finite number")
    try:
        return _fit(args)
    except GwkitError as exc:  # the libraries' one-line errors (run folder, bank, stacker)
        raise HybridError(str(exc)) from None


def _fit(args: argparse.Namespace) -> int:
    """Check the run and its outputs, lock it, fit the stacker, write it with its bank."""
    run = Path(args.runs)
    if not run.is_dir():
        raise HybridError(f"run {run} is not a folder")
    held_out_folds(run)  # before any work
    outputs = [run / FILTER_BANK_FILE, run / STACKER_FILE]  # the stacker vouches for the bank
    try:
        check_outputs(outputs)  # a link there would be read, or written, outside the run
    except OSError as exc:
        raise HybridError(str(exc)) from None
    loggers = _run_loggers(run)
    mode = run_validation_mode(run)
    with run_lock(run, command=f"python -m gwkit.hybrid --runs {run}"):
        from gwkit.core.devices import set_cpu_threads

        print(f"hybrid of {run} ({mode} mode); {set_cpu_threads()}", flush=True)
        bank = _filter_bank(args, run)
        table = held_out_table(run, bank, mode, args.device,  # a bad bank fails here
                               coherent=needs_coherent(args.features))
        stacker, oof, choice = fit_best_stacker(
            table, table["label"].to_numpy(), row_groups(table["waveform_id"].to_numpy()),
            args.features, seed=args.seed, snr_group=table["snr_group"].to_numpy())
        stacker.mode, stacker.filter_bank = mode, FILTER_BANK_FILE
        stacker.filter_bank_sha256 = file_sha256(bank)
        own = bank.resolve() == outputs[0].resolve()
        with replace_together(outputs[1:] if own else outputs) as staged:
            if not own:
                shutil.copyfile(bank, staged[outputs[0]])
            stacker.save(staged[outputs[1]])
        _log_cv(run, loggers, stacker.cv, args)
    auc = stacker.cv["auc"]
    inputs = ", ".join(f"{k} {v:.4f}" for k, v in auc.items() if k != "stacked")
    print(f"hybrid CV AUC {auc['stacked']:.4f} over {len(table)} out-of-fold rows "
          f"(alone: {inputs})")
    print(choice)
    print(f"wrote {outputs[1]}" + ("" if own else f" and {outputs[0]} (from {bank})"))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, "gwkit.hybrid"))
