"""gwkit.strain.triggers: clustering, plateau times, false-alarm rates, circular overlaps."""

import numpy as np
import pytest

from gwkit.strain.triggers import cluster, far, overlaps


def test_cluster_times_a_trigger_at_the_middle_of_its_plateau():
    times = np.arange(12) * 0.1
    scores = np.array([-3, 2, 10, 10, 9, 9, 4, -1, -2, 3, 3.5, -5], dtype=float)
    first, second = cluster(times, scores, threshold=0.0, window=0.15)
    # plateau: scores >= 0 + (10 - 0) / 2 around the peak: windows 2..5
    assert first.score == 10 and first.peak_time == pytest.approx(0.2)
    assert first.time == pytest.approx(0.35) and first.nwindows == 6
    assert (first.start, first.end) == pytest.approx((0.1, 0.6))
    assert second.score == 3.5 and second.time == pytest.approx(0.95) and second.nwindows == 2
    merged = cluster(times, scores, threshold=0.0, window=0.35)  # the gap of 0.3 s is bridged
    assert len(merged) == 1 and merged[0].nwindows == 8
    assert cluster(times, scores, threshold=20.0, window=1.0) == []
    with pytest.raises(ValueError, match="strictly increasing"):
        cluster(times[::-1], scores, 0.0, 0.1)


def test_far_counts_louder_background_clusters_or_gives_a_bound():
    background = np.array([1.0, 5.0, 7.0])
    assert far(6.0, background, 100.0) == (0.01, False)
    assert far(1.0, background, 100.0) == (0.03, False)
    assert far(8.0, background, 100.0) == (0.01, True)
    with pytest.raises(ValueError, match="duration"):
        far(1.0, background, 0.0)


def test_overlaps_wraps_on_a_circle():
    starts = np.array([0.0, 10.0, 18.0, 25.0])
    np.testing.assert_array_equal(overlaps(starts, 4.0, 12.0, 13.0), [False, True, False, False])
    # on a circle of 28, [25, 29) covers 0..1
    np.testing.assert_array_equal(overlaps(starts, 4.0, 0.5, 0.6, period=28.0),
                                  [True, False, False, True])
    np.testing.assert_array_equal(overlaps(starts, 4.0, 0.5, 0.6), [True, False, False, False])
