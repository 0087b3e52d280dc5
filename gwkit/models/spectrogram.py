"""Constant-Q transform (CQT) of strain as a batched ``nn.Module``: images for 2-D backbones.

The filters are defined in the frequency domain: filter ``k`` is a Hann window
over positive frequencies centred on ``f_k = fmin * 2**(k / bins_per_octave)``
with half-width ``2 * f_k / Q`` (``Q = filter_scale / (2**(1 / bins_per_octave) - 1)``),
which gives the same -3 dB bandwidth as the time-domain Hann kernels of
nnAudio's ``CQT1992v2`` / librosa (length ``Q * sample_rate / f_k``), the
transform most G2Net 2021 teams used. Each filter touches only the few FFT bins
of its band, so one transform is: one ``rfft`` of the segment, a gather of each
filter's bins, a fold onto ``T = nsamples / hop_length`` bins and ``F`` small
inverse FFTs. This computes exactly the circular convolution of the segment
with the filters' (analytic, zero-phase) impulse responses, sampled every
``hop_length`` samples, at a few hundredths of the cost of a time-domain
convolution with kernels thousands of samples long.

Conventions: frame ``t`` is centred on sample ``t * hop_length``; the segment is
treated as periodic (the competition's whitened segments are tapered to ~0 at
the ends and were whitened with a circular FFT anyway). Filters are scaled so
that unit-variance white noise gives ``E|X|^2 = 1`` in every bin, so the image
of whitened noise is flat across frequency.

Shapes: ``(..., L) -> (..., F, T)`` with ``F = n_bins`` frequency bins (low to
high) and ``T = L // hop_length`` frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import nn

from gwkit.sim.recipe import NSAMPLES, SAMPLE_RATE

__all__ = ["CQT", "CQTFilters", "cqt_filters", "cqt_frequencies", "normalize_image"]

NormType = Literal["instance", "none"]
NORM_TYPES: tuple[str, ...] = ("instance", "none")


def cqt_frequencies(fmin: float, fmax: float, bins_per_octave: int) -> np.ndarray:
    """Centre frequencies in Hz: ``fmin * 2**(k / bins_per_octave)`` up to and including ``fmax``.

    ``n_bins = ceil(bins_per_octave * log2(fmax / fmin))`` as in nnAudio, so the
    top bin may lie slightly below ``fmax``.
    """
    if not fmin > 0:
        raise ValueError(f"fmin must be > 0 Hz, got {fmin}")
    if not fmax > fmin:
        raise ValueError(f"fmax={fmax} Hz must exceed fmin={fmin} Hz")
    if not isinstance(bins_per_octave, int) or bins_per_octave < 1:
        raise ValueError(f"bins_per_octave must be an integer >= 1, got {bins_per_octave!r}")
    n_bins = math.ceil(bins_per_octave * math.log2(fmax / fmin))
    return fmin * 2.0 ** (np.arange(n_bins) / bins_per_octave)


class CQTFilters(NamedTuple):
    """Sparse frequency-domain filters of :func:`cqt_filters` (numpy, float64).

    ``index[k, s]`` is an rfft bin of filter ``k`` and ``weight[k, s]`` its gain
    (rows padded with index 0, weight 0); ``freqs`` the centre frequencies in Hz.
    """

    index: np.ndarray
    weight: np.ndarray
    freqs: np.ndarray


def cqt_filters(
    nsamples: int,
    sample_rate: float = SAMPLE_RATE,
    *,
    fmin: float = 20.0,
    fmax: float = 500.0,
    bins_per_octave: int = 12,
    filter_scale: float = 1.0,
) -> CQTFilters:
    """The CQT filter bank for segments of ``nsamples`` samples at ``sample_rate`` Hz.

    Raises ``ValueError`` when a filter is narrower than the segment's frequency
    resolution ``sample_rate / nsamples`` (too short a segment for ``fmin``) or
    reaches past the Nyquist frequency.
    """
    if not sample_rate > 0:
        raise ValueError(f"sample_rate must be > 0 Hz, got {sample_rate}")
    if not isinstance(nsamples, int) or nsamples < 2:
        raise ValueError(f"nsamples must be an integer >= 2, got {nsamples!r}")
    if not filter_scale > 0:
        raise ValueError(f"filter_scale must be > 0, got {filter_scale}")
    freqs = cqt_frequencies(fmin, fmax, bins_per_octave)
    q = filter_scale / (2.0 ** (1.0 / bins_per_octave) - 1.0)
    half_width = 2.0 * freqs / q  # Hz, centre to first zero of the Hann window
    df = sample_rate / nsamples
    if 2 * half_width[0] < 2 * df:
        raise ValueError(
            f"nsamples={nsamples} ({df:g} Hz resolution at {sample_rate:g} Hz) cannot resolve the "
            f"fmin={fmin} Hz filter ({2 * half_width[0]:.3g} Hz wide); use at least "
            f"{math.floor(sample_rate / half_width[0]) + 1} samples or a higher fmin"
        )
    if freqs[-1] + half_width[-1] >= sample_rate / 2:
        raise ValueError(
            f"fmax={fmax} Hz: the top filter reaches {freqs[-1] + half_width[-1]:.1f} Hz, past the "
            f"Nyquist frequency {sample_rate / 2:g} Hz"
        )
    rows = []
    for f, hw in zip(freqs, half_width, strict=True):
        bins = np.arange(math.floor((f - hw) / df) + 1, math.ceil((f + hw) / df))
        gain = 0.5 * (1.0 + np.cos(np.pi * (bins * df - f) / hw))
        gain *= math.sqrt(nsamples / np.sum(gain**2))  # white noise -> E|X|^2 = 1
        rows.append((bins, gain))
    width = max(len(b) for b, _ in rows)
    index = np.zeros((len(rows), width), dtype=np.int64)
    weight = np.zeros((len(rows), width), dtype=np.float64)
    for k, (bins, gain) in enumerate(rows):
        index[k, : len(bins)] = bins
        weight[k, : len(bins)] = gain
    return CQTFilters(index, weight, freqs)


def normalize_image(x: torch.Tensor, kind: NormType = "instance", eps: float = 1e-6) -> torch.Tensor:
    """Per-channel normalisation of ``(..., F, T)`` images.

    ``"instance"``: each image (one sample, one channel) to zero mean and unit
    standard deviation over its ``F x T`` pixels; ``"none"``: unchanged.
    """
    if kind == "none":
        return x
    if kind != "instance":
        raise ValueError(f"unknown normalisation {kind!r}; choose one of {NORM_TYPES}")
    mean = x.mean(dim=(-2, -1), keepdim=True)
    std = x.std(dim=(-2, -1), keepdim=True, unbiased=False)
    return (x - mean) / (std + eps)



@dataclass(frozen=True)
class CQTDefaults:
    """The constant-Q transform's defaults, written once (:class:`CQT` and ``spec2d`` use them)."""

    fmin: float = 20.0  # Hz
    fmax: float = 500.0  # Hz
    bins_per_octave: int = 12
    hop_length: int = 128  # samples
    filter_scale: float = 1.0
    normalize: str = "instance"


