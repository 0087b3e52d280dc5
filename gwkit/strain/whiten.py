"""Welch PSD estimates and whitening by inverse-spectrum truncation, for raw strain.

Pure functions do the work; :class:`SpectralDensity` and :class:`Whiten` are
thin ``nn.Module`` wrappers that hold their windows as buffers, so ``.to(device)``
moves everything (ml4gw's layout). Everything is batched over leading
dimensions and runs on the input's device.

Recipe (gwpy's ``TimeSeries.whiten``, arXiv:gr-qc/0509116):

1. PSD by Welch's method: ``fftlength``-second Hann-windowed segments every
   ``fftlength - overlap`` seconds, each with its mean removed, median-averaged
   with scipy's bias correction (or mean-averaged).
2. Whitening filter: ``1 / sqrt(psd)``, zeroed below ``highpass`` and above
   ``lowpass`` (Hz), brought to the time domain and truncated to ``fduration``
   seconds with a Hann window, so a sharp line in the PSD cannot ring for longer
   than ``fduration / 2`` on either side of a sample.
3. The filter is applied by linear (zero-padded FFT) convolution and the output
   is scaled by ``sqrt(2 / sample_rate)``: stationary Gaussian noise comes out
   with zero mean and unit variance. The first and last ``fduration / 2``
   seconds see the filter run off the data, so they are cropped (as ml4gw does):
   the output is ``fduration`` seconds shorter than the input.

Precision: the work is done in float64, because raw strain (~1e-21) has power
(~1e-42) below float32's range. On devices without float64 (MPS), whiten on the
CPU and move the whitened data.

This module is for data whose PSD is unknown. The competition's own whitening
(a fixed design PSD, a Tukey window, no truncation) is
:mod:`gwkit.sim.competition_whitening`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

__all__ = [
    "SpectralDensity",
    "Whiten",
    "check_psd",
    "frequencies",
    "median_bias",
    "spectral_density",
    "whiten",
    "whitening_fir",
]

Average = Literal["median", "mean"]


def _nsamples(seconds: float, sample_rate: float, what: str) -> int:
    """``seconds * sample_rate`` as an integer count; ValueError unless it is one."""
    if not 0 < sample_rate < math.inf:
        raise ValueError(f"sample_rate must be a finite number > 0 Hz, got {sample_rate}")
    n = seconds * sample_rate
    if not 0 < n < math.inf or abs(n - round(n)) > 1e-6:
        raise ValueError(
            f"{what}={seconds} s must be a positive whole number of samples at {sample_rate} Hz"
        )
    return int(round(n))


def frequencies(nfreq: int, sample_rate: float, device=None) -> torch.Tensor:
    """Frequencies in Hz of ``nfreq`` one-sided bins from 0 to ``sample_rate / 2`` (float64)."""
    return torch.linspace(0.0, sample_rate / 2.0, nfreq, dtype=torch.float64, device=device)


def median_bias(nsegments: int) -> float:
    """scipy's bias of the median of ``nsegments`` chi^2_2 periodogram values (``welch``)."""
    k = torch.arange(1, (nsegments - 1) // 2 + 1, dtype=torch.float64)
    return float(1.0 + torch.sum(1.0 / (2 * k + 1) - 1.0 / (2 * k)))


def _median(x: torch.Tensor, dim: int) -> torch.Tensor:
    """numpy's median (mean of the two middle values for an even count), any size."""
    s = x.sort(dim=dim).values
    n = s.shape[dim]
    lo = s.narrow(dim, (n - 1) // 2, 1)
    hi = s.narrow(dim, n // 2, 1)
    return (0.5 * (lo + hi)).squeeze(dim)


def spectral_density(
    x: torch.Tensor,
    sample_rate: float,
    fftlength: float,
    overlap: float | None = None,
    *,
    average: Average = "median",
    window: torch.Tensor | None = None,
) -> torch.Tensor:
    """One-sided PSD in 1/Hz of ``x`` (..., nsamples) by Welch's method, in float64.

    Args:
        x: strain, any leading dimensions, time last.
        sample_rate: of ``x``, in Hz.
        fftlength: segment length in seconds (frequency resolution ``1 / fftlength`` Hz).
        overlap: seconds shared by consecutive segments (default ``fftlength / 2``).
        average: ``"median"`` (bias-corrected, robust to a loud signal or glitch in
            one segment; gwpy's default) or ``"mean"`` (scipy's default).
        window: the segment window (default periodic Hann, as scipy and gwpy).

    Returns ``(..., fftlength * sample_rate // 2 + 1)``; bins at :func:`frequencies`.
    Equals ``scipy.signal.welch(x, sample_rate, "hann", nperseg, noverlap, average=...)``.
    """
    nperseg = _nsamples(fftlength, sample_rate, "fftlength")
    overlap = fftlength / 2.0 if overlap is None else overlap
    if not 0 <= overlap < fftlength:
        raise ValueError(f"overlap={overlap} s must lie in [0, fftlength={fftlength}) s")
    nstride = nperseg - int(round(overlap * sample_rate))
    if x.shape[-1] < nperseg:
        raise ValueError(
            f"fftlength={fftlength} s needs {nperseg} samples, the data have {x.shape[-1]}"
        )
    if average not in ("median", "mean"):
        raise ValueError(f"average must be 'median' or 'mean', got {average!r}")
    if window is None:
        window = torch.hann_window(nperseg, periodic=True, dtype=torch.float64, device=x.device)
    if window.shape != (nperseg,):
        raise ValueError(f"window has shape {tuple(window.shape)}, expected ({nperseg},)")
    window = window.to(device=x.device, dtype=torch.float64)

    segments = x.to(torch.float64).unfold(-1, nperseg, nstride)  # (..., nseg, nperseg)
    segments = segments - segments.mean(dim=-1, keepdim=True)
    power = torch.fft.rfft(segments * window, dim=-1).abs().square()
    power = power / (sample_rate * window.square().sum())
    power[..., 1:] *= 2.0  # one-sided: every bin but DC ...
    if nperseg % 2 == 0:
        power[..., -1] /= 2.0  # ... and Nyquist
    nseg = power.shape[-2]
    if average == "mean":
        return power.mean(dim=-2)
    return _median(power, dim=-2) / median_bias(nseg)


def check_psd(
    psd: torch.Tensor,
    sample_rate: float,
    names: Sequence[str],
    *,
    highpass: float | None = None,
    lowpass: float | None = None,
) -> torch.Tensor:
    """Return ``psd`` (channels, nfreq) unless a channel's PSD cannot whiten it.

    Within the band kept by the filter (above ``highpass``, up to ``lowpass`` Hz, DC
    excluded) every bin must be positive and finite: zero power (a detector without
    data, or strain so small that its square underflows float64) whitens to zeros,
    infinite or NaN power (strain so large that its square overflows) to zeros or
    NaN. ValueError naming the channel (``names``, e.g. its file) and the first bad
    frequency otherwise.
    """
    freqs = frequencies(psd.shape[-1], sample_rate, device=psd.device)
    band = (freqs > 0) & (freqs >= (highpass or 0.0)) & (freqs <= (lowpass or sample_rate / 2))
    for name, row in zip(names, psd.reshape(-1, psd.shape[-1])):
        values = row[band]
        bad = torch.nonzero(~(torch.isfinite(values) & (values > 0))).flatten()
        if bad.numel():
            value = float(values[bad[0]])
            why = ("is zero (no data, or strain too small for float64)" if value == 0
                   else f"is {value}: it overflows float64 (strain too large)")
            raise ValueError(f"{name}: its PSD at {float(freqs[band][bad[0]]):g} Hz {why}; "
                             "it cannot be whitened (it would whiten to zeros)")
    return psd


def whitening_fir(
    psd: torch.Tensor,
    sample_rate: float,
    fduration: float,
    *,
    highpass: float | None = None,
    lowpass: float | None = None,
    window: torch.Tensor | None = None,
) -> torch.Tensor:
    """Zero-phase FIR whitening filter ``(..., fduration * sample_rate)`` from a PSD, float64.

    ``psd``: one-sided, in 1/Hz, bins from 0 to ``sample_rate / 2`` (any
    resolution at least ``1 / fduration`` Hz fine). The response ``1 / sqrt(psd)``
    (0 where the PSD is 0, below ``highpass`` and above ``lowpass`` Hz) is
    truncated in time to ``fduration`` seconds by ``window`` (default a
    periodic Hann of that length, as gwpy); tap ``fduration * sample_rate / 2``
    is lag 0 and has weight 1.
    """
    ntaps = _nsamples(fduration, sample_rate, "fduration")
    if ntaps % 2:
        raise ValueError(f"fduration={fduration} s must span an even number of samples")
    nfreq = psd.shape[-1]
    nfft = 2 * (nfreq - 1)
    if ntaps > nfft:
        raise ValueError(
            f"fduration={fduration} s is longer than the PSD's FFT length "
            f"{nfft / sample_rate} s; estimate the PSD with fftlength >= fduration"
        )
    if window is None:
        window = torch.hann_window(ntaps, periodic=True, dtype=torch.float64, device=psd.device)
    window = window.to(device=psd.device, dtype=torch.float64)
    psd = psd.to(torch.float64)
    response = torch.where(psd > 0, psd.clamp_min(torch.finfo(torch.float64).tiny).rsqrt(), 0.0)
    freqs = frequencies(nfreq, sample_rate, device=psd.device)
    for edge, name in ((highpass, "highpass"), (lowpass, "lowpass")):
        if edge is not None and not 0 < edge <= sample_rate / 2:
            raise ValueError(f"{name}={edge} Hz must lie in (0, {sample_rate / 2}] Hz")
    keep = torch.ones_like(freqs, dtype=torch.bool)
    if highpass is not None:
        keep &= freqs >= highpass
    if lowpass is not None:
        keep &= freqs <= lowpass
    response = response * keep
    impulse = torch.fft.irfft(response, n=nfft, dim=-1)  # lag 0 at index 0, circular
    half = ntaps // 2
    return torch.cat([impulse[..., -half:], impulse[..., :half]], dim=-1) * window


def whiten(
    x: torch.Tensor,
    psd: torch.Tensor,
    sample_rate: float,
    fduration: float,
    *,
    highpass: float | None = None,
    lowpass: float | None = None,
    window: torch.Tensor | None = None,
) -> torch.Tensor:
    """Whiten ``x`` (..., nsamples) with ``psd`` (..., nfreq) by inverse-spectrum truncation.

    ``sample_rate`` in Hz; ``fduration`` (s) the whitening filter's length;
    ``highpass``/``lowpass`` (Hz) band edges of the filter. Returns
    ``(..., nsamples - fduration * sample_rate)``: output sample ``i`` is input
    sample ``i + fduration * sample_rate / 2``, the ``fduration / 2`` seconds at
    each end, where the filter runs off the data, being cropped. Gaussian noise
    with this PSD comes out with unit variance (``x``'s dtype, at least float32).
    """
    fir = whitening_fir(psd, sample_rate, fduration, highpass=highpass, lowpass=lowpass,
                        window=window)
    ntaps = fir.shape[-1]
    nsamples = x.shape[-1]
    if nsamples <= ntaps:
        raise ValueError(
            f"the data ({nsamples} samples) must be longer than fduration={fduration} s "
            f"({ntaps} samples)"
        )
    data = x.to(torch.float64)
    data = data - data.mean(dim=-1, keepdim=True)
    nfft = 1 << math.ceil(math.log2(nsamples + ntaps))  # linear, not circular, convolution
    conv = torch.fft.irfft(
        torch.fft.rfft(data, n=nfft, dim=-1) * torch.fft.rfft(fir, n=nfft, dim=-1), n=nfft, dim=-1
    )
    # conv[j] = sum_m fir[m] data[j - m]; lag 0 is fir[ntaps // 2], so input sample i lands at
    # j = i + ntaps // 2; its whole filter support lies inside the data for j in [ntaps, nsamples)
    out = conv[..., ntaps:nsamples] * math.sqrt(2.0 / sample_rate)
    return out.to(torch.promote_types(x.dtype, torch.float32))


class SpectralDensity(nn.Module):
    """Welch PSD (:func:`spectral_density`) as a module; the Hann window is a buffer.

    Args:
        sample_rate: in Hz.
        fftlength: segment length in seconds.
        overlap: seconds shared by consecutive segments (default ``fftlength / 2``).
        average: ``"median"`` or ``"mean"``.

    Shapes: ``(..., nsamples) -> (..., fftlength * sample_rate // 2 + 1)`` float64.
    """

    window: torch.Tensor

    def __init__(
        self,
        sample_rate: float,
        fftlength: float,
        overlap: float | None = None,
        *,
        average: Average = "median",
    ) -> None:
        super().__init__()
        nperseg = _nsamples(fftlength, sample_rate, "fftlength")
        self.sample_rate = float(sample_rate)
        self.fftlength = float(fftlength)
        self.overlap = fftlength / 2.0 if overlap is None else float(overlap)
        if average not in ("median", "mean"):
            raise ValueError(f"average must be 'median' or 'mean', got {average!r}")
        self.average = average
        self.register_buffer(
            "window", torch.hann_window(nperseg, periodic=True, dtype=torch.float64),
            persistent=False,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return spectral_density(x, self.sample_rate, self.fftlength, self.overlap,
                                average=self.average, window=self.window)

    def extra_repr(self) -> str:
        return (f"sample_rate={self.sample_rate}, fftlength={self.fftlength}, "
                f"overlap={self.overlap}, average={self.average!r}")


class Whiten(nn.Module):
    """Whitening by inverse-spectrum truncation (:func:`whiten`); the taper is a buffer.

    Args:
        sample_rate: in Hz.
        fduration: length of the whitening filter in seconds; the output is
            ``fduration`` seconds shorter than the input.
        highpass: Hz below which the filter is zero (``None``: none).
        lowpass: Hz above which the filter is zero (``None``: none).

    ``forward(x, psd)``: ``(..., nsamples)``, ``(..., nfreq)`` ->
    ``(..., nsamples - fduration * sample_rate)``.
    """

    window: torch.Tensor

    def __init__(
        self,
        sample_rate: float,
        fduration: float,
        *,
        highpass: float | None = None,
        lowpass: float | None = None,
    ) -> None:
        super().__init__()
        ntaps = _nsamples(fduration, sample_rate, "fduration")
        self.sample_rate = float(sample_rate)
        self.fduration = float(fduration)
        self.highpass = highpass
        self.lowpass = lowpass
        self.register_buffer(
            "window", torch.hann_window(ntaps, periodic=True, dtype=torch.float64),
            persistent=False,
        )

    def forward(self, x: torch.Tensor, psd: torch.Tensor) -> torch.Tensor:
        return whiten(x, psd, self.sample_rate, self.fduration, highpass=self.highpass,
                      lowpass=self.lowpass, window=self.window)

    def extra_repr(self) -> str:
        return (f"sample_rate={self.sample_rate}, fduration={self.fduration}, "
                f"highpass={self.highpass}, lowpass={self.lowpass}")
