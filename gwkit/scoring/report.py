"""Evaluation reports for detection scores on a labelled set: numbers, tables and plots.

One *score set* is a score per row of a labelled set (``label`` 1 = signal,
0 = noise) with each row's SNR group (``snr_group``). For each set the report holds:

* pooled ROC AUC with a bootstrap 95% CI (rows resampled with replacement;
  when waveform ids are known, signal rows sharing a waveform are resampled
  together, since the competition reuses each waveform with 25 noise draws);
* per-SNR AUC: the signals of one SNR group against **all** noise rows
  (:func:`gwkit.core.metrics.per_snr_auc`);
* partial AUC up to FPR 0.001, McClish-standardised (0.5 = chance;
  :func:`gwkit.core.metrics.partial_auc`): the low-false-alarm end of the ROC curve
  a search works at; ``pauc_resolved`` is False below :data:`PAUC_MIN_NOISE` noise rows;
* TPR at FPR 0.1, 0.01, 0.001 (threshold from the noise rows, see
  :func:`threshold_at_fpr`; ``resolved`` is False when the set has fewer than
  1 / FPR noise rows, so that FPR cannot be reached except as 0);
* confusion matrix and accuracy at threshold 0.5 (only for scores that are
  probabilities, i.e. within [0, 1]) and at the threshold for a target FPR;
* the efficiency curve: TPR per SNR group at fixed FPR.

Plots (matplotlib, Agg): ROC curves per SNR on one figure per set (as in the
course slides, plus a log-FPR panel), pooled ROC of all sets, efficiency
curves of all sets, score histograms of noise and signals per set.

A row is called a detection when ``score > threshold`` (as
:func:`gwkit.core.metrics.accuracy`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gwkit.core.fileio import atomic_path, atomic_write
from gwkit.core.metrics import PAUC_MAX_FPR, partial_auc, per_snr_auc, roc_auc
from gwkit.data.folds import row_groups
from gwkit.data.labelled import ScoreSet

__all__ = [
    "FPRS",
    "PAUC_MIN_NOISE",
    "bootstrap_auc",
    "threshold_at_fpr",
    "tpr_at_fpr",
    "confusion",
    "bootstrap_auc_difference",
    "efficiency",
    "evaluate_set",
    "summary_markdown",
    "plot_roc_per_snr",
    "plot_roc_pooled",
    "plot_efficiency",
    "plot_histograms",
    "write_report",
]

FPRS: tuple[float, ...] = (0.1, 0.01, 0.001)
#: Noise rows the partial AUC up to FPR 0.001 needs: ten rows above that FPR. With
#: fewer it is biased high and noisy (a binormal detector of true pAUC 0.698:
#: 0.726 +- 0.062 on 1,000 noise rows and as many signals, 0.702 +- 0.021 on
#: 10,000; README).
PAUC_MIN_NOISE = 10_000


# ----------------------------------------------------------------------------- metrics


def _sorted_groups(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row order by score, start of each run of tied scores in that order)."""
    order = np.argsort(score, kind="stable")
    s = score[order]
    return order, np.flatnonzero(np.r_[True, s[1:] != s[:-1]])


