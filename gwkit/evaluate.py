"""``python -m gwkit.evaluate``: ROC/AUC report of detection scores on a labelled set.

Examples::

    # out-of-fold predictions of two runs (id,label,snr_group,logit columns), side by side
    python -m gwkit.evaluate --scores runs/a/oof.csv runs/b/oof.csv --names a b --out reports/ab
    # a scores CSV (or an id,target submission) against a labelled set
    python -m gwkit.evaluate --scores preds.csv --labels data/sim/labels.csv
    python -m gwkit.evaluate --scores preds.csv --labels data/sim/test.h5
    # score a labelled set with the runs' fold checkpoints, plus the matched filter
    python -m gwkit.evaluate --runs runs/a runs/b --data data/sim/test.h5 --matched-filter

Inputs. ``--scores``: CSVs with ``id`` and a score column (``score``, else
``logit``, else a submission's ``target`` when labels come from elsewhere;
``--score-column`` picks one); labels from the CSV itself (``label``,
``snr_group``) or from ``--labels`` / ``--data``: a CSV
(``id,label[,snr_group][,waveform_id]``), a gwkit ``.h5`` (datasets ``y``,
``snr_group``, ``params/waveform_id``; row index = id) or
a ``.npy`` next to ``labels.csv`` (what ``python -m gwkit.simulate`` writes),
joined on ``id``. Tables written before these names (``target`` for the label,
``snr`` for the group: the shipped ``weights/*/oof.csv``) are read as well
(:mod:`gwkit.data.columns`). ``--runs``: run folders (``fold*/best.pt`` or ``*.pt``), each
scored on ``--data`` with the folds' mean (``--ensemble``) as one score set.
A run with a ``stacker.json`` (``python -m gwkit.hybrid``) also gets its hybrid
detector scored, as the set ``<name>+mf``. ``--matched-filter``: the
template-bank matched filter (:mod:`gwkit.sim.mf_features`) on ``--data`` as
two more sets, ``matched_filter`` (peak SNR) and ``mf_bayes`` (log Bayes factor
over templates and time); its filter bank is ``--filter-bank``, else a
stacker's, else a seeded build cached in ``cache/``.

Outputs in ``--out`` (default ``reports/<first name>``, made a safe folder name;
when it already holds a report, ``reports/<first name>-2``, ``-3``, ... so both
are kept; an explicit ``--out`` is replaced, with a note): ``report.json``,
``summary.md`` (one column per set), PNGs (``roc.png``, ``efficiency.png``,
``roc_snr_<set>.png``, ``hist_<set>.png``) and, for sets scored here,
``scores_<set>.csv`` (``id,label,snr_group,score``) to reuse with ``--scores``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gwkit.core.text import plain_doc
from gwkit.data.columns import upgrade_labelled
from gwkit.evaluation import FPRS, ScoreSet, slug, write_report
from gwkit.fileio import atomic_write, check_writable
from gwkit.inference import ENSEMBLE_CHOICES, TTA_CHOICES

__all__ = ["load_labels", "load_scores", "open_data", "score_runs", "score_matched_filter", "main"]

DEFAULT_BANK = {"min_match": 0.95, "seed": 0, "patience": 300}


class EvaluateError(SystemExit):
    def __init__(self, message: str):
        super().__init__(f"gwkit.evaluate: {message}")


# --------------------------------------------------------------------------- labels and data


def _read_table(path: Path, what: str, **kwargs) -> pd.DataFrame:
    """``pd.read_csv`` of a scores or labels CSV; EvaluateError (one line) when unreadable."""
    try:
        return pd.read_csv(path, **kwargs)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        why = " ".join(str(exc).split()) or type(exc).__name__
        raise EvaluateError(f"{what} {path}: cannot read as a CSV table ({why})") from None


def _shown(value) -> str:
    """A table cell for a message: text quoted, numbers (NaN, inf) plain."""
    return repr(value) if isinstance(value, str) else str(value)


def _labelled(table: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """(``table`` with the current column names, the file's own name of its label column)."""
    column = "target" if "label" not in table and "target" in table else "label"
    return upgrade_labelled(table), column


def _labels(values, source: str, column: str = "label") -> np.ndarray:
    """Labels as int 0/1; EvaluateError naming the first row that is NaN, text or another value."""
    raw = pd.Series(values).reset_index(drop=True)
    numeric = pd.to_numeric(raw, errors="coerce")
    bad = np.flatnonzero(~numeric.isin([0, 1]).to_numpy())
    if bad.size:
        i = bad[0]
        raise EvaluateError(f"{source}: labels ({column}) must be 0 or 1; row {i} has "
                            f"{_shown(raw.iloc[i])} ({bad.size} bad row(s))")
    return numeric.to_numpy().astype(int)


def _finite_scores(values, source: str) -> np.ndarray:
    """Scores as float64; EvaluateError naming the first row that is NaN, inf or text."""
    raw = pd.Series(values).reset_index(drop=True)
    score = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(score))
    if bad.size:
        i = bad[0]
        raise EvaluateError(f"{source}: scores must be finite numbers; row {i} has "
                            f"{_shown(raw.iloc[i])} ({bad.size} bad row(s))")
    return score


