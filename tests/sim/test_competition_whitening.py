"""gwkit.sim.competition_whitening: Tukey windows, the whitening filter, whitened noise's
profile and spectrum, linearity, numpy against torch."""

import numpy as np
import pytest
import scipy.signal
import torch

from gwkit.sim.competition_whitening import (
    central_window,
    competition_whiten,
    competition_whiten_torch,
    tukey,
    whitening_filter,
)
from gwkit.sim.generator import coloured_noise
from gwkit.sim.psd import design_psd
from gwkit.sim.recipe import NSAMPLES, PSD_FLOW, SAMPLE_RATE

FS, N = 8192.0, 16384
#: rms of a Tukey(alpha) window, ``sqrt(mean w^2) = sqrt(1 - 5 alpha / 8)``, at the recipe's alpha 1/8
TUKEY_RMS = np.sqrt(1 - 5 / 64)


@pytest.mark.parametrize("n", [7, 100, 8738, 16384])
def test_tukey_equals_scipy(n):
    np.testing.assert_array_equal(tukey(n, 1 / 8), scipy.signal.windows.tukey(n, 1 / 8))


def test_central_window_cuts_to_central_region():
    w = central_window(N)
    nz = np.flatnonzero(w)
    # int(16/15 * 8192) = 8738 samples starting at int((16384 - 8738) / 2) = 3823 (first value 0)
    assert nz[0] == 3824 and nz[-1] == 3823 + 8738 - 2
    assert w.max() == 1.0


def test_whitening_filter_zero_where_psd_zero():
    psd = design_psd(NSAMPLES, SAMPLE_RATE, PSD_FLOW)
    filt = whitening_filter(psd, FS)
    assert np.all(filt[:20] == 0) and filt[0] == 0
    np.testing.assert_allclose(filt[100], np.sqrt(2 / (FS * psd[100])))


def test_whitened_noise_std_profile(whitened_noise):
    x = whitened_noise(100, seed=7)
    assert abs(x[..., 2048:-2048].std() - 1.0) < 0.01  # unit variance in the middle
    assert abs(x.std() - TUKEY_RMS) < 0.002  # the Tukey taper lowers the whole-window std
    ends = np.sqrt(np.mean(x[..., :8] ** 2)), np.sqrt(np.mean(x[..., -8:] ** 2))
    assert all(0.1 < e < 0.3 for e in ends)  # tapered, but not zero (whitening wraps)
    assert np.sqrt(np.mean(x[..., 400:600] ** 2)) < 0.5


def test_whitened_noise_psd_is_flat(whitened_noise):
    mid = whitened_noise(100, seed=7)[..., 2048:-2048].reshape(-1, N - 4096)
    freqs, pxx = scipy.signal.welch(mid, fs=FS, nperseg=2048)
    pxx = pxx.mean(axis=0)
    band = (freqs > 20) & (freqs < 4000)
    # white unit-variance noise has one-sided PSD 2 / fs
    np.testing.assert_allclose(pxx[band], 2 / FS, rtol=0.1)
    assert pxx[freqs < 5].max() < 0.2 * 2 / FS  # below the 10 Hz cut-off: no power


def test_whitening_is_linear_and_torch_matches(rng):
    psd = design_psd(NSAMPLES, SAMPLE_RATE, PSD_FLOW)
    a, b = rng.standard_normal((2, 2, N))
    np.testing.assert_allclose(competition_whiten(a + b, psd),
                               competition_whiten(a, psd) + competition_whiten(b, psd), atol=1e-12)
    got = competition_whiten_torch(torch.from_numpy(a), psd).numpy()
    np.testing.assert_allclose(got, competition_whiten(a, psd), atol=1e-10)
    strain = coloured_noise(rng, psd, N, FS)  # ~1e-21: float32 must cope with its scale
    got32 = competition_whiten_torch(torch.from_numpy(strain).float(), torch.from_numpy(psd.copy()))
    assert got32.dtype == torch.float32
    np.testing.assert_allclose(got32.numpy(), competition_whiten(strain, psd), atol=1e-4)
    with pytest.raises(ValueError, match="bins"):
        competition_whiten(a[..., :1000], psd)

