"""Fixtures for the real-strain tests: the GW150914 files and synthetic GWOSC-like noise."""

from pathlib import Path

import numpy as np
import pytest

from gwkit.sim.generator import coloured_noise
from gwkit.sim.psd import design_psd
from gwkit.sim.recipe import PSD_FLOW

REPO = Path(__file__).resolve().parents[2]
GW150914_DIRS = (REPO / "tests" / "data" / "gw150914", REPO / ".." / "shared" / "data" / "gw150914")
GW150914_FILES = ("H-H1_LOSC_4_V2-1126259446-32.hdf5", "L-L1_LOSC_4_V2-1126259446-32.hdf5")
FS = 4096.0  # Hz, GWOSC's 4 kHz files


@pytest.fixture(scope="session")
def gw150914() -> tuple[Path, Path]:
    """(H1, L1) GW150914 files: vendored in tests/data, else the shared data folder."""
    for folder in GW150914_DIRS:
        paths = tuple(folder / name for name in GW150914_FILES)
        if all(p.is_file() for p in paths):
            return paths
    pytest.skip(f"GW150914 files not found in {' or '.join(str(d) for d in GW150914_DIRS)}")


@pytest.fixture(scope="session")
def coloured() -> tuple[np.ndarray, np.ndarray]:
    """(8, 32 s) of Gaussian noise with the design PSD at 4096 Hz, and that PSD at 0.25 Hz."""
    nsamples = int(32 * FS)
    noise = coloured_noise(np.random.default_rng(2015), design_psd(nsamples, FS, PSD_FLOW), nsamples, FS,
                           nchannels=8)
    return noise, design_psd(int(4 * FS), FS, PSD_FLOW).copy()