def _h5_labels(path: Path) -> pd.DataFrame:
    import h5py

    from gwkit.data.competition import hdf5_snr_group_name

    with h5py.File(path, "r") as f:
        if "y" not in f:
            raise EvaluateError(f"{path} has no labels (dataset 'y')")
        y = _labels(f["y"][()], f"labels {path}", "y")
        table = pd.DataFrame({"id": np.arange(y.size), "label": y})
        if name := hdf5_snr_group_name(f):
            table["snr_group"] = f[name][()]
        if "params" in f and "waveform_id" in f["params"]:
            table["waveform_id"] = f["params"]["waveform_id"][()]
    return table


def _with_waveform_groups(table: pd.DataFrame, params: Path) -> pd.DataFrame:
    """``table`` with the ``waveform_id`` of ``params`` (a set's params.csv) when it lacks one.

    The competition reuses each waveform with 25 noise draws: without the
    groups, a bootstrap treats copies of one waveform as independent rows.
    """
    if "waveform_id" in table or not params.is_file() or "id" not in table:
        return table
    extra = _read_table(params, "parameters", usecols=lambda c: c in ("id", "waveform_id"))
    if {"id", "waveform_id"} <= set(extra.columns):
        table = table.merge(extra, on="id", how="left")
    return table


def load_labels(path: str | Path) -> pd.DataFrame:
    """Labels ``id, label[, snr_group][, waveform_id]`` from a CSV, a gwkit .h5, a .npy's
    labels.csv or a set's folder (legacy ``target``, ``snr`` columns read as these).

    The waveform groups come from the file itself or from ``params.csv`` beside it.
    """
    path = Path(path)
    if not path.exists():
        raise EvaluateError(f"labels {path} do not exist")
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        return _h5_labels(path)
    if suffix == ".npy" or path.is_dir():
        folder = path if path.is_dir() else path.parent
        csv = folder / "labels.csv"
        if not csv.is_file():
            raise EvaluateError(f"{path}: no labels.csv beside it")
        table = _with_waveform_groups(_read_table(csv, "labels"), folder / "params.csv")
    elif suffix == ".csv":
        table = _with_waveform_groups(_read_table(path, "labels"), path.parent / "params.csv")
    else:
        raise EvaluateError(f"labels {path}: expected .csv, .h5/.hdf5 or .npy")
    table, column = _labelled(table)
    if not {"id", "label"} <= set(table.columns):
        raise EvaluateError(f"labels {path}: need columns id and label, found {list(table.columns)}")
    if table["id"].duplicated().any():
        raise EvaluateError(f"labels {path}: duplicate ids")
    table["label"] = _labels(table["label"], f"labels {path}", column)
    return table


def _set_file(path: Path) -> Path:
    """The data file a path names: itself, or a set folder's test.npy or only .h5 file."""
    if not path.exists():
        raise EvaluateError(f"data {path} does not exist")
    if not path.is_dir():
        return path
    candidates = [path / "test.npy"] if (path / "test.npy").is_file() else sorted(
        p for p in path.iterdir() if p.suffix.lower() in (".h5", ".hdf5") and p.is_file())
    if len(candidates) != 1:
        raise EvaluateError(f"data {path}: a folder must hold test.npy or exactly one .h5 set "
                            f"(found {len(candidates)} .h5 files)")
    return candidates[0]


def open_data(path: str | Path):
    """(strain (N, 2, L) array-like read lazily, labels table, file attributes) of a labelled set."""
    path = _set_file(Path(path))
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        import h5py

        f = h5py.File(path, "r")  # kept open for the process's lifetime: rows are read in batches
        if "x" not in f or f["x"].ndim != 3:
            raise EvaluateError(f"{path}: expected dataset x of shape (N, 2, L)")
        attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
        return f["x"], _h5_labels(path), attrs
    if suffix == ".npy":
        from gwkit.data import DataError, load_test_npy

        try:
            x = load_test_npy(path, layout="flat", mmap=True)
        except DataError as exc:
            raise EvaluateError(str(exc)) from None
        return x, load_labels(path), {}
    raise EvaluateError(f"data {path}: expected a labelled .h5 or a .npy with labels.csv")


