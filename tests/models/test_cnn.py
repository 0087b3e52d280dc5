"""The course baseline against its published layer table; Gabbard et al. (2018)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import gwkit.models as gm

# The course's torchsummary table: (layer type, output shape without batch, parameters).
COURSE_TABLE = [
    ("Conv2d", (8, 2, 16353), 264),
    ("ELU", (8, 2, 16353), 0),
    ("BatchNorm2d", (8, 2, 16353), 16),
    ("MaxPool2d", (8, 2, 2044), 0),
    ("Conv2d", (16, 2, 2029), 2064),
    ("ELU", (16, 2, 2029), 0),
    ("BatchNorm2d", (16, 2, 2029), 32),
    ("Conv2d", (16, 2, 2014), 4112),
    ("ELU", (16, 2, 2014), 0),
    ("BatchNorm2d", (16, 2, 2014), 32),
    ("Conv2d", (32, 2, 1999), 8224),
    ("ELU", (32, 2, 1999), 0),
    ("BatchNorm2d", (32, 2, 1999), 64),
    ("Conv2d", (64, 2, 1992), 16448),
    ("ELU", (64, 2, 1992), 0),
    ("BatchNorm2d", (64, 2, 1992), 128),
    ("MaxPool2d", (64, 2, 332), 0),
    ("Conv2d", (64, 2, 325), 32832),
    ("ELU", (64, 2, 325), 0),
    ("BatchNorm2d", (64, 2, 325), 128),
    ("Conv2d", (128, 2, 322), 32896),
    ("ELU", (128, 2, 322), 0),
    ("BatchNorm2d", (128, 2, 322), 256),
    ("Conv2d", (128, 2, 319), 65664),
    ("ELU", (128, 2, 319), 0),
    ("BatchNorm2d", (128, 2, 319), 256),
    ("MaxPool2d", (128, 2, 79), 0),
    ("Flatten", (20224,), 0),
    ("Linear", (64,), 1294400),
    ("ELU", (64,), 0),
    ("Dropout", (64,), 0),
    ("Linear", (2,), 130),
]


def _trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_baseline_matches_course_table():
    model = gm.create_model("gw_cnn_baseline", num_classes=2)
    rows = []
    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [
        m.register_forward_hook(
            lambda mod, _inp, out: rows.append(
                (type(mod).__name__, tuple(out.shape[1:]), _trainable(mod))
            )
        )
        for m in leaves
    ]
    try:
        out = model(torch.randn(2, 1, 2, 16384))
    finally:
        for hook in hooks:
            hook.remove()
    assert len(rows) == 32
    for i, (got, want) in enumerate(zip(rows, COURSE_TABLE, strict=True), start=1):
        assert got == want, f"row {i}: got {got}, table says {want}"
    assert out.shape == (2, 2)


def test_baseline_parameter_count():
    assert _trainable(gm.create_model("gw_cnn_baseline", num_classes=2)) == 1_457_946
    assert gm.create_model("gw_cnn_baseline").num_classes == 1


def test_baseline_activation_is_elu_001():
    model = gm.create_model("gw_cnn_baseline")
    elus = [m for m in model.modules() if isinstance(m, nn.ELU)]
    assert len(elus) == 9 and all(m.alpha == 0.01 for m in elus)


def test_gabbard_table_i():
    model = gm.create_model("gabbard2018", input_length=8192, num_classes=2)
    convs = [m for m in model.features if isinstance(m, nn.Conv1d)]
    assert [c.out_channels for c in convs] == [8, 8, 16, 16, 32, 32]
    assert [c.kernel_size[0] for c in convs] == [64, 32, 32, 16, 16, 16]
    pools = [m.kernel_size for m in model.features if isinstance(m, nn.MaxPool1d)]
    assert pools == [8, 6, 4]
    # pools follow layers 2, 4 and 6
    kinds = [type(m).__name__ for m in model.features]
    assert [i for i, k in enumerate(kinds) if k == "MaxPool1d"] == [4, 9, 14]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [64, 64, 2]
    drops = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert drops == [0.5, 0.5]


def test_input_too_short_is_a_clear_error():
    with pytest.raises(ValueError, match="too short"):
        gm.create_model("gabbard2018", input_length=2048)
