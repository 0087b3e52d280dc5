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
``summary.md`` (one column per set: AUC with its CI, the partial AUC up to FPR
0.001, per-SNR AUC, TPR at FPR 0.1, 0.01, 0.001, accuracy), PNGs (``roc.png``, ``efficiency.png``,
``roc_snr_<set>.png``, ``hist_<set>.png``) and, for sets scored here,
``scores_<set>.csv`` (``id,label,snr_group,score``) to reuse with ``--scores``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gwkit.core.cli import DEVICE_HELP, CommandParser, run_main
from gwkit.core.errors import GwkitError
from gwkit.core.fileio import atomic_write, check_writable
from gwkit.core.outputs import check_outputs
from gwkit.core.text import plain_doc
from gwkit.data.labelled import ScoreSet, load_labels, load_scores, open_data, read_table
from gwkit.scoring.inference import ENSEMBLE_CHOICES, TTA_CHOICES
from gwkit.scoring.report import FPRS, slug, write_report
from gwkit.scoring.sets import matched_filter_scores, run_score_sets, score_set

__all__ = ["main"]


class EvaluateError(SystemExit):
    def __init__(self, message: str):
        super().__init__(f"gwkit.evaluate: {message}")


# --------------------------------------------------------------------------- CLI helpers


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
    p = CommandParser(prog="python -m gwkit.evaluate", description=plain_doc(__doc__),
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
                   help="how a run's folds combine (gwkit.scoring.inference.ensemble; default: mean logit)")
    p.add_argument("--tta", choices=TTA_CHOICES, default="none",
                   help="test-time augmentation of --runs: flip (sign), all (+ detector swap in "
                        "physical mode); default none")
    p.add_argument("--batch-size", type=int, default=64, help="rows per forward pass of --runs")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
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
    try:
        return _evaluate(args)
    except GwkitError as exc:  # the libraries' one-line errors (labelled sets, runs, filter)
        raise EvaluateError(str(exc)) from None


#: a score set computed here, by name: its scores and extra columns of ``scores_<name>.csv``
Computed = dict[str, tuple[np.ndarray, dict]]


def _evaluate(args: argparse.Namespace) -> int:
    """The report of ``args``' score sets (checks first, then scoring, then writing)."""
    _check_args(args)
    names = list(args.names) if args.names else []
    labels = load_labels(args.labels) if args.labels else None
    x = data_labels = None
    attrs: dict = {}
    if args.data:
        x, data_labels, attrs = open_data(args.data)
        if "label" not in data_labels:
            raise EvaluateError(f"{args.data} has no labels")
    sets = _csv_sets(args, names, labels, data_labels)

    computed: Computed = {}
    data_mode = attrs.get("mode")
    from gwkit.core.devices import pick_device, set_cpu_threads

    device = str(pick_device(args.device))
    if args.runs or args.matched_filter:
        print(f"device {device}; {set_cpu_threads()}", flush=True)
    stackers: dict[str, Path] = {}
    if args.runs:
        run_sets, run_computed, stackers = _run_sets(args, names, x, data_labels, data_mode,
                                                     device)
        sets += run_sets
        computed |= run_computed
    if args.matched_filter:
        mode = args.mf_mode or (data_mode if data_mode in ("competition", "physical")
                                else "competition")
        mf_sets, mf_computed = _matched_filter_sets(args, x, data_labels, mode, device, stackers)
        sets += mf_sets
        computed |= mf_computed
    _write(args, sets, computed, data_labels)
    return 0


def _check_args(args: argparse.Namespace) -> None:
    """EvaluateError naming the first option that cannot work, before any reading or scoring."""
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
        if args.out:  # the report's own files, before any scoring
            check_outputs([Path(args.out) / "report.json", Path(args.out) / "summary.md"])
    except OSError as exc:
        raise EvaluateError(f"--out {exc}") from None


def _csv_sets(args: argparse.Namespace, names: list[str], labels: pd.DataFrame | None,
              data_labels: pd.DataFrame | None) -> list[ScoreSet]:
    """The ``--scores`` CSVs, labelled by ``labels`` (``--labels``), else by themselves, else
    by ``data_labels`` (``--data``)."""
    sets = []
    for i, csv in enumerate(args.scores):
        name = names[i] if names else _default_name(Path(csv))
        join = labels
        if join is None and data_labels is not None:
            head = read_table(Path(csv), "scores", nrows=0).columns
            carries_labels = {"label", "target"} & set(head) and {"score", "logit"} & set(head)
            join = None if carries_labels else data_labels
        sets.append(load_scores(csv, name=name, labels=join, score_column=args.score_column))
    return sets