def _join(scores: pd.DataFrame, labels: pd.DataFrame, name: str) -> pd.DataFrame:
    if scores["id"].duplicated().any():
        raise EvaluateError(f"{name}: duplicate ids, cannot join with labels "
                            "(a combined oof.csv carries its own labels and SNR groups: omit --labels)")
    keep = [c for c in ("id", "label", "snr_group", "waveform_id") if c in labels]
    merged = scores.drop(columns=[c for c in keep if c != "id" and c in scores]).merge(
        labels[keep], on="id", how="left", validate="one_to_one")
    missing = np.flatnonzero(merged["label"].isna().to_numpy())
    if missing.size:
        raise EvaluateError(f"{name}: {missing.size} ids have no label (first: id "
                            f"{merged['id'].iloc[missing[0]]!r} is not in the labels)")
    if len(labels) != len(merged):
        print(f"note: {name} scores {len(merged)} of the {len(labels)} labelled rows", file=sys.stderr)
    return merged


def load_scores(path: str | Path, *, name: str, labels: pd.DataFrame | None = None,
                score_column: str | None = None) -> ScoreSet:
    """One score set from a CSV (labels from the CSV itself or joined from ``labels`` on id)."""
    path = Path(path)
    if not path.is_file():
        raise EvaluateError(f"scores {path} do not exist")
    table, column = _read_table(path, "scores"), "label"
    if {"score", "logit"} & set(table.columns):  # a table with scores: a target is its label
        table, column = _labelled(table)
    if score_column is None:
        options = ["score", "logit"] + (["target"] if labels is not None else [])
        score_column = next((c for c in options if c in table), None)
        if score_column is None:
            raise EvaluateError(f"{path}: no score column (score, logit{', target' if labels is not None else ''});"
                                f" found {list(table.columns)}")
    elif score_column not in table:
        raise EvaluateError(f"{path}: no column {score_column!r}; found {list(table.columns)}")
    table = table.rename(columns={score_column: "_score"})
    if labels is not None:
        if "id" not in table:
            raise EvaluateError(f"{path}: needs an id column to join with labels")
        table = _join(table, labels, name)
    elif "label" not in table:
        raise EvaluateError(f"{path}: no label column; pass --labels")
    source = f"{path} (column {score_column})"
    return ScoreSet(
        name=name, y=_labels(table["label"], f"{path}", column),
        score=_finite_scores(table["_score"], source),
        snr_group=table["snr_group"].to_numpy() if "snr_group" in table else None,
        groups=table["waveform_id"].to_numpy() if "waveform_id" in table else None,
        source=source,
    )


# --------------------------------------------------------------------------- scoring here


def _set_from_labels(name: str, labels: pd.DataFrame, score: np.ndarray, source: str) -> ScoreSet:
    return ScoreSet(name=name, y=labels["label"].to_numpy(), score=score,
                    snr_group=labels["snr_group"].to_numpy() if "snr_group" in labels else None,
                    groups=labels["waveform_id"].to_numpy() if "waveform_id" in labels else None,
                    source=source)


def score_runs(runs: Sequence[str], x, *, data_mode: str | None, ensemble: str = "logit",
               batch_size: int = 64, device: str = "auto", tta: str = "none") -> dict[str, np.ndarray]:
    """``{run name: ensembled logit}`` of every run's fold checkpoints on ``x`` (N, 2, L)."""
    from gwkit.devices import pick_device
    from gwkit.inference import InferenceError
    from gwkit.inference import ensemble as combine
    from gwkit.inference import score_runs as fold_logits

    try:
        logits = fold_logits(runs, x, tta=tta, batch_size=batch_size, device=pick_device(device),
                             data_mode=data_mode)
    except InferenceError as exc:
        raise EvaluateError(str(exc)) from None
    return {run: combine([list(folds.values())], ensemble) for run, folds in logits.items()}


