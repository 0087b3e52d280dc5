"""Engine samples/s against the reference generator, measured side by side in one run.

The engine (``gwkit.engine.Sampler``) draws batches of 256 from a waveform
bank on CPU (and CUDA when present); the reference generator makes the same
kind of samples with a fresh LALSuite waveform per signal sample. The ratio
is what matters: both run in this process on this machine, one after the
other. ``--json PATH`` also writes the numbers.

    python benchmarks/engine_speed.py --bank-size 64 --batches 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

# gwkit before torch: importing it sets OMP_WAIT_POLICY=PASSIVE, read when torch loads
try:
    from gwkit.engine import Sampler
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from gwkit.engine import Sampler

import torch

from gwkit.core.fileio import atomic_write
from gwkit.sim.bank import build_bank, load_bank
from gwkit.sim.generator import simulate_block
from gwkit.sim.recipe import Recipe


def engine_rate(bank, device: str, mode: str, batch: int, batches: int) -> float:
    sampler = Sampler(bank, mode=mode, device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    sampler.sample(batch, gen)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(batches):
        sampler.sample(batch, gen)
    if device == "cuda":
        torch.cuda.synchronize()
    return batch * batches / (time.perf_counter() - t0)


def reference_rate(mode: str, rows: int) -> float:
    t0 = time.perf_counter()
    simulate_block(10.0, rows, nnoise=1, seed=0, recipe=Recipe(mode=mode), workers=1)
    return rows / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bank", type=Path, help="existing bank (default: build a small one)")
    p.add_argument("--bank-size", type=int, default=64)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--batches", type=int, default=5)
    p.add_argument("--reference-rows", type=int, default=60)
    p.add_argument("--modes", nargs="+", default=["competition", "physical"])
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        bank = load_bank(args.bank or build_bank(args.bank_size, Path(tmp) / "bank.h5", seed=0))
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for mode in args.modes:
        ref = reference_rate(mode, args.reference_rows)
        for dev in devices:
            eng = engine_rate(bank, dev, mode, args.batch, args.batches)
            rows.append({"mode": mode, "device": dev, "engine_samples_per_s": eng,
                         "reference_samples_per_s": ref, "ratio": eng / ref})
    print(f"torch threads: {torch.get_num_threads()}, batch {args.batch}")
    print(f"{'mode':<12} {'device':<6} {'engine/s':>10} {'reference/s':>12} {'ratio':>7}")
    for r in rows:
        print(f"{r['mode']:<12} {r['device']:<6} {r['engine_samples_per_s']:>10.0f} "
              f"{r['reference_samples_per_s']:>12.1f} {r['ratio']:>7.0f}x")
    if args.json:
        with atomic_write(args.json) as fh:
            json.dump({"machine": platform.machine(), "cpus": os.cpu_count(),
                       "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                       "results": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
