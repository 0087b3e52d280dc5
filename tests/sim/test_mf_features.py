"""Fast matched-filter features: low-rank bank, marginalised statistics, bank files."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from gwkit.sim.matched_filter import build_filter_bank, matched_filter, prior_weights
from gwkit.sim.mf_features import FEATURES, FilterBank, FilterBankError, MatchedFilter


@pytest.fixture(scope="module")
def rows(heavy_template_bank, whitened_noise) -> np.ndarray:
    """(24, 2, N): 12 noise rows, then 12 with template k injected at SNR 4-15 into channel 0."""
    bank = heavy_template_bank
    x = whitened_noise(24, seed=3)
    for i in range(12):
        k = i % len(bank)
        x[12 + i, 0] += np.linspace(4, 15, 12)[i] * np.roll(bank.templates[k], 40 * i - 200)
    return x


def _snr_series(x: np.ndarray, templates: np.ndarray) -> np.ndarray:
    """Complex SNR series (N, K, 4096) written out in numpy: the template's normalised
    conjugate spectrum below 1024 Hz, every 4th sample (the filter's definition)."""
    n, nbins, nout = x.shape[-1], 2049, 4096
    tf = np.fft.rfft(templates, axis=-1)[:, :nbins]
    tf[:, 0] = 0
    tf /= np.sqrt(2.0 / n * (np.abs(tf) ** 2).sum(-1, keepdims=True))
    xf = np.fft.rfft(x, axis=-1)[:, :nbins]
    return nout * np.fft.ifft(xf[:, None, :] * (2.0 / n) * tf.conj()[None], n=nout, axis=-1)


def test_low_rank_bank_reproduces_the_exact_filter(heavy_template_bank, rows):
    """A dense bank (40 random draws of the heavy prior, no placement) spans few dimensions."""
    from gwkit.sim.matched_filter import TemplateBank

    dense = TemplateBank.build(40, min_match=None, seed=2, recipe=heavy_template_bank.recipe)
    exact = MatchedFilter(FilterBank.from_templates(dense, tolerance=None))
    low = FilterBank.from_templates(dense, tolerance=1e-3)
    assert low.rank < 0.75 * len(dense)
    assert low.info["max_residual"] <= 1e-3
    a, b = exact.features(rows), MatchedFilter(low).features(rows)
    np.testing.assert_allclose(b["mf_snr"], a["mf_snr"], rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(b["mf_lse"], a["mf_lse"], rtol=5e-3, atol=5e-3)
    np.testing.assert_allclose(b["mf_lse_time"], a["mf_lse_time"], rtol=5e-3, atol=5e-3)


def test_features_equal_the_reference_filter_and_its_snr_series(heavy_template_bank, rows):
    """mf_snr is the reference matched filter's statistic; the marginalised statistics are
    log-sum-exps of the reference SNR series (snr_series, an independent FFT path)."""
    bank = heavy_template_bank
    weight = np.linspace(1, 2, len(bank))
    weight /= weight.sum()
    filters = FilterBank.from_templates(bank, weight=weight, f_max=1024.0, stride=4,
                                        tolerance=None)
    mf = MatchedFilter(filters, margin=200)
    feats = mf.features(rows)
    ref = matched_filter(rows, bank)
    np.testing.assert_allclose(feats["mf_snr"], ref.snr, rtol=1e-5)
    np.testing.assert_array_equal(feats["mf_template"], ref.template)
    z = _snr_series(rows[:, 0], bank.templates)
    p2 = np.abs(z[..., mf.window.numpy()]) ** 2  # (N, K, W): the search window
    # merger-time prior: mergers uniform in the peak range, each moved by a delay uniform
    # within +-174 samples (the Earth's radius over c at 8192 Hz): count the mergers in reach
    lo, hi = bank.recipe.peak_range
    reach = 0.02125 * bank.recipe.sample_rate
    prior = np.array([np.sum(np.abs(m - np.arange(lo, hi)) <= reach)
                      for m in bank.ref_index + mf.shifts], dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_prior = np.log(prior / prior.sum())
    assert np.isinf(log_prior[[0, -1]]).all()  # the margins reach beyond any merger
    lse_time = logsumexp(logsumexp(p2 / 2 + log_prior, axis=-1) + np.log(weight), axis=-1)
    np.testing.assert_allclose(feats["mf_lse_time"], lse_time, rtol=5e-3, atol=5e-3)
    # the peak is searched inside the window's edge points, then refined between grid points
    grid_max = logsumexp(p2[..., 1:-1].max(-1) / 2 + np.log(weight), axis=-1)
    assert np.all(feats["mf_lse"] >= grid_max - 1e-4)
    assert np.all(feats["mf_lse"] <= grid_max + 0.5)


def test_amplitude_marginal_equals_its_definition_and_is_bounded_by_lse_time(
        heavy_template_bank, rows):
    """lse_amplitude is lse_time with |z|^2 / 2 replaced by log mean_A exp(-A^2/2) I0(A|z|)
    (scipy's Bessel function on the reference SNR series), so it never exceeds lse_time
    (I0(x) <= e^x and A|z| - A^2/2 <= |z|^2/2) and still ranks the injections above noise."""
    from scipy.special import i0e

    bank = heavy_template_bank
    filters = FilterBank.from_templates(bank, f_max=1024.0, stride=4, tolerance=None)
    amplitudes = np.array([3.0, 6.0, 9.0])
    mf = MatchedFilter(filters, amplitudes=amplitudes)
    feats = mf.features(rows)
    r = np.abs(_snr_series(rows[:, 0], bank.templates)[..., mf.window.numpy()])
    g = logsumexp(-amplitudes**2 / 2 + np.log(i0e(amplitudes * r[..., None]))
                  + amplitudes * r[..., None], axis=-1) - np.log(len(amplitudes))
    log_t = mf.log_time_prior.double().numpy()
    want = logsumexp(logsumexp(g + log_t, axis=-1) + np.log(filters.weight), axis=-1)
    np.testing.assert_allclose(feats["mf_lse_amplitude"], want, rtol=2e-3, atol=2e-3)
    assert np.all(feats["mf_lse_amplitude"] <= feats["mf_lse_time"] + 1e-4)
    assert feats["mf_lse_amplitude"][12:].min() > np.median(feats["mf_lse_amplitude"][:12])
    assert "mf_lse_amplitude" not in MatchedFilter(filters).features(rows[:2])
    with pytest.raises(ValueError, match="competition-mode"):
        MatchedFilter(filters, mode="physical", amplitudes=amplitudes)


def test_injections_are_found_and_rank_above_noise(heavy_template_bank, rows):
    bank = heavy_template_bank
    feats = MatchedFilter(FilterBank.from_templates(bank)).features(rows)
    assert set(FEATURES) <= feats.keys()
    loud = slice(18, 24)  # injected SNR >= 9.5
    k = np.arange(12)[6:] % len(bank)
    np.testing.assert_array_equal(feats["mf_template"][loud], k)
    np.testing.assert_allclose(feats["mf_mchirp"][loud], bank.mchirp[k])
    expected_time = (bank.ref_index + 40 * np.arange(6, 12) - 200) / bank.recipe.sample_rate
    assert np.all(np.abs(feats["mf_time"][loud] - expected_time) < 8 / bank.recipe.sample_rate)
    for name in ("mf_snr", "mf_lse", "mf_lse_time"):
        assert feats[name][loud].min() > feats[name][:12].max()


def test_competition_mode_ignores_channel_1(heavy_template_bank, rows):
    mf = MatchedFilter(FilterBank.from_templates(heavy_template_bank))
    other = rows.copy()
    other[:, 1] = np.random.default_rng(0).standard_normal(other[:, 1].shape)
    a, b = mf.features(rows), mf.features(other)
    for name in ("mf_snr", "mf_lse", "mf_lse_time"):
        np.testing.assert_allclose(a[name], b[name], rtol=1e-6)


def test_bank_file_round_trip_and_bad_files(heavy_template_bank, tmp_path):
    bank = FilterBank.from_templates(heavy_template_bank, stride=8, f_max=1023.5)
    path = bank.save(tmp_path / "bank.h5")
    back = FilterBank.load(path)
    np.testing.assert_array_equal(back.basis, bank.basis)
    np.testing.assert_array_equal(back.coefficients, bank.coefficients)
    np.testing.assert_array_equal(back.weight, bank.weight)
    assert (back.stride, back.f_max, back.ref_index) == (8, 1023.5, bank.ref_index)
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(FilterBankError, match="junk.h5"):
        FilterBank.load(tmp_path / "junk.h5")
    with pytest.raises(FilterBankError, match="no such filter bank"):
        FilterBank.load(tmp_path / "missing.h5")


def test_bad_arguments_raise(heavy_template_bank, rows):
    with pytest.raises(ValueError, match="stride"):
        FilterBank.from_templates(heavy_template_bank, stride=3)
    with pytest.raises(ValueError, match="f_max"):
        FilterBank.from_templates(heavy_template_bank, stride=8, f_max=2048.0)
    mf = MatchedFilter(FilterBank.from_templates(heavy_template_bank))
    with pytest.raises(ValueError, match="x must be"):
        mf.features(rows[:, :, :1000])
    with pytest.raises(ValueError, match="mode"):
        MatchedFilter(FilterBank.from_templates(heavy_template_bank), mode="network")


def test_prior_weights_count_best_matches(heavy_template_bank):
    weight, ff = prior_weights(heavy_template_bank, n_draws=40, seed=1, pseudocount=0.0)
    assert weight.shape == (len(heavy_template_bank),)
    assert weight.sum() == pytest.approx(1.0)
    assert np.all(np.isclose(weight * 40, np.round(weight * 40)))  # shares of 40 draws
    assert np.median(ff) > 0.9 and ff.max() <= 1.0 + 1e-6  # a 12-template bank has holes
    again, _ = prior_weights(heavy_template_bank, n_draws=40, seed=1, pseudocount=0.0)
    np.testing.assert_array_equal(weight, again)
    filters = build_filter_bank(heavy_template_bank, n_draws=40)
    assert np.all(filters.weight > 0)  # the pseudocount keeps every template
    assert 0.8 < filters.info["fitting_factor_mean"] <= 1.0


@pytest.mark.parametrize("key, value, message", [
    ("ref_index", np.inf, r"attribute ref_index is inf, expected a whole number"),
    ("ref_index", "middle", r"attribute ref_index is 'middle', expected a whole number"),
    ("stride", 2.5, r"attribute stride is 2\.5, expected a whole number"),
    ("sample_rate", np.nan, r"attribute sample_rate is nan, expected a finite number"),
])
def test_a_bank_file_with_bad_attributes_is_one_line(tmp_path, key, value, message):
    """Issue 25: an infinite reference index used to end in an OverflowError traceback."""
    import h5py

    from gwkit.sim.mf_features import output_grid

    nbins, _ = output_grid(16384, 8192.0, 1024.0, 4)
    basis = np.ones((1, nbins), np.complex64)
    path = FilterBank([30.0], [20.0], [1.0], basis, None, 12000).save(tmp_path / "bank.h5")
    assert FilterBank.load(path).ref_index == 12000
    with h5py.File(path, "r+") as f:
        f.attrs[key] = value
    with pytest.raises(FilterBankError, match=rf"^{path}: {message}"):
        FilterBank.load(path)


# ----------------------------------------------------------------------------- physical mode


def _two_detector_rows(rows, bank, l1_factor: float, l1_shift: int) -> np.ndarray:
    """The fixture's rows with L1 (channel 1) holding ``l1_factor`` times the H1 injection,
    ``l1_shift`` samples later."""
    x = rows.copy()
    for i in range(12):
        inj = np.linspace(4, 15, 12)[i] * np.roll(bank.templates[i % len(bank)], 40 * i - 200)
        x[12 + i, 1] += l1_factor * np.roll(inj, l1_shift)
    return x


def _reference_physical(x, bank, filters, mf) -> dict[str, np.ndarray]:
    """The physical statistics from the reference SNR series (an independent numpy FFT path),
    in float64: log-sum-exps over templates, H1 time and L1 shift with the sky prior."""
    from gwkit.sim.signal_prior import coherent_quadratic_form, sky_response_prior

    window = mf.window.numpy()
    z = np.stack([_snr_series(x[:, c], bank.templates)[..., window] for c in (0, 1)])
    pad, nt = mf.pad, window.size - 2 * mf.pad
    zh = z[0][..., pad:pad + nt]  # (N, K, T)
    zl = np.stack([z[1][..., d:d + nt] for d in range(2 * pad + 1)], -1)  # (N, K, T, D)
    log_t = mf.log_time_prior.double().numpy()
    log_w = np.log(filters.weight)

    def marginal(series):  # (N, K, T) -> (N,)
        return logsumexp(logsumexp(series + log_t, axis=-1) + log_w, axis=-1)

    p, r = sky_response_prior(filters.stride, filters.sample_rate, pad)
    with np.errstate(divide="ignore"):
        log_p = np.log(p)
    m, c = coherent_quadratic_form(p, r, mf.coherent_snr)
    zz = np.stack(np.broadcast_arrays(zh[..., None], zl), -1)  # (N, K, T, D, 2)
    quad = np.einsum("nktdi,dij,nktdj->nktd", zz.conj(), m, zz).real + c
    return {
        "mf_lse_delay": marginal(np.abs(zh) ** 2 / 2 + logsumexp(np.abs(zl) ** 2 / 2 + log_p,
                                                                 axis=-1)),
        "mf_lse_coherent": marginal(logsumexp(quad, axis=-1)),
        "mf_lse_h1": marginal(np.abs(zh) ** 2 / 2),
        "mf_lse_l1": marginal(np.abs(z[1][..., pad:pad + nt]) ** 2 / 2),
    }


def test_physical_statistics_equal_their_definitions(heavy_template_bank, rows):
    """mf_lse_delay / _coherent / _h1 / _l1 equal the float64 numpy reference."""
    bank = heavy_template_bank
    x = _two_detector_rows(rows, bank, -0.8, 24)
    filters = FilterBank.from_templates(bank, f_max=1024.0, stride=4, tolerance=None)
    mf = MatchedFilter(filters, mode="physical", coherent=True, coherent_snr=6.0)
    feats = mf.features(x)
    for name, value in _reference_physical(x, bank, filters, mf).items():
        np.testing.assert_allclose(feats[name], value, rtol=2e-3, atol=2e-3, err_msg=name)


def test_loud_rows_far_from_the_prior_stay_finite(heavy_template_bank, rows):
    """SNR up to 75 with L1 = +H1 (a response the prior finds unlikely): every coherent term
    underflows below its float32 bound, and the largest term stands in for the sum, at most
    log(shifts) below the float64 reference."""
    bank = heavy_template_bank
    x = _two_detector_rows(rows, bank, 1.0, 0)
    x[12:] *= 5
    filters = FilterBank.from_templates(bank, f_max=1024.0, stride=4, tolerance=None)
    mf = MatchedFilter(filters, mode="physical", coherent=True)
    feats = mf.features(x)
    ref = _reference_physical(x, bank, filters, mf)["mf_lse_coherent"]
    assert np.all(np.isfinite(feats["mf_lse_coherent"]))
    shifts = int(np.isfinite(mf.coherent_const.numpy()).sum())
    assert np.all(feats["mf_lse_coherent"] <= ref * (1 + 1e-5) + 1e-3)
    assert np.all(feats["mf_lse_coherent"] >= ref * (1 + 1e-5) - np.log(shifts) - 1e-3)
    assert ref[12:].min() > 50 * ref[:12].max()  # loud indeed


def test_delay_marginal_is_bounded_by_the_shift_maximised_statistic(heavy_template_bank, rows):
    """mean <= max over the shifts: mf_lse_time + log(min prior) <= mf_lse_delay <=
    mf_lse_time when every shift in reach is a possible delay; equal with one shift."""
    bank = heavy_template_bank
    x = _two_detector_rows(rows, bank, -0.8, 24)
    filters = FilterBank.from_templates(bank, f_max=1024.0, stride=4, tolerance=None)
    mf = MatchedFilter(filters, mode="physical", max_shift=0.009)
    feats = mf.features(x)
    p_min = float(mf.log_delay_prior.min())
    assert np.isfinite(p_min)
    assert np.all(feats["mf_lse_delay"] <= feats["mf_lse_time"] + 1e-4)
    assert np.all(feats["mf_lse_delay"] >= feats["mf_lse_time"] + p_min - 1e-4)
    one = MatchedFilter(filters, mode="physical", max_shift=0.0).features(x)
    np.testing.assert_allclose(one["mf_lse_delay"], one["mf_lse_time"], rtol=1e-5, atol=1e-5)
    assert "mf_lse_coherent" not in feats  # costly: only when asked
    competition = MatchedFilter(filters).features(x)
    assert not {"mf_lse_delay", "mf_lse_h1", "mf_lse_l1"} & competition.keys()


def test_coherent_statistic_rewards_the_response_a_source_makes(heavy_template_bank, rows):
    """H1 and L1 nearly anti-aligned: L1 = -0.8 H1 is a likely source, +0.8 H1 is not. With
    L1 negated (noise included) the phase-blind statistics cannot tell them apart; the
    coherent one prefers the first. Swapping the detectors of pure-noise rows swaps the
    single-detector columns."""
    bank = heavy_template_bank
    filters = FilterBank.from_templates(bank, f_max=1024.0, stride=4, tolerance=None)
    mf = MatchedFilter(filters, mode="physical", coherent=True)
    x = _two_detector_rows(rows, bank, -0.8, 24)
    flipped = x.copy()
    flipped[:, 1] *= -1
    likely, unlikely = mf.features(x), mf.features(flipped)
    signal = slice(14, 24)  # SNR >= 6
    for name in ("mf_lse_time", "mf_lse_delay", "mf_lse_h1", "mf_lse_l1"):
        np.testing.assert_allclose(likely[name], unlikely[name], rtol=1e-5)
    assert np.all(likely["mf_lse_coherent"][signal] > unlikely["mf_lse_coherent"][signal] + 2)
    swapped = mf.features(rows[:12, ::-1].copy())
    noise = mf.features(rows[:12])
    np.testing.assert_allclose(swapped["mf_lse_h1"], noise["mf_lse_l1"], rtol=1e-5)
    np.testing.assert_allclose(swapped["mf_lse_l1"], noise["mf_lse_h1"], rtol=1e-5)


def test_coherent_prior_matches_the_physical_simulation(heavy_template_bank):
    """Sources simulated in physical mode (antenna patterns, delays: gwkit.sim.generator) score
    higher on the coherent statistic than the same rows with L1 negated, which only a source
    the sky prior finds unlikely would make; the phase-blind statistic cannot tell."""
    from gwkit.sim.generator import make_sample
    from gwkit.sim.recipe import MassPrior, Recipe

    recipe = Recipe(mode="physical", masses=MassPrior(20.0, 80.0))
    rng = np.random.default_rng(7)
    x = np.stack([make_sample(rng, recipe, snr=12.0)[0] for _ in range(8)]).astype(np.float32)
    flipped = x.copy()
    flipped[:, 1] *= -1
    filters = FilterBank.from_templates(heavy_template_bank, stride=8, f_max=1023.5)
    mf = MatchedFilter(filters, mode="physical", coherent=True)
    real, wrong = mf.features(x), mf.features(flipped)
    np.testing.assert_allclose(real["mf_lse_delay"], wrong["mf_lse_delay"], rtol=1e-5)
    gain = real["mf_lse_coherent"] - wrong["mf_lse_coherent"]
    assert np.sum(gain > 0) >= 7 and np.median(gain) > 3, gain
