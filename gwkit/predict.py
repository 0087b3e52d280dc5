"""Predict the competition's test.npy with trained fold checkpoints, ensemble, write a submission.

Usage::

    python -m gwkit.predict --runs runs/resnet_a runs/resnet_b --tta flip --ensemble logit
    python -m gwkit.predict --runs weights            # every run folder below weights/

A run is a folder holding ``fold*/best.pt`` (what ``gwkit.train`` writes) or
``*.pt`` files directly (e.g. ``weights/<model>/fold0.pt``); a folder holding
neither is searched for runs below it. Each checkpoint is rebuilt from its saved
model name and arguments.

Test-time augmentation (``--tta``): ``none``; ``flip`` averages the logits of
``x`` and ``-x`` (valid in both data modes); ``all`` adds the detector swap
(H1 <-> L1) for checkpoints whose ``config["mode"]`` is ``"physical"`` only.

Ensembling (``--ensemble``), first over the folds of a run, then over runs:
``mean`` (of probabilities), ``logit`` (sigmoid of the mean logit) or ``rank``
(mean of ranks scaled to [0, 1]).

Outputs (atomically, only after the submission validates): ``--out`` (default
``gwkit.paths.output_dir()/submission.csv``) with ``id,target``, and per-fold
probabilities ``<out folder>/preds/<run>_<fold>.npy``. The CV AUC is reported
from the runs' ``oof.csv`` files (pooled over folds), per run and, when the runs
cover the same OOF ids, for the ensemble.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gwkit.devices import DeviceError, pick_device
from gwkit.fileio import atomic_path
from gwkit.metrics import roc_auc
from gwkit.submission import SubmissionError, validate_submission, write_submission

__all__ = [
    "Checkpoint",
    "cv_auc",
    "ensemble",
    "find_checkpoints",
    "main",
    "predict_checkpoint",
]

TTA_CHOICES = ("none", "flip", "all")
ENSEMBLE_CHOICES = ("mean", "logit", "rank")


@dataclass(frozen=True)
class Checkpoint:
    run: str  # display / file name of the run
    fold: str  # fold name ("fold0") or the .pt file's stem
    path: Path
    run_dir: Path


# --------------------------------------------------------------------------- discovery


def _run_checkpoints(folder: Path) -> list[Path]:
    """``fold*/best.pt`` in ``folder``, else ``*.pt`` directly in it (sorted)."""
    found = sorted(p for p in folder.glob("fold*/best.pt") if p.is_file())
    if found:
        return found
    return sorted(p for p in folder.glob("*.pt") if p.is_file())


def _find_runs(root: Path, depth: int = 3) -> list[Path]:
    """Folders at or below ``root`` that hold checkpoints (not searched below a run)."""
    if _run_checkpoints(root):
        return [root]
    if depth == 0:
        return []
    runs: list[Path] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        runs.extend(_find_runs(sub, depth - 1))
    return runs


def find_checkpoints(runs: Sequence[str | Path]) -> list[Checkpoint]:
    """Every fold checkpoint of every run; SystemExit when a run has none."""
    out: list[Checkpoint] = []
    names: set[str] = set()
    for given in runs:
        root = Path(given)
        if root.is_file() and root.suffix == ".pt":
            run_dirs, files = [root.parent], {root.parent: [root]}
        elif root.is_dir():
            run_dirs = _find_runs(root)
            files = {d: _run_checkpoints(d) for d in run_dirs}
        else:
            raise SystemExit(f"gwkit.predict: run {root} does not exist")
        if not run_dirs:
            raise SystemExit(
                f"gwkit.predict: no checkpoint found under {root} "
                "(expected fold*/best.pt or *.pt files)"
            )
        for run_dir in run_dirs:
            name = run_dir.name or "run"
            base, k = name, 1
            while name in names:
                k += 1
                name = f"{base}-{k}"
            names.add(name)
            for path in files[run_dir]:
                fold = path.parent.name if path.name == "best.pt" else path.stem
                out.append(Checkpoint(name, fold, path, run_dir))
    if not out:
        raise SystemExit("gwkit.predict: no checkpoint found (pass --runs RUN_DIR)")
    return out


# --------------------------------------------------------------------------- prediction


def tta_views(tta: str, mode: str) -> list[tuple[float, bool]]:
    """(sign, swap detectors) per view for a checkpoint trained in data ``mode``."""
    if tta not in TTA_CHOICES:
        raise ValueError(f"tta must be one of {TTA_CHOICES}, got {tta!r}")
    views = [(1.0, False)]
    if tta in ("flip", "all"):
        views.append((-1.0, False))
    if tta == "all" and mode == "physical":
        views += [(1.0, True), (-1.0, True)]
    return views


def predict_checkpoint(
    model, x: np.ndarray, views: Sequence[tuple[float, bool]], batch_size: int, device
) -> np.ndarray:
    """Mean over TTA ``views`` of the model's logits for ``x`` of shape ``(N, 2, L)``."""
    import torch

    n = x.shape[0]
    logits = np.zeros(n, dtype=np.float64)
    model.eval()
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size],
                                                          dtype=np.float32)).to(device)
            acc = torch.zeros(batch.shape[0], dtype=torch.float64, device=device)
            for sign, swap in views:
                view = batch.flip(1) if swap else batch
                out = model(view * sign if sign != 1.0 else view)
                acc += out.reshape(out.shape[0], -1)[:, 0].double()
            logits[start:start + batch.shape[0]] = (acc / len(views)).cpu().numpy()
    return logits


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


