"""OpenMP wait policy on a shared CPU: the kit's default against hand-set and spinning threads.

Runs the same two jobs under three environments, side by side, while
``--busy`` other processes each keep one core busy (a Kaggle notebook, a
browser, a second training run):

* ``default``: nothing set; importing gwkit sets ``OMP_WAIT_POLICY=PASSIVE``;
* ``passive``: ``OMP_WAIT_POLICY=PASSIVE`` set by hand (the reference);
* ``active``: ``OMP_WAIT_POLICY=ACTIVE``: threads spin while they wait;
* ``torch-first``: nothing set and torch loaded before gwkit, so OpenMP keeps
  its own default (spin for a while, then sleep): the kit before it set the policy.

The jobs: training throughput of a preset (``benchmarks/train_speed.py``:
engine + forward + backward + AdamW, samples/s) and ``python -m
gwkit.predict`` of a shipped run on a simulated set (CPU seconds, user +
system, and wall seconds). Each is one subprocess with the chosen
environment; rounds alternate the environments so a drift in the machine's
load hits all three alike.

    python benchmarks/thread_policy.py                      # 1 busy process, 2 rounds
    python benchmarks/thread_policy.py --busy 0 --json runs/thread_policy.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENVIRONMENTS = {"default": None, "passive": "PASSIVE", "active": "ACTIVE", "torch-first": None}
#: ``torch-first``: torch loaded before gwkit, so gwkit cannot set the policy: OpenMP's own
#: default (spin, then sleep), what every command got before gwkit set it
TORCH_FIRST = ("import sys, runpy, torch; target = sys.argv[1]; sys.argv = sys.argv[1:]; "
               "runpy.run_path(target, run_name='__main__') if target.endswith('.py') else "
               "runpy.run_module(target, run_name='__main__', alter_sys=True)")
BUSY_LOOP = "while True: pass"


def _env(policy: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall s, CPU s of the child, stdout); raises with its stderr when it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    tic = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - tic
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def _command(target: str, args: list[str], torch_first: bool = False) -> list[str]:
    """Run ``target`` (a script or a module name) with ``args``, torch loaded first if asked."""
    if torch_first:
        return [sys.executable, "-c", TORCH_FIRST, target, *args]
    return [sys.executable, target, *args] if target.endswith(".py") else [
        sys.executable, "-m", target, *args]


def train_rate(preset: str, steps: int, batch: int, bank: Path, env: dict[str, str],
               out: Path, torch_first: bool = False) -> float:
    """Training samples/s of ``preset`` (engine included) by benchmarks/train_speed.py."""
    _run(_command(str(REPO / "benchmarks" / "train_speed.py"), [
        "--models", f"preset:{preset}", "--batch", str(batch), "--steps", str(steps),
        "--bank", str(bank), "--no-cuda", "--json", str(out)], torch_first), env)
    return float(json.loads(out.read_text())["results"][0]["samples_per_s"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--busy", type=int, default=1, help="competing busy processes (default 1)")
    p.add_argument("--rounds", type=int, default=2, help="rounds over the environments")
    p.add_argument("--preset", default="demo", help="training preset (default demo)")
    p.add_argument("--steps", type=int, default=20, help="timed training steps per measurement")
    p.add_argument("--batch", type=int, default=64, help="training batch")
    p.add_argument("--runs", default=str(REPO / "weights" / "gwkit_resnet"),
                   help="run that predict scores (network only)")
    p.add_argument("--per-snr", type=int, default=20, help="rows per SNR of the predicted set")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        setup = _env("PASSIVE")
        print("preparing: a 32-waveform bank and a simulated set (not timed)", flush=True)
        _run([sys.executable, "-m", "gwkit.simulate", "bank", "--n", "32", "--out",
              str(tmp / "bank.h5")], setup)
        _run([sys.executable, "-m", "gwkit.simulate", "--per-snr", str(args.per_snr),
              "--draw", "independent", "--seed", "3", "--out", str(tmp / "set")], setup)
        predict = ["--runs", args.runs, "--no-stack", "--data", str(tmp / "set"),
                   "--out", str(tmp / "sub.csv")]
        busy = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(args.busy)]
        rows: dict[str, dict[str, list[float]]] = {
            name: {"samples_per_s": [], "predict_cpu_s": [], "predict_wall_s": []}
            for name in ENVIRONMENTS}
        try:
            for r in range(args.rounds):
                order = list(ENVIRONMENTS) if r % 2 == 0 else list(ENVIRONMENTS)[::-1]
                for name in order:
                    env, first = _env(ENVIRONMENTS[name]), name == "torch-first"
                    rate = train_rate(args.preset, args.steps, args.batch, tmp / "bank.h5", env,
                                      tmp / "speed.json", first)
                    wall, cpu, _ = _run(_command("gwkit.predict", predict, first), env)
                    rows[name]["samples_per_s"].append(rate)
                    rows[name]["predict_cpu_s"].append(cpu)
                    rows[name]["predict_wall_s"].append(wall)
                    print(f"  round {r + 1}/{args.rounds} {name:<8} {rate:8.1f} samples/s, "
                          f"predict {cpu:6.1f} s CPU {wall:6.1f} s wall", flush=True)
        finally:
            for proc in busy:
                proc.kill()
                proc.wait()

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    ref = mean(rows["passive"]["samples_per_s"])
    print(f"\n{args.busy} busy process(es) on {os.cpu_count()} CPUs; preset {args.preset}, "
          f"batch {args.batch}; predict {args.per_snr * 12} rows; means of {args.rounds} rounds")
    print(f"{'environment':<12}{'samples/s':>11}{'vs passive':>12}{'predict CPU s':>15}"
          f"{'predict wall s':>16}")
    summary = {}
    for name, r in rows.items():
        summary[name] = {k: mean(v) for k, v in r.items()}
        summary[name]["train_ratio_to_passive"] = summary[name]["samples_per_s"] / ref
        s = summary[name]
        print(f"{name:<12}{s['samples_per_s']:>11.1f}{s['train_ratio_to_passive']:>11.2f}x"
              f"{s['predict_cpu_s']:>15.1f}{s['predict_wall_s']:>16.1f}")
    if args.json:
        from gwkit.core.fileio import atomic_write

        meta = {"busy": args.busy, "rounds": args.rounds, "preset": args.preset,
                "batch": args.batch, "steps": args.steps, "predict_rows": args.per_snr * 12,
                "cpus": os.cpu_count(), "platform": platform.platform()}
        with atomic_write(args.json) as fh:
            json.dump({"meta": meta, "summary": summary, "rounds": rows}, fh, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
