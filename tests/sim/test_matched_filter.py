"""Matched filter: noise normalisation, template recovery, separation of signals from noise, bank I/O."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import hilbert

from gwkit.core.metrics import roc_auc
from gwkit.sim.generator import simulate_block
from gwkit.sim.matched_filter import (
    TemplateBank,
    fitting_factor,
    matched_filter,
    matched_filter_statistic,
    whitened_template,
)
from gwkit.sim.mf_features import filter_spectra
from gwkit.sim.recipe import MassPrior, Recipe

RECIPE = Recipe()
# Heavier binaries than the competition's (component masses 20-60, total < 80 Msun) so
# that ~11 templates cover the prior at min match 0.9 and the bank builds in seconds.
HEAVY = MassPrior(20.0, 80.0)


def snr_series(x: np.ndarray, templates: np.ndarray) -> np.ndarray:
    """Complex SNR series (N, K, 4096) of rows ``x`` (N, 16384) against ``templates`` (K, 16384).

    The filter's definition written out in numpy: bins below 1024 Hz, every 4th sample.
    """
    nbins, nout = 2049, 4096
    xf = np.fft.rfft(x, axis=-1)[:, :nbins]
    xf[:, 0] = 0
    prod = xf[:, None, :] * filter_spectra(templates, nbins)[None]
    return nout * np.fft.ifft(prod, n=nout, axis=-1)


@pytest.fixture(scope="module")
def bank() -> TemplateBank:
    """At most 12 templates placed stochastically (min match 0.9) over the HEAVY prior."""
    return TemplateBank.build(12, min_match=0.9, seed=5, patience=30, recipe=Recipe(masses=HEAVY))


@pytest.fixture(scope="module")
def noise(whitened_noise) -> np.ndarray:
    """(120, 2, N) whitened competition noise."""
    return whitened_noise(120, seed=7)


def test_template_is_whitened_unit_norm_with_peak_at_ref_index():
    t = whitened_template(30.0, 20.0)
    ref = (RECIPE.peak_range[0] + RECIPE.peak_range[1]) // 2
    assert t.shape == (RECIPE.nsamples,)
    assert np.linalg.norm(t) == pytest.approx(1.0)
    envelope = np.abs(hilbert(t))
    assert abs(int(np.argmax(envelope)) - ref) < 40  # whitening moves the envelope peak slightly
    assert np.abs(t[:3000]).max() < 1e-3 * np.abs(t).max()  # cut by the central window


def test_noise_snr_is_unit_variance_in_both_phases(bank, noise):
    z = snr_series(noise[:, 0], bank.templates[:4])
    shifts = np.r_[np.arange(-300, 0), np.arange(0, 300)]  # within the search window
    w = z[..., shifts]
    assert w.real.var() == pytest.approx(1.0, abs=0.05)
    assert w.imag.var() == pytest.approx(1.0, abs=0.05)
    assert abs(np.mean(w.real * w.imag)) < 0.05


@pytest.mark.parametrize("phase", [0.0, 1.1])
def test_injected_template_is_found_at_its_time_and_phase(bank, noise, phase):
    k, shift, amplitude = 7, 333, 12.0
    t = bank.templates[k].astype(np.float64)
    rotated = np.cos(phase) * t + np.sin(phase) * np.imag(hilbert(t))
    x = noise[:8].copy()
    x[:, 0] += amplitude * np.roll(rotated, shift)
    res = matched_filter(x, bank)
    assert np.all(res.template == k)
    # time error in noise ~ 1 / (2 pi bandwidth SNR): a few samples
    error = res.peak_index - (bank.ref_index + shift)
    assert np.all(np.abs(error) < 12) and abs(error.mean()) < 4
    assert np.all(np.abs(res.snr - amplitude) < 3.0)
    assert np.all(res.snr_channel[:, 1] == 0)  # competition mode: channel 1 unused


def test_competition_mode_ignores_channel_1(bank, noise):
    x = noise[:6].copy()
    x[:, 1] += 20 * np.roll(bank.templates[2].astype(np.float64), -100)
    np.testing.assert_allclose(matched_filter_statistic(x, bank), matched_filter_statistic(noise[:6], bank),
                               rtol=1e-6)


def test_physical_mode_sums_channels_within_the_light_travel_time(bank, noise):
    k, a0, a1 = int(np.argmin(bank.mchirp)), 6.0, 8.0  # the longest template: sharpest peak
    t = bank.templates[k].astype(np.float64)
    x = noise[:8].copy()
    x[:, 0] += a0 * np.roll(t, 100)
    x[:, 1] += a1 * np.roll(t, 100 + 60)  # L1 7.3 ms after H1
    res = matched_filter(x, bank, mode="physical")
    assert np.all(res.template == k)
    assert np.all(np.abs(res.snr - np.hypot(a0, a1)) < 3.0)
    error = res.peak_index - (bank.ref_index + 100)  # set by H1 alone (SNR 6): less precise
    assert np.all(np.abs(error) < 25) and abs(error.mean()) < 6
    far = noise[:8].copy()
    far[:, 0] += a0 * np.roll(t, 100)
    far[:, 1] += a1 * np.roll(t, 100 + 1000)  # 122 ms apart: not coincident
    assert matched_filter(far, bank, mode="physical").snr.mean() < res.snr.mean() - 1.0


def test_separates_snr10_signals_from_noise_in_physical_mode(bank):
    """Physical mode, network SNR 10, sources from the bank's prior: AUC > 0.99."""
    x, params = simulate_block(10.0, 60, nnoise=1, seed=11,
                               recipe=Recipe(mode="physical", masses=HEAVY))
    stat = matched_filter_statistic(x, bank, mode="physical")
    assert roc_auc(params["label"], stat) > 0.99