def _rank01(z: np.ndarray) -> np.ndarray:
    """Average ranks scaled to [0, 1] (0.5 for a single sample)."""
    from scipy.stats import rankdata

    z = np.asarray(z, dtype=np.float64)
    if z.size <= 1:
        return np.full(z.shape, 0.5)
    return (rankdata(z) - 1.0) / (z.size - 1.0)


def ensemble(groups: Sequence[Sequence[np.ndarray]], method: str) -> np.ndarray:
    """Combine logits: folds within each group (run) first, then the groups equally.

    ``mean``: mean probability; ``logit``: sigmoid of the mean logit; ``rank``:
    mean of [0, 1]-scaled ranks. Returns values in [0, 1].
    """
    if method not in ENSEMBLE_CHOICES:
        raise ValueError(f"ensemble must be one of {ENSEMBLE_CHOICES}, got {method!r}")
    to_space = {"mean": _sigmoid, "logit": lambda z: np.asarray(z, np.float64), "rank": _rank01}
    space = to_space[method]
    per_group = [np.mean([space(z) for z in group], axis=0) for group in groups if len(group)]
    if not per_group:
        raise ValueError("nothing to ensemble")
    combined = np.mean(per_group, axis=0)
    return _sigmoid(combined) if method == "logit" else np.clip(combined, 0.0, 1.0)


# --------------------------------------------------------------------------- CV from oof.csv


def _read_oof(run_dir: Path) -> pd.DataFrame | None:
    """The run's out-of-fold predictions pooled over folds (one row per id), or None."""
    files = sorted(run_dir.glob("fold*/oof.csv")) or sorted(run_dir.glob("oof.csv"))
    frames = []
    for f in files:
        try:
            df = pd.read_csv(f)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            print(f"warning: cannot read {f} ({exc}); skipped", file=sys.stderr)
            continue
        if not {"id", "target"} <= set(df.columns) or not ({"score", "logit"} & set(df.columns)):
            print(f"warning: {f} lacks id/target/score columns; skipped", file=sys.stderr)
            continue
        if "logit" not in df.columns:
            p = np.clip(df["score"].to_numpy(np.float64), 1e-12, 1 - 1e-12)
            df["logit"] = np.log(p / (1 - p))
        frames.append(df[["id", "target", "logit"]])
    if not frames:
        return None
    pooled = pd.concat(frames, ignore_index=True)
    return pooled.groupby("id", sort=True).mean()


def _auc(y: np.ndarray, score: np.ndarray) -> float | None:
    auc = roc_auc(y, score)
    return None if math.isnan(auc) else auc


def cv_auc(run_dirs: dict[str, Path], method: str) -> tuple[dict[str, float | None], float | None]:
    """(AUC per run, AUC of the ensemble or None) from the runs' ``oof.csv`` files."""
    oofs = {name: _read_oof(d) for name, d in run_dirs.items()}
    per_run = {
        name: (None if oof is None else _auc(oof["target"].to_numpy(), oof["logit"].to_numpy()))
        for name, oof in oofs.items()
    }
    have = [o for o in oofs.values() if o is not None]
    if len(have) < 2 or len(have) != len(oofs):
        return per_run, (per_run[next(iter(per_run))] if len(oofs) == 1 else None)
    ids = have[0].index
    if any(not o.index.equals(ids) for o in have[1:]):
        return per_run, None
    score = ensemble([[o["logit"].to_numpy()] for o in have], method)
    return per_run, _auc(have[0]["target"].to_numpy(), score)


# --------------------------------------------------------------------------- CLI


