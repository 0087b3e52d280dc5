"""gwkit.sim.psd: the design PSD is LALSuite's aLIGO design curve on the recipe's grid."""

import numpy as np
import pytest

from gwkit.sim.psd import design_psd
from gwkit.sim.recipe import NSAMPLES, PSD_FLOW, SAMPLE_RATE

N = NSAMPLES


def test_design_psd_is_lalsuite_adv_design():
    psd = design_psd(NSAMPLES, SAMPLE_RATE, PSD_FLOW)
    assert psd.shape == (N // 2 + 1,)
    assert np.all(psd[:20] == 0) and np.all(psd[20:-1] > 0)  # 10 Hz cut-off at 0.5 Hz bins
    assert psd[-1] == 0  # LALSuite leaves the Nyquist bin empty
    # aLIGO design ASD is ~4e-24 /sqrt(Hz) around 200 Hz
    assert 2e-24 < np.sqrt(psd[400]) < 6e-24
    with pytest.raises(ValueError, match="even"):
        design_psd(101, SAMPLE_RATE, PSD_FLOW)
