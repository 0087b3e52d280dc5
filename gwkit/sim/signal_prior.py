"""What the recipe's signal prior says about the matched filter's SNR series (no LALSuite).

The Bayes factors of :class:`gwkit.sim.mf_features.MatchedFilter` marginalise
over the signal's unknowns with the recipe's own population: an isotropic sky,
uniform polarisation, ``cos i`` uniform (:func:`gwkit.sim.generator.draw_source`;
the time of day does not matter for an isotropic sky). This module turns that
population into the priors the filter needs, by Monte-Carlo over
:func:`gwkit.sim.detectors.antenna_response`:

* :func:`sky_response_prior` and :func:`coherent_quadratic_form`: the L1 - H1
  delay and the two detectors' complex response, for the phase-coherent
  two-detector statistic (``mf_lse_coherent``);
* :func:`channel_share` and :func:`amplitude_log_marginal`: the amplitude a
  signal leaves in one channel, for the exact amplitude-and-phase marginal of
  one channel (``mf_lse_amplitude``: the bound ``mf_lse_time`` approximates).

The complex response of detector ``d`` is ``u_d = F+_d (1 + cos^2 i) / 2 -
i Fx_d cos i`` (the phase convention of the filter's ``z``), normalised to
``|u_H1|^2 + |u_L1|^2 = 1``: every simulated row carries its network SNR
whatever the sky.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from gwkit.sim.detectors import antenna_response
from gwkit.sim.recipe import COMPETITION_SNRS, IFOS, Mode

__all__ = ["amplitude_log_marginal", "channel_share", "coherent_quadratic_form", "competition_amplitudes",
           "sky_response_prior", "unit_responses"]


def unit_responses(n_draws: int, *, mode: Mode = "physical", seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Monte-Carlo of the population: ``(u, delay)``.

    ``u`` (n, 2) complex, the normalised response of H1 and L1; ``delay`` (n,)
    the L1 - H1 arrival-time difference in seconds. ``mode="competition"``
    reproduces the course generator's quirk: the waveform's inclination is
    ``cos i`` used as an angle (:meth:`gwkit.sim.generator.Source.waveform_inclination`).
    """
    rng = np.random.default_rng(seed)
    hour_angle = torch.from_numpy(rng.uniform(0.0, 2 * math.pi, n_draws))
    dec = torch.from_numpy(np.arcsin(rng.uniform(-1.0, 1.0, n_draws)))
    psi = torch.from_numpy(rng.uniform(0.0, 2 * math.pi, n_draws))
    cos_i = rng.uniform(-1.0, 1.0, n_draws)
    if mode == "competition":
        cos_i = np.cos(cos_i)
    u, arrival = [], []
    for ifo in IFOS:
        fplus, fcross, delay = (v.numpy() for v in antenna_response(hour_angle, dec, psi, ifo))
        u.append(fplus * (1 + cos_i**2) / 2 - 1j * fcross * cos_i)
        arrival.append(delay)
    u = np.stack(u, -1)
    return u / np.linalg.norm(u, axis=-1, keepdims=True), arrival[1] - arrival[0]


