"""Export a run's fold ensemble as one ONNX, TorchScript or torch.export file with its contract.

    python -m gwkit.export --runs weights/gwkit_resnet --format onnx
    python -m gwkit.export --runs runs/a --format pt2 --out models/a.pt2

Every fold checkpoint of the runs (found as ``gwkit.predict`` finds them),
front-ends included, becomes one module whose output is one logit per row:
the mean of the folds' logits (then of the runs'), ``gwkit.predict``'s
default ensemble. Beside the file, ``<file>.json`` states its input contract
(shape ``(batch, 2, nsamples)``, float32, sample rate, channel order, data
mode), what the output is, and the source checkpoints with their SHA-256.
The written file is checked against the checkpoints on a few rows of white
noise before it replaces ``--out`` (default ``exports/<run>.<suffix>``).

A run's stacker (the hybrid detector) is not exported: the file is the
network alone. ``gwkit.predict``, ``gwkit.evaluate`` and ``gwkit.scan`` take
the file as a run (``--runs exports/gwkit_resnet.onnx``). ONNX needs the
``export`` extra (``pip install -e '.[export]'``: onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gwkit.core.cli import CommandParser, run_main
from gwkit.core.errors import GwkitError
from gwkit.core.fileio import check_writable
from gwkit.scoring.exported import FORMATS, SUFFIXES, export_runs
from gwkit.scoring.inference import contract_path, find_checkpoints, one_line

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = CommandParser(
        prog="python -m gwkit.export",
        description="Write the fold ensemble of trained runs as one ONNX, TorchScript or "
                    "torch.export file with its input contract (<file>.json).",
    )
    p.add_argument("--runs", nargs="+", required=True, metavar="RUN",
                   help="run folders (fold*/best.pt or *.pt inside) or .pt checkpoints, as "
                        "gwkit.predict takes them")
    p.add_argument("--format", choices=FORMATS, required=True,
                   help="onnx (.onnx, run with onnxruntime), torchscript (.pt, torch.jit.load) "
                        "or pt2 (.pt2, torch.export.load)")
    p.add_argument("--out", default=None,
                   help="the model file (default: exports/<run>.onnx|.pt|.pt2); its contract "
                        "is written beside it as <file>.json")
    return p


def _fail(message: str) -> SystemExit:
    return SystemExit(f"gwkit.export: {message}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from gwkit.core.devices import set_cpu_threads
    from gwkit.core.paths import output_dir

    try:
        checkpoints = find_checkpoints(args.runs)
        name = "+".join(dict.fromkeys(ck.run for ck in checkpoints))
        out = (Path(args.out) if args.out
               else output_dir("exports") / f"{name}{SUFFIXES[args.format]}")
        for path in (out, contract_path(out)):
            check_writable(path)
    except (OSError, GwkitError) as exc:
        raise _fail(one_line(exc)) from None
    print(f"exporting {len(checkpoints)} checkpoint(s) of {name} to {args.format} "
          f"({set_cpu_threads()})", flush=True)
    try:
        result = export_runs(args.runs, args.format, out)
    except (OSError, GwkitError) as exc:
        raise _fail(one_line(exc)) from None
    for run in result.stackers:
        print(f"note: {run} is a hybrid detector (stacker.json): exported its network only; "
              "the matched filter and stacker stay with gwkit.predict")
    size = result.path.stat().st_size / 1e6
    print(f"wrote {result.path} ({size:.1f} MB: {', '.join(result.models)}, {result.folds} "
          f"fold(s), {result.mode} mode, rows of {result.nsamples} samples) and "
          f"{result.contract.name}; its logits match the checkpoints' to "
          f"{result.max_difference:.1e} on white-noise rows")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, "gwkit.export"))
