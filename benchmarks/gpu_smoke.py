"""GPU smoke test: every CUDA path of gwkit in one command, with samples/s and peak memory.

    python benchmarks/gpu_smoke.py                    # CUDA when present, else the CPU fallback
    python benchmarks/gpu_smoke.py --json smoke.json  # also write the table as JSON

Stages, each on the chosen device, in this order:

========== ==================================================================
engine     training batches drawn by :class:`gwkit.engine.Sampler` on the device
fp32       optimizer steps of the ``gwkit_resnet`` preset's model
           (``gwkit.training.loop.make_learner`` / ``train_step``: clipping, EMA)
bf16       the same under ``torch.autocast(dtype=bfloat16)`` (``amp``)
compile    the same with ``torch.compile`` (``compile``)
ddp        ``torchrun --nproc_per_node 1``: this script as a worker that joins
           an nccl (CUDA) / gloo (CPU) process group, trains through
           ``DistributedDataParallel`` and all-reduces
train CLI  ``torchrun -m gwkit.train``: one short epoch with amp and compile
predict    the shipped ``weights/gwkit_resnet`` folds scored by ``gwkit.scoring.inference``
mf         matched-filter features (:class:`gwkit.sim.mf_features.MatchedFilter`)
           of the shipped filter bank, through ``gwkit.scoring.stack``
predict CLI ``python -m gwkit.predict --device ...`` on a small test.npy (the shipped
           hybrid detector: network folds, matched filter, stacker)
========== ==================================================================

The table gives samples (rows) per second and the peak memory of each stage:
``torch.cuda.max_memory_allocated`` on CUDA, the process's peak resident set on
the CPU (monotonic, so a stage shows the largest so far); the CLI stages show
their subprocess's host peak, the ddp stage its worker's own. A stage that fails prints its error in the table and the exit code
is 1. On a GPU the whole run takes a few minutes, mostly building the small
waveform bank with LALSuite on all cores and compiling the model.

CPU fallback (no CUDA, or ``--device cpu``): the same stages at small sizes,
without ``torch.compile`` and the train CLI (minutes of compilation on a CPU),
so that CI runs it (``tests/test_benchmarks.py``) and the first CUDA machine
it meets finds a script that already works.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

# gwkit before torch: importing it sets OMP_WAIT_POLICY=PASSIVE, read when torch loads
try:
    from gwkit.training.config import TrainConfig, load_preset
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from gwkit.training.config import TrainConfig, load_preset

import numpy as np
import torch

from gwkit.core.devices import pick_device
from gwkit.core.fileio import atomic_write

REPO = Path(__file__).resolve().parents[1]
PRESET = "gwkit_resnet"
WEIGHTS = REPO / "weights" / "gwkit_resnet"


@dataclass(frozen=True)
class Sizes:
    """How much work each stage does."""

    bank: int  # waveforms in the engine's bank
    templates: int  # templates in the matched filter's bank
    batch: int  # samples per training batch
    steps: int  # batches or optimizer steps per stage
    rows: int  # rows scored by the predict and matched-filter stages


GPU_SIZES = Sizes(bank=64, templates=64, batch=256, steps=20, rows=2048)
CPU_SIZES = Sizes(bank=8, templates=4, batch=16, steps=2, rows=32)


@dataclass
class Row:
    """One stage's result."""

    stage: str
    status: str  # "ok", "skipped: why" or "FAILED: error"
    samples: int = 0
    seconds: float = 0.0
    peak_mb: float = 0.0

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 and self.samples else 0.0


# --------------------------------------------------------------------------- measuring


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mb(device: torch.device, children: bool = False) -> float:
    if device.type == "cuda" and not children:
        return torch.cuda.max_memory_allocated(device) / 2**20
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024  # kB on Linux


