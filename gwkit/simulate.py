"""``python -m gwkit.simulate``: competition-like data sets and waveform banks.

Examples::

    # a competition-like set: 12 SNRs x 100 rows, the competition's own draw
    python -m gwkit.simulate --per-snr 100 --draw competition --seed 1 --out data/sim
    # independent blocks per SNR, physical two-detector mode, HDF5
    python -m gwkit.simulate --snr 8 10 --per-snr 500 --mode physical --format hdf5 --out data/phys
    # the course's own training block (10,000 rows at SNR 20, seed 1): train_ts_0.sav + train_params_0.sav
    python -m gwkit.simulate --format sav --snr 20 --per-snr 10000 --draw independent --out data/course_sav
    # a waveform bank for the training engine
    python -m gwkit.simulate bank --n 2000 --out cache/bank.h5

A set is ``test.npy`` (the competition's layout) with ``labels.csv`` (``id, label,
snr_group``) and ``params.csv`` (every row's source and its own ``snr``) beside it,
or one HDF5 file holding the same (column names: :mod:`gwkit.data.columns`).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gwkit.core.cli import INTERRUPTED, CommandParser, run_main
from gwkit.core.devices import usable_cpus
from gwkit.core.fileio import check_writable
from gwkit.core.outputs import check_outputs
from gwkit.core.text import plain_doc
from gwkit.data.writers import dataset_outputs, write_dataset
from gwkit.sim.bank import BankConfig, build_bank
from gwkit.sim.generator import simulate_competition
from gwkit.sim.recipe import COMPETITION_SNRS, MODES, Recipe

__all__ = ["main"]


USAGE = ("python -m gwkit.simulate [options] --out DIR       (a competition-like set)\n"
         "       python -m gwkit.simulate bank --n N --out FILE  (a waveform bank; bank -h)")


def _dataset_parser(sub=None) -> argparse.ArgumentParser:
    p = sub or CommandParser(prog="python -m gwkit.simulate", usage=USAGE,
                                       description=plain_doc(__doc__),
                                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--snr", type=float, nargs="+", default=list(COMPETITION_SNRS),
                   help="network SNRs, one block each (default: the competition's 12)")
    p.add_argument("--per-snr", type=int, default=100, help="rows per SNR (default 100)")
    p.add_argument("--nnoise", type=int, default=25, help="noise realisations per waveform (default 25)")
    p.add_argument("--seed", type=int, default=1, help="random seed (the course used 1)")
    p.add_argument("--mode", choices=MODES, default="competition",
                   help="competition: the course generator with its quirks (default); physical: both detectors")
    p.add_argument("--draw", choices=("competition", "independent"), default="competition",
                   help="competition: rows drawn with replacement from one block per SNR sharing one "
                        "seed, as the test set was made; independent: one fresh block per SNR")
    p.add_argument("--block-rows", type=int, default=10000, help="rows per block for --draw competition")
    p.add_argument("--format", choices=("npy", "hdf5", "sav"), default="npy",
                   help="npy: test.npy + labels.csv + params.csv; hdf5: test.h5; sav: the course's "
                        "train_ts_<k>.sav + train_params_<k>.sav, one block per SNR in --snr order")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--workers", type=int, default=usable_cpus(),
                   help="processes (default: the usable CPUs)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none unless stderr is a terminal)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    return p


def _bank_parser(sub) -> None:
    sub.add_argument("--n", type=int, required=True, help="number of mass pairs")
    sub.add_argument("--out", type=Path, required=True, help="bank file (.h5)")
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    sub.add_argument("--workers", type=int, default=usable_cpus())
    sub.add_argument("--no-progress", action="store_true",
                     help="no progress bar (there is none unless stderr is a terminal)")


def _progress(args: argparse.Namespace) -> bool:
    """Progress bars on a terminal only: a log or a pipe gets the command's lines alone."""
    return not args.no_progress and sys.stderr.isatty()


def _refuse(message: str) -> SystemExit:
    """The exit of a bad argument, before any work: ``message`` as one line on stderr."""
    return SystemExit(f"gwkit.simulate: {message}")


def _writable(out: Path, *, folder: bool, files: Sequence[Path] = ()) -> bool:
    """False (after one line on stderr) when ``--out``, or one of the ``files`` in it, cannot be written."""
    try:
        check_writable(out, folder=folder)
        check_outputs(files)
    except OSError as exc:
        print(f"gwkit.simulate: --out {exc}", file=sys.stderr)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bank":
        p = CommandParser(prog="python -m gwkit.simulate bank",
                                    description="Generate an IMRPhenomD waveform bank (resumable).")
        _bank_parser(p)
        args = p.parse_args(argv[1:])
        if args.n < 1:
            raise _refuse(f"--n must be >= 1, got {args.n}")
        if not _writable(args.out, folder=False):
            return 2
        print(f"building {args.n} IMRPhenomD waveforms with {args.workers} worker process(es) "
              f"into {args.out} (resumable)", flush=True)
        t0 = time.perf_counter()
        path = build_bank(args.n, args.out, seed=args.seed, config=BankConfig(dtype=args.dtype),
                          workers=args.workers, progress=_progress(args))
        print(f"wrote {path} ({args.n} waveforms, {time.perf_counter() - t0:.1f} s)")
        return 0
    p = _dataset_parser()
    args = p.parse_args(argv)
    for name in ("per_snr", "nnoise", "block_rows"):
        if getattr(args, name) < 1:
            raise _refuse(f"--{name.replace('_', '-')} must be >= 1")
    if not all(0 < s < math.inf for s in args.snr):  # inf: NaN strain
        raise _refuse(f"--snr: SNRs must be positive finite numbers, got {args.snr}")
    files = dataset_outputs(args.out, fmt=args.format, nblocks=len(set(args.snr)))
    if not _writable(args.out, folder=True, files=files):  # before minutes of simulation
        return 2
    competition_draw = args.draw == "competition"
    print(f"simulating {len(args.snr)} SNR block(s) x {args.per_snr} rows ({args.draw} draw, "
          f"{args.mode} mode, seed {args.seed}) with {args.workers} worker process(es) into "
          f"{args.out}", flush=True)
    t0 = time.perf_counter()
    x, params = simulate_competition(
        args.snr, args.per_snr,
        block_rows=args.block_rows if competition_draw else args.per_snr,
        nnoise=args.nnoise, seed=args.seed, shared_seed=competition_draw,
        # independent blocks: every row of each block once, in the block's own shuffled order
        replace=competition_draw, recipe=Recipe(mode=args.mode), workers=args.workers,
        progress=_progress(args), dtype=np.dtype(args.dtype),
        shuffle=args.format != "sav",  # course blocks: one SNR each, rows in the block's order
    )
    attrs = {"mode": args.mode, "seed": args.seed, "draw": args.draw, "nnoise": args.nnoise}
    paths = write_dataset(args.out, x, params, fmt=args.format, attrs=attrs)
    dt = time.perf_counter() - t0
    print(f"wrote {', '.join(map(str, paths))}: {len(params)} rows "
          f"({int(params['label'].sum())} signals) in {dt:.1f} s")
    return 0


def _interrupted(argv: list[str]) -> str:
    """The line of a Ctrl-C: a bank build keeps its finished chunks for the same command."""
    if argv[:1] == ["bank"]:
        return f"{INTERRUPTED}; run the same command again to resume the bank build"
    return INTERRUPTED


if __name__ == "__main__":
    sys.exit(run_main(main, "gwkit.simulate", _interrupted(sys.argv[1:])))
