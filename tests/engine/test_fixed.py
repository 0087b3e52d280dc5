import numpy as np

from gwkit.engine import FixedSet, Sampler, make_fixed_set


def test_fixed_set_is_seeded_balanced_and_round_trips(small_bank, tmp_path):
    sampler = Sampler(small_bank, waveform_ids=range(10))
    a = make_fixed_set(sampler, 4, snrs=(5.0, 20.0), seed=3)
    b = make_fixed_set(sampler, 4, snrs=(5.0, 20.0), seed=3)
    np.testing.assert_array_equal(a.x, b.x)
    assert len(a) == 8 and a.x.dtype == np.float32
    for s in (5.0, 20.0):
        group = a.snr_group == s
        assert group.sum() == 4 and a.y[group].sum() == 2
    assert set(a.waveform_id[a.y == 1]) <= set(range(10)) and np.all(a.waveform_id[a.y == 0] == -1)
    c = make_fixed_set(sampler, 4, snrs=(5.0, 20.0), seed=4)
    assert not np.array_equal(a.x, c.x)
    a.save(tmp_path / "val.h5")
    back = FixedSet.load(tmp_path / "val.h5")
    np.testing.assert_array_equal(back.x, a.x)
    np.testing.assert_array_equal(back.snr_group, a.snr_group)
    np.testing.assert_array_equal(back.waveform_id, a.waveform_id)
