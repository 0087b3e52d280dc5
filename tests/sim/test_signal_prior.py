"""The signal population's priors for the matched filter's statistics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate
from scipy.special import i0e

from gwkit.sim.signal_prior import (
    amplitude_log_marginal,
    channel_share,
    coherent_quadratic_form,
    competition_amplitudes,
    sky_response_prior,
    unit_responses,
)


def test_sky_prior_is_uniform_in_delay_within_the_light_travel_time():
    p, r = sky_response_prior(8, 8192.0, 12, n_draws=1 << 16)
    assert p.sum() == pytest.approx(1.0)
    # 10.01 ms between the sites: shifts of 11 and 12 grid steps (10.7, 11.7 ms) never occur
    assert np.all(p[[0, 1, -2, -1]] == 0) and np.all(p[2:-2] > 0)
    np.testing.assert_allclose(p[5:-5], 1 / 20, rtol=0.15)  # isotropic sky: uniform delay
    np.testing.assert_allclose(np.trace(r, axis1=1, axis2=2).real, 1.0, rtol=1e-9)
    assert np.all(np.linalg.eigvalsh(r) >= -1e-12)  # covariances
    # H1 and L1 are nearly anti-aligned: the responses are anti-correlated
    assert np.all(r[5:-5, 0, 1].real < -0.3)


def test_coherent_quadratic_form_is_the_gaussian_marginal_likelihood():
    """exp(z^H M z + c) is E_a exp(Re(a^H z) - |a|^2 / 2) over a ~ CN(0, A0^2 R), times p."""
    r = np.array([[[0.5, -0.4], [-0.4, 0.5]], [[0.7, 0.1j], [-0.1j, 0.3]]])
    prior = np.array([0.25, 0.75])
    m, c = coherent_quadratic_form(prior, r, 2.0)
    rng = np.random.default_rng(0)
    z = np.array([1.2 - 0.4j, -0.9 + 0.3j])
    for d in range(2):
        chol = np.linalg.cholesky(4.0 * r[d])
        n = 400_000
        w = (rng.standard_normal((n, 2)) + 1j * rng.standard_normal((n, 2))) / np.sqrt(2)
        a = w @ chol.T  # E[a a^H] = 4 R
        mc = np.mean(np.exp((a.conj() @ z).real - (np.abs(a) ** 2).sum(-1) / 2))
        exact = np.exp((z.conj() @ m[d] @ z).real + c[d]) / prior[d]
        assert mc == pytest.approx(exact, rel=0.02)


def test_unit_responses_share_the_network_snr_and_keep_the_light_travel_time():
    u, delay = unit_responses(4096, mode="physical")
    np.testing.assert_allclose((np.abs(u) ** 2).sum(-1), 1.0, rtol=1e-12)
    assert np.abs(delay).max() < 0.0101  # H1-L1: 10.01 ms
    assert np.abs(delay).max() > 0.009
    # the competition quirk (cos i used as an angle: |cos(cos i)| >= cos 1) keeps every source
    # near face-on, so the cross polarisation never vanishes: fewer near-zero shares
    phys = np.abs(unit_responses(1 << 15, mode="physical")[0][:, 1])
    comp = np.abs(unit_responses(1 << 15, mode="competition")[0][:, 1])
    assert np.mean(comp < 0.2) < np.mean(phys < 0.2)


def test_channel_share_is_l1_in_competition_mode_and_h1_in_physical_mode():
    share = channel_share("competition", quantiles=16)
    assert np.all(np.diff(share) >= 0) and 0 < share[0] and share[-1] < 1
    assert np.median(share) == pytest.approx(0.707, abs=0.03)  # L1 and H1 alike on average
    amplitudes = competition_amplitudes(quantiles=16)
    assert amplitudes.shape == (12 * 16,)
    np.testing.assert_allclose(amplitudes[:16], 2 * share)  # SNR 2 first, times each share


def test_amplitude_log_marginal_is_the_bessel_average():
    """One amplitude: g(r) = -A^2/2 + log I0(A r); several: the log of the mean; the mean
    over a fine amplitude grid approaches the integral over a uniform prior."""
    g = amplitude_log_marginal([5.0], r_max=30.0, step=0.5)
    r = np.arange(0.0, 30.25, 0.5)
    np.testing.assert_allclose(g, -12.5 + np.log(i0e(5 * r)) + 5 * r, rtol=1e-12)
    two = amplitude_log_marginal([2.0, 7.0], r_max=10.0, step=1.0)
    r = np.arange(11.0)
    want = np.log((np.exp(-2) * i0e(2 * r) * np.exp(2 * r)
                   + np.exp(-24.5) * i0e(7 * r) * np.exp(7 * r)) / 2)
    np.testing.assert_allclose(two, want, rtol=1e-10)
    grid = amplitude_log_marginal(np.linspace(0, 10, 2001), r_max=4.0, step=4.0)
    integral = integrate.quad(lambda a: np.exp(-a * a / 2) * i0e(4 * a) * np.exp(4 * a), 0, 10)[0]
    assert grid[-1] == pytest.approx(np.log(integral / 10), rel=1e-3)
    assert np.all(np.isfinite(amplitude_log_marginal([30.0], r_max=64.0)))  # no overflow
    with pytest.raises(ValueError, match="amplitudes"):
        amplitude_log_marginal([])
    with pytest.raises(ValueError, match="amplitudes"):
        amplitude_log_marginal([np.nan])
