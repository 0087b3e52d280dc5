"""IMRPhenomD waveforms from LALSuite, chirp times and mass combinations.

The competition's mass prior is :class:`gwkit.sim.recipe.MassPrior`.

IMRPhenomD carries only the (2, 2) mode, so the polarisations at any
inclination and coalescence phase follow from the face-on, zero-phase pair
``(hp0, hc0)``::

    hp = (1 + cos^2 i) / 2 * (cos 2phi * hp0 - sin 2phi * hc0)
    hc = cos i * (cos 2phi * hc0 + sin 2phi * hp0)

(checked against LALSuite to 1e-10 in the tests). The bank and the engine rely on it.
"""

from __future__ import annotations

import math

import numpy as np

from gwkit.sim.recipe import F_LOWER, MIN_WAVEFORM_LENGTH, SAMPLE_RATE

__all__ = [
    "BinaryMasses",
    "chirp_mass",
    "symmetric_mass_ratio",
    "imrphenomd",
    "polarisations",
    "chirp_time_2pn",
    "frequency_before_merger_2pn",
]

MSUN_SECONDS = 4.925490947641267e-06  # G * Msun / c^3 in seconds (lal.MTSUN_SI)


class BinaryMasses:
    """Mixin for collections of binaries with ``m1`` and ``m2`` arrays (solar masses)."""

    m1: np.ndarray
    m2: np.ndarray

    def __len__(self) -> int:
        return int(np.size(self.m1))

    @property
    def mchirp(self) -> np.ndarray:
        return chirp_mass(self.m1, self.m2)

    @property
    def eta(self) -> np.ndarray:
        return symmetric_mass_ratio(self.m1, self.m2)


def chirp_mass(m1, m2):
    """Chirp mass (same units as the inputs)."""
    return (m1 * m2) ** 0.6 / (m1 + m2) ** 0.2


def symmetric_mass_ratio(m1, m2):
    """eta = m1 m2 / (m1 + m2)^2."""
    return m1 * m2 / (m1 + m2) ** 2


def imrphenomd(
    m1: float,
    m2: float,
    *,
    inclination: float = 0.0,
    phase: float = 0.0,
    sample_rate: float = SAMPLE_RATE,
    f_lower: float = F_LOWER,
    min_length: int = MIN_WAVEFORM_LENGTH,
    distance_mpc: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Time-domain IMRPhenomD ``(hp, hc, f_start)`` for a non-spinning binary.

    Masses in solar masses, angles in radians, frequencies in Hz. As in the
    course generator, the start frequency steps down from ``f_lower`` by 1 Hz
    until the waveform is longer than ``min_length`` samples; ``f_start`` is
    the frequency actually used.
    """
    import lal
    import lalsimulation

    if not (m1 > 0 and m2 > 0):
        raise ValueError(f"masses must be positive, got m1={m1}, m2={m2}")
    f_start = float(f_lower)
    while True:
        if f_start <= 0:
            raise ValueError(
                f"cannot make a waveform longer than {min_length} samples for m1={m1}, m2={m2}"
            )
        hp, hc = lalsimulation.SimInspiralChooseTDWaveform(
            m1 * lal.MSUN_SI, m2 * lal.MSUN_SI,
            0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
            distance_mpc * 1e6 * lal.PC_SI,
            inclination, phase, 0.0, 0.0, 0.0,
            1.0 / sample_rate, f_start, f_start,
            lal.CreateDict(), lalsimulation.IMRPhenomD,
        )
        if hp.data.length > min_length:
            return np.array(hp.data.data), np.array(hc.data.data), f_start
        f_start -= 1.0


def polarisations(hp0, hc0, inclination, phase):
    """(hp, hc) at ``inclination`` and coalescence ``phase`` from the face-on, zero-phase pair.

    Works on numpy arrays and torch tensors alike; angles broadcast against the
    leading dimensions of ``hp0``.
    """
    xp = _namespace(hp0)
    ci = xp.cos(inclination)
    c2, s2 = xp.cos(2 * phase), xp.sin(2 * phase)
    hp = 0.5 * (1 + ci * ci) * (c2 * hp0 - s2 * hc0)
    hc = ci * (c2 * hc0 + s2 * hp0)
    return hp, hc


def _namespace(x):
    try:
        import torch

        if isinstance(x, torch.Tensor):
            return torch
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return np


def chirp_time_2pn(frequency, total_mass, eta):
    """Time in seconds from gravitational-wave ``frequency`` (Hz) to merger, to 2PN order.

    Plain arithmetic: floats, numpy arrays and torch tensors all work.
    """
    m_sec = total_mass * MSUN_SECONDS
    v = (math.pi * m_sec * frequency) ** (1.0 / 3.0)
    series = (
        v**-8
        + (743.0 / 252.0 + 11.0 * eta / 3.0) * v**-6
        - (32.0 * math.pi / 5.0) * v**-5
        + (3058673.0 / 508032.0 + 5429.0 * eta / 504.0 + 617.0 / 72.0 * eta**2) * v**-4
    )
    return 5.0 / (256.0 * eta) * m_sec * series


def frequency_before_merger_2pn(total_mass: float, eta: float, time_to_merger: float) -> float:
    """Frequency (Hz) at ``time_to_merger`` seconds before merger (2PN), as the course's ``get_fmin``.

    Solved with Brent's method between 1 and 2000 Hz (xtol 1e-6), like the course script.
    """
    from scipy.optimize import brentq

    return float(
        brentq(lambda f: chirp_time_2pn(f, total_mass, eta) - time_to_merger, 1.0, 2000.0, xtol=1e-6)
    )