def _run_sets(args: argparse.Namespace, names: list[str], x, data_labels: pd.DataFrame,
              data_mode: str | None, device: str,
              ) -> tuple[list[ScoreSet], Computed, dict[str, Path]]:
    """Each ``--runs`` run's fold ensemble on ``--data``, then the hybrids of the runs with a
    stacker: the score sets, the same computed, and the stackers used by run."""
    from gwkit.scoring.inference import find_checkpoints
    from gwkit.scoring.stack import find_stacker, stacked_logits

    scores = run_score_sets(args.runs, x, data_mode=data_mode, ensemble=args.ensemble,
                            batch_size=args.batch_size, device=args.device, tta=args.tta)
    run_dirs = {ck.run: ck.run_dir for ck in find_checkpoints(args.runs)}
    sets: list[ScoreSet] = []
    computed: Computed = {}
    names_of, stackers = {}, {}
    for j, (run, score) in enumerate(scores.items()):
        k = len(args.scores) + j
        names_of[run] = name = names[k] if names and k < len(names) else run
        computed[name] = (score, {})
        sets.append(score_set(name, data_labels, score,
                              f"{run}: folds on {args.data} ({args.ensemble})"))
        if args.stack and (path := find_stacker(run_dirs[run])) is not None:
            stackers[run] = path
    if stackers and args.ensemble == "rank":
        raise EvaluateError("--ensemble rank gives ranks, not logits: a stacker needs logits")
    hybrid = stacked_logits(stackers, scores, x, device=device,
                            batch=max(1, args.batch_size // 2), progress=True)
    for run, score in hybrid.items():
        name = f"{names_of[run]}+mf"
        computed[name] = (score, {})
        sets.append(score_set(name, data_labels, score,
                              f"{run}: hybrid ({stackers[run]}) on {args.data}"))
    return sets, computed, stackers


def _matched_filter_sets(args: argparse.Namespace, x, data_labels: pd.DataFrame, mode: str,
                         device: str, stackers: dict[str, Path],
                         ) -> tuple[list[ScoreSet], Computed]:
    """The matched filter's peak SNR and log Bayes factor on ``--data`` (score sets, and the
    same computed); its filter bank is ``--filter-bank``, else a stacker's, else cached."""
    from gwkit.scoring.stack import stacker_bank

    bank = args.filter_bank or stacker_bank(stackers)
    feats, bank_path = matched_filter_scores(
        x, filter_bank=bank, mode=mode, batch=max(1, args.batch_size // 2), device=device,
        workers=args.workers)
    where = {"template": feats["mf_template"].astype(int), "mf_time": feats["mf_time"]}
    sets: list[ScoreSet] = []
    computed: Computed = {}
    for name, key, what in (("matched_filter", "mf_snr", "peak SNR"),
                            ("mf_bayes", "mf_lse_time", "log Bayes factor")):
        computed[name] = (feats[key], where)
        sets.append(score_set(name, data_labels, feats[key],
                              f"matched filter ({what}) on {args.data} ({mode} mode, "
                              f"filter bank {bank_path})"))
    return sets, computed


def _write(args: argparse.Namespace, sets: list[ScoreSet], computed: Computed,
           data_labels: pd.DataFrame | None) -> None:
    """The report of ``sets`` and the scores of the sets computed here, in the report folder."""
    files = [slug(st.name) for st in sets]
    twice = next((st.name for st, f in zip(sets, files) if files.count(f) > 1), None)
    if twice is not None:
        raise EvaluateError(f"two score sets would share the name {slug(twice)!r} "
                            f"(from {twice!r}); give distinct --names")
    out = _report_folder(args.out, sets[0].name)
    report = write_report(sets, out, target_fpr=args.fpr, fprs=FPRS, n_boot=args.bootstrap,
                          seed=args.seed, plots=not args.no_plots,
                          extra={"data": args.data, "labels": args.labels}
                          if args.data or args.labels else None)
    for name, (score, extra) in computed.items():
        _write_scores(out / f"scores_{slug(name)}.csv", data_labels, score, **extra)
    print((out / "summary.md").read_text())
    print(f"wrote {out}/report.json, summary.md and {len(report['plots'])} plot(s)")


if __name__ == "__main__":
    sys.exit(run_main(main, "gwkit.evaluate"))
