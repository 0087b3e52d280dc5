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
``--filter-bank`` names one). ``python -m gwkit.predict`` then applies it to
the run by default; neither needs LALSuite.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from gwkit.core.errors import GwkitError
from gwkit.core.fileio import file_sha256
from gwkit.core.text import plain_doc
from gwkit.data.folds import row_groups
from gwkit.scoring.held_out import held_out_folds, held_out_table, run_validation_mode
from gwkit.scoring.stack import (
    DEFAULT_FEATURES,
    FILTER_BANK_FILE,
    KNOWN_FEATURES,
    STACKER_FILE,
    fit_best_stacker,
)

#: measured for the default bank (644 templates at min match 0.97), README "The hybrid detector"
BANK_BUILD_TIME = ("about 9 minutes on an idle 2-core CPU (LALSuite templates, then their prior "
                   "weights); later runs reuse it")


class HybridError(SystemExit):
    def __init__(self, message: str):
        super().__init__(f"gwkit.hybrid: {message}")


def _filter_bank(args: argparse.Namespace, run: Path) -> Path:
    """The filter bank inside the run folder (copied, or built with LALSuite)."""
    target = run / FILTER_BANK_FILE
    if args.filter_bank:
        source = Path(args.filter_bank)
        if not source.is_file():
            raise HybridError(f"--filter-bank {source}: no such file")
        if source.resolve() != target.resolve():
            shutil.copyfile(source, target)
        return target
    if target.is_file():
        return target
    from gwkit.sim.matched_filter import cached_filter_bank

    print(f"building the filter bank (min match {args.min_match}; once, cached in "
          f"{args.cache}/): {BANK_BUILD_TIME} ...", file=sys.stderr, flush=True)
    shutil.copyfile(cached_filter_bank(args.cache, min_match=args.min_match,
                                       workers=args.workers, progress=True), target)
    return target


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gwkit.hybrid", description=plain_doc(__doc__),
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
    try:
        return _fit(args)
    except GwkitError as exc:  # the libraries' one-line errors (run folder, bank, stacker)
        raise HybridError(str(exc)) from None


def _fit(args: argparse.Namespace) -> int:
    """Check the run, get its filter bank, fit and write the stacker."""
    run = Path(args.runs)
    if not run.is_dir():
        raise HybridError(f"run {run} is not a folder")
    held_out_folds(run)  # before any work
    mode = run_validation_mode(run)
    from gwkit.core.devices import set_cpu_threads

    print(f"hybrid of {run} ({mode} mode); {set_cpu_threads()}", flush=True)
    bank = _filter_bank(args, run)
    table = held_out_table(run, bank, mode, args.device)
    stacker, oof, choice = fit_best_stacker(
        table, table["label"].to_numpy(), row_groups(table["waveform_id"].to_numpy()),
        args.features, seed=args.seed, snr_group=table["snr_group"].to_numpy())
    stacker.mode, stacker.filter_bank, stacker.filter_bank_sha256 = mode, FILTER_BANK_FILE, file_sha256(bank)
    path = stacker.save(run / STACKER_FILE)
    auc = stacker.cv["auc"]
    inputs = ", ".join(f"{k} {v:.4f}" for k, v in auc.items() if k != "stacked")
    print(f"hybrid CV AUC {auc['stacked']:.4f} over {len(table)} out-of-fold rows "
          f"(alone: {inputs})")
    print(choice)
    print(f"wrote {path} and {run / FILTER_BANK_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