def sky_response_prior(stride: int, sample_rate: float, cells: int, *, n_draws: int = 1 << 18,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Prior of the L1 - H1 delay and of the detectors' unit response, on the filter's grid.

    Each draw's delay is rounded to the grid (``stride`` samples at
    ``sample_rate``) and kept when within ``cells`` grid steps.

    Returns ``(p, R)``: ``p`` (2 cells + 1,) the probability of each grid
    shift ``d - cells``, ``R`` (2 cells + 1, 2, 2) complex, ``E[u u^H | shift]``
    (trace 1); shifts no draw reaches get ``p = 0`` and ``R = I / 2``.
    """
    u, delay = unit_responses(n_draws, seed=seed)
    shift = np.rint(delay * sample_rate / stride).astype(np.int64)
    keep = np.abs(shift) <= cells
    index, u = shift[keep] + cells, u[keep]
    count = np.bincount(index, minlength=2 * cells + 1).astype(np.float64)
    outer = u[:, :, None] * u[:, None, :].conj()
    total = np.zeros((2 * cells + 1, 2, 2), dtype=np.complex128)
    np.add.at(total, index, outer)
    r = np.where(count[:, None, None] > 0, total / np.maximum(count, 1)[:, None, None],
                 np.eye(2) / 2)
    # cos i -> -cos i conjugates u, so E[u u^H] is real: drop the Monte-Carlo noise
    r = r.real.astype(np.complex128)
    return count / max(count.sum(), 1.0), r


def coherent_quadratic_form(prior: np.ndarray, response: np.ndarray, snr: float
                            ) -> tuple[np.ndarray, np.ndarray]:
    """The Gaussian-marginal log Bayes factor per grid shift: ``z^H M z + c``.

    For SNR series ``z = (z_H1, z_L1)`` (real and imaginary parts of unit
    variance) and a signal ``a ~ CN(0, snr^2 R)``,
    ``E_a exp(Re(a^H z) - |a|^2 / 2) = exp(z^H M z) / det(I + snr^2 R / 2)``
    with ``M = I / 2 - (2 I + snr^2 R)^-1``. Returns ``M`` (D, 2, 2) complex
    and ``c = log prior - log det(I + snr^2 R / 2)`` (D,) (``-inf`` where the
    prior is 0).
    """
    sigma = snr**2 * np.asarray(response, dtype=np.complex128)
    eye = np.eye(2)
    m = eye / 2 - np.linalg.inv(2 * eye + sigma)
    m = (m + np.conj(np.swapaxes(m, -1, -2))) / 2  # Hermitian to rounding
    with np.errstate(divide="ignore"):
        c = np.log(prior) - np.log(np.linalg.det(eye + sigma / 2).real)
    return m, c


def channel_share(mode: Mode = "competition", *, quantiles: int = 64, n_draws: int = 1 << 16,
                  seed: int = 0) -> np.ndarray:
    """Quantiles of the share of the network SNR that channel 0 carries, ``|u|`` of its detector.

    Competition mode: L1 (the course generator's channel 0) with its
    inclination quirk; physical mode: H1. ``quantiles`` equally likely values.
    """
    u, _ = unit_responses(n_draws, mode=mode, seed=seed)
    detector = 1 if mode == "competition" else 0
    return np.quantile(np.abs(u[:, detector]), (np.arange(quantiles) + 0.5) / quantiles)


def amplitude_log_marginal(amplitudes: Sequence[float] | np.ndarray, *, r_max: float = 64.0,
                           step: float = 0.01) -> np.ndarray:
    """``g(r) = log mean_A exp(-A^2 / 2) I0(A r)`` on the grid ``r = 0, step, ..., r_max``.

    The likelihood ratio of one channel's complex SNR ``z`` (``r = |z|``, real
    and imaginary parts of unit variance) for a signal of amplitude ``A`` and
    uniform phase, averaged over the equally likely ``amplitudes``: the exact
    marginal that ``|z|^2 / 2`` (amplitude and phase maximised) approximates.
    """
    a = np.asarray(amplitudes, dtype=np.float64).ravel()
    if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError("amplitudes must be finite, >= 0 and not empty")
    r = np.arange(0.0, r_max + step / 2, step)
    x = a[None, :] * r[:, None]
    # log I0(x) = log(i0e(x)) + x, stable for large x
    terms = -a[None, :] ** 2 / 2 + np.log(torch.special.i0e(torch.from_numpy(x)).numpy()) + x
    peak = terms.max(axis=1, keepdims=True)
    return peak[:, 0] + np.log(np.exp(terms - peak).mean(axis=1))


def competition_amplitudes(mode: Mode = "competition", snrs: Sequence[float] = COMPETITION_SNRS,
                           quantiles: int = 64) -> np.ndarray:
    """Channel 0's signal amplitudes of the competition's SNR mix: every SNR times every
    :func:`channel_share` quantile (equally likely)."""
    return (np.asarray(snrs, dtype=np.float64)[:, None]
            * channel_share(mode, quantiles=quantiles)[None, :]).ravel()
