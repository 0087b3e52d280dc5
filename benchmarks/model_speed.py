"""Parameters, FLOPs and training throughput of the gwkit models.

For each model: trainable parameters, forward FLOPs per sample (counted by
``torch.utils.flop_counter.FlopCounterMode``) and forward+backward samples/s on
CPU (and on CUDA when present), at input ``(batch, 2, 16384)``.

The 2-D path (``spec2d``) is also timed in its two parts: the CQT front-end
alone (forward; it has no weights) and each ``--backbones`` timm model alone on
the CQT images (forward+backward), for the image shape that ``--bins-per-octave``,
``--hop-length`` and ``--image-chans`` give.

    python benchmarks/model_speed.py                       # all models, efficientnet_b0 on CQT
    python benchmarks/model_speed.py --models resnet1d_tiny gw_cnn_baseline --steps 5
    python benchmarks/model_speed.py --models spec2d --backbones resnet18 mobilenetv3_small_100 \\
        --bins-per-octave 8 --hop-length 128 --image-chans 1 --threads 1
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

# gwkit before torch: importing it sets OMP_WAIT_POLICY=PASSIVE, read when torch loads
try:
    import gwkit.models as gm
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import gwkit.models as gm

import torch
from torch.utils.flop_counter import FlopCounterMode

from gwkit.core.fileio import atomic_write


def count_flops(model: torch.nn.Module, input_length: int) -> int:
    """Forward FLOPs for one sample ``(1, 2, input_length)`` (a multiply-add counts 2)."""
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.randn(1, 2, input_length))
    return counter.get_total_flops()


def train_throughput(
    model: torch.nn.Module, device: torch.device, batch: int, steps: int,
    input_shape: tuple[int, ...],
) -> float:
    """Forward+backward samples per second on ``(batch, *input_shape)`` inputs (one warm-up
    step, then ``steps`` timed steps)."""
    model = model.to(device).train()
    x = torch.randn(batch, *input_shape, device=device)

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
                model, device, batch, steps, (2, input_length)
            )
        rows.append(row)
        print(_format_row(row, devices), flush=True)
    return rows


def frontend_throughput(
    cqt: torch.nn.Module, device: torch.device, batch: int, steps: int, input_length: int,
    channels: int,
) -> float:
    """CQT front-end forward samples per second (``channels`` detectors per sample)."""
    cqt = cqt.to(device)
    x = torch.randn(batch, channels, input_length, device=device)
    with torch.no_grad():
        cqt(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        for _ in range(steps):
            cqt(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return batch * steps / (time.perf_counter() - start)


def benchmark_2d(
    backbones: list[str], batch: int, steps: int, input_length: int,
    devices: list[torch.device], bins_per_octave: int, hop_length: int, image_chans: int,
) -> list[dict[str, Any]]:
    """The 2-D path in parts: one row for the CQT front-end, one per backbone."""
    import timm

    from gwkit.models.spectrogram import CQT

    cqt = CQT(bins_per_octave=bins_per_octave, hop_length=hop_length, input_length=input_length)
    image_shape = (image_chans, *cqt.output_shape(input_length))
    shape = "x".join(map(str, image_shape))
    rows: list[dict[str, Any]] = []
    row: dict[str, Any] = {"part": "cqt front-end", "image": shape, "params": 0}
    for device in devices:
        row[f"{device.type}_samples_per_s"] = frontend_throughput(
            cqt, device, batch, steps, input_length, image_chans
        )
    rows.append(row)
    print(_format_2d_row(row, devices), flush=True)
    for name in backbones:
        torch.manual_seed(0)
        model = timm.create_model(name, in_chans=image_chans, num_classes=1)
        counter = FlopCounterMode(display=False)
        model.eval()
        with torch.no_grad(), counter:
            model(torch.randn(1, *image_shape))
        row = {
            "part": name, "image": shape,
            "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "gflops_per_sample": counter.get_total_flops() / 1e9,
        }
        for device in devices:
            # the backbone alone, on CQT images
            row[f"{device.type}_samples_per_s"] = train_throughput(
                model, device, batch, steps, image_shape
            )
        rows.append(row)
        print(_format_2d_row(row, devices), flush=True)
    return rows


def _format_2d_row(row: dict[str, Any], devices: list[torch.device]) -> str:
    speeds = "".join(f"{row[f'{d.type}_samples_per_s']:>16.1f}" for d in devices)
    flops = f"{row['gflops_per_sample']:>12.3f}" if "gflops_per_sample" in row else f"{'-':>12}"
    return f"{row['part']:<24}{row['image']:>10}{row['params']:>12,}{flops}{speeds}"


def _format_row(row: dict[str, Any], devices: list[torch.device]) -> str:
    speeds = "".join(f"{row[f'{d.type}_samples_per_s']:>16.1f}" for d in devices)
    return f"{row['model']:<18}{row['params']:>12,}{row['gflops_per_sample']:>12.3f}{speeds}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=None, help="default: all gwkit models")
    parser.add_argument("--batch", type=int, default=8, help="batch size")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per device")
    parser.add_argument("--input-length", type=int, default=16384, help="samples per detector")
    parser.add_argument("--backbones", nargs="*", default=["efficientnet_b0"],
                        help="timm 2-D backbones timed on CQT images (none: skip the 2-D table)")
    parser.add_argument("--bins-per-octave", type=int, default=12, help="CQT bins per octave")
    parser.add_argument("--hop-length", type=int, default=64, help="CQT hop in samples")
    parser.add_argument("--image-chans", type=int, default=2, choices=(1, 2),
                        help="detector channels imaged (1: channel 0 only, competition mode)")
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
    rows_2d: list[dict[str, Any]] = []
    if args.backbones:
        print(f"\n2-D path in parts: CQT front-end (forward) and backbones alone "
              f"(forward+backward) on (B={args.batch}, C, F, T) images")
        print(f"{'part':<24}{'CxFxT':>10}{'params':>12}{'GFLOP/smp':>12}{speeds}")
        rows_2d = benchmark_2d(args.backbones, args.batch, args.steps, args.input_length,
                               devices, args.bins_per_octave, args.hop_length, args.image_chans)

    if args.json:
        meta = {
            "batch": args.batch, "steps": args.steps, "input_length": args.input_length,
            "bins_per_octave": args.bins_per_octave, "hop_length": args.hop_length,
            "image_chans": args.image_chans,
            "cpu_threads": torch.get_num_threads(), "torch": torch.__version__,
            "platform": platform.platform(),
            "cuda_device": torch.cuda.get_device_name() if len(devices) > 1 else None,
        }
        with atomic_write(args.json) as fh:
            json.dump({"meta": meta, "results": rows, "results_2d": rows_2d}, fh, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
