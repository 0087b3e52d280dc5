import numpy as np
import pytest
from scipy.signal import hilbert

from gwkit.sim.generator import (
    draw_source,
    make_sample,
    optimal_snr,
    plan_block,
    project,
    render_rows,
    simulate_block,
    simulate_competition,
)
from gwkit.sim.recipe import Recipe

COMP, PHYS = Recipe(mode="competition"), Recipe(mode="physical")


@pytest.fixture(scope="module")
def projections():
    rng = np.random.default_rng(2024)
    sources = [draw_source(rng, COMP) for _ in range(40)]
    return sources, [project(s, COMP) for s in sources], [project(s, PHYS) for s in sources[:8]]


def test_sources_follow_the_recipe(rng):
    s = [draw_source(rng, COMP) for _ in range(4000)]
    peaks = np.array([x.peak_index for x in s])
    assert peaks.min() >= 10240 and peaks.max() < 11878
    cos_i = np.cos([x.inclination for x in s])
    assert abs(cos_i.mean()) < 0.05 and cos_i.min() < -0.95 and cos_i.max() > 0.95
    sin_dec = np.sin([x.dec for x in s])
    assert abs(sin_dec.mean()) < 0.05 and abs(np.mean(np.abs(sin_dec)) - 0.5) < 0.03
    assert all(0 <= x.psi < 2 * np.pi and 0 <= x.phase < 2 * np.pi for x in s)


def test_competition_quirk_inclination_is_cos_iota():
    src = draw_source(np.random.default_rng(0), COMP)
    assert src.waveform_inclination("competition") == pytest.approx(np.cos(src.inclination))
    assert src.waveform_inclination("physical") == src.inclination


def test_physical_mode_network_snr_is_requested(projections):
    psd = Recipe(mode="physical").psd
    for p in projections[2]:
        full_band = optimal_snr(10.0 * p.strain, psd, 8192.0)  # no fmin cut
        network = np.sqrt(np.sum(full_band**2))
        assert network == pytest.approx(10.0, rel=0.01)
        # each detector in its own channel
        assert p.snr_channel == pytest.approx((p.snr_ifo["H1"], p.snr_ifo["L1"]), rel=1e-9)


def test_competition_mode_only_channel0_carries_l1(projections, channel0_share,
                                                   channel0_share_of_prior):
    sources, comp, _ = projections
    ratios = []
    for src, p in zip(sources, comp):
        assert np.all(p.strain[1] == 0.0)
        assert p.snr_channel[1] == 0.0
        # the scaling used both detectors, so channel 0 holds rho_L1 / rho_network of nominal
        assert p.snr_channel[0] == pytest.approx(p.snr_ifo["L1"], rel=1e-9)
        assert p.snr_ifo["H1"] ** 2 + p.snr_ifo["L1"] ** 2 == pytest.approx(1.0)
        # ... which the antenna patterns alone predict (delays and window cuts: < 1%)
        assert p.snr_channel[0] == pytest.approx(channel0_share(src), rel=0.01)
        ratios.append(p.snr_channel[0])
    mean, std = channel0_share_of_prior  # documented: 0.69 on average
    assert abs(np.mean(ratios) - mean) < 4 * std / np.sqrt(len(ratios))


@pytest.mark.parametrize("mode", ["competition", "physical"])
def test_merger_lands_at_peak_index_shifted_by_the_delay(projections, mode):
    sources, comp, phys = projections
    projs = comp[:8] if mode == "competition" else phys
    for p in projs:
        ch, ifo = (0, "L1") if mode == "competition" else (0, "H1")
        peak = np.argmax(np.abs(hilbert(p.strain[ch])))
        # competition: h(t + delay) arrives early by delay; physical: late by delay
        sign = -1 if mode == "competition" else 1
        expected = p.source.peak_index + sign * p.delay[ifo] * 8192
        assert abs(peak - expected) < 12
        assert 10240 - 180 <= peak < 11878 + 180


def test_signal_is_cut_to_the_central_window(projections):
    p = projections[1][0]
    assert np.all(p.strain[:, :3824] == 0) and np.all(p.strain[:, 12561:] == 0)


def test_literal_sample_equals_linear_block_rendering():
    plan = plan_block(8, nnoise=2, seed=5, recipe=COMP)
    x, params = render_rows(plan, np.arange(8), 7.0)
    row = int(np.flatnonzero(plan.label)[0])
    from gwkit.sim.generator import _NOISE, _rng

    proj = project(plan.sources[plan.waveform_id[row]], COMP)
    # render_rows adds whiten(noise) + snr * whiten(unit signal); make_sample whitens the sum
    rng = _rng(5, _NOISE, row)
    literal, rec = make_sample(rng, COMP, snr=7.0, projection=proj)
    np.testing.assert_allclose(x[row], literal, atol=1e-10)
    assert rec["snr_ch0"] == pytest.approx(params.loc[row, "snr_ch0"])


def test_block_layout_reproducible_and_shared_across_snrs():
    a, pa = simulate_block(4.0, 20, nnoise=5, seed=11)
    b, pb = simulate_block(4.0, 20, nnoise=5, seed=11, workers=2)
    c, pc = simulate_block(9.0, 20, nnoise=5, seed=11)
    assert a.tobytes() == b.tobytes()  # same seed, same bytes, any number of workers
    assert pa["label"].sum() == 10 and pa["waveform_id"].max() == 1
    # each waveform reused with nnoise noise realisations
    assert (pa.loc[pa.label == 1, "waveform_id"].value_counts() == 5).all()
    noise = pa.label.to_numpy() == 0
    np.testing.assert_array_equal(a[noise], c[noise])  # one seed: identical noise rows
    assert not np.allclose(a[~noise], c[~noise])
    np.testing.assert_array_equal(pa[["m1", "ra"]].to_numpy(), pc[["m1", "ra"]].to_numpy())
    np.testing.assert_allclose(pc.loc[~noise, "snr_ch0"], pa.loc[~noise, "snr_ch0"] * 9 / 4)
    d, _ = simulate_block(4.0, 20, nnoise=5, seed=12)
    assert not np.allclose(a, d)


def test_competition_draw_has_duplicate_noise_across_groups():
    x, params = simulate_competition((5.0, 20.0), per_snr=30, block_rows=40, nnoise=4, seed=3)
    assert x.shape == (60, 2, 16384)
    assert sorted(params.snr_group.unique()) == [5.0, 20.0]
    assert params.id.tolist() == list(range(60))
    # drawing 30 of 40 rows twice from blocks that share the seed repeats block rows
    by_row = params.groupby("block_row").snr_group.nunique()
    assert (by_row > 1).any()
    row = by_row[by_row > 1].index[0]
    ids = params.index[params.block_row == row]
    np.testing.assert_array_equal(x[ids[0], 1], x[ids[-1], 1])  # channel 1 is pure, shared noise
    indep, iparams = simulate_competition((5.0, 20.0), per_snr=30, block_rows=40, nnoise=4,
                                          seed=3, shared_seed=False)
    assert iparams.snr_group.value_counts().tolist() == [30, 30]
    ids = iparams[iparams.label == 1].groupby("snr_group").waveform_id.apply(set)
    assert not ids.iloc[0] & ids.iloc[1]  # independent blocks never share a waveform id


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="mode"):
        Recipe(mode="lol")
    with pytest.raises(ValueError, match="at least 2"):
        plan_block(1)
    with pytest.raises(ValueError, match="rows"):
        render_rows(plan_block(4, nnoise=1), [5], 3.0)
