import numpy as np
import pytest
import torch

from gwkit.sim.recipe import MassPrior
from gwkit.sim.waveforms import (
    chirp_mass,
    chirp_time_2pn,
    frequency_before_merger_2pn,
    imrphenomd,
    polarisations,
)


def test_mass_prior_respects_the_competition_cuts(rng):
    m = np.array([MassPrior().sample(rng) for _ in range(3000)])
    assert np.all(m[:, 0] >= m[:, 1]) and np.all(m > 5) and np.all(m.sum(1) < 100)
    # log-uniform draws: the component mass median sits far below the arithmetic middle
    assert np.median(m[:, 1]) < 15


@pytest.mark.parametrize("inclination,phase", [(0.7, 1.1), (2.5, 4.0), (-0.8, 0.3)])
def test_polarisation_identity_matches_lalsuite(inclination, phase):
    hp0, hc0, _ = imrphenomd(30.0, 20.0)
    hp, hc, _ = imrphenomd(30.0, 20.0, inclination=inclination, phase=phase)
    got_p, got_c = polarisations(hp0, hc0, inclination, phase)
    scale = np.abs(hp0).max()
    np.testing.assert_allclose(got_p / scale, hp / scale, atol=1e-9)
    np.testing.assert_allclose(got_c / scale, hc / scale, atol=1e-9)
    tp, tc = polarisations(torch.from_numpy(hp0), torch.from_numpy(hc0),
                           torch.tensor(inclination, dtype=torch.float64),
                           torch.tensor(phase, dtype=torch.float64))
    np.testing.assert_allclose(tp.numpy(), got_p, rtol=1e-12, atol=1e-30)
    np.testing.assert_allclose(tc.numpy(), got_c, rtol=1e-12, atol=1e-30)


def test_start_frequency_steps_down_until_long_enough():
    # a heavy binary is short at 12 Hz: the course loop lowers f_lower until > 2N samples
    hp, hc, f_start = imrphenomd(60.0, 35.0, min_length=32768)
    assert hp.size > 32768 and hc.size == hp.size
    assert f_start < 12.0
    _, _, f_light = imrphenomd(8.0, 6.0)
    assert f_light == 12.0


def test_chirp_time_inverse():
    f = frequency_before_merger_2pn(40.0, 0.24, 0.8)
    assert 15 < f < 70
    assert abs(chirp_time_2pn(f, 40.0, 0.24) - 0.8) < 1e-6
    np.testing.assert_allclose(chirp_mass(10.0, 10.0), 10.0 * 2 ** (-0.2), rtol=1e-12)
