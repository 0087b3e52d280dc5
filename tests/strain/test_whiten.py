"""gwkit.strain.whiten: Welch PSD against scipy, whitening against a known PSD, gwpy, real data."""

import h5py
import numpy as np
import pytest
import scipy.signal
import torch

from gwkit.strain.whiten import (
    SpectralDensity,
    Whiten,
    check_psd,
    spectral_density,
    whiten,
    whitening_fir,
)

FS = 4096.0


def _welch_level(x: np.ndarray, sample_rate: float = FS) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, PSD in units of unit-variance white noise's 2 / sample_rate)."""
    freqs, pxx = scipy.signal.welch(x, fs=sample_rate, nperseg=int(sample_rate))
    return freqs, pxx.reshape(-1, freqs.size).mean(axis=0) * sample_rate / 2


@pytest.mark.parametrize("average", ["median", "mean"])
def test_spectral_density_equals_scipy_welch(coloured, average):
    x = coloured[0][:2, : int(12 * FS)]  # (2, 12 s): 11 segments of 2 s at 1 s steps
    _, expected = scipy.signal.welch(x, fs=FS, window="hann", nperseg=int(2 * FS),
                                     noverlap=int(FS), average=average)
    got = spectral_density(torch.from_numpy(x), FS, 2.0, 1.0, average=average)
    assert got.dtype == torch.float64 and got.shape == expected.shape
    np.testing.assert_allclose(got.numpy()[:, 1:], expected[:, 1:], rtol=1e-9)
    module = SpectralDensity(FS, 2.0, 1.0, average=average)
    assert [name for name, _ in module.named_buffers()] == ["window"]
    np.testing.assert_array_equal(module(torch.from_numpy(x)).numpy(), got.numpy())
    # float32 strain at 1e-21 must not underflow: the work is in float64
    got32 = spectral_density(torch.from_numpy(x).float(), FS, 2.0, 1.0, average=average)
    np.testing.assert_allclose(got32.numpy()[:, 20:], expected[:, 20:], rtol=1e-5)


def test_whitening_with_the_known_psd_gives_white_noise(coloured):
    noise, psd = coloured
    out = whiten(torch.from_numpy(noise), torch.from_numpy(psd), FS, 4.0).numpy()
    assert out.shape == (8, noise.shape[-1] - int(4 * FS))
    # the design PSD is zero below 10 Hz, so the output lacks that 0.5% of the band
    assert abs(out.var() / (1 - 10 / (FS / 2)) - 1) < 0.01
    freqs, level = _welch_level(out)
    band = (freqs >= 20) & (freqs <= 1900)
    # every 1 Hz bin (~250 averages), the design PSD's x470 line at 438 Hz included (a 2 s
    # filter, half the PSD's 4 s, leaves that line at x3: the scan's fduration is fftlength)
    np.testing.assert_allclose(level[band], 1.0, rtol=0.4)
    low, high = level[(freqs >= 20) & (freqs < 60)].mean(), level[(freqs >= 500) & (freqs < 1500)].mean()
    assert abs(low / high - 1) < 0.05  # no colour left
    assert level[freqs < 8].max() < 0.05  # nothing where the PSD says there is no data


def test_whitening_with_an_estimated_psd_has_unit_variance(coloured):
    noise, _ = coloured
    x = torch.from_numpy(noise)
    psd = spectral_density(x, FS, 4.0, 3.0)  # the scan's defaults
    out = Whiten(FS, 4.0, highpass=15.0)(x, psd).numpy()
    fraction = 1 - 15 / (FS / 2)
    assert abs(out.var() / fraction - 1) < 0.03
    freqs, level = _welch_level(out)
    band = (freqs >= 20) & (freqs <= 1900)
    assert abs(np.median(level[band]) - 1) < 0.03
    assert level[(freqs > 1) & (freqs < 12)].max() < 0.05  # the high-pass


def test_whitening_fir_is_zero_phase_and_truncated():
    flat = torch.full((int(2 * FS) + 1,), 4e-46, dtype=torch.float64)  # 4 s PSD, 1/Hz
    fir = whitening_fir(flat, FS, 1.0).numpy()
    half = int(FS / 2)
    assert fir.shape == (int(FS),)
    # a flat PSD S whitens by 1/sqrt(S): a single tap at lag 0 (index fduration * fs / 2)
    assert fir[half] == pytest.approx(1 / np.sqrt(4e-46), rel=1e-9)
    assert np.abs(np.delete(fir, half)).max() < 1e-6 * fir[half]
    rng = np.random.default_rng(0)
    coloured = torch.from_numpy(np.exp(rng.standard_normal(int(2 * FS) + 1))) * 1e-46
    fir = whitening_fir(coloured, FS, 1.0, highpass=30.0).numpy()
    np.testing.assert_allclose(fir[half + 1:], fir[half - 1:0:-1], rtol=1e-9)  # symmetric
    assert fir[0] == 0  # the Hann taper reaches 0 at lag -fduration / 2
    response = np.abs(np.fft.rfft(fir, n=int(8 * FS)))
    freqs = np.fft.rfftfreq(int(8 * FS), 1 / FS)
    assert response[freqs < 25].max() < 0.05 * np.median(response[freqs > 40])


