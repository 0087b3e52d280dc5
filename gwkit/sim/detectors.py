"""Antenna patterns and Earth-centre time delays for the LIGO detectors.

The competition evaluated both at GPS time 0 (:data:`gwkit.sim.recipe.GPS`). The numpy functions
call LALSuite directly; :func:`antenna_response` implements the same formulas
(``XLALComputeDetAMResponse``, ``XLALTimeDelayFromEarthCenter``) in torch, for batches on
any device (the training engine, the matched filter's sky prior), tested against
LALSuite. It takes the Greenwich hour angle (:func:`hour_angle` of a right
ascension) and the detector constants :data:`DETECTORS` (LALSuite's, tested
equal), so it needs no LALSuite itself.
"""

from __future__ import annotations

import functools

import numpy as np

from gwkit.sim.recipe import GPS, IFOS

__all__ = [
    "DETECTORS",
    "antenna_response",
    "detector_tensors",
    "antenna_patterns",
    "time_delay",
    "hour_angle",
]

SPEED_OF_LIGHT = 299792458.0  # m/s, lal.C_SI
#: H1 and L1: response tensor and Earth-fixed position (m), the values of LALSuite's
#: ``XLALDetectorPrefixToLALDetector`` (tested equal).
DETECTORS: dict[str, tuple[tuple[tuple[float, ...], ...], tuple[float, ...]]] = {
    "H1": ((-0.39261409640312195, -0.07761341333389282, -0.2473890483379364),
           (-0.07761341333389282, 0.3195240795612335, 0.22799783945083618),
           (-0.2473890483379364, 0.22799783945083618, 0.07309003174304962)),
    "L1": ((0.41128087043762207, 0.14021027088165283, 0.2472945898771286),
           (0.14021027088165283, -0.10900568962097168, -0.18161563575267792),
           (0.2472945898771286, -0.18161563575267792, -0.302275151014328)),
}
_LOCATIONS = {"H1": (-2161414.92636, -3834695.17889, 4600350.22664),
              "L1": (-74276.0447238, -5496283.71971, 3224257.01744)}


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
    if ifo in DETECTORS:
        return np.array(DETECTORS[ifo], dtype=np.float64), np.array(_LOCATIONS[ifo], dtype=np.float64)
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


def hour_angle(ra, gps: float = GPS):
    """Greenwich hour angle of right ascension ``ra`` at ``gps`` (GMST - ra, radians)."""
    return _gmst(gps) - ra


def antenna_response(hour_angle, dec, psi, ifo: str):
    """Batched ``(F+, Fx, delay)`` of ``ifo`` for a source at Greenwich hour angle ``hour_angle``
    (GMST minus right ascension), declination and polarisation (radians, tensors of one
    shape); ``delay`` is the arrival time at ``ifo`` minus at the Earth's centre (s)."""
    import torch

    response, location = (torch.as_tensor(a, dtype=dec.dtype, device=dec.device)
                          for a in detector_tensors(ifo))
    cg, sg = torch.cos(hour_angle), torch.sin(hour_angle)
    cd, sd = torch.cos(dec), torch.sin(dec)
    cp, sp = torch.cos(psi), torch.sin(psi)
    x = torch.stack([-cp * sg - sp * cg * sd, -cp * cg + sp * sg * sd, sp * cd], dim=-1)
    y = torch.stack([sp * sg - cp * cg * sd, sp * cg + cp * sg * sd, cp * cd], dim=-1)
    dx, dy = x @ response, y @ response  # the response is symmetric
    fp = (dx * x).sum(-1) - (dy * y).sum(-1)
    fc = (dx * y).sum(-1) + (dy * x).sum(-1)
    towards = torch.stack([cd * cg, -cd * sg, sd], dim=-1)  # unit vector to the source
    return fp, fc, -(towards @ location) / SPEED_OF_LIGHT
