"""Wall time of ``python -m gwkit.scan`` on the GW150914 files, stage by stage.

Stages: reading and checking the two files, resampling and whitening, cutting
the windows into competition-shaped rows, scoring them with the runs' folds
(on-source and, for physical-mode runs, the time slides), the whole CLI
(outputs and plot included) in this process, each timed once after a warm-up
of the models, and ``python -m gwkit.scan`` in a fresh process (imports too).

    python benchmarks/scan_speed.py                                  # weights/gwkit_resnet
    python benchmarks/scan_speed.py --runs weights/gwkit_cnn --threads 1 --json runs/scan.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# gwkit before torch: importing it sets OMP_WAIT_POLICY=PASSIVE, read when torch loads
try:
    import gwkit.scan as gs
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import gwkit.scan as gs

import torch

from gwkit.core.fileio import atomic_write
from gwkit.strain.gwosc import read_gwosc
from gwkit.strain.windows import competition_rows, sliding_windows

REPO = Path(__file__).resolve().parents[1]
FILES = ("H-H1_LOSC_4_V2-1126259446-32.hdf5", "L-L1_LOSC_4_V2-1126259446-32.hdf5")


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(REPO / "tests" / "data" / "gw150914"),
                   help="folder with the two GW150914 GWOSC files")
    p.add_argument("--runs", nargs="+", default=[str(REPO / "weights" / "gwkit_resnet")])
    p.add_argument("--stride", type=float, default=0.1, help="s between windows")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    paths = [Path(args.data) / name for name in FILES]
    missing = [str(q) for q in paths if not q.is_file()]
    if missing:
        raise SystemExit(f"scan_speed: missing {', '.join(missing)} (--data FOLDER)")

    device = torch.device(args.device)
    ensemble, t_load = _timed(lambda: gs.load_ensemble(args.runs, device))
    series, t_read = _timed(lambda: [read_gwosc(q) for q in paths])
    order = gs.DEFAULT_CHANNELS[ensemble.mode]
    series = sorted(series, key=lambda s: order.index(s.ifo))
    white, t_whiten = _timed(
        lambda: gs.whiten_strain(series, generator=torch.Generator().manual_seed(0)))
    nstride = round(args.stride * white.sample_rate)
    windows = sliding_windows(white.data, gs.WINDOW, nstride).transpose(0, 1)
    ensemble.logits(competition_rows(windows[:2]).numpy())  # warm-up
    rows, t_rows = _timed(lambda: competition_rows(windows).numpy())
    _, t_score = _timed(lambda: ensemble.logits(rows))
    result, t_scan = _timed(lambda: gs.scan(ensemble, white, stride=args.stride))
    cli = [*map(str, paths), "--runs", *args.runs, "--stride", str(args.stride),
           "--device", args.device]
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        _, t_cli = _timed(lambda: gs.main([*cli, "--out", tmp]))
    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        _, t_process = _timed(lambda: subprocess.run(
            [sys.executable, "-m", "gwkit.scan", *cli, "--out", tmp], env=env, check=True,
            capture_output=True))
    nbg = result.background["score"].size
    table = {
        "load checkpoints": t_load,
        "read 2 files": t_read,
        "resample + whiten": t_whiten,
        f"competition rows ({len(rows)} windows)": t_rows,
        f"model scores ({len(rows)} windows)": t_score,
        f"scan() incl. {result.background_kind} background ({nbg} windows kept)": t_scan,
        "whole CLI (outputs, plot)": t_cli,
        "python -m gwkit.scan, fresh process": t_process,
    }
    width = max(map(len, table))
    print(f"{'stage':<{width}}  seconds")
    for stage, seconds in table.items():
        print(f"{stage:<{width}}  {seconds:7.2f}")
    print(f"models: {ensemble.describe()}; torch threads {torch.get_num_threads()}; "
          f"{os.cpu_count()} CPUs; {platform.processor() or platform.machine()}")
    if args.json:
        with atomic_write(args.json) as fh:
            json.dump({"stages_s": table, "runs": args.runs, "stride_s": args.stride,
                       "threads": torch.get_num_threads(), "cpus": os.cpu_count()}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