def run_stage(name: str, fn: Callable[[], int | tuple[int, float]], device: torch.device, *,
              children: bool = False) -> Row:
    """Run ``fn`` and record peak memory; ``fn`` returns the samples it processed, or
    (samples, seconds) when only part of it (the steady state after a warm-up) is timed."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        t0 = time.perf_counter()
        result = fn()
        _synchronize(device)
        samples, seconds = result if isinstance(result, tuple) else \
            (result, time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - a smoke test reports every failure and goes on
        traceback.print_exc(file=sys.stderr)
        first = (str(exc).splitlines() or [""])[0]
        return Row(name, f"FAILED: {type(exc).__name__}: {first}"[:160])
    return Row(name, "ok", samples, seconds, _peak_mb(device, children))


# --------------------------------------------------------------------------- stages


def _config(device: torch.device, sizes: Sizes, **changes) -> TrainConfig:
    """The preset's model and optimisation, at smoke-test size, on ``device``."""
    return load_preset(PRESET).replace(device=str(device), batch_size=sizes.batch,
                                       ema=0.998, **changes)


def engine_stage(sampler, sizes: Sizes) -> int:
    gen = torch.Generator(device=sampler.device).manual_seed(0)
    for _ in range(sizes.steps):
        sampler.sample(sizes.batch, gen)
    return sizes.steps * sizes.batch


def train_stage(sampler, cfg: TrainConfig, device: torch.device, sizes: Sizes
                ) -> tuple[int, float]:
    """``sizes.steps`` optimizer steps of ``gwkit.training.loop``'s learner on engine batches, timed
    after one warm-up step (compilation, cuDNN autotuning)."""
    from gwkit.core.distributed import Dist
    from gwkit.training.loop import autocast_for, make_learner, train_step

    learner = make_learner(cfg, Dist(), device)
    autocast = autocast_for(cfg, device)
    gen = torch.Generator(device=sampler.device).manual_seed(1)
    learner.train_model.train()
    x, y = _batch(sampler, gen, sizes, device)
    train_step(learner, x, y, cfg, autocast)  # warm-up
    _synchronize(device)
    t0 = time.perf_counter()
    for _ in range(sizes.steps):
        x, y = _batch(sampler, gen, sizes, device)
        loss = train_step(learner, x, y, cfg, autocast)
    if not torch.isfinite(loss):
        raise RuntimeError(f"non-finite loss {float(loss)}")
    _synchronize(device)
    return sizes.steps * sizes.batch, time.perf_counter() - t0


def _batch(sampler, gen, sizes: Sizes, device: torch.device):
    b = sampler.sample(sizes.batch, gen)
    return b.x.to(device), b.y.to(device)


