"""Time to sensitivity: what each training route cost to reach a validation AUC, from its runs.

Reads each run's ``fold<k>/metrics.csv`` (written by ``python -m gwkit.train``:
one row per epoch with ``val_auc``, ``epoch_s``, ``samples_per_s``) and its
``config.yaml`` (``num_threads``, ``batch_size``), and prints per route and
fold: samples trained, CPU-thread-hours (training epochs' wall seconds x
threads: validation passes excluded), the thread-hours and samples at which
the validation AUC first reached ``--target``, and the best validation AUC.
Compare routes on the same validation rows (same bank, seed, folds and
``val_per_snr``); the thread-hours are only comparable between runs that
shared the machine alike.

    python benchmarks/time_to_sensitivity.py runs/gwkit_mfnet runs/gwkit_distill --target 0.85
    python benchmarks/time_to_sensitivity.py runs/* --json runs/time_to_sensitivity.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import yaml

try:
    from gwkit.core.fileio import atomic_write
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from gwkit.core.fileio import atomic_write


def route_rows(run: Path, target: float) -> list[dict]:
    """One row per fold of ``run`` that has a metrics.csv."""
    config = yaml.safe_load((run / "config.yaml").read_text()) if (run / "config.yaml").is_file() \
        else {}
    rows = []
    for metrics in sorted(run.glob("fold*/metrics.csv")):
        df = pd.read_csv(metrics)
        fold_cfg = metrics.parent / "config.yaml"
        cfg = yaml.safe_load(fold_cfg.read_text()) if fold_cfg.is_file() else config
        threads = int(cfg.get("num_threads") or 0) or None
        samples = df["samples_per_s"] * df["epoch_s"]
        hours = df["epoch_s"].cumsum() / 3600 * (threads or 1)
        reached = df.index[df["val_auc"] >= target]
        first = int(reached[0]) if len(reached) else None
        rows.append({
            "run": run.name, "fold": metrics.parent.name, "model": cfg.get("model"),
            "threads": threads, "epochs": len(df), "samples": int(samples.sum()),
            "thread_hours": float(hours.iloc[-1]),
            "hours_to_target": None if first is None else float(hours.iloc[first]),
            "samples_to_target": None if first is None else int(samples.iloc[:first + 1].sum()),
            "best_auc": float(df["val_auc"].max()), "best_epoch": int(df["val_auc"].idxmax()) + 1,
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="run folders (runs/<name>)")
    p.add_argument("--target", type=float, default=0.85, help="validation AUC to reach")
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args(argv)
    rows = [row for run in args.runs for row in route_rows(run, args.target)]
    if not rows:
        raise SystemExit("time_to_sensitivity: no fold*/metrics.csv in the given runs")
    print(f"{'run':<18}{'fold':<7}{'model':<15}{'threads':>8}{'samples':>10}{'thread-h':>10}"
          f"{f'h to {args.target:g}':>10}{'best AUC':>10}")
    for r in rows:
        to = "-" if r["hours_to_target"] is None else f"{r['hours_to_target']:.2f}"
        print(f"{r['run']:<18}{r['fold']:<7}{str(r['model']):<15}{str(r['threads'] or '?'):>8}"
              f"{r['samples']:>10,}{r['thread_hours']:>10.2f}{to:>10}{r['best_auc']:>10.4f}")
    if args.json:
        with atomic_write(args.json) as fh:
            json.dump({"target": args.target, "rows": rows}, fh, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