def test_whiten_is_batched_and_keeps_float32():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, int(8 * FS)))
    psd = spectral_density(torch.from_numpy(x), FS, 2.0)
    batched = whiten(torch.from_numpy(x), psd, FS, 2.0, highpass=20.0)
    single = whiten(torch.from_numpy(x[1, 2]), psd[1, 2], FS, 2.0, highpass=20.0)
    np.testing.assert_allclose(batched[1, 2].numpy(), single.numpy(), atol=1e-12)
    out32 = whiten(torch.from_numpy(x).float() * 1e-21, psd * 1e-42, FS, 2.0, highpass=20.0)
    assert out32.dtype == torch.float32
    np.testing.assert_allclose(out32.numpy(), batched.numpy(), atol=1e-4)


def test_bad_arguments_name_the_value():
    x = torch.zeros(int(4 * FS), dtype=torch.float64)
    psd = torch.ones(int(FS) + 1, dtype=torch.float64)  # 2 s PSD
    with pytest.raises(ValueError, match="fduration=4.0 s is longer than the PSD's FFT length"):
        whiten(x, psd, FS, 4.0)
    with pytest.raises(ValueError, match="overlap=2.0 s"):
        spectral_density(x, FS, 2.0, 2.0)
    with pytest.raises(ValueError, match="fftlength=8.0 s needs 32768 samples"):
        spectral_density(x, FS, 8.0)
    with pytest.raises(ValueError, match="fftlength=0.0001 s"):
        spectral_density(x, FS, 1e-4)
    with pytest.raises(ValueError, match="highpass=3000.0 Hz"):
        whiten(x, psd, FS, 1.0, highpass=3000.0)
    with pytest.raises(ValueError, match="must be longer than fduration"):
        whiten(x[:4096], psd, FS, 1.0)


def test_matches_gwpy_timeseries_whiten(coloured):
    gwpy_timeseries = pytest.importorskip("gwpy.timeseries")
    x = coloured[0][0]
    ours = whiten(torch.from_numpy(x), spectral_density(torch.from_numpy(x), FS, 4.0, 3.0), FS,
                  4.0, highpass=15.0).numpy()
    theirs = gwpy_timeseries.TimeSeries(x, sample_rate=FS).whiten(
        4, 3, method="median", fduration=4, highpass=15).value
    half = int(2 * FS)
    theirs = theirs[half:-half]  # ours crops fduration / 2 at each end
    middle = slice(half, -half)  # beyond the edges gwpy tapers
    diff = ours[middle] - theirs[middle]
    # gwpy interpolates the ASD to the data's resolution before truncating: close, not equal
    assert np.sqrt(np.mean(diff**2)) < 0.03 * theirs[middle].std()
    assert ours[middle].std() == pytest.approx(theirs[middle].std(), rel=0.01)


@pytest.mark.parametrize("ifo", [0, 1])
def test_gw150914_whitens_to_unit_variance_and_a_flat_psd(gw150914, ifo):
    with h5py.File(gw150914[ifo], "r") as f:
        x = torch.from_numpy(f["strain/Strain"][()])
    out = whiten(x, spectral_density(x, FS, 4.0, 3.0), FS, 4.0, highpass=15.0).numpy()
    assert abs(out.var() / (1 - 15 / (FS / 2)) - 1) < 0.05
    freqs, level = _welch_level(out)
    for lo in range(20, 1800, 100):  # flat away from the band edges, in 100 Hz bands
        band = (freqs >= lo) & (freqs < lo + 100)
        assert abs(np.median(level[band]) - 1) < 0.1, f"{lo}-{lo + 100} Hz"
    assert level[(freqs >= 20) & (freqs < 1900)].max() < 3  # the lines are whitened away too


@pytest.mark.parametrize("scale, message", [
    (0.0, r"H1\.hdf5: its PSD at 15 Hz is zero \(no data, or strain too small for float64\)"),
    (1e-170, r"its PSD at 15 Hz is zero"),  # the square underflows
    (1e160, r"H1\.hdf5: its PSD at 15 Hz is inf: it overflows float64"),
])
def test_a_psd_that_cannot_whiten_is_refused_naming_the_channel(coloured, scale, message):
    x = torch.from_numpy(np.stack([coloured[0][0, : int(8 * FS)], coloured[0][1, : int(8 * FS)]]))
    x[0] *= scale / x[0].std()  # unit RMS times scale
    psd = spectral_density(x, FS, 4.0, 2.0)
    with pytest.raises(ValueError, match=message):
        check_psd(psd, FS, ["H1.hdf5", "L1.hdf5"], highpass=15.0)
    torch.testing.assert_close(check_psd(psd[1:], FS, ["L1.hdf5"], highpass=15.0), psd[1:])
