"""Antenna patterns and Earth-centre time delays for the LIGO detectors.

The competition evaluated both at GPS time 0 (:data:`gwkit.sim.recipe.GPS`). The numpy functions
call LALSuite directly; the torch functions implement the same formulas
(``XLALComputeDetAMResponse``, ``XLALTimeDelayFromEarthCenter``) for batches on
any device and are tested against LALSuite.
"""

from __future__ import annotations

import functools

import numpy as np

from gwkit.sim.recipe import GPS, IFOS

__all__ = [
    "detector_tensors",
    "antenna_patterns",
    "time_delay",
    "antenna_patterns_torch",
    "time_delay_torch",
]

SPEED_OF_LIGHT = 299792458.0  # m/s, lal.C_SI


@functools.lru_cache(maxsize=8)
def _lal_detector(ifo: str):
    import lalsimulation

    try:
        return lalsimulation.DetectorPrefixToLALDetector(ifo)
    except Exception as exc:  # LAL raises a generic RuntimeError
        raise ValueError(f"unknown detector prefix {ifo!r} (try one of {IFOS})") from exc


@functools.lru_cache(maxsize=8)
def _gmst(gps: float) -> float:
    import lal

    return float(lal.GreenwichMeanSiderealTime(lal.LIGOTimeGPS(gps)))


def detector_tensors(ifo: str) -> tuple[np.ndarray, np.ndarray]:
    """The detector's 3x3 response tensor and its location (m, Earth-fixed frame)."""
    det = _lal_detector(ifo)
    return np.array(det.response, dtype=np.float64), np.array(det.location, dtype=np.float64)


def antenna_patterns(
    ra: float, dec: float, psi: float, ifo: str, gps: float = GPS
) -> tuple[float, float]:
    """(F+, Fx) of detector ``ifo`` for a source at (ra, dec) with polarisation psi (radians)."""
    import lal

    fp, fc = lal.ComputeDetAMResponse(_lal_detector(ifo).response, ra, dec, psi, _gmst(gps))
    return float(fp), float(fc)


def time_delay(ra: float, dec: float, ifo: str, gps: float = GPS) -> float:
    """Arrival time at ``ifo`` minus arrival time at the Earth's centre, in seconds."""
    import lal

    return float(lal.TimeDelayFromEarthCenter(_lal_detector(ifo).location, ra, dec, lal.LIGOTimeGPS(gps)))


def _source_frame(ra, dec, psi, gmst: float):
    import torch

    gha = gmst - ra
    cg, sg = torch.cos(gha), torch.sin(gha)
    cd, sd = torch.cos(dec), torch.sin(dec)
    cp, sp = torch.cos(psi), torch.sin(psi)
    x = torch.stack([-cp * sg - sp * cg * sd, -cp * cg + sp * sg * sd, sp * cd], dim=-1)
    y = torch.stack([sp * sg - cp * cg * sd, sp * cg + cp * sg * sd, cp * cd], dim=-1)
    return x, y


def antenna_patterns_torch(ra, dec, psi, ifo: str, gps: float = GPS):
    """Batched (F+, Fx) as tensors shaped like ``ra`` (radians in, on ra's device/dtype)."""
    import torch

    response, _ = detector_tensors(ifo)
    d = torch.as_tensor(response, dtype=ra.dtype, device=ra.device)
    x, y = _source_frame(ra, dec, psi, _gmst(gps))
    dx, dy = x @ d, y @ d  # d is symmetric
    fp = (dx * x).sum(-1) - (dy * y).sum(-1)
    fc = (dx * y).sum(-1) + (dy * x).sum(-1)
    return fp, fc


def time_delay_torch(ra, dec, ifo: str, gps: float = GPS):
    """Batched Earth-centre time delay in seconds (tensor shaped like ``ra``)."""
    import torch

    _, location = detector_tensors(ifo)
    loc = torch.as_tensor(location, dtype=ra.dtype, device=ra.device)
    gha = _gmst(gps) - ra
    ehat = torch.stack(
        [torch.cos(dec) * torch.cos(gha), -torch.cos(dec) * torch.sin(gha), torch.sin(dec)], dim=-1
    )
    return -(ehat @ loc) / SPEED_OF_LIGHT