def score_matched_filter(x, *, filter_bank: str | None, mode: str, batch: int = 32,
                         device: str = "cpu", cache_dir: str = "cache", workers: int = 1
                         ) -> tuple[dict[str, np.ndarray], Path]:
    """(features of :class:`gwkit.sim.mf_features.MatchedFilter`, filter bank path) on ``x``."""
    from gwkit.sim.matched_filter import cached_filter_bank
    from gwkit.stack import StackError, matched_filter_features

    if filter_bank:
        path = Path(filter_bank)
        if not path.is_file():
            raise EvaluateError(f"filter bank {path} does not exist")
    else:
        path = cached_filter_bank(cache_dir, workers=workers, progress=True)
    t0 = time.perf_counter()
    try:
        features = matched_filter_features(path, x, mode=mode, device=device, batch=batch,
                                           progress=True)
    except StackError as exc:
        raise EvaluateError(str(exc)) from None
    print(f"  matched filter: {x.shape[0]} rows, {mode} mode, {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    return features, path


def _write_scores(path: Path, labels: pd.DataFrame, score: np.ndarray, **extra) -> None:
    cols = [c for c in ("id", "label", "snr_group", "waveform_id") if c in labels]
    table = labels[cols].copy()
    table["score"] = score
    for key, value in extra.items():
        table[key] = value
    with atomic_write(path, newline="") as fh:
        table.to_csv(fh, index=False)


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gwkit.evaluate", description=plain_doc(__doc__),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scores", nargs="+", default=[], metavar="CSV", help="score CSVs")
    p.add_argument("--labels", default=None, help="labels: .csv, .h5, or .npy with labels.csv")
    p.add_argument("--score-column", default=None, help="score column of the CSVs")
    p.add_argument("--runs", nargs="+", default=[], metavar="RUN", help="run folders to score on --data")
    p.add_argument("--data", default=None, help="labelled set (.h5, or .npy with labels.csv)")
    p.add_argument("--matched-filter", action="store_true", help="add the matched filter on --data")
    p.add_argument("--filter-bank", default=None,
                   help="filter bank .h5 of --matched-filter (default: a run's stacker's, else "
                        "a cached build)")
    p.add_argument("--mf-mode", choices=("competition", "physical"), default=None,
                   help="channels used by the matched filter (default: the data's mode, else competition)")
    p.add_argument("--no-stack", dest="stack", action="store_false",
                   help="score runs' networks only, not their hybrid (stacker.json)")
    p.add_argument("--names", nargs="+", default=None,
                   help="display names of the --scores then --runs sets, in order")
    p.add_argument("--out", default=None, help="report folder (default: reports/<first name>)")
    p.add_argument("--fpr", type=float, default=0.01, help="target FPR for the chosen threshold")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates for the AUC CI")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--ensemble", choices=ENSEMBLE_CHOICES, default="logit",
                   help="how a run's folds combine (gwkit.inference.ensemble; default: mean logit)")
    p.add_argument("--tta", choices=TTA_CHOICES, default="none",
                   help="test-time augmentation of --runs: flip (sign), all (+ detector swap in "
                        "physical mode); default none")
    p.add_argument("--batch-size", type=int, default=64, help="rows per forward pass of --runs")
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda:0, ...")
    p.add_argument("--workers", type=int, default=1, help="processes for a bank build")
    p.add_argument("--no-plots", action="store_true", help="write report.json and summary.md only")
    return p


def _default_name(path: Path) -> str:
    """A set's name from its file: the run (and fold) for oof/scores/submission files."""
    path = Path(os.path.abspath(path))  # "../submission.csv" is named after the real folder
    if path.stem in ("oof", "scores", "submission", "preds") and path.parent.name:
        parent = path.parent
        if parent.name.startswith("fold") and parent.parent.name:
            return f"{parent.parent.name}-{parent.name}"
        return parent.name
    return path.stem


