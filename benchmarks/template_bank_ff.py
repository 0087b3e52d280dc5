"""Fitting factor of the matched-filter template bank on random injections.

For each injection (a source drawn from the competition's distribution, made
by the reference generator ``gwkit.sim.generator.project``, whitened, no
noise) the fitting factor is the best normalised overlap over the bank's
templates, maximised over time and phase, with the filter's own frequency cut
and time grid (so those count as mismatch too). Channel 0 of the chosen mode is
used (competition: the L1 projection).

Usage::

    python benchmarks/template_bank_ff.py                       # cached default bank, 300 injections
    python benchmarks/template_bank_ff.py --bank cache/tb.h5 --n-inj 1000 --json
    python benchmarks/template_bank_ff.py --min-match 0.95 --f-max 2048 --stride 2

The bank is loaded from ``--bank`` or built (seeded) and cached under ``cache/``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

try:
    import gwkit  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gwkit.sim.competition_whitening import competition_whiten
from gwkit.sim.generator import draw_source, project
from gwkit.sim.matched_filter import TemplateBank, fitting_factor
from gwkit.sim.recipe import Recipe

PERCENTILES = (1, 5, 10, 25, 50)


def _injection(args: tuple[int, int, Recipe]) -> tuple[np.ndarray, dict]:
    seed, k, recipe = args
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))
    source = draw_source(rng, recipe)
    proj = project(source, recipe)
    white = competition_whiten(proj.strain[0], recipe.psd, recipe.sample_rate)
    return white.astype(np.float64), {"m1": source.m1, "m2": source.m2,
                                      "peak_index": source.peak_index}


def injections(n: int, seed: int, recipe: Recipe, workers: int) -> tuple[np.ndarray, list[dict]]:
    jobs = [(seed, k, recipe) for k in range(n)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            out = list(pool.map(_injection, jobs, chunksize=8))
    else:
        out = [_injection(j) for j in jobs]
    return np.stack([o[0] for o in out]), [o[1] for o in out]


def summarise(ff: np.ndarray) -> dict:
    return {
        "n": int(ff.size), "mean": float(ff.mean()), "min": float(ff.min()),
        **{f"p{q}": float(np.percentile(ff, q)) for q in PERCENTILES},
        "frac_ge_0.97": float(np.mean(ff >= 0.97)), "frac_ge_0.95": float(np.mean(ff >= 0.95)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bank", type=Path, default=None, help="template bank (.h5); default: cached build")
    p.add_argument("--min-match", type=float, default=0.97, help="placement minimal match (build)")
    p.add_argument("--n-templates", type=int, default=None, help="cap on templates (build)")
    p.add_argument("--bank-seed", type=int, default=0)
    p.add_argument("--patience", type=int, default=300, help="rejections in a row that end placement")
    p.add_argument("--n-inj", type=int, default=300, help="injections (default 300)")
    p.add_argument("--seed", type=int, default=2024, help="injection seed")
    p.add_argument("--mode", choices=("competition", "physical"), default="competition",
                   help="recipe of the injections; channel 0 is used")
    p.add_argument("--f-max", type=float, default=1024.0, help="filter frequency cut (Hz)")
    p.add_argument("--stride", type=int, default=4, help="filter time step (samples)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--worst", type=int, default=5, help="list the N worst injections")
    args = p.parse_args(argv)

    if args.bank is not None and not args.bank.is_file():
        raise SystemExit(f"template_bank_ff: bank {args.bank} does not exist")
    t0 = time.perf_counter()
    bank, path = TemplateBank.cached(args.bank, n=args.n_templates, min_match=args.min_match,
                                     seed=args.bank_seed, patience=args.patience,
                                     workers=args.workers, progress=True)
    t_build = time.perf_counter() - t0  # ~0 when loaded from the cache
    recipe = Recipe(mode=args.mode)
    t0 = time.perf_counter()
    signals, meta = injections(args.n_inj, args.seed, recipe, args.workers)
    t_inj = time.perf_counter() - t0
    t0 = time.perf_counter()
    ff, best = fitting_factor(signals, bank, f_max=args.f_max, stride=args.stride)
    t_ff = time.perf_counter() - t0
    result = {
        "bank": str(path), "templates": len(bank), "bank_info": bank.info,
        "f_max": args.f_max, "stride": args.stride, "mode": args.mode,
        "fitting_factor": summarise(ff),
        "seconds": {"bank": round(t_build, 1), "injections": round(t_inj, 1),
                    "filter": round(t_ff, 1)},
    }
    order = np.argsort(ff)[: args.worst]
    result["worst"] = [{"ff": float(ff[i]), **meta[i], "template_m1": float(bank.m1[best[i]]),
                        "template_m2": float(bank.m2[best[i]])} for i in order]
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    s = result["fitting_factor"]
    print(f"bank {path}: {len(bank)} templates ({bank.info.get('placement')}, "
          f"min_match {bank.info.get('min_match')}); f_max {args.f_max:g} Hz, stride {args.stride}")
    print(f"fitting factor over {s['n']} injections ({args.mode} mode, channel 0):")
    print(f"  mean {s['mean']:.4f}  min {s['min']:.4f}  "
          + "  ".join(f"p{q} {s[f'p{q}']:.4f}" for q in PERCENTILES))
    print(f"  >= 0.97: {s['frac_ge_0.97']:.1%}   >= 0.95: {s['frac_ge_0.95']:.1%}")
    for w in result["worst"]:
        print(f"  worst: ff {w['ff']:.4f} m1 {w['m1']:.2f} m2 {w['m2']:.2f} peak {w['peak_index']} "
              f"-> template ({w['template_m1']:.2f}, {w['template_m2']:.2f})")
    print("seconds: " + ", ".join(f"{k} {v}" for k, v in result["seconds"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
