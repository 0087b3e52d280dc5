"""Training samples/s per model, engine included, and the share of time spent on data.

Each step is what ``python -m gwkit.train`` does: draw a batch from the engine
(``Sampler.sample``, competition SNR mix, sign flips), then forward, BCE loss,
backward, gradient clipping and an AdamW step (bf16 autocast on CUDA). The two
halves are timed separately (with a CUDA synchronise between them), so the
table shows where a step's time goes: ``data %`` is the engine's share.

    python benchmarks/train_speed.py                          # CPU (and CUDA when present)
    python benchmarks/train_speed.py --models preset:demo gw_cnn_baseline --batch 32 --steps 5
    python benchmarks/train_speed.py --models all --no-cpu --json runs/train_speed.json

Model names are gwkit models or ``preset:NAME`` (the preset's model and model_kwargs).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

# gwkit before torch: importing it sets OMP_WAIT_POLICY=PASSIVE, read when torch loads
try:
    import gwkit.training.loop as gt
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import gwkit.training.loop as gt

import numpy as np
import torch
import torch.nn.functional as F

from gwkit.core.fileio import atomic_write
from gwkit.engine import Augment, AugmentConfig
from gwkit.models import list_models
from gwkit.sim.bank import WaveformBank, build_bank, load_bank
from gwkit.training.config import TrainConfig, load_preset
from gwkit.training.fold_data import make_train_sampler

DEFAULT_MODELS = ["preset:demo", "resnet1d_tiny", "gw_cnn_baseline", "gabbard2018", "resnet1d_18"]


def model_config(spec: str) -> TrainConfig:
    """``preset:NAME`` -> that preset; a model name -> defaults with that model."""
    if spec.startswith("preset:"):
        return load_preset(spec.removeprefix("preset:"))
    return TrainConfig(model=spec, model_kwargs={})


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(cfg: TrainConfig, bank: WaveformBank, device: torch.device, batch: int,
            steps: int) -> dict[str, float]:
    """Seconds per step in ``sample()`` and in forward/backward/step (after one warm-up step)."""
    torch.manual_seed(0)
    sampler = make_train_sampler(cfg.replace(snr="competition"), bank,
                                    np.arange(len(bank)), device)
    gen = torch.Generator(device=device).manual_seed(0)
    augment = Augment(AugmentConfig(sign_flip_p=0.5))
    model = gt.build_model(cfg).to(device).train()
    optimizer = gt.make_optimizer(model, cfg)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) \
        if device.type == "cuda" else nullcontext
    data_s = compute_s = 0.0
    for i in range(steps + 1):
        _sync(device)
        t0 = time.perf_counter()
        b = sampler.sample(batch, gen)
        x, _ = augment(b.x, gen, b.peak_index)
        _sync(device)
        t1 = time.perf_counter()
        with autocast():
            logit = model(x).squeeze(1)
        loss = F.binary_cross_entropy_with_logits(logit.float(), b.y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        _sync(device)
        t2 = time.perf_counter()
        if i:  # step 0 is the warm-up
            data_s, compute_s = data_s + t1 - t0, compute_s + t2 - t1
    total = data_s + compute_s
    return {"samples_per_s": batch * steps / total, "data_ms_per_step": 1e3 * data_s / steps,
            "compute_ms_per_step": 1e3 * compute_s / steps, "data_share": data_s / total,
            "params": sum(p.numel() for p in model.parameters())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=DEFAULT_MODELS,
                   help="gwkit model names, preset:NAME, or 'all'")
    p.add_argument("--batch", type=int, default=16, help="samples per step")
    p.add_argument("--steps", type=int, default=3, help="timed steps (after one warm-up)")
    p.add_argument("--bank", type=Path, help="existing bank (default: build 32 entries)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-cpu", action="store_true", help="skip the CPU")
    p.add_argument("--no-cuda", action="store_true", help="skip CUDA even if present")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    specs = list_models() if args.models == ["all"] else args.models
    configs = {}
    for spec in specs:
        try:
            configs[spec] = model_config(spec)
        except ValueError as exc:
            p.error(str(exc))
    devices = [] if args.no_cpu else [torch.device("cpu")]
    if torch.cuda.is_available() and not args.no_cuda:
        devices.append(torch.device("cuda"))
    if not devices:
        p.error("no device left to measure (--no-cpu without CUDA)")

    with tempfile.TemporaryDirectory() as tmp:
        bank = load_bank(args.bank or build_bank(32, Path(tmp) / "bank.h5", seed=0))
    print(f"batch {args.batch}, {args.steps} timed steps, bank of {len(bank)}, "
          f"{torch.get_num_threads()} CPU threads")
    header = (f"{'model':<20}{'device':>7}{'params':>11}{'samples/s':>11}{'data ms':>10}"
              f"{'model ms':>10}{'data %':>8}")
    print(header)
    rows: list[dict[str, Any]] = []
    for spec, cfg in configs.items():
        for device in devices:
            row = {"model": spec, "device": device.type,
                   **measure(cfg, bank, device, args.batch, args.steps)}
            rows.append(row)
            print(f"{spec:<20}{device.type:>7}{row['params']:>11,}{row['samples_per_s']:>11.1f}"
                  f"{row['data_ms_per_step']:>10.1f}{row['compute_ms_per_step']:>10.1f}"
                  f"{100 * row['data_share']:>7.0f}%", flush=True)
    if args.json:
        meta = {"batch": args.batch, "steps": args.steps, "bank_size": len(bank),
                "cpu_threads": torch.get_num_threads(), "torch": torch.__version__,
                "platform": platform.platform(),
                "cuda_device": torch.cuda.get_device_name() if "cuda" in
                [d.type for d in devices] else None}
        with atomic_write(args.json) as fh:
            json.dump({"meta": meta, "results": rows}, fh, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