def test_competition_mode_separates_when_channel0_snr_is_high(bank):
    """Competition mode: channel 0 holds only 0.15-0.87 of the nominal SNR; rows with >= 8 there."""
    x, params = simulate_block(15.0, 60, nnoise=1, seed=12, recipe=Recipe(masses=HEAVY))
    stat = matched_filter_statistic(x, bank)
    loud = (params["label"] == 0) | (params["snr_ch0"] >= 8.0)
    assert loud.sum() > 45
    assert roc_auc(params["label"][loud], stat[loud]) > 0.99


def test_fitting_factor_of_bank_members_is_one(bank):
    signals = np.stack([np.roll(bank.templates[k].astype(np.float64), 57 * k - 300) for k in range(4)])
    ff, best = fitting_factor(signals, bank, f_max=None, stride=1)
    np.testing.assert_array_equal(best, np.arange(4))
    np.testing.assert_allclose(ff, 1.0, atol=2e-3)


def test_build_is_seeded_and_obeys_min_match(bank):
    first = TemplateBank.build(3, min_match=0.9, seed=5, recipe=Recipe(masses=HEAVY))
    np.testing.assert_array_equal(first.m1, bank.m1[:3])  # placement is sequential and seeded
    m1, m2 = bank.m1, bank.m2
    assert np.all(m1 >= m2) and np.all(m2 > 20) and np.all(m1 + m2 < 80)
    z = snr_series(bank.templates, bank.templates)  # every template against every other
    match = np.abs(z).max(-1)
    np.testing.assert_allclose(np.diag(match), 1.0, atol=1e-3)
    off = match[~np.eye(len(bank), dtype=bool)]
    assert off.max() < 0.9
    assert bank.info["placement"] == "stochastic" and bank.info["seed"] == 5


def test_bank_save_load_round_trip(bank, tmp_path):
    path = bank.save(tmp_path / "tb.h5")
    back = TemplateBank.load(path)
    np.testing.assert_array_equal(back.m1, bank.m1)
    np.testing.assert_allclose(back.templates, bank.templates, rtol=1e-7)
    assert back.ref_index == bank.ref_index and back.recipe.nsamples == RECIPE.nsamples
    assert back.info["min_match"] == pytest.approx(0.9)
    assert not list(tmp_path.glob(".tb.h5.*"))  # no temporary left behind
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ValueError, match="not a gwkit template bank"):
        TemplateBank.load(tmp_path / "other.h5")


def test_cached_builds_once(tmp_path, monkeypatch):
    first, path = TemplateBank.cached(cache_dir=tmp_path, n=2, min_match=None, seed=1)
    assert path.is_file() and len(first) == 2
    monkeypatch.setattr(TemplateBank, "build", None)  # a second call must not build
    again, path2 = TemplateBank.cached(cache_dir=tmp_path, n=2, min_match=None, seed=1)
    assert path2 == path
    np.testing.assert_array_equal(again.m1, first.m1)


def test_bad_input_raises(bank, noise):
    with pytest.raises(ValueError, match=r"\(N, 2, 16384\)"):
        matched_filter(noise[:, :, :1000], bank)
    with pytest.raises(ValueError, match="f_max"):
        matched_filter(noise[:2], bank, f_max=2048.0, stride=8)
    with pytest.raises(ValueError, match="mode"):
        matched_filter(noise[:2], bank, mode="network")
    with pytest.raises(ValueError, match="n, min_match"):
        TemplateBank.build(None, min_match=None)
