"""gwkit.models.mfnet: the filter bank's log Bayes factor as a trainable network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import timm
import torch

from gwkit.models import create_model, load_checkpoint, save_checkpoint
from gwkit.sim.mf_features import FilterBank, MatchedFilter

REPO = Path(__file__).resolve().parents[2]
BANK = REPO / "weights" / "gwkit_resnet" / "mf_bank.h5"


@pytest.fixture(scope="module")
def rows() -> torch.Tensor:
    """Unit-variance noise, one row with a loud template-shaped signal in channel 0."""
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(6, 2, 16384, generator=gen)
    bank = FilterBank.load(BANK)
    spectrum = np.zeros(16384 // 2 + 1, dtype=np.complex128)
    spectrum[:bank.filters.shape[1]] = np.conj(bank.filters[17])  # template 17, merger at ref
    signal = np.fft.irfft(spectrum, n=16384)
    x[0, 0] += torch.as_tensor(12.0 * signal / signal.std() * 0.05, dtype=torch.float32)
    return x


def test_at_initialisation_it_is_the_matched_filters_log_bayes_factor(rows: torch.Tensor):
    model = create_model("mfnet", filter_bank=BANK).eval()
    reference = MatchedFilter(FilterBank.load(BANK))(rows)["lse_time"]
    with torch.no_grad():
        out = model(rows)
    assert out.shape == (6, 1)
    torch.testing.assert_close(out[:, 0], reference, rtol=1e-5, atol=1e-4)
    assert reference[0] > reference[1:].max() + 5  # the signal row stands out: a real test


def test_checkpoint_loads_without_the_bank_file_and_scores_the_same(rows: torch.Tensor,
                                                                   tmp_path: Path):
    model = create_model("mfnet", filter_bank=BANK, train_templates=False).eval()
    with torch.no_grad():
        model.amplitude.copy_(torch.tensor([-0.3, 0.1, -0.05]))  # off the initial point
        expected = model(rows)
    spec = model.gwkit_spec
    assert "filter_bank" not in spec["kwargs"] and spec["kwargs"]["geometry"]["templates"] == 644
    path = save_checkpoint(tmp_path / "mfnet.pt", model)
    loaded, _ = load_checkpoint(path)  # weights_only=True inside
    with torch.no_grad():
        torch.testing.assert_close(loaded(rows), expected)


def test_timm_builds_it_and_gradients_reach_the_marginalisation(rows: torch.Tensor):
    model = timm.create_model("mfnet", filter_bank=str(BANK), train_templates=False)
    assert not model.coefficients.requires_grad
    model(rows).sum().backward()
    for name in ("amplitude", "log_weight", "log_time_prior", "scale", "bias"):
        grad = getattr(model, name).grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="exactly one of filter_bank"):
        create_model("mfnet")
    with pytest.raises(ValueError, match="num_classes=1"):
        create_model("mfnet", filter_bank=BANK, num_classes=2)
    with pytest.raises(ValueError, match="geometry lacks"):
        create_model("mfnet", geometry={"templates": 3})