def _report_folder(given: str | None, first_name: str) -> Path:
    """``--out``, or ``reports/<slug>`` (``-2``, ``-3``, ... when an earlier report is there)."""
    if given:
        out = Path(given)
        if (out / "report.json").is_file():
            print(f"note: replacing the earlier report in {out} (--out)", file=sys.stderr)
        return out
    base = Path("reports") / slug(first_name)
    out, k = base, 1
    while out.exists() and (not out.is_dir() or any(out.iterdir())):
        k += 1
        out = base.with_name(f"{base.name}-{k}")
    if out != base:
        print(f"note: {base} holds an earlier report, kept; writing {out} (--out chooses)",
              file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not (args.scores or args.runs or args.matched_filter):
        raise EvaluateError("nothing to evaluate: give --scores, --runs or --matched-filter")
    if (args.runs or args.matched_filter) and not args.data:
        raise EvaluateError("--runs and --matched-filter need --data (a labelled set)")
    if not 0.0 < args.fpr < 1.0:
        raise EvaluateError(f"--fpr must lie in (0, 1), got {args.fpr}")
    nnamed = len(args.scores) + len(args.runs)
    if args.names is not None and len(args.names) != nnamed:
        raise EvaluateError(f"--names gives {len(args.names)} names for {nnamed} score sets")
    try:
        check_writable(args.out or "reports", folder=True)
    except OSError as exc:
        raise EvaluateError(f"--out {exc}") from None

    sets: list[ScoreSet] = []
    names = list(args.names) if args.names else []
    labels = load_labels(args.labels) if args.labels else None
    x = data_labels = None
    attrs: dict = {}
    if args.data:
        x, data_labels, attrs = open_data(args.data)
        if "label" not in data_labels:
            raise EvaluateError(f"{args.data} has no labels")
    for i, csv in enumerate(args.scores):
        name = names[i] if names else _default_name(Path(csv))
        join = labels if labels is not None else None
        if join is None and data_labels is not None:
            head = _read_table(Path(csv), "scores", nrows=0).columns
            carries_labels = {"label", "target"} & set(head) and {"score", "logit"} & set(head)
            join = None if carries_labels else data_labels
        sets.append(load_scores(csv, name=name, labels=join, score_column=args.score_column))

    computed: dict[str, tuple[np.ndarray, dict]] = {}
    data_mode = attrs.get("mode")
    mode = args.mf_mode or (data_mode if data_mode in ("competition", "physical") else "competition")
    from gwkit.devices import pick_device, set_cpu_threads

    device = str(pick_device(args.device))
    if args.runs or args.matched_filter:
        print(f"device {device}; {set_cpu_threads()}", flush=True)
    stackers: dict[str, Path] = {}
    if args.runs:
        from gwkit.inference import find_checkpoints
        from gwkit.stack import StackError, find_stacker, stacked_logits

        scores = score_runs(args.runs, x, data_mode=data_mode, ensemble=args.ensemble,
                            batch_size=args.batch_size, device=args.device, tta=args.tta)
        run_dirs = {ck.run: ck.run_dir for ck in find_checkpoints(args.runs)}
        names_of = {}
        for j, (run, score) in enumerate(scores.items()):
            name = names[len(args.scores) + j] if names and len(args.scores) + j < len(names) else run
            names_of[run] = name
            computed[name] = (score, {})
            sets.append(_set_from_labels(name, data_labels, score,
                                         f"{run}: folds on {args.data} ({args.ensemble})"))
            if args.stack and (path := find_stacker(run_dirs[run])) is not None:
                stackers[run] = path
        if stackers and args.ensemble == "rank":
            raise EvaluateError("--ensemble rank gives ranks, not logits: a stacker needs logits")
        try:
            hybrid = stacked_logits(stackers, scores, x, device=device,
                                    batch=max(1, args.batch_size // 2), progress=True)
        except StackError as exc:
            raise EvaluateError(str(exc)) from None
        for run, score in hybrid.items():
            name = f"{names_of[run]}+mf"
            computed[name] = (score, {})
            sets.append(_set_from_labels(name, data_labels, score,
                                         f"{run}: hybrid ({stackers[run]}) on {args.data}"))
    if args.matched_filter:
        from gwkit.stack import stacker_bank

        bank = args.filter_bank or stacker_bank(stackers)
        feats, bank_path = score_matched_filter(
            x, filter_bank=bank, mode=mode, batch=max(1, args.batch_size // 2), device=device,
            workers=args.workers)
        where = {"template": feats["mf_template"].astype(int), "mf_time": feats["mf_time"]}
        for name, key, what in (("matched_filter", "mf_snr", "peak SNR"),
                                ("mf_bayes", "mf_lse_time", "log Bayes factor")):
            computed[name] = (feats[key], where)
            sets.append(_set_from_labels(name, data_labels, feats[key],
                                         f"matched filter ({what}) on {args.data} ({mode} mode, "
                                         f"filter bank {bank_path})"))

    files = [slug(st.name) for st in sets]
    twice = next((st.name for st, f in zip(sets, files) if files.count(f) > 1), None)
    if twice is not None:
        raise EvaluateError(f"two score sets would share the name {slug(twice)!r} "
                            f"(from {twice!r}); give distinct --names")
    out = _report_folder(args.out, sets[0].name)
    report = write_report(sets, out, target_fpr=args.fpr, fprs=FPRS, n_boot=args.bootstrap,
                          seed=args.seed, plots=not args.no_plots,
                          extra={"data": args.data, "labels": args.labels} if args.data or args.labels else None)
    for name, (score, extra) in computed.items():
        _write_scores(out / f"scores_{slug(name)}.csv", data_labels, score, **extra)
    print((out / "summary.md").read_text())
    print(f"wrote {out}/report.json, summary.md and {len(report['plots'])} plot(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
