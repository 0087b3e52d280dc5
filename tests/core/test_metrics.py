"""Detection metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from gwkit.core.metrics import accuracy, partial_auc, per_snr_auc, roc_auc, snr_key


def test_roc_auc_counts_ordered_pairs():
    y = np.array([0, 0, 1, 1])
    assert roc_auc(y, [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert roc_auc(y, [0.0, 0.0, 0.0, 0.0]) == pytest.approx(0.5)
    assert roc_auc(y, [4, 3, 2, 1]) == 0.0
    assert math.isnan(roc_auc([1, 1], [0.2, 0.3]))
    with pytest.raises(ValueError, match="rows"):
        roc_auc([0, 1], [0.5])


@pytest.mark.parametrize("seed", range(3))
def test_partial_auc_is_sklearns_mcclish_standardised_area_up_to_fpr_1e3(seed):
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.r_[np.zeros(3000, int), np.ones(500, int)])
    score = rng.normal(size=y.size) + 2.5 * y
    score[:50] = np.round(score[:50], 1)  # ties too
    assert partial_auc(y, score) == roc_auc_score(y, score, max_fpr=1e-3)
    assert partial_auc(y, score, max_fpr=0.1) == roc_auc_score(y, score, max_fpr=0.1)
    assert 0.5 < partial_auc(y, score) < roc_auc(y, score) < 1  # harder than the full area


def test_partial_auc_degenerate_inputs_as_roc_auc():
    assert partial_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert partial_auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) < 0.5  # McClish: chance is 0.5
    assert partial_auc([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.5)
    assert math.isnan(partial_auc([1, 1], [0.2, 0.3]))
    with pytest.raises(ValueError, match="rows"):
        partial_auc([0, 1], [0.5])


def test_per_snr_auc_scores_each_group_against_all_noise():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    snr = np.array([5, 5, 20, 20, 5, 5, 20, 20])  # noise rows carry a group too
    score = np.array([0.1, 0.2, 0.3, 0.6, 0.15, 0.5, 0.9, 0.95])
    result = per_snr_auc(y, score, snr)
    assert list(result) == [5.0, 20.0]
    # SNR 5 signals 0.15 and 0.5 against all four noise rows 0.1, 0.2, 0.3, 0.6
    assert result[5.0] == pytest.approx((1 + 3) / 8)
    assert result[20.0] == 1.0


def test_accuracy_thresholds_logits_at_zero():
    assert accuracy([0, 1, 1, 0], [-2.0, 0.5, -0.1, 0.0]) == 0.75  # 0.0 counts as noise
    assert accuracy([1, 0], [0.7, 0.2], threshold=0.5) == 1.0
    assert math.isnan(accuracy([], []))


def test_snr_key():
    assert snr_key(15.0) == "auc_snr15" and snr_key(7.5) == "auc_snr7.5"