CQT_DEFAULTS = CQTDefaults()

class CQT(nn.Module):
    """Constant-Q magnitude spectrogram, ``(..., L) -> (..., F, T)``, optionally normalised.

    Args:
        sample_rate: input sample rate in Hz.
        fmin, fmax: lowest and highest centre frequency in Hz.
        bins_per_octave: frequency bins per octave (``F = ceil(bpo * log2(fmax / fmin))``).
        hop_length: samples between frames; must divide the input length
            (``T = L // hop_length``; 128 gives 128 frames of 15.6 ms for 2 s at
            8192 Hz, G2Net's hop of 32 at 2048 Hz; 64 gives 256).
        filter_scale: multiplies ``Q`` (larger: narrower filters, longer in time).
        normalize: ``"instance"`` (each sample's channel to mean 0, std 1) or ``"none"``.
        input_length: samples the filter buffers are built for; other lengths
            get filters built on the fly.

    The filters live in (non-persistent) buffers, so ``.to(device)`` moves them
    and checkpoints stay small; there are no parameters.
    """

    def __init__(
        self,
        sample_rate: float = SAMPLE_RATE,
        *,
        fmin: float = CQT_DEFAULTS.fmin,
        fmax: float = CQT_DEFAULTS.fmax,
        bins_per_octave: int = CQT_DEFAULTS.bins_per_octave,
        hop_length: int = CQT_DEFAULTS.hop_length,
        filter_scale: float = CQT_DEFAULTS.filter_scale,
        normalize: NormType = CQT_DEFAULTS.normalize,
        input_length: int = NSAMPLES,
    ) -> None:
        super().__init__()
        if normalize not in NORM_TYPES:
            raise ValueError(f"unknown normalisation {normalize!r}; choose one of {NORM_TYPES}")
        if not isinstance(hop_length, int) or hop_length < 1:
            raise ValueError(f"hop_length must be an integer >= 1, got {hop_length!r}")
        self.sample_rate = float(sample_rate)
        self.fmin = float(fmin)
        self.fmax = float(fmax)
        self.bins_per_octave = bins_per_octave
        self.hop_length = hop_length
        self.filter_scale = float(filter_scale)
        self.normalize = normalize
        self.input_length = input_length
        self.n_frames(input_length)
        index, weight, freqs = self._filters(input_length)
        self.register_buffer("index", index, persistent=False)
        self.register_buffer("weight", weight, persistent=False)
        self.freqs = freqs

    @property
    def n_bins(self) -> int:
        """Frequency bins ``F``."""
        return len(self.freqs)

    def n_frames(self, input_length: int) -> int:
        """Frames ``T`` for ``input_length`` samples (``input_length // hop_length``)."""
        if input_length < 1 or input_length % self.hop_length:
            raise ValueError(
                f"input_length={input_length} must be a positive multiple of "
                f"hop_length={self.hop_length}"
            )
        return input_length // self.hop_length

    def output_shape(self, input_length: int) -> tuple[int, int]:
        """``(F, T)`` for ``input_length`` samples."""
        return self.n_bins, self.n_frames(input_length)

    def _filters(
        self, nsamples: int, device: torch.device | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        bank = cqt_filters(
            nsamples, self.sample_rate, fmin=self.fmin, fmax=self.fmax,
            bins_per_octave=self.bins_per_octave, filter_scale=self.filter_scale,
        )
        index = torch.as_tensor(bank.index, device=device)
        weight = torch.as_tensor(bank.weight, dtype=torch.float32, device=device)
        return index, weight, bank.freqs

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """Complex CQT coefficients ``(..., L) -> (..., F, T)`` (complex64), not normalised."""
        nsamples = x.shape[-1]
        n_frames = self.n_frames(nsamples)
        if nsamples == self.input_length:
            index, weight = self.index, self.weight
        else:
            index, weight, _ = self._filters(nsamples, x.device)
        spectrum = torch.fft.rfft(x.float(), dim=-1)  # (..., L // 2 + 1)
        bands = spectrum[..., index] * weight  # (..., F, S)
        folded = torch.zeros(
            (*bands.shape[:-1], n_frames), dtype=bands.dtype, device=bands.device
        )
        folded.scatter_add_(-1, (index % n_frames).expand_as(bands), bands)
        # subsampling by hop_length in time == summing the spectrum's aliases (the fold)
        return torch.fft.ifft(folded, dim=-1) / self.hop_length

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Magnitude image ``(..., L) -> (..., F, T)`` in float32, normalised per channel."""
        return normalize_image(self.transform(x).abs(), self.normalize)

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, fmin={self.fmin}, fmax={self.fmax}, "
            f"bins_per_octave={self.bins_per_octave}, hop_length={self.hop_length}, "
            f"n_bins={self.n_bins}, normalize={self.normalize!r}"
        )
