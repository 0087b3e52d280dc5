"""The competition's windowing and whitening of simulated rows, in numpy and in torch.

Whitening of one detector's series ``x`` (the course generator's recipe, with
the recipe's fixed design PSD): multiply by a Tukey window (alpha 1/8) over the
whole segment, rfft, multiply by ``sqrt(2 / (sample_rate * psd))`` (0 where the
PSD is 0, i.e. below 10 Hz), zero the DC bin, irfft. Coloured Gaussian noise
comes out with unit variance in the middle of the segment and tapered ends.
Whitening is linear: ``competition_whiten(n + h) == competition_whiten(n) +
competition_whiten(h)``.

Real strain, whose PSD is unknown, is whitened by its own Welch PSD with a
truncated filter instead: :mod:`gwkit.strain.whiten`.
"""

from __future__ import annotations

import functools

import numpy as np

from gwkit.sim.recipe import CENTRAL_WIDTH_FRACTION, NSAMPLES, SAMPLE_RATE, TUKEY_ALPHA

__all__ = [
    "tukey",
    "central_window",
    "whitening_filter",
    "competition_whiten",
    "competition_whiten_torch",
]


@functools.lru_cache(maxsize=16)
def _tukey(nsamples: int, alpha: float) -> np.ndarray:
    from scipy.signal.windows import tukey as scipy_tukey

    w = scipy_tukey(nsamples, alpha)
    w.setflags(write=False)
    return w


def tukey(nsamples: int, alpha: float = TUKEY_ALPHA) -> np.ndarray:
    """Symmetric Tukey window of ``nsamples`` samples (``scipy.signal.windows.tukey``).

    Cached and read-only.
    """
    if nsamples < 2:
        raise ValueError(f"nsamples must be >= 2, got {nsamples}")
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    return _tukey(int(nsamples), float(alpha))


@functools.lru_cache(maxsize=8)
def _central_window(nsamples: int) -> np.ndarray:
    # Course generator: Tukey(1/8) of int(16/15 * N / safe) samples with safe = 2,
    # i.e. 16/15 of the 1 s observation, centred in the 2 s segment, 0 outside.
    width = int(CENTRAL_WIDTH_FRACTION * nsamples / 2.0)
    start = int((nsamples - width) / 2)
    w = np.zeros(nsamples)
    w[start : start + width] = tukey(width, TUKEY_ALPHA)
    w.setflags(write=False)
    return w


def central_window(nsamples: int = NSAMPLES) -> np.ndarray:
    """The window that cuts injected signals to the central ~1.07 s (8738 samples for N=16384)."""
    return _central_window(int(nsamples))


def whitening_filter(psd: np.ndarray, sample_rate: float) -> np.ndarray:
    """Frequency-domain whitening factor ``sqrt(2 / (sample_rate * psd))``, 0 where psd <= 0.

    The DC bin is set to 0 (the recipe removes it).
    """
    psd = np.asarray(psd, dtype=np.float64)
    filt = np.zeros_like(psd)
    ok = psd > 0
    filt[ok] = np.sqrt(2.0 / (sample_rate * psd[ok]))
    filt[0] = 0.0
    return filt


def _check_psd(nsamples: int, psd: np.ndarray) -> None:
    if psd.shape[-1] != nsamples // 2 + 1:
        raise ValueError(
            f"psd has {psd.shape[-1]} bins, a {nsamples}-sample series needs {nsamples // 2 + 1}"
        )


def competition_whiten(x: np.ndarray, psd: np.ndarray,
                       sample_rate: float = SAMPLE_RATE) -> np.ndarray:
    """Whiten series along the last axis exactly as the competition did.

    ``x``: (..., nsamples) strain; ``psd``: one-sided PSD in 1/Hz with
    ``nsamples // 2 + 1`` bins. Returns float64 of the same shape.
    """
    x = np.asarray(x, dtype=np.float64)
    nsamples = x.shape[-1]
    _check_psd(nsamples, np.asarray(psd))
    xf = np.fft.rfft(x * tukey(nsamples), axis=-1)
    xf *= whitening_filter(psd, sample_rate)
    return np.fft.irfft(xf, n=nsamples, axis=-1)


def competition_whiten_torch(x, psd, sample_rate: float = SAMPLE_RATE):
    """Torch version of :func:`competition_whiten` (batched along leading dims, on x's device).

    ``psd`` may be a numpy array or tensor. The computation runs in x's dtype
    promoted to at least float32; the result has x's dtype.
    """
    import torch

    nsamples = x.shape[-1]
    psd_np = psd.detach().cpu().numpy() if isinstance(psd, torch.Tensor) else np.asarray(psd)
    _check_psd(nsamples, psd_np)
    work = torch.promote_types(x.dtype, torch.float32)
    window = torch.tensor(tukey(nsamples), dtype=work, device=x.device)  # copy: cached array is read-only
    filt = torch.as_tensor(whitening_filter(psd_np, sample_rate), dtype=work, device=x.device)
    xf = torch.fft.rfft(x.to(work) * window, dim=-1) * filt
    return torch.fft.irfft(xf, n=nsamples, dim=-1).to(x.dtype)
