"""Every registered gwkit model: forward, backward, input layouts, timm integration."""

from __future__ import annotations

import pytest
import timm
import torch

import gwkit.models as gm

SHORT_LENGTHS = (2048, 4096, 8192)
#: the networks with a classifier head; mfnet (a filter bank's statistic, no head, needs the
#: bank's file) has its own tests in test_mfnet.py
NETWORKS = [name for name in gm.list_models() if name != "mfnet"]


def _short_model(name: str, **kwargs) -> tuple[torch.nn.Module, int]:
    """The model built for the shortest input length it accepts (fast tests)."""
    for length in SHORT_LENGTHS:
        try:
            return gm.create_model(name, input_length=length, **kwargs), length
        except ValueError:
            continue
    raise AssertionError(f"{name} accepts none of the lengths {SHORT_LENGTHS}")


def test_list_models_has_the_families():
    names = gm.list_models()
    for expected in ("gw_cnn_baseline", "gabbard2018", "resnet1d_tiny", "resnet1d_18",
                     "resnet1d_34", "resnet1d_54"):
        assert expected in names
    assert gm.list_models("resnet1d_*") == [n for n in names if n.startswith("resnet1d_")]


@pytest.mark.parametrize("name", NETWORKS)
def test_forward(name):
    torch.manual_seed(0)
    model, length = _short_model(name)
    out = model(torch.randn(3, 2, length))
    assert out.shape == (3, 1)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NETWORKS)
def test_backward(name):
    torch.manual_seed(0)
    model, length = _short_model(name)
    model(torch.randn(2, 2, length)).sum().backward()
    total = 0.0
    for pname, param in model.named_parameters():
        assert param.grad is not None, f"{name}: {pname} got no gradient"
        assert torch.isfinite(param.grad).all(), f"{name}: {pname} has a non-finite gradient"
        total += float(param.grad.abs().sum())
    assert total > 0


@pytest.mark.parametrize("name", NETWORKS)
def test_competition_layout_matches_channels_first(name):
    torch.manual_seed(0)
    model, length = _short_model(name)
    model.eval()
    x = torch.randn(2, 2, length)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x.unsqueeze(1)))


@pytest.mark.parametrize("name", NETWORKS)
def test_head_interface(name):
    model, length = _short_model(name, num_classes=3)
    model.eval()
    x = torch.randn(2, 2, length)
    with torch.no_grad():
        feats = model.forward_features(x)
        pre = model.forward_head(feats, pre_logits=True)
        logits = model.forward_head(feats)
        assert logits.shape == (2, 3)
        assert pre.shape == (2, model.get_classifier().in_features)
        model.reset_classifier(0)
        torch.testing.assert_close(model(x), pre)


def test_bad_input_shape_raises():
    model = gm.create_model("resnet1d_tiny", input_length=2048)
    with pytest.raises(ValueError, match="expected input"):
        model(torch.randn(2, 3, 2048))
    model = gm.create_model("gw_cnn_baseline", input_length=2048)
    with pytest.raises(ValueError, match="expected input"):
        model(torch.randn(2, 2, 2, 2048))


def test_unknown_name_lists_available():
    with pytest.raises(ValueError, match="resnet1d_18"):
        gm.create_model("resnet1d_999")
    with pytest.raises(ValueError, match="unknown model"):
        gm.create_model("resnet18")  # a timm model, not a gwkit one


def test_pretrained_refused():
    with pytest.raises(ValueError, match="pretrained"):
        gm.create_model("resnet1d_tiny", pretrained=True)


def test_timm_create_model():
    model = timm.create_model("resnet1d_18", in_chans=2, num_classes=1, input_length=2048)
    assert model(torch.randn(2, 2, 2048)).shape == (2, 1)
    # gwkit defaults (2 detectors, 1 logit) survive timm's pretrained-cfg defaults
    model = timm.create_model("gw_cnn_baseline")
    assert (model.in_chans, model.num_classes) == (2, 1)


def test_spec_recorded():
    model = gm.create_model("resnet1d_tiny", input_length=2048, drop_rate=0.1)
    assert gm.model_spec(model) == {
        "name": "resnet1d_tiny", "kwargs": {"input_length": 2048, "drop_rate": 0.1},
    }
    with pytest.raises(ValueError, match="create_model"):
        gm.model_spec(torch.nn.Linear(2, 1))
