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
    fp, fc, dt = detectors.antenna_response(detectors.hour_angle(torch.from_numpy(ra)),
                                            *(torch.from_numpy(v) for v in (dec, psi)), ifo)
    np.testing.assert_allclose(fp.numpy(), want[:, 0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fc.numpy(), want[:, 1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dt.numpy(), want_dt, rtol=1e-9, atol=1e-15)
    got = np.array([detectors.antenna_patterns(r, de, p, ifo) for r, de, p in zip(ra, dec, psi)])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert np.all(np.abs(want_dt) < 0.0214)  # bounded by Earth radius / c


def test_unknown_detector_is_a_clear_error():
    with pytest.raises(ValueError, match="XX"):
        detectors.antenna_patterns(0.1, 0.2, 0.3, "XX")


@pytest.mark.parametrize("ifo", IFOS)
def test_detector_constants_and_hour_angle_form_equal_lal(rng, ifo):
    """DETECTORS (what the matched filter uses without LALSuite) are LALSuite's values, and
    antenna_response at hour angle GMST - ra gives LALSuite's patterns and delays."""
    import lal
    import lalsimulation

    d = lalsimulation.DetectorPrefixToLALDetector(ifo)
    response, location = detectors.detector_tensors(ifo)
    np.testing.assert_array_equal(response, np.array(d.response, dtype=np.float64))
    np.testing.assert_allclose(location, np.array(d.location), rtol=1e-12)
    gmst = lal.GreenwichMeanSiderealTime(lal.LIGOTimeGPS(0))
    ra, dec, psi = _sky(rng, 5)
    fp, fc, dt = detectors.antenna_response(*(torch.from_numpy(v) for v in (gmst - ra, dec, psi)),
                                            ifo)
    for i in range(5):
        want = lal.ComputeDetAMResponse(d.response, ra[i], dec[i], psi[i], gmst)
        np.testing.assert_allclose((fp[i].item(), fc[i].item()), want, atol=1e-9)
        assert dt[i].item() == pytest.approx(
            lal.TimeDelayFromEarthCenter(d.location, ra[i], dec[i], lal.LIGOTimeGPS(0)), abs=1e-12)