def resolve_duplicates(x: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Exploit the course generator's shared seed (competition-mode data only; opt-in).

    Every SNR block of the test set was made with one seed, so rows drawn from
    the same block row share channel 1 (pure noise in competition mode). In such
    a group, a channel 0 that differs means the same signal at different SNRs
    (score 1, certain); identical channel 0 everywhere means noise (score 0),
    unless one signal row was drawn twice within one SNR block (rare in the
    real test set: ~100 draws from 10,000 rows per block). Other rows keep
    their scores. Returns the new scores and the counts set to 0 and 1.
    """
    from gwkit.data.duplicates import duplicate_groups

    out = np.array(target, dtype=np.float64, copy=True)
    n0 = n1 = 0
    for group in duplicate_groups(x)[1]:
        first = np.asarray(x[group[0], 0])
        if all(np.array_equal(first, x[r, 0]) for r in group[1:]):
            out[group], n0 = 0.0, n0 + len(group)
        else:
            out[group], n1 = 1.0, n1 + len(group)
    return out, n0, n1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gwkit.predict",
        description="Predict test.npy with fold checkpoints, ensemble, write id,target CSV.",
    )
    p.add_argument("--runs", nargs="+", default=None, metavar="RUN",
                   help="run folders (fold*/best.pt or *.pt inside), or folders of runs "
                        "(default: ./runs)")
    p.add_argument("--data", default=None, help="test.npy or its folder (default: located)")
    p.add_argument("--tta", choices=TTA_CHOICES, default="none")
    p.add_argument("--ensemble", choices=ENSEMBLE_CHOICES, default="mean")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda:0, ...")
    p.add_argument("--out", default=None,
                   help="submission CSV (default: output_dir()/submission.csv)")
    p.add_argument("--dedupe", action="store_true",
                   help="resolve rows that share channel-1 noise (exploits the course generator's "
                        "shared seed; competition-mode data only; off by default)")
    return p


def _one_line(err: BaseException) -> str:
    return "; ".join(line.strip() for line in str(err).splitlines() if line.strip())


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.batch_size < 1:
        raise SystemExit("gwkit.predict: --batch-size must be at least 1")

    from gwkit.data import DataError, load_test_npy
    from gwkit.paths import locate_data, output_dir

    out = Path(args.out) if args.out else output_dir() / "submission.csv"
    checkpoints = find_checkpoints(args.runs or ["runs"])
    try:
        data_path = locate_data(args.data)
        x = load_test_npy(data_path, layout="flat")
    except (FileNotFoundError, DataError) as exc:
        raise SystemExit(f"gwkit.predict: {_one_line(exc)}") from None
    n = x.shape[0]

    import torch

    from gwkit.models import load_checkpoint

    try:
        device = pick_device(args.device)
    except DeviceError as exc:
        raise SystemExit(f"gwkit.predict: {exc}") from None
    print(f"test data: {data_path} ({n} samples); device: {device}; "
          f"{len(checkpoints)} checkpoint(s); tta={args.tta}; ensemble={args.ensemble}")
    logits: dict[str, list[np.ndarray]] = {}
    per_fold: list[tuple[Checkpoint, np.ndarray]] = []
    for ck in checkpoints:
        try:
            model, meta = load_checkpoint(ck.path, map_location=device)
        except (ValueError, FileNotFoundError) as exc:
            raise SystemExit(f"gwkit.predict: {_one_line(exc)}") from None
        config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
        mode = config.get("mode", "competition")
        views = tta_views(args.tta, mode)
        z = predict_checkpoint(model, x, views, args.batch_size, device)
        if not np.all(np.isfinite(z)):
            raise SystemExit(f"gwkit.predict: {ck.path} gave non-finite logits; nothing written")
        logits.setdefault(ck.run, []).append(z)
        per_fold.append((ck, z))
        print(f"  {ck.run}/{ck.fold}: {meta['model']['name']} mode={mode} views={len(views)} "
              f"mean p={_sigmoid(z).mean():.4f}")
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()

    target = ensemble(list(logits.values()), args.ensemble)
    if args.dedupe:
        target, n0, n1 = resolve_duplicates(x, target)
        print(f"dedupe: {n0} row(s) sharing noise set to 0, {n1} sharing a signal set to 1")
    try:  # validate before anything is written
        validate_submission(pd.DataFrame({"id": np.arange(n), "target": target}), n_expected=n)
    except SubmissionError as exc:
        raise SystemExit(f"gwkit.predict: refusing to write {out}: {exc}") from None

    preds_dir = out.parent / "preds"
    for ck, z in per_fold:
        with atomic_path(preds_dir / f"{ck.run}_{ck.fold}.npy") as tmp:
            np.save(tmp, _sigmoid(z).astype(np.float32))
    write_submission(out, target, n_expected=n)
    print(f"wrote {out} ({n} rows) and {len(per_fold)} per-fold prediction(s) in {preds_dir}")

    run_dirs: dict[str, Path] = {}
    for ck in checkpoints:
        run_dirs.setdefault(ck.run, ck.run_dir)
    per_run, ens = cv_auc(run_dirs, args.ensemble)
    for name, auc in per_run.items():
        print(f"CV AUC {name}: " + ("n/a (no oof.csv)" if auc is None else f"{auc:.5f}"))
    if len(per_run) > 1:
        print(f"CV AUC ensemble ({args.ensemble}): "
              + ("n/a (runs lack oof.csv or do not share OOF ids)" if ens is None else f"{ens:.5f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