def ddp_worker(args: argparse.Namespace) -> int:
    """Under torchrun: join the process group, train through DDP, all-reduce, report JSON."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from gwkit.core.distributed import Dist
    from gwkit.engine import Sampler
    from gwkit.sim.bank import load_bank
    from gwkit.training.loop import make_learner, train_step

    device = pick_device(args.device, int(os.environ.get("LOCAL_RANK", "0")))
    sizes = CPU_SIZES if device.type == "cpu" else GPU_SIZES
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    try:
        cfg = _config(device, sizes)
        learner = make_learner(cfg, Dist(), device)
        ids = [device.index] if device.type == "cuda" else None
        learner.train_model = DistributedDataParallel(learner.model, device_ids=ids)
        sampler = Sampler(load_bank(args.bank), device=device)
        gen = torch.Generator(device=device).manual_seed(dist.get_rank())
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        for _ in range(sizes.steps):
            x, y = _batch(sampler, gen, sizes, device)
            train_step(learner, x, y, cfg)
        total = torch.ones((), device=device)
        dist.all_reduce(total)
        _synchronize(device)
        seconds = time.perf_counter() - t0
        if int(total.item()) != dist.get_world_size():
            raise RuntimeError(f"all_reduce gave {total.item()}, expected {dist.get_world_size()}")
        report = {"backend": backend, "samples": sizes.steps * sizes.batch, "seconds": seconds,
                  "peak_mb": _peak_mb(device)}
    finally:
        dist.destroy_process_group()
    with atomic_write(args.report) as fh:
        json.dump(report, fh)
    return 0


def _torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
            *args]


def _run(cmd: list[str], cwd: Path, timeout: float) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        lines = [re.sub(r"^\[rank\d+\]:\s*", "", line).strip()  # torchrun's prefix
                 for line in (done.stderr + done.stdout).splitlines() if line.strip().strip("=-")]
        errors = [line for line in lines if re.match(r"[\w.]*(Error|Exception): ", line)
                  and "torch.distributed.elastic" not in line]  # the worker's, not torchrun's
        why = (errors or lines or ["(no output)"])[-1]
        raise RuntimeError(f"{' '.join(cmd[2:5])} ... exited {done.returncode}: {why}")


def ddp_stage(bank_path: Path, device: torch.device, work: Path) -> Row:
    report = work / "ddp.json"
    row = run_stage("ddp (torchrun, 1 process)", lambda: _run(
        _torchrun(__file__, "--ddp-worker", "--device", str(device), "--bank", str(bank_path),
                  "--report", str(report)), work, timeout=600) or 0, torch.device("cpu"))
    if row.status != "ok":
        return row
    r = json.loads(report.read_text())
    return Row(f"ddp (torchrun, {r['backend']})", "ok", r["samples"], r["seconds"], r["peak_mb"])


def train_cli_stage(bank_path: Path, device: torch.device, work: Path, sizes: Sizes) -> int:
    """``torchrun -m gwkit.train``: one epoch of the preset with amp and torch.compile."""
    sets = [f"device={device}", "amp=true", "compile=true", "epochs=1",
            f"steps_per_epoch={sizes.steps}", f"batch_size={sizes.batch}", "val_per_snr=16",
            f"bank={bank_path}", "n_folds=2", f"out_dir={work / 'runs'}", "name=smoke"]
    _run(_torchrun("-m", "gwkit.train", "--preset", PRESET, "--fold", "0",
                   *[a for s in sets for a in ("--set", s)]), work, timeout=900)
    if not (work / "runs" / "smoke" / "fold0" / "best.pt").is_file():
        raise RuntimeError("gwkit.train wrote no best.pt")
    return sizes.steps * sizes.batch


def predict_stage(x: np.ndarray, device: torch.device) -> int:
    from gwkit.scoring.inference import score_runs

    logits = score_runs([WEIGHTS], x, batch_size=256, device=device, log=lambda _: None)
    z = np.concatenate([v for run in logits.values() for v in run.values()])
    if not np.all(np.isfinite(z)):
        raise RuntimeError("non-finite logits")
    return x.shape[0] * sum(len(run) for run in logits.values())


def filter_bank(work: Path, sizes: Sizes) -> Path:
    """The shipped hybrid's filter bank (``weights/gwkit_resnet/mf_bank.h5``, 644 templates);
    without it, a small one built here (LALSuite templates over the competition's prior)."""
    from gwkit.sim.matched_filter import TemplateBank
    from gwkit.sim.mf_features import FilterBank

    if (WEIGHTS / "mf_bank.h5").is_file():
        return WEIGHTS / "mf_bank.h5"
    bank = TemplateBank.build(sizes.templates, min_match=None, seed=0,
                              workers=os.cpu_count() or 1)
    return FilterBank.from_templates(bank).save(work / "mf_bank.h5")


def mf_stage(bank: Path, x: np.ndarray, device: torch.device) -> int:
    from gwkit.scoring.stack import matched_filter_features

    feats = matched_filter_features(bank, x, mode="competition", device=device, batch=64)
    if not np.all(np.isfinite(feats["mf_snr"])):
        raise RuntimeError("non-finite matched-filter SNR")
    return x.shape[0]


def predict_cli_stage(x: np.ndarray, device: torch.device, work: Path) -> int:
    np.save(work / "test.npy", x[:, None].astype(np.float64))
    _run([sys.executable, "-m", "gwkit.predict", "--runs", str(WEIGHTS), "--data",
          str(work / "test.npy"), "--device", str(device), "--out", str(work / "sub.csv")],
         work, timeout=600)
    return x.shape[0]


# --------------------------------------------------------------------------- the run


def smoke(device: torch.device, work: Path) -> list[Row]:
    """Every stage on ``device``; the rows of the table."""
    from gwkit.engine import Sampler
    from gwkit.sim.bank import build_bank, load_bank

    cpu = device.type == "cpu"
    sizes = CPU_SIZES if cpu else GPU_SIZES
    bank_path = build_bank(sizes.bank, work / "bank.h5", seed=0, workers=os.cpu_count(), chunk=16)
    sampler = Sampler(load_bank(bank_path), device=device)
    rows = [run_stage("engine", lambda: engine_stage(sampler, sizes), device)]
    for name, changes, skip in [("train fp32", {"amp": False}, None),
                                ("train bf16 autocast", {"amp": True, "amp_cpu": True}, None),
                                ("train torch.compile", {"amp": not cpu, "compile": True},
                                 "CPU fallback" if cpu else None)]:
        if skip:
            rows.append(Row(name, f"skipped: {skip}"))
            continue
        cfg = _config(device, sizes, **changes)
        rows.append(run_stage(name, lambda cfg=cfg: train_stage(sampler, cfg, device, sizes),
                              device))
    rows.append(ddp_stage(bank_path, device, work))
    if cpu:
        rows.append(Row("train CLI (torchrun)", "skipped: CPU fallback"))
    else:
        rows.append(run_stage("train CLI (torchrun)",
                              lambda: train_cli_stage(bank_path, device, work, sizes), device,
                              children=True))
    gen = torch.Generator(device=device).manual_seed(2)
    x = np.concatenate([sampler.sample(min(sizes.rows, 256), gen).x.cpu().numpy()
                        for _ in range(max(1, sizes.rows // 256))])
    rows.append(run_stage("predict (gwkit.scoring.inference)", lambda: predict_stage(x, device), device))
    try:
        bank = filter_bank(work, sizes)
    except Exception as exc:  # noqa: BLE001
        rows.append(Row("matched filter", f"FAILED: bank: {type(exc).__name__}: {exc}"[:160]))
    else:
        rows.append(run_stage("matched filter (mf_features)", lambda: mf_stage(bank, x, device),
                              device))
    rows.append(run_stage("predict CLI", lambda: predict_cli_stage(x[:64], device, work), device,
                          children=True))
    return rows


def table(rows: list[Row], device: torch.device) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    lines = [f"gwkit GPU smoke test on {device} ({name}); torch {torch.__version__}",
             f"{'stage':<30} {'samples/s':>10} {'peak MB':>9}  status"]
    for r in rows:
        rate = f"{r.samples_per_s:10.0f}" if r.samples_per_s else f"{'-':>10}"
        peak = f"{r.peak_mb:9.0f}" if r.peak_mb else f"{'-':>9}"
        lines.append(f"{r.stage:<30} {rate} {peak}  {r.status}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="auto (cuda when present, else cpu), cpu, cuda:N")
    p.add_argument("--json", type=Path, help="also write the table as JSON here")
    p.add_argument("--ddp-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--bank", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.ddp_worker:
        return ddp_worker(args)
    device = pick_device(args.device)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gwkit-smoke-") as tmp:
        rows = smoke(device, Path(tmp))
    print(table(rows, device))
    print(f"total {time.perf_counter() - t0:.0f} s")
    if args.json:
        with atomic_write(args.json) as fh:
            json.dump({"device": str(device), "rows": [dict(asdict(r), samples_per_s=r.samples_per_s)
                                                       for r in rows]}, fh, indent=2)
    return 1 if any(r.status.startswith("FAILED") for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
