"""Train a detector with grouped K-fold cross-validation over bank waveforms.

    python -m gwkit.train --fold 0                      # demo preset: CPU, a few minutes
    python -m gwkit.train --preset baseline --fold all
    python -m gwkit.train --preset resnet1d --fold 2 --set lr=3e-3 --set snr=uniform:5:30
    python -m gwkit.train --fold 0 --resume             # after a crash or kill -9
    torchrun --nproc_per_node 4 -m gwkit.train --preset resnet1d --fold 0
    python -m gwkit.train --preset course_sav --train-data data/course_sav --fold 0

With nothing prepared, a small waveform bank is built once and cached
(``cache/bank_n<size>_seed<seed>_v<format>.h5``, resumable). Fold ``k`` validates on the
waveforms of fold ``k`` (a fixed, seeded set with the competition's SNR mix)
and trains on freshly simulated samples of the other folds' waveforms.

With ``--train-data PATH ...`` (``train_data``) it trains on fixed files instead
(:mod:`gwkit.data.training`: course ``.sav`` blocks, ``.npy`` + ``labels.csv``,
gwkit HDF5; read a batch at a time). Their rows are grouped by waveform and
shared noise and the groups dealt to folds (``data_folds.csv``); fold ``k``
validates on its groups' rows (``val_source=files``) or on the engine's set
(``val_source=engine``, every file row trains). Each step reads the next rows
of a seeded pass over the training rows (:func:`gwkit.training.fold_data.fixed_rows`),
``engine_fraction`` of the batch coming from the engine, and augments them
(``time_shift_p``, ``sign_flip_p``, and in physical mode ``swap_p``,
``detector_shift_p``). What each fold draws from is :mod:`gwkit.training.fold_data`;
this module is the loop, the checkpoints and the command line.

Outputs, all written atomically and only by rank 0::

    runs/<name>/config.yaml  folds.csv  data_folds.csv (train_data)  oof.csv (folds so far)
    runs/<name>/fold<k>/config.yaml  val.h5  metrics.csv  curves.png
                        best.pt  last.pt  oof.csv

``last.pt`` (every epoch) holds model, optimizer, EMA, step, epoch, best metric,
config and every process's RNG states, so ``--resume`` after a kill continues
exactly as if never interrupted; a fold killed before its first ``last.pt``
(only ``best.pt`` written) restarts from scratch with ``--resume``, which says
so, as it does when there is nothing to resume. ``best.pt`` holds the weights used for
validation (the EMA when ``ema > 0``) of the epoch with the best pooled AUC;
``oof.csv`` holds its validation predictions.

CPU threads: ``num_threads`` (0: the usable CPUs, shared among DDP processes;
:func:`gwkit.core.devices.cpu_threads`), with OpenMP's passive wait policy that
importing gwkit sets; the first line says what was chosen.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

import torch.distributed as dist

from gwkit.core.cli import CommandParser, run_main
from gwkit.core.devices import DeviceError, pick_device, set_cpu_threads
from gwkit.core.distributed import setup_distributed
from gwkit.core.fileio import check_writable
from gwkit.core.runlock import RunLocked, run_lock
from gwkit.core.text import plain_doc
from gwkit.data.competition import DataError
from gwkit.training.config import (
    ConfigError,
    TrainConfig,
    list_presets,
    resolve_config,
    save_config,
)
from gwkit.training.fold_data import (
    RunData,
    RunError,
    check_data_settings,
    fold_dir,
    open_train_data,
    prepare_bank,
    prepare_data_folds,
    prepare_folds,
    uses_engine,
)
from gwkit.training.loop import (
    build_model,
    check_run_config,
    combine_oof,
    fold_plan,
    train_fold,
)
from gwkit.training.tracking import require_loggers


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = CommandParser(
        prog="python -m gwkit.train", description=plain_doc(__doc__.split("\n\n")[0]),
        epilog=f"presets: {', '.join(list_presets())}; settings: see gwkit/training/config.py",
    )
    parser.add_argument("--preset", default=None, help="preset name or YAML file (default: demo)")
    parser.add_argument("--fold", default="0", help="fold index, or 'all' (default: 0)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a setting (repeatable)")
    parser.add_argument("--train-data", nargs="+", metavar="PATH",
                        help="train on these files or folders: course *_ts_*.sav blocks, .npy with "
                             "labels.csv, gwkit .h5 (same as --set train_data=[...])")
    parser.add_argument("--device", help="auto, cpu, cuda, cuda:N, mps (same as --set device=)")
    parser.add_argument("--epochs", type=int, help="same as --set epochs=N")
    parser.add_argument("--name", help="run name (same as --set name=)")
    parser.add_argument("--out", help="output root folder (same as --set out_dir=)")
    parser.add_argument("--resume", action="store_true", help="continue folds from last.pt")
    parser.add_argument("--skip-existing", action="store_true",
                        help="skip folds whose best.pt and oof.csv exist")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved config as YAML and exit")
    return parser.parse_args(argv)


def _resolve(args: argparse.Namespace) -> TrainConfig:
    flags = {"device": args.device, "epochs": args.epochs, "name": args.name,
             "out_dir": args.out}
    extra = [f"{k}={v}" for k, v in flags.items() if v is not None]
    if args.train_data:  # JSON is YAML: any path survives
        extra.append(f"train_data={json.dumps(args.train_data)}")
    return resolve_config(args.preset, [*args.overrides, *extra])


def _folds_to_run(text: str, n_folds: int) -> list[int]:
    if text.strip().lower() == "all":
        return list(range(n_folds))
    try:
        folds = [int(v) for v in text.split(",")]
    except ValueError:
        raise RunError(f"--fold {text!r}: expected a fold index, a list like 0,2 or 'all'") from None
    bad = [k for k in folds if not 0 <= k < n_folds]
    if bad:
        raise RunError(f"--fold {text}: folds run from 0 to {n_folds - 1} (n_folds={n_folds})")
    twice = sorted({k for k in folds if folds.count(k) > 1})
    if twice:
        raise RunError(f"--fold {text}: fold {twice[0]} given twice (each fold trains once)")
    return folds


_PLAN_NOTES = {
    "skip": "best.pt and oof.csv exist, skipped",
    "restart": "{out} has best.pt but no last.pt (killed during its first epoch); "
               "restarting the fold from scratch",
    "absent": "--resume: nothing to resume in {out} (no last.pt); training from scratch",
}


def main(argv: list[str] | None = None) -> dict[int, dict[str, float]]:
    """Command-line entry point; returns each trained fold's best metrics (rank 0)."""
    args = parse_args(argv)
    try:
        cfg = _resolve(args)
        if args.print_config:
            import yaml

            print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
            return {}
        folds_to_run = _folds_to_run(args.fold, cfg.n_folds)
        # every check before anything is written
        check_data_settings(cfg)
        if uses_engine(cfg) and cfg.bank is not None and not Path(cfg.bank).is_file():
            raise RunError(f"bank={cfg.bank}: no such file (leave bank unset to build and "
                           f"cache {cfg.bank_size} waveforms in {cfg.cache_dir}/)")
        for k in folds_to_run:  # a fold folder linking out of the run is never written into
            check_writable(fold_dir(cfg, k), folder=True, root=Path(cfg.out_dir) / cfg.name)
        # one writer per run: rank 0 holds the run's lock for every process of the job
        lock = run_lock(Path(cfg.out_dir) / cfg.name,
                        command=f"python -m gwkit.train --fold {args.fold}") \
            if int(os.environ.get("RANK", "0")) == 0 else contextlib.nullcontext()
        with lock:
            return _train(args, cfg, folds_to_run)
    except (ConfigError, RunError, RunLocked, DeviceError, DataError, OSError) as exc:
        raise SystemExit(f"error: {exc}") from None


