"""Noise power spectral densities.

The competition's noise model is LALSuite's Advanced LIGO design sensitivity
(``SimNoisePSDAdVDesignSensitivityP1200087``) with a 10 Hz lower cut-off, the
same for H1 and L1, sampled at the rfft frequencies of a 2 s, 8192 Hz segment.
PSDs estimated from data (Welch) are :func:`gwkit.strain.whiten.spectral_density`.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["design_psd", "rfft_frequencies"]


def rfft_frequencies(nsamples: int, sample_rate: float) -> np.ndarray:
    """Frequencies in Hz of ``np.fft.rfft`` of ``nsamples`` samples at ``sample_rate`` Hz."""
    return np.fft.rfftfreq(nsamples, d=1.0 / sample_rate)


@functools.lru_cache(maxsize=8)
def _design_psd(nsamples: int, sample_rate: float, flow: float) -> np.ndarray:
    import lal
    import lalsimulation

    df = sample_rate / nsamples
    series = lal.CreateREAL8FrequencySeries(
        None, lal.LIGOTimeGPS(0), 0.0, df, lal.HertzUnit, nsamples // 2 + 1
    )
    lalsimulation.SimNoisePSDAdVDesignSensitivityP1200087(series, flow)
    psd = np.array(series.data.data, dtype=np.float64)
    psd.setflags(write=False)
    return psd


def design_psd(nsamples: int, sample_rate: float, flow: float) -> np.ndarray:
    """One-sided Advanced LIGO design PSD in 1/Hz at the rfft bins of the segment.

    The recipe's own is :attr:`gwkit.sim.recipe.Recipe.psd` (its length, rate and
    ``psd_flow``); this module depends on nothing else in gwkit.

    Bins below ``flow`` Hz are exactly 0 (LALSuite's convention); code that
    divides by the PSD must treat them as "no data". The array is cached and
    read-only: copy it before modifying.
    """
    if nsamples <= 0 or nsamples % 2:
        raise ValueError(f"nsamples must be a positive even number, got {nsamples}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive (Hz), got {sample_rate}")
    return _design_psd(int(nsamples), float(sample_rate), float(flow))

