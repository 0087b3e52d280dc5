"""Fast matched-filter features: low-rank bank, marginalised statistics, bank files."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from gwkit.sim.matched_filter import build_filter_bank, matched_filter, prior_weights
from gwkit.sim.mf_features import FEATURES, FilterBank, FilterBankError, MatchedFilter
from gwkit.sim.whiten import whiten


@pytest.fixture(scope="module")
def rows(heavy_template_bank) -> np.ndarray:
    """(24, 2, N): 12 noise rows, then 12 with template k injected at SNR 4-15 into channel 0."""
    from gwkit.sim.generator import coloured_noise

    bank = heavy_template_bank
    rng = np.random.default_rng(3)
    psd = bank.recipe.psd
    x = np.stack([whiten(coloured_noise(rng, psd, bank.recipe.nsamples, bank.recipe.sample_rate),
                         psd) for _ in range(24)])
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