def _train(args: argparse.Namespace, cfg: TrainConfig,
           folds_to_run: list[int]) -> dict[int, dict[str, float]]:
    """The run's remaining checks (under its lock, before anything is written), then its folds."""
    plan = {k: fold_plan(cfg, k, resume=args.resume, skip_existing=args.skip_existing)
            for k in folds_to_run}
    check_run_config(cfg)
    for k in folds_to_run:
        build_model(cfg, k)  # fails here, before any write, on bad model_kwargs or init_from
    require_loggers(cfg.logger)  # tensorboard, wandb: the track extra installed
    device = pick_device(cfg.device, int(os.environ.get("LOCAL_RANK", "0")))
    fixed = open_train_data(cfg)  # reads every row once: bad files fail here

    d = setup_distributed(device)
    threads = set_cpu_threads(cfg.num_threads, d.world_size if d.enabled else 1)
    results: dict[int, dict[str, float]] = {}
    try:
        if d.is_main:
            print(f"run {Path(cfg.out_dir) / cfg.name}: model {cfg.model}, device {device}"
                  f"{f' x {d.world_size} processes' if d.enabled else ''}, "
                  f"folds {folds_to_run}; {threads}", flush=True)
        bank = prepare_bank(cfg, d) if uses_engine(cfg) else None
        data = RunData(bank, prepare_folds(cfg, bank, d) if bank is not None else None, fixed,
                       prepare_data_folds(cfg, fixed, d) if fixed is not None else None)
        if d.is_main and fixed is not None:
            print(f"train_data: {len(fixed)} rows ({int(fixed.y.sum())} signals) in "
                  f"{len(fixed.paths)} file(s), {int(fixed.row_group.max()) + 1} groups", flush=True)
        run_config = Path(cfg.out_dir) / cfg.name / "config.yaml"
        if d.is_main and not run_config.is_file():
            save_config(cfg, run_config)
        d.barrier()
        for k in folds_to_run:
            if d.is_main and plan[k] in _PLAN_NOTES:
                print(f"fold {k}: {_PLAN_NOTES[plan[k]].format(out=fold_dir(cfg, k))}", flush=True)
            if plan[k] == "skip":
                continue
            results[k] = train_fold(cfg, k, data, resume=plan[k] == "resume", d=d,
                                    device=device)
        if d.is_main:  # the run's oof.csv always covers every finished fold
            combine_oof(cfg, reported=results)
            if results:
                run_dir = Path(cfg.out_dir) / cfg.name
                csv = "metrics.csv, curves.png, " if "csv" in cfg.logger else ""
                print(f"wrote {run_dir}/fold{{{','.join(map(str, results))}}}/{{best.pt, last.pt, "
                      f"oof.csv, {csv}val.h5, config.yaml}} and "
                      f"{run_dir}/{{oof.csv, folds.csv, config.yaml}}", flush=True)
    finally:
        if d.enabled and dist.is_initialized():
            dist.destroy_process_group()
    return results


if __name__ == "__main__":
    sys.exit(run_main(main, "gwkit.train", "interrupted; resume with --resume"))
