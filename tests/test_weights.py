"""The shipped reference weights (``weights/<preset>/fold<k>.pt``).

Each folder is named after the preset that trained it (``python -m gwkit.train
--preset <name> --fold <k>``, nothing else); these tests hold the repository
to that promise and check that the weights really detect signals.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from gwkit.core.metrics import roc_auc
from gwkit.engine import Sampler, make_fixed_set
from gwkit.models import load_checkpoint
from gwkit.scoring.inference import find_checkpoints, predict_logits
from gwkit.scoring.stack import Stacker, find_stacker
from gwkit.sim.mf_features import FilterBank
from gwkit.training.config import config_from_dict, load_preset

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
SHIPPED = sorted(WEIGHTS.glob("*/fold*.pt"))
RUNS = ("course_cnn", "gwkit_cnn", "gwkit_resnet", "gwkit_cqt", "gwkit_resnet_phys")


def test_every_reference_run_ships_weights_and_its_oof_file():
    assert {p.parent.name for p in SHIPPED} == set(RUNS)
    for run in RUNS:
        assert (WEIGHTS / run / "oof.csv").is_file(), run
    assert len([p for p in SHIPPED if p.parent.name == "gwkit_resnet"]) >= 2  # a fold ensemble


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_weights_load_safely_and_were_trained_by_their_preset(path):
    assert path.stat().st_size < 10 * 2**20  # small enough for git
    model, checkpoint = load_checkpoint(path)  # weights_only=True inside
    preset = load_preset(path.parent.name)
    # read as a config is read: settings added since take their defaults, legacy names their new ones
    assert config_from_dict(checkpoint["config"]) == preset
    assert checkpoint["model"]["name"] == preset.model
    assert not model.training


def test_predict_finds_the_shipped_folds():
    found = find_checkpoints([WEIGHTS / "gwkit_resnet"])
    assert [c.fold for c in found] == sorted(p.stem for p in SHIPPED if p.parent.name == "gwkit_resnet")


def test_shipped_models_detect_loud_signals(small_bank):
    """On fresh engine samples at SNR 15 in each model's own mode (competition: channel 0
    only; physical: both detectors) every shipped fold separates signals from noise; an
    untrained or mis-loaded model sits near AUC 0.5."""
    fixed = {mode: make_fixed_set(Sampler(small_bank, np.arange(len(small_bank)), mode=mode),
                                  64, snrs=(15.0,), seed=11)
             for mode in ("competition", "physical")}
    for path in SHIPPED:
        model, checkpoint = load_checkpoint(path)
        rows = fixed[checkpoint["config"].get("mode", "competition")]
        logit = predict_logits(model, rows.x, [(1.0, False)], 32, torch.device("cpu"))
        assert roc_auc(rows.y, logit) > 0.9, path


def test_the_hybrid_ships_with_its_filter_bank():
    """weights/gwkit_resnet carries its stacker and the filter bank it was fitted with (no
    LALSuite needed to use them); the bank meets the fitting-factor target on the mass prior."""
    path = find_stacker(WEIGHTS / "gwkit_resnet")
    assert path is not None
    stacker = Stacker.load(path)
    bank_file = stacker.bank_path(path)  # the SHA-256 recorded at fitting time matches
    assert bank_file.stat().st_size < 5 * 2**20
    bank = FilterBank.load(bank_file)
    assert bank.info["fitting_factor_mean"] >= 0.98
    assert stacker.cv["rows"] == len(pd.read_csv(WEIGHTS / "gwkit_resnet" / "oof.csv"))
    # never worse than its best input: the stack of network and filter, measured on the same
    # held-out rows, lost to the filter's Bayes factor alone, so the shipped stacker is that
    rejected = stacker.cv["rejected_stack"]["auc"]
    (chosen,) = stacker.features
    assert rejected["stacked"] < rejected[chosen] == max(v for k, v in rejected.items()
                                                        if k != "stacked")


def test_the_physical_hybrid_ships_with_its_filter_bank():
    """weights/gwkit_resnet_phys carries a physical-mode stacker on the coherent two-detector
    statistic, fitted on the run's held-out rows with the shipped bank (same SHA-256)."""
    path = find_stacker(WEIGHTS / "gwkit_resnet_phys")
    assert path is not None
    stacker = Stacker.load(path)
    assert stacker.mode == "physical"
    assert stacker.bank_path(path).name == "mf_bank.h5"
    assert stacker.cv["rows"] == len(pd.read_csv(WEIGHTS / "gwkit_resnet_phys" / "oof.csv"))
    rejected = stacker.cv["rejected_stack"]["auc"]
    (chosen,) = stacker.features
    assert chosen == "mf_lse_coherent"
    assert rejected["stacked"] < rejected[chosen] and rejected["logit"] < rejected[chosen]
