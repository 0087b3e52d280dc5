"""Samples/s of the reference generator (gwkit.sim.generator), printed as a table.

Two cases, as the course generator is used: a fresh waveform for every signal
sample (``nnoise=1``) and each waveform reused with 25 noise realisations
(``nnoise=25``, the competition's blocks). Half of every block is noise, as in
the competition. ``--json PATH`` also writes the numbers.

    python benchmarks/simulate_speed.py --rows 200 --workers 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

try:
    from gwkit.sim.generator import simulate_block
    from gwkit.sim.recipe import Recipe
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from gwkit.sim.generator import simulate_block
    from gwkit.sim.recipe import Recipe

from gwkit.core.fileio import atomic_write


def measure(rows: int, nnoise: int, workers: int, mode: str, seed: int = 0) -> dict:
    t0 = time.perf_counter()
    simulate_block(10.0, rows, nnoise=nnoise, seed=seed, recipe=Recipe(mode=mode), workers=workers)
    dt = time.perf_counter() - t0
    return {"mode": mode, "nnoise": nnoise, "workers": workers, "rows": rows,
            "seconds": dt, "samples_per_s": rows / dt}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=200, help="rows per measurement (half are signals)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    p.add_argument("--modes", nargs="+", default=["competition"], choices=["competition", "physical"])
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    results = [measure(args.rows, nnoise, w, mode)
               for mode in args.modes for nnoise in (1, 25) for w in args.workers]
    print(f"{'mode':<12} {'nnoise':>6} {'workers':>7} {'rows':>6} {'seconds':>8} {'samples/s':>10}")
    for r in results:
        print(f"{r['mode']:<12} {r['nnoise']:>6} {r['workers']:>7} {r['rows']:>6} "
              f"{r['seconds']:>8.2f} {r['samples_per_s']:>10.1f}")
    if args.json:
        with atomic_write(args.json) as fh:
            json.dump({"machine": platform.machine(), "cpus": os.cpu_count(), "results": results}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