def _auc_weighted(pos: np.ndarray, w: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Tie-aware AUC of rows in score order with weights ``w`` (..., N); NaN where a class is empty."""
    p = np.add.reduceat(w * pos, starts, axis=-1)
    q = np.add.reduceat(w * (1.0 - pos), starts, axis=-1)
    below = np.cumsum(q, axis=-1) - q
    den = p.sum(-1) * q.sum(-1)
    num = (p * (below + 0.5 * q)).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _replicate_aucs(y: np.ndarray, scores: Sequence[np.ndarray], *, n_boot: int, seed: int,
                    groups: np.ndarray | None, chunk: int) -> list[np.ndarray]:
    """Bootstrap replicate AUCs (n_boot,) of each score, all scored on the same resamples.

    Each replicate is the exact (tie-aware) AUC of the resample, computed from
    resampling counts as weights, ``chunk`` replicates at a time (one sort per
    score serves every replicate: sklearn's ``roc_auc_score(sample_weight=...)``
    would sort again each time).
    """
    rng = np.random.default_rng(seed)
    cluster = np.arange(y.size) if groups is None else row_groups(groups, y)
    ncl = int(cluster.max()) + 1
    sides = []
    for score in scores:
        order, starts = _sorted_groups(score)
        sides.append(((y[order] == 1).astype(np.float64), cluster[order], starts))
    out: list[list[np.ndarray]] = [[] for _ in scores]
    for b0 in range(0, n_boot, chunk):
        nb = min(chunk, n_boot - b0)
        counts = rng.multinomial(ncl, np.full(ncl, 1.0 / ncl), size=nb).astype(np.float64)
        for parts, (pos, cl, starts) in zip(out, sides):
            parts.append(_auc_weighted(pos, counts[:, cl], starts))
    return [np.concatenate(parts) for parts in out]


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _checked(y, scores: Sequence, level: float) -> tuple[np.ndarray, list[np.ndarray]]:
    y = np.asarray(y).astype(int).ravel()
    scores = [np.asarray(s, dtype=np.float64).ravel() for s in scores]
    if any(s.size != y.size for s in scores):
        raise ValueError(f"y has {y.size} rows, the scores {[s.size for s in scores]}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    return y, scores


def bootstrap_auc(
    y: np.ndarray,
    score: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    groups: np.ndarray | None = None,
    chunk: int = 100,
) -> tuple[float, float]:
    """Percentile bootstrap CI ``(lo, hi)`` of the ROC AUC; (nan, nan) if one class is missing.

    Rows are resampled with replacement; with ``groups`` (waveform id per row,
    negative/NaN for noise), signal rows of one waveform are resampled
    together (:func:`gwkit.data.folds.row_groups`).
    """
    y, (score,) = _checked(y, [score], level)
    if np.unique(y).size < 2 or n_boot < 1:
        return math.nan, math.nan
    (aucs,) = _replicate_aucs(y, [score], n_boot=n_boot, seed=seed, groups=groups, chunk=chunk)
    return _percentiles(aucs, level)


def bootstrap_auc_difference(
    y: np.ndarray,
    score_a: np.ndarray,
    score_b: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    groups: np.ndarray | None = None,
    chunk: int = 100,
) -> tuple[float, float, float]:
    """``(AUC_a - AUC_b, lo, hi)``: two detectors paired on the same rows, percentile CI.

    Each replicate resamples the rows once (a waveform's signal rows
    together, as :func:`bootstrap_auc`) and scores both detectors on that
    same resample, so the interval is of the difference itself: far narrower
    than the two AUCs' own intervals when the detectors agree on most rows.
    """
    y, (a, b) = _checked(y, [score_a, score_b], level)
    diff = roc_auc(y, a) - roc_auc(y, b)
    if np.unique(y).size < 2 or n_boot < 1:
        return diff, math.nan, math.nan
    auc_a, auc_b = _replicate_aucs(y, [a, b], n_boot=n_boot, seed=seed, groups=groups,
                                   chunk=chunk)
    return (diff, *_percentiles(auc_a - auc_b, level))


def threshold_at_fpr(y: np.ndarray, score: np.ndarray, fpr: float) -> float:
    """The lowest threshold (a noise score) such that FPR = P(noise score > t) <= ``fpr``.

    With ``n0`` noise rows this is the (floor(fpr * n0) + 1)-th largest noise
    score; when ``fpr * n0 < 1`` it is the largest noise score (FPR 0).
    """
    y = np.asarray(y).astype(int).ravel()
    score = np.asarray(score, dtype=np.float64).ravel()
    if not 0.0 <= fpr < 1.0:
        raise ValueError(f"fpr must lie in [0, 1), got {fpr}")
    noise = np.sort(score[y == 0])[::-1]
    if noise.size == 0:
        raise ValueError("no noise rows: the false-positive rate is undefined")
    k = int(math.floor(fpr * noise.size + 1e-9))
    return float(noise[k])


def confusion(y: np.ndarray, score: np.ndarray, threshold: float) -> dict:
    """Confusion matrix at ``score > threshold``: tn, fp, fn, tp, accuracy, tpr, fpr."""
    from sklearn.metrics import confusion_matrix

    y = np.asarray(y).astype(int).ravel()
    pred = (np.asarray(score, dtype=np.float64).ravel() > threshold).astype(int)
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, pred, labels=[0, 1]).ravel())
    n1, n0 = tp + fn, tn + fp
    return {
        "threshold": float(threshold), "tn": tn, "fp": fp, "fn": fn, "tp": tp,
        "accuracy": (tp + tn) / y.size if y.size else math.nan,
        "tpr": tp / n1 if n1 else math.nan, "fpr": fp / n0 if n0 else math.nan,
    }


def tpr_at_fpr(y: np.ndarray, score: np.ndarray, fpr: float) -> dict:
    """TPR at the :func:`threshold_at_fpr` threshold: threshold, tpr, realised fpr, resolved."""
    y = np.asarray(y).astype(int).ravel()
    t = threshold_at_fpr(y, score, fpr)
    c = confusion(y, score, t)
    n0 = int(np.sum(y == 0))
    return {"threshold": t, "tpr": c["tpr"], "fpr": c["fpr"], "resolved": bool(fpr * n0 >= 1)}


def efficiency(y: np.ndarray, score: np.ndarray, snr: np.ndarray, threshold: float) -> dict[float, float]:
    """``{snr: TPR of that SNR group's signals at score > threshold}``, sorted by SNR."""
    y = np.asarray(y).astype(int).ravel()
    score = np.asarray(score, dtype=np.float64).ravel()
    snr = np.asarray(snr, dtype=np.float64).ravel()
    sig = y == 1
    return {float(s): float(np.mean(score[sig & (snr == s)] > threshold))
            for s in np.unique(snr[sig])}


def _key(value: float) -> str:
    return f"{value:g}"


def evaluate_set(
    s: ScoreSet,
    *,
    fprs: Sequence[float] = FPRS,
    target_fpr: float = 0.01,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """Every number of the report for one score set (JSON-ready; SNR/FPR keys as strings)."""
    y, score = s.y, s.score
    n1, n0 = int(np.sum(y == 1)), int(np.sum(y == 0))
    out: dict = {"source": s.source, "n": int(y.size), "n_signal": n1, "n_noise": n0}
    out["auc"] = roc_auc(y, score)
    out["auc_ci95"] = list(bootstrap_auc(y, score, n_boot=n_boot, seed=seed, groups=s.groups))
    out["bootstrap"] = {"n_boot": n_boot, "grouped": s.groups is not None}
    out["per_snr_auc"] = ({_key(k): v for k, v in per_snr_auc(y, score, s.snr_group).items()}
                          if s.snr_group is not None else {})
    out["pauc"] = partial_auc(y, score, PAUC_MAX_FPR)
    out["pauc_max_fpr"] = PAUC_MAX_FPR
    out["pauc_resolved"] = n0 >= PAUC_MIN_NOISE
    if n0 == 0:
        return out
    out["tpr_at_fpr"] = {_key(f): tpr_at_fpr(y, score, f) for f in fprs}
    t_target = threshold_at_fpr(y, score, target_fpr)
    out["confusion"] = {
        "0.5": confusion(y, score, 0.5) if s.is_probability else None,
        f"fpr={_key(target_fpr)}": confusion(y, score, t_target),
    }
    out["target_fpr"] = target_fpr
    if s.snr_group is not None:
        out["efficiency"] = {
            _key(f): {_key(k): v for k, v in
                      efficiency(y, score, s.snr_group, threshold_at_fpr(y, score, f)).items()}
            for f in sorted({*fprs, target_fpr}, reverse=True)
        }
        signal = y == 1
        out["efficiency_signals"] = {_key(k): int(np.sum(signal & (s.snr_group == k)))
                                     for k in np.unique(s.snr_group[signal])}
    return out


# ----------------------------------------------------------------------------- tables


def _fmt(v, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.{digits}f}"


def summary_markdown(reports: dict[str, dict], *, title: str = "Evaluation report") -> str:
    """A markdown table, one column per score set."""
    names = list(reports)
    rows: list[tuple[str, list[str]]] = []
    rows.append(("rows (signal / noise)",
                 [f"{r['n']} ({r['n_signal']} / {r['n_noise']})" for r in reports.values()]))
    rows.append(("AUC [95% CI]", [
        f"{_fmt(r['auc'])} [{_fmt(r['auc_ci95'][0], 3)}, {_fmt(r['auc_ci95'][1], 3)}]"
        + ("" if r.get("bootstrap", {}).get("grouped", True) else " ind.")
        for r in reports.values()]))
    cells = []
    for r in reports.values():
        cell = _fmt(r.get("pauc"))
        cells.append(cell + "*" if cell != "n/a" and not r.get("pauc_resolved", True) else cell)
    rows.append((f"pAUC @ FPR <= {_key(PAUC_MAX_FPR)}", cells))
    snrs = sorted({float(k) for r in reports.values() for k in r.get("per_snr_auc", {})})
    for snr in snrs:
        rows.append((f"AUC SNR {_key(snr)}",
                     [_fmt(r.get("per_snr_auc", {}).get(_key(snr))) for r in reports.values()]))
    fprs = sorted({float(k) for r in reports.values() for k in r.get("tpr_at_fpr", {})},
                  reverse=True)
    for f in fprs:
        cells = []
        for r in reports.values():
            t = r.get("tpr_at_fpr", {}).get(_key(f))
            cells.append("n/a" if t is None else _fmt(t["tpr"]) + ("" if t["resolved"] else "*"))
        rows.append((f"TPR @ FPR {_key(f)}", cells))
    cells = []
    for r in reports.values():
        c = (r.get("confusion") or {}).get("0.5")
        cells.append("n/a" if c is None else _fmt(c["accuracy"]))
    rows.append(("accuracy @ 0.5", cells))
    targets = sorted({r["target_fpr"] for r in reports.values() if "target_fpr" in r})
    for f in targets:
        key = f"fpr={_key(f)}"
        thr, acc = [], []
        for r in reports.values():
            c = (r.get("confusion") or {}).get(key)
            thr.append("n/a" if c is None else f"{c['threshold']:.4g}")
            acc.append("n/a" if c is None else
                       f"{_fmt(c['accuracy'])} (tp {c['tp']}, fp {c['fp']}, fn {c['fn']}, tn {c['tn']})")
        rows.append((f"threshold @ FPR {_key(f)}", thr))
        rows.append((f"accuracy @ FPR {_key(f)}", acc))
    lines = [f"# {title}", "", "| metric | " + " | ".join(names) + " |",
             "| --- |" + " --- |" * len(names)]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    if not all(r.get("bootstrap", {}).get("grouped", True) for r in reports.values()):
        lines += ["", "CI marked ind.: no waveform groups were found (no waveform_id column, "
                  "params.csv or HDF5 params), so the bootstrap assumes independent rows; "
                  "copies of one waveform make that interval too narrow."]
    lines += ["", "Per-SNR AUC: that SNR's signals against all noise rows. "
              "TPR marked * : fewer than 1/FPR noise rows, so the threshold is the largest "
              "noise score. pAUC: ROC area up to that FPR, McClish-standardised (0.5 = chance); "
              f"marked * : fewer than {PAUC_MIN_NOISE:,} noise rows, too few to resolve it. "
              "accuracy @ 0.5 only for scores in [0, 1]."]
    sources = [f"- `{n}`: {r['source']}" for n, r in reports.items() if r.get("source")]
    if sources:
        lines += ["", "Sources:", *sources]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- plots


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    _pyplot().close(fig)
    return path


def _snr_style(i: int) -> dict:
    """Line colour and style of the i-th SNR: ten distinct colours, then dashed."""
    import matplotlib

    colours = matplotlib.colormaps["tab10"].colors
    return dict(color=colours[i % 10], ls="-" if i < 10 else "--")


def plot_roc_per_snr(s: ScoreSet, path: str | Path) -> Path:
    """ROC of each SNR group (its signals against all noise) and the pooled ROC, on one figure.

    Left: linear axes (as in the course slides); right: FPR on a log axis.
    """
    from sklearn.metrics import roc_curve

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    noise = s.y == 0
    snrs = np.unique(s.snr_group[s.y == 1]) if s.snr_group is not None else np.array([])
    floor = 1.0 / max(int(noise.sum()), 1)  # the smallest FPR these noise rows resolve
    curves = []
    for i, snr in enumerate(snrs):
        rows = noise | ((s.y == 1) & (s.snr_group == snr))
        fpr, tpr, _ = roc_curve(s.y[rows], s.score[rows])
        auc = roc_auc(s.y[rows], s.score[rows])
        curves.append((fpr, tpr, f"SNR {snr:g} (AUC {auc:.3f})", dict(_snr_style(i), lw=1.3)))
    fpr, tpr, _ = roc_curve(s.y, s.score)
    curves.append((fpr, tpr, f"all (AUC {roc_auc(s.y, s.score):.3f})",
                   dict(color="k", lw=2, ls="--")))
    for ax, log in zip(axes, (False, True)):
        for f, t, label, style in curves:
            ax.plot(np.maximum(f, floor) if log else f, t, label=label, **style)
        ax.plot([floor if log else 0, 1], [floor if log else 0, 1], color="0.6", lw=0.8, ls=":")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_ylim(0, 1.01)
        if log:
            ax.set_xscale("log")
            ax.set_xlim(floor, 1)
        else:
            ax.set_xlim(0, 1)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{s.name}: ROC per SNR (signals of one SNR vs all noise)")
    return _save(fig, Path(path))


def plot_roc_pooled(sets: Sequence[ScoreSet], path: str | Path) -> Path:
    """Pooled ROC of every score set on one figure (linear and log FPR)."""
    from sklearn.metrics import roc_curve

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    floor = 1.0 / max(min(int(np.sum(s.y == 0)) for s in sets), 1)  # smallest resolved FPR
    for s in sets:
        fpr, tpr, _ = roc_curve(s.y, s.score)
        label = f"{s.name} (AUC {roc_auc(s.y, s.score):.4f})"
        axes[0].plot(fpr, tpr, label=label)
        axes[1].plot(np.maximum(fpr, floor), tpr, label=label)
    for ax in axes:
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.grid(alpha=0.3)
    axes[0].plot([0, 1], [0, 1], color="0.6", lw=0.8, ls=":")
    axes[1].set_xscale("log")
    axes[1].set_xlim(floor, 1)
    axes[1].legend(fontsize=8, loc="lower right")
    fig.suptitle("pooled ROC")
    return _save(fig, Path(path))


def plot_efficiency(reports: dict[str, dict], path: str | Path) -> Path:
    """TPR vs SNR at fixed FPR, one line per score set, one line style per FPR."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.6))
    styles = ["-", "--", ":", "-."]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, r) in enumerate(reports.items()):
        for j, (f, curve) in enumerate(sorted(r.get("efficiency", {}).items(),
                                              key=lambda kv: -float(kv[0]))):
            snr = np.array([float(k) for k in curve])
            tpr = np.array(list(curve.values()))
            n = np.array([r.get("efficiency_signals", {}).get(k, 0) for k in curve], float)
            err = np.sqrt(tpr * (1 - tpr) / np.maximum(n, 1)) * (n > 0)  # binomial, 1 sigma
            ax.errorbar(snr, tpr, yerr=err, marker="o", ms=3, capsize=2, ls=styles[j % len(styles)],
                        color=colors[i % len(colors)], label=f"{name}, FPR {f}")
    ax.set_xlabel("network SNR (nominal)")
    ax.set_ylabel("true positive rate (efficiency)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("detection efficiency at fixed false positive rate\n"
                 "(bars: 1 sigma binomial over the SNR's signal rows)", fontsize=10)
    return _save(fig, Path(path))


def plot_histograms(s: ScoreSet, path: str | Path, *, bins: int = 60) -> Path:
    """Score histograms: noise (filled), all signals and each SNR group (steps), log counts."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.6))
    edges = np.histogram_bin_edges(s.score, bins=bins)
    noise, sig = s.score[s.y == 0], s.score[s.y == 1]
    if noise.size:
        ax.hist(noise, bins=edges, color="0.6", alpha=0.6, label=f"noise ({noise.size})")
    if sig.size:
        ax.hist(sig, bins=edges, histtype="step", color="k", lw=1.8, label=f"signal ({sig.size})")
    if s.snr_group is not None and sig.size:
        snrs = np.unique(s.snr_group[s.y == 1])
        for i, snr in enumerate(snrs):
            ax.hist(s.score[(s.y == 1) & (s.snr_group == snr)], bins=edges, histtype="step", lw=0.9,
                    label=f"SNR {snr:g}", **_snr_style(i))
    ax.set_yscale("log")
    ax.set_xlabel("score")
    ax.set_ylabel("rows")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(f"{s.name}: score distributions")
    return _save(fig, Path(path))


def slug(name: str) -> str:
    """A file-name-safe form of a score set's name: no separators, no leading dot, never ``..``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_.") or "set"


# ----------------------------------------------------------------------------- report


def write_report(
    sets: Sequence[ScoreSet],
    out: str | Path,
    *,
    fprs: Sequence[float] = FPRS,
    target_fpr: float = 0.01,
    n_boot: int = 1000,
    seed: int = 0,
    plots: bool = True,
    title: str = "Evaluation report",
    extra: dict | None = None,
) -> dict:
    """Evaluate ``sets`` and write ``report.json``, ``summary.md`` and PNGs into ``out``.

    Returns the report dict (``sets``: per-set numbers, ``plots``: file names,
    ``settings``, and ``extra`` as given).
    """
    if not sets:
        raise ValueError("no score sets to evaluate")
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise ValueError(f"score set names must be unique, got {names}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    reports = {s.name: evaluate_set(s, fprs=fprs, target_fpr=target_fpr, n_boot=n_boot, seed=seed)
               for s in sets}
    files: list[str] = []
    if plots:
        files.append(plot_roc_pooled(sets, out / "roc.png").name)
        if any("efficiency" in r for r in reports.values()):
            files.append(plot_efficiency(reports, out / "efficiency.png").name)
        for s in sets:
            files.append(plot_roc_per_snr(s, out / f"roc_snr_{slug(s.name)}.png").name)
            files.append(plot_histograms(s, out / f"hist_{slug(s.name)}.png").name)
    report = {
        "sets": reports, "plots": files,
        "settings": {"fprs": list(fprs), "target_fpr": target_fpr, "n_boot": n_boot,
                     "seed": seed, "detection": "score > threshold"},
        **({"extra": extra} if extra else {}),
    }
    with atomic_write(out / "report.json") as fh:
        json.dump(_jsonable(report), fh, indent=2)
        fh.write("\n")
    md = summary_markdown(reports, title=title)
    if files:
        md += "\nPlots: " + ", ".join(f"[{f}]({f})" for f in files) + "\n"
    with atomic_write(out / "summary.md") as fh:
        fh.write(md)
    return report


def _jsonable(obj):
    """NaN -> None, numpy scalars -> Python (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
