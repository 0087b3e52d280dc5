"""ResNet1d options: heads, norm/act layers, drop path, variants."""

from __future__ import annotations

import pytest
import timm
import torch
from torch import nn

import gwkit.models as gm
from gwkit.models.resnet1d import BasicBlock1d, ResNet1d


@pytest.mark.parametrize("pool", ["avg", "gem", "flatten", "attn"])
def test_heads(pool):
    model = gm.create_model("resnet1d_tiny", input_length=2048, global_pool=pool)
    out = model(torch.randn(2, 2, 2048))
    assert out.shape == (2, 1) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_flatten_head_needs_its_input_length():
    model = gm.create_model("resnet1d_tiny", input_length=2048, global_pool="flatten")
    with pytest.raises(ValueError, match="input_length=2048"):
        model(torch.randn(2, 2, 4096))


def test_attn_head_is_position_aware_and_length_flexible():
    torch.manual_seed(0)
    model = gm.create_model("resnet1d_tiny", input_length=2048, global_pool="attn").eval()
    x = torch.randn(1, 2, 2048)
    with torch.no_grad():
        assert model(torch.randn(1, 2, 4096)).shape == (1, 1)  # positions resampled
        feats = model.forward_features(x)
        pooled = model.forward_head(feats, pre_logits=True)
        shifted = model.forward_head(feats.roll(5, dims=-1), pre_logits=True)
    assert not torch.allclose(pooled, shifted)


def test_reset_classifier_changes_pool():
    model = gm.create_model("resnet1d_tiny", input_length=2048)
    model.reset_classifier(2, global_pool="flatten")
    assert model(torch.randn(2, 2, 2048)).shape == (2, 2)
    assert model.get_classifier().in_features == model.num_features * model.feature_length


def test_resnet1d_54_is_aresgw_like():
    model = gm.create_model("resnet1d_54", input_length=2048)
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock1d)]
    assert len(blocks) == 27
    assert model.global_pool_type == "flatten"


@pytest.mark.parametrize("norm", ["batchnorm1d", "groupnorm1", "instancenorm"])
@pytest.mark.parametrize("act", ["relu", "gelu", "silu"])
def test_norm_and_act_layers(norm, act):
    model = gm.create_model("resnet1d_tiny", input_length=2048, norm_layer=norm, act_layer=act)
    assert model(torch.randn(2, 2, 2048)).shape == (2, 1)


def test_unknown_options_raise():
    with pytest.raises(ValueError, match="norm layer"):
        gm.create_model("resnet1d_tiny", norm_layer="batchnorm3d")
    with pytest.raises(ValueError, match="global_pool"):
        gm.create_model("resnet1d_tiny", global_pool="max")
    with pytest.raises(ValueError, match="odd"):
        gm.create_model("resnet1d_tiny", kernel_size=4)
    with pytest.raises(ValueError, match="one entry per stage"):
        ResNet1d(layers=(1, 1), channels=(8, 16, 32))


def test_drop_path_active_in_training_only():
    torch.manual_seed(0)
    model = gm.create_model("resnet1d_tiny", input_length=2048, drop_path_rate=0.5,
                            zero_init_last=False)
    assert any(type(m).__name__ == "DropPath" for m in model.modules())
    x = torch.randn(4, 2, 2048)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x))
        model.train()
        assert not torch.allclose(model(x), model(x))


def test_output_length_matches_features():
    for stem_pool in (False, True):
        model = ResNet1d(layers=(1, 1, 1), channels=(8, 16, 16), stem_width=8,
                         stem_pool=stem_pool, input_length=3001)
        feats = model.forward_features(torch.randn(1, 2, 3001))
        assert feats.shape == (1, 16, model.output_length(3001))


def test_feature_info():
    model = gm.create_model("resnet1d_18")
    assert [f["reduction"] for f in model.feature_info] == [4, 4, 8, 16, 32]
    assert model.feature_info[-1]["num_chs"] == model.num_features == 256
    assert isinstance(model.stem.conv, nn.Conv1d)


def test_timm_features_only():
    model = timm.create_model("resnet1d_tiny", features_only=True, input_length=2048)
    feats = model(torch.randn(2, 2, 2048))
    assert [f.shape[1] for f in feats] == [16, 16, 32, 64, 128]
    assert [2048 // f.shape[-1] for f in feats] == [8, 8, 16, 32, 64]
