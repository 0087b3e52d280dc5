"""gwkit.scoring.report: metrics against scikit-learn, grouped and paired bootstraps, per-SNR logic, report files."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve

from gwkit.core.metrics import accuracy
from gwkit.data.labelled import ScoreSet
from gwkit.scoring.report import (
    bootstrap_auc,
    bootstrap_auc_difference,
    confusion,
    efficiency,
    evaluate_set,
    threshold_at_fpr,
    tpr_at_fpr,
    write_report,
)

PNG = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- metrics


def test_bootstrap_replicate_is_sklearns_weighted_auc_with_ties():
    """One replicate (n_boot=1) is the AUC of the resample: sklearn's AUC weighted by the counts."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    score = np.round(y * 0.7 + rng.normal(size=300), 1)  # many ties
    counts = np.random.default_rng(5).multinomial(300, np.full(300, 1 / 300))  # the resample
    lo, hi = bootstrap_auc(y, score, n_boot=1, seed=5)
    assert lo == hi == pytest.approx(roc_auc_score(y, score, sample_weight=counts), abs=1e-12)


def test_bootstrap_ci_brackets_the_auc_and_is_seeded(synthetic_scores):
    df = synthetic_scores()
    auc = roc_auc_score(df["target"], df["score"])
    lo, hi = bootstrap_auc(df["target"], df["score"], n_boot=400, seed=3)
    assert lo < auc < hi and hi - lo < 0.3
    assert (lo, hi) == bootstrap_auc(df["target"], df["score"], n_boot=400, seed=3)
    assert all(math.isnan(v) for v in bootstrap_auc([1, 1, 1], [0.1, 0.2, 0.3]))


def test_grouped_bootstrap_is_wider_when_signals_repeat():
    """Signals repeated 10x (one waveform, ten copies): resampling copies together widens the CI."""
    rng = np.random.default_rng(2)
    sig = np.repeat(rng.normal(0.8, 1.0, 20), 10)
    noise = rng.normal(0.0, 1.0, 200)
    y = np.r_[np.ones(200), np.zeros(200)]
    score = np.r_[sig, noise]
    groups = np.r_[np.repeat(np.arange(20), 10), -np.ones(200)]
    lo_r, hi_r = bootstrap_auc(y, score, n_boot=500, seed=0)
    lo_g, hi_g = bootstrap_auc(y, score, n_boot=500, seed=0, groups=groups)
    assert hi_g - lo_g > 1.5 * (hi_r - lo_r)


def test_paired_difference_is_per_replicate_and_narrower_than_either_interval():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 2000)
    base = y * 1.0 + rng.normal(size=2000)
    a, b = base + 0.2 * rng.normal(size=2000), base + 0.2 * rng.normal(size=2000)
    groups = np.where(y == 1, np.arange(2000) // 4, -1)
    diff, lo, hi = bootstrap_auc_difference(y, a, b, n_boot=400, seed=1, groups=groups)
    assert diff == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b))
    assert lo < diff < hi
    lo_a, hi_a = bootstrap_auc(y, a, n_boot=400, seed=1, groups=groups)
    assert hi - lo < 0.5 * (hi_a - lo_a)  # shared rows: most of the sampling noise cancels
    # one replicate is the difference of the two AUCs on the same resample
    _, one, _ = bootstrap_auc_difference(y, a, b, n_boot=1, seed=5, groups=groups)
    (lo1, _), (lo2, _) = (bootstrap_auc(y, s, n_boot=1, seed=5, groups=groups) for s in (a, b))
    assert one == pytest.approx(lo1 - lo2, abs=1e-12)
    assert bootstrap_auc_difference(y, a, a, n_boot=50)[1:] == (0.0, 0.0)


def test_tpr_at_fpr_agrees_with_sklearn_roc_curve():
    rng = np.random.default_rng(4)
    y = np.r_[np.ones(500), np.zeros(2000)].astype(int)
    score = np.r_[rng.normal(1.5, 1, 500), rng.normal(0, 1, 2000)]
    fpr, tpr, _ = roc_curve(y, score)
    for target in (0.1, 0.01, 0.001):
        got = tpr_at_fpr(y, score, target)
        assert got["tpr"] == pytest.approx(tpr[fpr <= target].max())
        assert got["fpr"] <= target and got["resolved"]
        assert np.mean(score[y == 0] > threshold_at_fpr(y, score, target)) == got["fpr"]
    few = tpr_at_fpr(y[:600], score[:600], 0.001)  # 100 noise rows cannot resolve 0.1%
    assert not few["resolved"] and few["fpr"] == 0.0


