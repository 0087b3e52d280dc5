"""gwkit.strain.windows: windows shaped like the competition's rows, the band filler."""

import numpy as np
import pytest
import scipy.signal
import torch

from gwkit.sim.competition_whitening import competition_whiten
from gwkit.sim.generator import coloured_noise
from gwkit.sim.psd import design_psd
from gwkit.sim.recipe import NSAMPLES, PSD_FLOW, SAMPLE_RATE
from gwkit.strain.windows import competition_rows, fill_band, sliding_windows, window_starts

FS, N = 8192.0, 16384


def _rms(x: np.ndarray, lo: int, hi: int) -> float:
    return float(np.sqrt(np.mean(x[..., lo:hi] ** 2)))


def test_rows_of_white_noise_have_the_competitions_noise_profile():
    rng = np.random.default_rng(3)
    psd = design_psd(NSAMPLES, SAMPLE_RATE, PSD_FLOW)
    competition = competition_whiten(np.stack([coloured_noise(rng, psd, N, FS, 1)[0]
                                               for _ in range(300)]), psd)
    white = torch.randn(300, N, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    rows = competition_rows(white).numpy()
    assert rows.dtype == np.float32 and rows.shape == (300, N)
    for lo, hi in [(0, 16), (0, 256), (256, 1024), (1024, 2048), (2048, N - 2048), (N - 16, N)]:
        assert _rms(rows, lo, hi) == pytest.approx(_rms(competition, lo, hi), abs=0.03), (lo, hi)
    assert rows.std() == pytest.approx(0.96, abs=0.01)
    # a plain Tukey taper of the whitened strain would go to 0 at the ends instead of ~0.17
    assert _rms(rows, 0, 16) > 0.1


def test_rows_keep_the_middle_of_the_whitened_strain():
    white = torch.randn(4, N, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    rows = competition_rows(white).numpy()
    spectrum = np.fft.rfft(white.numpy(), axis=-1)
    spectrum[:, np.fft.rfftfreq(N, 1 / FS) < 10] = 0  # the design PSD's cut-off
    expected = np.fft.irfft(spectrum, n=N, axis=-1)
    diff = (rows - expected)[:, 4096:N - 4096]  # the middle second
    # what is left is the edges' taper ringing through the brick-wall cut-off at 10 Hz
    assert np.sqrt(np.mean(diff**2)) < 0.02 and np.abs(diff).max() < 0.05


def test_fill_band_completes_a_flat_spectrum_and_is_seeded():
    x = torch.randn(2, 8 * N, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    spectrum = torch.fft.rfft(x)
    freqs = torch.fft.rfftfreq(x.shape[-1], 1 / FS)
    spectrum[..., freqs > 2048] = 0
    low = torch.fft.irfft(spectrum, n=x.shape[-1])  # what a 4096 Hz file gives
    filled = fill_band(low, FS, 2048.0, torch.Generator().manual_seed(0))
    again = fill_band(low, FS, 2048.0, torch.Generator().manual_seed(0))
    assert torch.equal(filled, again) and not torch.equal(low, filled)
    f, pxx = scipy.signal.welch(filled.numpy(), fs=FS, nperseg=1024)
    level = pxx.mean(axis=0) * FS / 2
    assert abs(level[(f > 100) & (f < 1900)].mean() - 1) < 0.05
    assert abs(level[(f > 2200) & (f < 4000)].mean() - 1) < 0.05
    np.testing.assert_allclose(torch.fft.rfft(filled)[..., freqs <= 2048].numpy(),
                               torch.fft.rfft(low)[..., freqs <= 2048].numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="flow=5000.0 Hz"):
        fill_band(low, FS, 5000.0, torch.Generator())


def test_sliding_windows():
    x = torch.arange(20.0).reshape(1, 20)
    w = sliding_windows(x, 8, 3)
    assert w.shape == (1, 5, 8)
    np.testing.assert_array_equal(window_starts(20, 8, 3), [0, 3, 6, 9, 12])
    assert torch.equal(w[0, 2], torch.arange(6.0, 14.0))
    with pytest.raises(ValueError, match="fewer than one 30-sample window"):
        sliding_windows(x, 30, 1)
