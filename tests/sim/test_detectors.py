import numpy as np
import pytest
import torch

from gwkit.sim import detectors
from gwkit.sim.recipe import IFOS


def _sky(rng, n=20):
    return rng.uniform(0, 2 * np.pi, n), np.arcsin(rng.uniform(-1, 1, n)), rng.uniform(0, 2 * np.pi, n)


@pytest.mark.parametrize("ifo", IFOS)
def test_torch_antenna_patterns_and_delays_equal_lal(rng, ifo):
    import lal
    import lalsimulation

    ra, dec, psi = _sky(rng)
    d = lalsimulation.DetectorPrefixToLALDetector(ifo)
    gmst = lal.GreenwichMeanSiderealTime(lal.LIGOTimeGPS(0))
    want = np.array([lal.ComputeDetAMResponse(d.response, r, de, p, gmst) for r, de, p in zip(ra, dec, psi)])
    want_dt = np.array([lal.TimeDelayFromEarthCenter(d.location, r, de, lal.LIGOTimeGPS(0)) for r, de in zip(ra, dec)])
    fp, fc = detectors.antenna_patterns_torch(*(torch.from_numpy(v) for v in (ra, dec, psi)), ifo)
    dt = detectors.time_delay_torch(torch.from_numpy(ra), torch.from_numpy(dec), ifo)
    np.testing.assert_allclose(fp.numpy(), want[:, 0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fc.numpy(), want[:, 1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dt.numpy(), want_dt, rtol=1e-9, atol=1e-15)
    got = np.array([detectors.antenna_patterns(r, de, p, ifo) for r, de, p in zip(ra, dec, psi)])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert np.all(np.abs(want_dt) < 0.0214)  # bounded by Earth radius / c


def test_unknown_detector_is_a_clear_error():
    with pytest.raises(ValueError, match="XX"):
        detectors.antenna_patterns(0.1, 0.2, 0.3, "XX")
