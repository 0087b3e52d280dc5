"""Parameters, FLOPs and training throughput of the gwkit models.

For each model: trainable parameters, forward FLOPs per sample (counted by
``torch.utils.flop_counter.FlopCounterMode``) and forward+backward samples/s on
CPU (and on CUDA when present), at input ``(batch, 2, 16384)``.

    python benchmarks/model_speed.py                       # all models
    python benchmarks/model_speed.py --models resnet1d_tiny gw_cnn_baseline --steps 5
    python benchmarks/model_speed.py --json runs/model_speed.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

try:
    import gwkit.models as gm
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import gwkit.models as gm

from gwkit.fileio import atomic_write


def count_flops(model: torch.nn.Module, input_length: int) -> int:
    """Forward FLOPs for one sample ``(1, 2, input_length)`` (a multiply-add counts 2)."""
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.randn(1, 2, input_length))
    return counter.get_total_flops()


def train_throughput(
    model: torch.nn.Module, device: torch.device, batch: int, steps: int, input_length: int
) -> float:
    """Forward+backward samples per second (one warm-up step, then ``steps`` timed steps)."""
    model = model.to(device).train()
    x = torch.randn(batch, 2, input_length, device=device)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        model(x).float().sum().backward()

    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return batch * steps / (time.perf_counter() - start)


def benchmark(
    names: list[str], batch: int, steps: int, input_length: int, devices: list[torch.device]
) -> list[dict[str, Any]]:
    """One result row per model."""
    rows = []
    for name in names:
        torch.manual_seed(0)
        model = gm.create_model(name, input_length=input_length)
        row: dict[str, Any] = {
            "model": name,
            "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "gflops_per_sample": count_flops(model, input_length) / 1e9,
        }
        for device in devices:
            row[f"{device.type}_samples_per_s"] = train_throughput(
                model, device, batch, steps, input_length
            )
        rows.append(row)
        print(_format_row(row, devices), flush=True)
    return rows


def _format_row(row: dict[str, Any], devices: list[torch.device]) -> str:
    speeds = "".join(f"{row[f'{d.type}_samples_per_s']:>16.1f}" for d in devices)
    return f"{row['model']:<18}{row['params']:>12,}{row['gflops_per_sample']:>12.3f}{speeds}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=None, help="default: all gwkit models")
    parser.add_argument("--batch", type=int, default=8, help="batch size")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per device")
    parser.add_argument("--input-length", type=int, default=16384, help="samples per detector")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-cuda", action="store_true", help="skip CUDA even if present")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.models or gm.list_models()
    unknown = sorted(set(names) - set(gm.list_models()))
    if unknown:
        parser.error(f"unknown models {unknown}; available: {', '.join(gm.list_models())}")
    devices = [torch.device("cpu")]
    if torch.cuda.is_available() and not args.no_cuda:
        devices.append(torch.device("cuda"))

    speeds = "".join(f"{d.type + ' samples/s':>16}" for d in devices)
    print(f"input (B={args.batch}, 2, {args.input_length}), forward+backward, "
          f"{args.steps} timed steps, {torch.get_num_threads()} CPU threads")
    print(f"{'model':<18}{'params':>12}{'GFLOP/smp':>12}{speeds}")
    rows = benchmark(names, args.batch, args.steps, args.input_length, devices)

    if args.json:
        meta = {
            "batch": args.batch, "steps": args.steps, "input_length": args.input_length,
            "cpu_threads": torch.get_num_threads(), "torch": torch.__version__,
            "platform": platform.platform(),
            "cuda_device": torch.cuda.get_device_name() if len(devices) > 1 else None,
        }
        with atomic_write(args.json) as fh:
            json.dump({"meta": meta, "results": rows}, fh, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
