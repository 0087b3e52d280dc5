"""gwkit.scoring.stack: the plain-JSON combiner of network logits and matched-filter features."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from gwkit.core.metrics import roc_auc
from gwkit.data.folds import row_groups
from gwkit.scoring.stack import (
    Stacker,
    StackError,
    compress,
    feature_table,
    fit_best_stacker,
    fit_stacker,
)


def _table(n: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Labels, a weak 'logit', a strong heavy-tailed 'mf_lse_time' and a group per signal pair."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    table = pd.DataFrame({
        "logit": 0.8 * y + rng.normal(size=n),
        "mf_lse_time": np.where(y, rng.exponential(30, n), 0.0) + rng.normal(size=n),
    })
    wid = np.where(y == 1, np.arange(n) // 2, -1)  # signal rows share a waveform in pairs
    return table, y, wid


def test_compress_is_the_identity_near_zero_and_increasing():
    f = np.array([-1e4, -50.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 50.0, 1e4, 1e6])
    g = compress(f, 10.0)
    assert np.all(np.diff(g) > 0)
    np.testing.assert_allclose(g[3:6], f[3:6], rtol=1e-8)
    assert g[-1] < 200  # logarithmic growth
    np.testing.assert_array_equal(compress(f, 0.0), f)


def test_row_groups_keep_waveforms_together_and_noise_rows_apart():
    g = row_groups(np.array([5, -1, 5, -1, 7]))
    assert g[0] == g[2] and len({g[1], g[3], g[4], g[0]}) == 4


def test_fit_matches_a_logistic_regression_on_the_compressed_features():
    table, y, wid = _table()
    stacker, oof = fit_stacker(table, y, row_groups(wid), ("logit", "mf_lse_time"),
                               compression=10.0)
    f = compress(table[["logit", "mf_lse_time"]].to_numpy(), 10.0)
    z = (f - f.mean(0)) / f.std(0)
    reference = LogisticRegression(C=1.0, max_iter=2000).fit(z, y).decision_function(z)
    np.testing.assert_allclose(stacker.decision(table), reference, rtol=1e-6, atol=1e-6)
    assert np.all(stacker.coef > 0)
    auc = stacker.cv["auc"]
    assert auc["stacked"] == pytest.approx(roc_auc(y, oof))
    assert auc["stacked"] > max(auc["logit"], auc["mf_lse_time"]) - 0.01
    assert auc["mf_lse_time"] == pytest.approx(roc_auc(y, table["mf_lse_time"]))


def test_json_round_trip_and_bad_files(tmp_path):
    table, y, wid = _table(400)
    stacker, _ = fit_stacker(table, y, row_groups(wid), ("logit", "mf_lse_time"),
                             snr_group=np.full(400, 8.0))
    path = stacker.save(tmp_path / "stacker.json")
    back = Stacker.load(path)
    np.testing.assert_array_equal(back.decision(table), stacker.decision(table))
    assert back.cv["per_snr_auc"]["stacked"]["8"] == pytest.approx(stacker.cv["auc"]["stacked"])
    bad = {"not json": "{", "not a stacker": json.dumps({"format": "other"}),
           "unknown features": json.dumps({**stacker.to_dict(), "features": ["logit", "magic"]}),
           "wrong version": json.dumps({**stacker.to_dict(), "version": 99})}
    for text in bad.values():
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(StackError, match="bad.json"):
            Stacker.load(tmp_path / "bad.json")


def test_the_filter_bank_must_be_the_one_it_was_fitted_with(tmp_path):
    table, y, wid = _table(400)
    stacker, _ = fit_stacker(table, y, row_groups(wid), ("logit", "mf_lse_time"))
    (tmp_path / "mf_bank.h5").write_bytes(b"bank A")
    from gwkit.core.fileio import file_sha256

    stacker.filter_bank_sha256 = file_sha256(tmp_path / "mf_bank.h5")
    path = stacker.save(tmp_path / "stacker.json")
    assert stacker.bank_path(path) == tmp_path / "mf_bank.h5"
    (tmp_path / "mf_bank.h5").write_bytes(b"bank B")
    with pytest.raises(StackError, match="SHA-256"):
        stacker.bank_path(path)
    (tmp_path / "mf_bank.h5").unlink()
    with pytest.raises(StackError, match="missing"):
        stacker.bank_path(path)


def test_feature_table_and_missing_features():
    mf = {"mf_snr": np.array([3.0, 9.0]), "mf_lse": np.array([1.0, 30.0]),
          "mf_lse_time": np.array([0.5, 28.0]), "mf_mchirp": np.array([10.0, 20.0]),
          "mf_time": np.array([1.3, 1.4])}
    table = feature_table(np.array([0.1, 2.0]), mf)
    np.testing.assert_allclose(table["mf_snr2"], [9.0, 81.0])
    np.testing.assert_allclose(table["mf_log_mchirp"], np.log([10.0, 20.0]))
    assert "logit" not in feature_table(None, mf)
    with pytest.raises(StackError, match="missing"):
        Stacker(("logit",), [0.0], [1.0], [1.0], 0.0).decision(feature_table(None, mf))


def test_the_stacker_never_ships_worse_than_its_best_input():
    table, y, wid = _table()
    rng = np.random.default_rng(0)
    # a weak 'network' with heavy-tailed noise: its stacked weight costs AUC out of fold
    noisy = table.assign(logit=0.3 * y + 5 * rng.standard_cauchy(len(y)))
    stacker, oof, line = fit_best_stacker(noisy, y, row_groups(wid), ("logit", "mf_lse_time"))
    rejected = stacker.cv["rejected_stack"]["auc"]
    assert rejected["stacked"] < rejected["mf_lse_time"]  # the case this guards against
    assert stacker.features == ("mf_lse_time",) and not stacker.uses_network
    assert roc_auc(y, stacker.decision(noisy)) == pytest.approx(roc_auc(y, noisy["mf_lse_time"]))
    assert "mf_lse_time alone" in line
    kept, _, line = fit_best_stacker(table, y, row_groups(wid), ("logit", "mf_lse_time"))
    assert kept.features == ("logit", "mf_lse_time") and line.startswith("kept the stack")


@pytest.mark.parametrize("values, message", [
    (dict(mean=[float("nan"), 0.0]), r"mean holds nan; expected finite numbers within \+-1e\+06"),
    (dict(coef=[1e300, 1.0]), r"coef holds 1e\+300"),
    (dict(scale=["wide", 1.0]), r"scale holds 'wide'"),
    (dict(scale=[0.0, 1.0]), r"scale must be >= 1e-09, found \[0\.0, 1\.0\]"),
    (dict(coef=[1.0]), r"coef must be 2 number\(s\) \(one per feature\)"),
    (dict(intercept=float("inf")), r"intercept holds inf"),
    (dict(intercept=True), r"intercept holds True"),
    (dict(compression="asinh"), r"compression holds 'asinh'"),
    (dict(compression=-1.0), r"compression must be >= 0"),
    (dict(mode="quantum"), r"mode 'quantum' is not one of competition, physical"),
    (dict(features="logit"), r"features must be a list of feature names, found 'logit'"),
    (dict(filter_bank=3), r"filter_bank must be text, found 3"),
    (dict(cv=[]), r"cv must be a mapping"),
])
def test_stacker_values_are_checked_when_read(tmp_path, values, message):
    """Issue 25: a stacker.json with NaN, huge or text values or an unknown mode is one line."""
    fields = {"format": "gwkit.stacker", "version": 1, "features": ["logit", "mf_lse_time"],
              "mean": [0.0, 0.0], "scale": [1.0, 1.0], "coef": [1.0, 1.0], "intercept": 0.0,
              **values}
    (tmp_path / "stacker.json").write_text(json.dumps(fields))
    with pytest.raises(StackError, match=rf"^{tmp_path / 'stacker.json'}: {message}"):
        Stacker.load(tmp_path / "stacker.json")
    del fields["intercept"]
    (tmp_path / "stacker.json").write_text(json.dumps(fields))
    with pytest.raises(StackError, match=r"stacker\.json: a stacker needs intercept"):
        Stacker.load(tmp_path / "stacker.json")


def test_the_stacker_names_the_filters_physical_features():
    """stack.py names the physical statistics itself (stackers load without torch): the same
    names, in the same order, as the matched filter that computes them."""
    from gwkit.scoring import stack
    from gwkit.sim import mf_features

    assert stack.PHYSICAL_FEATURES == mf_features.PHYSICAL_FEATURES
    assert set(mf_features.FEATURES) - {"mf_mchirp", "mf_template"} <= set(stack.KNOWN_FEATURES)
    assert stack.needs_coherent(["logit", "mf_lse_coherent"])
    assert not stack.needs_coherent(list(stack.DEFAULT_FEATURES))
