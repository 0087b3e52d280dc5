"""Resident memory while training on a large fixed set (``--train-data``), against its size.

Writes once (cached under ``--cache``) a labelled set of ``--rows`` rows of float32
white noise in the competition's layout: ``test.npy`` (``(N, 1, 2, 16384)``,
128 KiB a row: 2.6 GB for 20,000 rows) with ``labels.csv`` and ``params.csv``
(half signals, 25 rows per waveform id, merger indices in the competition's
range), or the same as one gwkit HDF5 file (``--format hdf5``). Then it runs
``python -m gwkit.train --train-data FILE`` in a child process (the tiny 1-D
ResNet, ``--steps`` steps of ``--batch`` rows with time shifts and sign flips,
then one validation pass over the held-out fifth of the rows) and samples the
child's ``VmRSS`` (and its parts ``RssAnon``, ``RssFile``) from
``/proc/<pid>/status`` every 0.05 s. The same run on a ``--small-rows`` file
gives the floor (Python, torch, the model), so the table shows what the data
adds. Linux only (``/proc``).

    python benchmarks/train_data_memory.py                        # 20,000 rows, .npy
    python benchmarks/train_data_memory.py --format hdf5 --json reports/train_data_memory.json

The target of issue 18: peak resident memory while training on the 20,000-row
file stays below half of the file's size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

NSAMPLES = 16384
PEAK_RANGE = (10240, 11878)


def write_set(folder: Path, rows: int, fmt: str, seed: int = 0) -> Path:
    """The labelled set (once): ``folder/test.npy`` + CSVs, or ``folder/test.h5``; its path."""
    path = folder / ("test.npy" if fmt == "npy" else "test.h5")
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    target = (np.arange(rows) % 2).astype(np.int64)
    wid = np.where(target == 1, np.cumsum(target) // 25, -1)
    peak = np.where(target == 1, rng.integers(*PEAK_RANGE, rows), -1)
    params = pd.DataFrame({"id": np.arange(rows), "label": target, "waveform_id": wid,
                           "peak_index": peak, "mchirp": np.where(target == 1, 20.0, np.nan)})
    tmp = path.with_name(f".{path.name}.tmp")
    chunk = 500
    if fmt == "npy":
        x = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(rows, 1, 2, NSAMPLES))
        for lo in range(0, rows, chunk):
            x[lo:lo + chunk] = rng.standard_normal((min(chunk, rows - lo), 1, 2, NSAMPLES),
                                                   dtype=np.float32)
        x.flush()
        del x
        params[["id", "label"]].assign(snr_group=20.0).to_csv(folder / "labels.csv", index=False)
        params.to_csv(folder / "params.csv", index=False)
    else:
        import h5py

        with h5py.File(tmp, "w") as f:
            x = f.create_dataset("x", shape=(rows, 2, NSAMPLES), dtype=np.float32,
                                 chunks=(1, 2, NSAMPLES))
            for lo in range(0, rows, chunk):
                x[lo:lo + chunk] = rng.standard_normal((min(chunk, rows - lo), 2, NSAMPLES),
                                                       dtype=np.float32)
            f.create_dataset("y", data=target)
            f.create_dataset("snr_group", data=np.full(rows, 20.0))
            group = f.create_group("params")
            for name in ("waveform_id", "peak_index", "mchirp"):
                group.create_dataset(name, data=params[name].to_numpy())
            group.attrs["columns"] = ["waveform_id", "peak_index", "mchirp"]
            f.attrs["gwkit_format"] = 1
    os.replace(tmp, path)
    return path


def _status(pid: int) -> dict[str, int]:
    """``VmRSS``, ``RssAnon``, ``RssFile`` of ``pid`` in bytes (empty once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) * 1024
    return out


def train_and_watch(data: Path, work: Path, *, steps: int, batch: int) -> dict[str, float]:
    """Run a short training on ``data`` in a child process; peak memory and wall time."""
    preset = work / "preset.yaml"
    preset.write_text(yaml.safe_dump({
        "name": "memory", "model": "resnet1d_tiny", "device": "cpu", "num_threads": 1,
        "model_kwargs": {"layers": [1, 1], "channels": [8, 16], "stem_width": 8,
                         "frontend": {"decimate": 8, "flow": 15.0}},
        "out_dir": str(work / "runs"), "cache_dir": str(work / "cache"), "n_folds": 5,
        "epochs": 1, "steps_per_epoch": steps, "batch_size": batch, "eval_batch_size": 256,
        "warmup_steps": 0, "time_shift_p": 0.5, "sign_flip_p": 0.5,
    }))
    cmd = [sys.executable, "-m", "gwkit.train", "--preset", str(preset), "--fold", "0",
           "--train-data", str(data)]
    env = dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
    while proc.poll() is None:
        for key, value in _status(proc.pid).items():
            peak[key] = max(peak[key], value)
        time.sleep(0.05)
    output = proc.stdout.read()
    if proc.returncode:
        raise SystemExit(f"training failed ({proc.returncode}):\n{output[-2000:]}")
    return {"peak_rss": peak["VmRSS"], "peak_anon": peak["RssAnon"],
            "peak_file": peak["RssFile"], "wall_s": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=20000, help="rows of the big set (default 20,000)")
    p.add_argument("--small-rows", type=int, default=500, help="rows of the floor's set (default 500)")
    p.add_argument("--format", choices=("npy", "hdf5"), default="npy")
    p.add_argument("--steps", type=int, default=20, help="training steps (default 20)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--cache", type=Path, default=Path("cache") / "benchmarks")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    results = {"format": args.format, "steps": args.steps, "batch": args.batch, "runs": []}
    for rows in (args.small_rows, args.rows):
        data = write_set(args.cache / f"train_data_{args.format}_{rows}", rows, args.format)
        size = sum(f.stat().st_size for f in data.parent.iterdir() if f.is_file())
        with tempfile.TemporaryDirectory() as work:
            stats = train_and_watch(data, Path(work), steps=args.steps, batch=args.batch)
        results["runs"].append({"rows": rows, "file_bytes": size, **stats})
    gib = 2**30
    print(f"training on --train-data {args.format}, {args.steps} steps x {args.batch} rows, "
          "then validation on a fifth of the rows (one CPU thread)")
    print(f"{'rows':>7} {'file GiB':>9} {'peak RSS GiB':>13} {'anon GiB':>9} {'file-backed GiB':>16} "
          f"{'RSS / file':>11} {'wall s':>7}")
    for r in results["runs"]:
        print(f"{r['rows']:>7} {r['file_bytes'] / gib:>9.3f} {r['peak_rss'] / gib:>13.3f} "
              f"{r['peak_anon'] / gib:>9.3f} {r['peak_file'] / gib:>16.3f} "
              f"{r['peak_rss'] / r['file_bytes']:>11.3f} {r['wall_s']:>7.0f}")
    small, big = results["runs"]
    print(f"the {big['rows']}-row file adds {(big['peak_rss'] - small['peak_rss']) / 2**20:.0f} MiB "
          f"to the {small['rows']}-row run's peak ({small['peak_rss'] / 2**20:.0f} MiB); target: "
          f"peak below half the file ({big['file_bytes'] / 2 / gib:.2f} GiB): "
          f"{'met' if big['peak_rss'] < big['file_bytes'] / 2 else 'NOT met'}")
    if args.json:
        from gwkit.core.fileio import atomic_write

        with atomic_write(args.json) as fh:  # never through a link at --json
            fh.write(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
