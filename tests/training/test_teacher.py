"""gwkit.training.teacher: loading a teacher and calibrating its logit to probabilities."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from gwkit.training.teacher import Teacher, calibrate, load_teacher

REPO = Path(__file__).resolve().parents[2]


class FirstSample(nn.Module):
    """A 'model' whose logit is the row's first sample."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0, :1]


def test_calibration_recovers_the_log_odds_map():
    gen = torch.Generator().manual_seed(0)
    scale, bias = 0.7, -1.5

    def batches(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        t = 8 * torch.randn(4096, generator=gen)
        p = torch.sigmoid(scale * 10 * torch.asinh(t / 10) + bias)
        y = (torch.rand(4096, generator=gen) < p).float()
        return t[:, None, None].expand(-1, 2, 4).contiguous(), y

    fitted = calibrate(Teacher(FirstSample()), batches, n_batches=8)
    assert fitted.scale == pytest.approx(scale, abs=0.05)
    assert fitted.bias == pytest.approx(bias, abs=0.1)
    x = torch.tensor([[[3.0] * 4] * 2])
    expected = 1 / (1 + math.exp(-(fitted.scale * 10 * math.asinh(0.3) + fitted.bias)))
    assert float(fitted.soft_labels(x)[0]) == pytest.approx(expected, rel=1e-5)


def test_calibration_needs_both_classes():
    def batches(i: int):
        return torch.randn(8, 2, 4), torch.ones(8)

    with pytest.raises(ValueError, match="signal and noise"):
        calibrate(Teacher(FirstSample()), batches, n_batches=1)


def test_a_filter_bank_is_the_bayes_factor_teacher_and_a_missing_file_one_line(tmp_path: Path):
    teacher = load_teacher(REPO / "weights" / "gwkit_resnet" / "mf_bank.h5", torch.device("cpu"))
    assert teacher.model.gwkit_spec["name"] == "mfnet"
    assert not any(p.requires_grad for p in teacher.model.parameters())
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_teacher(tmp_path / "nope.pt", torch.device("cpu"))
