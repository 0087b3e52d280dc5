"""The competition's recipe, written once: every constant and default of gwkit derives from here.

The course generator (see ``COMPETITION.md``) made 2 s of whitened H1/L1 strain
at 8192 Hz per row, with a binary-black-hole merger placed in a fixed range of
samples, at one of 12 network SNRs. Those numbers live in this module as
constants; :class:`Recipe` bundles them (plus the channel layout ``mode`` and
the mass prior) for the simulator, the engine, the matched filter and
``inspect``. Units: Hz, seconds, samples, solar masses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from gwkit.sim.psd import design_psd

__all__ = [
    "CENTRAL_START",
    "CENTRAL_WIDTH_FRACTION",
    "COMPETITION_SNRS",
    "EDGE_NSAMPLES",
    "F_LOWER",
    "GPS",
    "IFOS",
    "MIN_WAVEFORM_LENGTH",
    "MODES",
    "Mode",
    "MassPrior",
    "NSAMPLES",
    "PEAK_RANGE",
    "PSD_FLOW",
    "Recipe",
    "SAMPLE_RATE",
    "TUKEY_ALPHA",
]

#: Samples per second of every row (Hz).
SAMPLE_RATE = 8192.0
#: Samples per detector per row: the 1 s observation times the safety factor 2.
NSAMPLES = 16384
#: Detectors in channel order of the physical layout (the competition fills channel 0 only).
IFOS: tuple[str, str] = ("H1", "L1")
#: Network SNRs of the 12 blocks the test set was drawn from (equal shares).
COMPETITION_SNRS: tuple[float, ...] = (2, 4, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30)
#: Merger sample (peak of hp^2 + hc^2) before the detector delay, half-open [lo, hi):
#: 1.25 s to 1.45 s into the row.
PEAK_RANGE: tuple[int, int] = (10240, 11878)
#: Taper fraction of the Tukey windows: the whitening window over the whole row
#: and the central window that cuts injected signals.
TUKEY_ALPHA = 1.0 / 8.0
#: The central window spans this fraction of the 1 s observation (16/15 s, 8738 samples).
CENTRAL_WIDTH_FRACTION = 16.0 / 15.0
#: Start of the central 1 s region (samples); the optimal SNR integrates from the
#: 2PN frequency at the time between here and the merger.
CENTRAL_START = NSAMPLES // 4
#: Samples at each end tapered by the whitening window, ``alpha * N / 2`` (1024).
EDGE_NSAMPLES = int(TUKEY_ALPHA * NSAMPLES / 2)
#: Lower cut-off of the design PSD (Hz): the PSD is 0 below it, so whitening zeroes those bins.
PSD_FLOW = 10.0
#: Start frequency of the waveforms (Hz), lowered in 1 Hz steps until they are long enough.
F_LOWER = 12.0
#: Samples a waveform must exceed before it is used (2 N).
MIN_WAVEFORM_LENGTH = 2 * NSAMPLES
#: GPS time of the antenna patterns and delays.
GPS = 0.0

Mode = Literal["competition", "physical"]
#: Channel layouts: ``competition`` (the course's quirk: L1's signal in channel 0 only)
#: and ``physical`` (H1 in channel 0, L1 in channel 1).
MODES: tuple[str, ...] = ("competition", "physical")


@dataclass(frozen=True)
class MassPrior:
    """The course generator's "astro" mass distribution (solar masses).

    Component masses are log-uniform between ``m_min`` and ``m_total_max - m_min``
    and kept only if ``m1 >= m2``, both exceed ``m_min`` and ``m1 + m2 < m_total_max``.
    """

    m_min: float = 5.0
    m_total_max: float = 100.0

    def sample(self, rng: np.random.Generator) -> tuple[float, float]:
        """Draw one accepted (m1, m2) pair by rejection, as the course script does."""
        lo, hi = math.log(self.m_min), math.log(self.m_total_max - self.m_min)
        while True:
            m1, m2 = np.exp(lo + rng.uniform(0.0, 1.0, 2) * (hi - lo))
            if m1 + m2 < self.m_total_max and m1 > self.m_min and m2 > self.m_min and m1 >= m2:
                return float(m1), float(m2)


@dataclass(frozen=True)
class Recipe:
    """Everything that defines the competition's distribution (units: Hz, s, samples)."""

    mode: Mode = "competition"
    sample_rate: float = SAMPLE_RATE
    nsamples: int = NSAMPLES
    psd_flow: float = PSD_FLOW  # PSD lower cut-off (Hz)
    f_lower: float = F_LOWER  # waveform start frequency before the 1 Hz steps (Hz)
    min_waveform_length: int = MIN_WAVEFORM_LENGTH
    peak_range: tuple[int, int] = PEAK_RANGE  # merger sample index, [lo, hi)
    central_start: int = CENTRAL_START  # start of the central 1 s region (samples)
    masses: MassPrior = field(default_factory=MassPrior)
    ifos: tuple[str, str] = IFOS
    gps: float = GPS

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        lo, hi = self.peak_range
        if not 0 <= lo < hi <= self.nsamples:
            raise ValueError(f"peak_range {self.peak_range} must lie in [0, {self.nsamples}]")

    @property
    def channels(self) -> tuple[str, str]:
        """Detector per input channel: ``ifos`` in physical mode, L1 first in competition mode.

        Competition rows carry the L1 projection in channel 0 (the course's quirk), so a
        competition-mode model is fed L1 there.
        """
        return self.ifos if self.mode == "physical" else self.ifos[::-1]

    @property
    def duration(self) -> float:
        """Segment length in seconds."""
        return self.nsamples / self.sample_rate

    @property
    def psd(self) -> np.ndarray:
        """The design PSD at the rfft bins of a row (cached, read-only)."""
        return design_psd(self.nsamples, self.sample_rate, self.psd_flow)
