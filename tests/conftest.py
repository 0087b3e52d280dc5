"""Shared fixtures."""

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def small_bank(tmp_path_factory):
    """A 48-entry float64 waveform bank shared by the engine tests (built once, ~3 s)."""
    from gwkit.sim.bank import BankConfig, build_bank, load_bank

    path = build_bank(48, tmp_path_factory.mktemp("bank") / "bank.h5", seed=3,
                      config=BankConfig(dtype="float64"), workers=2, chunk=16)
    return load_bank(path)