def test_confusion_matches_sklearn_and_metrics_accuracy(synthetic_scores):
    df = synthetic_scores()
    c = confusion(df["target"], df["score"], 0.5)
    tn, fp, fn, tp = confusion_matrix(df["target"], df["score"] > 0.5).ravel()
    assert (c["tn"], c["fp"], c["fn"], c["tp"]) == (tn, fp, fn, tp)
    assert c["accuracy"] == pytest.approx(accuracy(df["target"], df["logit"]))


def test_per_snr_auc_and_efficiency_use_all_noise_rows(synthetic_scores):
    df = synthetic_scores()
    s = ScoreSet("a", df["target"], df["score"], df["snr"], df["waveform_id"])
    rep = evaluate_set(s, n_boot=50)
    noise = df[df["target"] == 0]
    snrs = sorted(df["snr"].unique())
    assert len(snrs) == 3
    for snr in snrs:
        sub = pd.concat([noise, df[(df["target"] == 1) & (df["snr"] == snr)]])
        assert rep["per_snr_auc"][f"{snr:g}"] == pytest.approx(roc_auc_score(sub["target"], sub["score"]))
    assert rep["auc"] == pytest.approx(roc_auc_score(df["target"], df["score"]))
    assert rep["pauc"] == roc_auc_score(df["target"], df["score"], max_fpr=1e-3)
    assert rep["pauc_resolved"] is False  # far fewer than 10,000 noise rows
    t = threshold_at_fpr(df["target"], df["score"], 0.1)
    eff = efficiency(df["target"], df["score"], df["snr"], t)
    for snr in snrs:
        sig = df[(df["target"] == 1) & (df["snr"] == snr)]
        assert eff[snr] == pytest.approx(np.mean(sig["score"] > t))
    assert rep["efficiency"]["0.1"] == {f"{k:g}": v for k, v in eff.items()}
    assert list(eff.values()) == sorted(eff.values())  # louder, more efficient (by construction)
    assert rep["bootstrap"]["grouped"]


def test_threshold_half_only_for_probabilities(synthetic_scores):
    df = synthetic_scores()
    rep = evaluate_set(ScoreSet("snr", df["target"], df["logit"] * 5, df["snr"]), n_boot=20)
    assert rep["confusion"]["0.5"] is None and rep["confusion"]["fpr=0.01"]["fpr"] <= 0.01


# --------------------------------------------------------------------------- report files


def test_write_report_two_sets_side_by_side(tmp_path, synthetic_scores):
    a, b = synthetic_scores(seed=0), synthetic_scores(seed=1)
    sets = [ScoreSet("model A", a["target"], a["score"], a["snr"]),
            ScoreSet("matched_filter", b["target"], b["logit"] * 3 + 5, b["snr"])]
    report = write_report(sets, tmp_path / "r", n_boot=50)
    files = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert files == sorted(["report.json", "summary.md", "roc.png", "efficiency.png",
                            "roc_snr_model_A.png", "hist_model_A.png",
                            "roc_snr_matched_filter.png", "hist_matched_filter.png"])
    for png in (tmp_path / "r").glob("*.png"):
        data = png.read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000
    loaded = json.loads((tmp_path / "r" / "report.json").read_text())  # strict JSON (no NaN)
    assert set(loaded["sets"]) == {"model A", "matched_filter"}
    assert loaded["sets"]["model A"]["auc"] == pytest.approx(report["sets"]["model A"]["auc"])
    md = (tmp_path / "r" / "summary.md").read_text()
    assert "| metric | model A | matched_filter |" in md
    assert "| AUC SNR 10 |" in md and "| TPR @ FPR 0.001 |" in md
    assert f"| pAUC @ FPR <= 0.001 | {report['sets']['model A']['pauc']:.4f}* |" in md
    with pytest.raises(ValueError, match="unique"):
        write_report([sets[0], sets[0]], tmp_path / "x")
