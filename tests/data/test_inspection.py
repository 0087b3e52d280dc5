"""gwkit.data.inspection: the simulation mode recommended from the data, with the exact flags.

The command line (``python -m gwkit.inspect`` on a set written by ``gwkit.simulate``) is
tested in tests/test_simulate.py; here the library on small simulated sets of each mode.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from functools import cache

import numpy as np
import pytest

from gwkit.data.inspection import FINDINGS, inspect_array
from gwkit.sim.generator import simulate_competition
from gwkit.sim.recipe import Recipe


@cache
def _simulated(mode: str) -> np.ndarray:
    """60 rows at SNR 20 and 30 (half signals), the competition's draw, in the given mode."""
    x, _ = simulate_competition((20.0, 30.0), 30, block_rows=40, nnoise=4, seed=3,
                                recipe=Recipe(mode=mode), dtype=np.float32)
    x.setflags(write=False)
    return x


@pytest.mark.parametrize("mode", ["competition", "physical"])
def test_the_mode_is_recognised_and_the_advice_names_its_flags(mode):
    x = _simulated(mode)
    report = inspect_array(x, noise_rows=100)
    assert report.mode == mode
    assert [c.carries_signal for c in report.channels] == [True, mode == "physical"]
    text = report.text()
    assert f"suggested simulation mode: {mode} " in text
    assert f"python -m gwkit.simulate --mode {mode}" in text
    if mode == "physical":
        assert "--preset gwkit_resnet_phys" in text and "weights/gwkit_resnet_phys" in text
        assert "--set mode=physical --set val_mode=physical" in text
    else:
        assert "gwkit_resnet_phys" not in text and "--preset gwkit_resnet" in text
    assert json.loads(json.dumps(asdict(report)))["mode"] == mode  # --json carries it too


def test_noise_and_channel_one_signals_recommend_no_mode():
    x = _simulated("competition")
    noise = inspect_array(np.ascontiguousarray(x[:, [1, 1]]), noise_rows=100)  # channel 1: noise
    assert noise.mode is None and noise.suggested_mode.startswith("undetermined")
    swapped = inspect_array(np.ascontiguousarray(x[:, ::-1]), noise_rows=100)
    assert swapped.mode is None and swapped.suggested_mode.startswith("unusual")


def test_every_finding_is_covered():
    assert set(FINDINGS) == {(a, b) for a in (True, False) for b in (True, False)}
    assert {mode for mode, _ in FINDINGS.values()} == {"competition", "physical", None}
