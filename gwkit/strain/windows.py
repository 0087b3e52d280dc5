"""From a long whitened series to the 2 s rows a competition model was trained on.

The competition's rows are not plain cuts of white noise: the generator
multiplied 2 s of coloured strain by a Tukey(1/8) window and whitened it with
the design PSD, circularly. So a row is unit-variance white in the middle and
tapered at the ends, with the whitening filter's wrap-around leaving rms ~0.17
at the very ends (:mod:`gwkit.sim.competition_whitening`). :func:`competition_rows` gives a
window of real whitened strain exactly that shape: it re-colours the window
with the design PSD and applies the competition's own whitening
(:func:`gwkit.sim.competition_whitening.competition_whiten_torch`). For noise this is the competition's
noise distribution, not an approximation of it: the competition's noise is
circular Gaussian noise with the design PSD, which is what re-colouring
unit-variance white noise gives. In the middle of the window the row equals
the whitened strain (above 10 Hz, the design PSD's cut-off).

:func:`fill_band` supplies the band a file cannot (above its Nyquist frequency
once resampled to the model's rate) with seeded white noise at the whitened
level, so a model trained on white noise up to 4096 Hz sees the noise level it
was trained on; the data carry no information there either way.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from gwkit.sim.competition_whitening import competition_whiten_torch, whitening_filter
from gwkit.sim.psd import design_psd
from gwkit.sim.recipe import PSD_FLOW, SAMPLE_RATE

__all__ = ["competition_rows", "fill_band", "sliding_windows", "window_starts"]


def window_starts(nsamples: int, window: int, stride: int) -> np.ndarray:
    """First sample of every ``window``-sample window ``stride`` samples apart in ``nsamples``."""
    if window < 1 or stride < 1:
        raise ValueError(f"window ({window}) and stride ({stride}) must be >= 1 sample")
    if nsamples < window:
        raise ValueError(f"{nsamples} samples are fewer than one {window}-sample window")
    return np.arange(0, nsamples - window + 1, stride)


def sliding_windows(x: torch.Tensor, window: int, stride: int) -> torch.Tensor:
    """``(..., nsamples) -> (..., nwindows, window)``: a view, windows as :func:`window_starts`."""
    window_starts(x.shape[-1], window, stride)  # validates
    return x.unfold(-1, window, stride)


def fill_band(
    x: torch.Tensor, sample_rate: float, flow: float, generator: torch.Generator
) -> torch.Tensor:
    """``x`` plus white Gaussian noise at unit variance density confined to ``[flow, Nyquist]`` Hz.

    For whitened data that are empty above ``flow`` Hz: the sum has the flat
    spectrum (one-sided PSD ``2 / sample_rate``) of unit-variance white noise.
    Noise drawn from ``generator`` (on ``x``'s device); returns a new tensor.
    """
    if not 0 < flow <= sample_rate / 2:
        raise ValueError(f"flow={flow} Hz must lie in (0, {sample_rate / 2}] Hz")
    nsamples = x.shape[-1]
    noise = torch.randn(x.shape, generator=generator, dtype=torch.float64, device=x.device)
    spectrum = torch.fft.rfft(noise, dim=-1)
    freqs = torch.fft.rfftfreq(nsamples, d=1.0 / sample_rate, device=x.device)
    spectrum[..., freqs <= flow] = 0
    return x + torch.fft.irfft(spectrum, n=nsamples, dim=-1).to(x.dtype)


@functools.lru_cache(maxsize=4)
def _design_filters(nsamples: int, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """(design PSD, re-colouring response), both scaled so the response peaks at 1.

    The response is the inverse of the competition's whitening filter; scaling
    it and the PSD together (by ``g`` and ``1 / g**2``) leaves the composition
    unchanged and keeps every intermediate value O(1), so float32 is enough.
    """
    psd = design_psd(nsamples, sample_rate, PSD_FLOW)
    filt = whitening_filter(psd, sample_rate)
    recolour = np.zeros_like(filt)
    recolour[filt > 0] = 1.0 / filt[filt > 0]
    scale = recolour.max()
    return psd / scale**2, recolour / scale


def competition_rows(windows: torch.Tensor, sample_rate: float = SAMPLE_RATE) -> torch.Tensor:
    """Windows of whitened strain ``(..., nsamples)`` shaped like the competition's rows.

    Re-colour with the design PSD, then the competition's whitening (Tukey(1/8)
    window, design PSD, circular): the edges taper exactly as in training, the
    middle is the input above 10 Hz. Computed in float32 on ``windows``' device;
    returns float32.
    """
    nsamples = windows.shape[-1]
    psd, recolour = _design_filters(int(nsamples), float(sample_rate))
    response = torch.as_tensor(recolour, dtype=torch.float32, device=windows.device)
    coloured = torch.fft.irfft(
        torch.fft.rfft(windows.to(torch.float32), dim=-1) * response, n=nsamples, dim=-1
    )
    return competition_whiten_torch(coloured, psd, sample_rate)
