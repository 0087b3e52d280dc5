"""spec2d: any timm 2-D backbone behind the CQT front-end (tiny timm test backbones)."""

from __future__ import annotations

import pytest
import timm
import torch

import gwkit.models as gm
from gwkit.models.spec2d import Spec2d
from gwkit.models.spectrogram import CQT
from gwkit.training.config import resolve_config

LENGTH = 4096  # 0.5 s: the shortest segment that resolves the 20 Hz filter, 32 frames
TINY = "test_efficientnet"  # timm's 99k-parameter test model
MASK_POLICY = {"xy_masking": {"p": 1.0, "num_masks_x": 2, "mask_x_length": 4,
                              "num_masks_y": 2, "mask_y_length": 4}}


def _model(**kwargs) -> Spec2d:
    torch.manual_seed(0)
    return gm.create_model("spec2d", **{"backbone": TINY, "input_length": LENGTH, **kwargs})


def test_registered_and_listed():
    assert {"spec2d", "spec2d_tiny"} <= set(gm.list_models())
    assert gm.list_models("spec2d*") == ["spec2d", "spec2d_tiny"]
    assert _model().backbone_name == TINY
    assert gm.create_model("spec2d", input_length=LENGTH).backbone_name == "efficientnet_b0"


@pytest.mark.parametrize("channels", [(0,), (0, 1), (1, 0)])
def test_forward_shapes_layouts_and_no_nan(channels):
    model = _model(channels=channels).eval()
    x = torch.randn(3, 2, LENGTH)
    assert model.image_shape() == (len(channels), 56, 32)
    assert model.spectrogram(x).shape == (3, len(channels), 56, 32)
    with torch.no_grad():
        out = model(x)
        torch.testing.assert_close(model(x.unsqueeze(1)), out)
    assert out.shape == (3, 1) and torch.isfinite(out).all()


def test_images_are_the_cqt_of_the_chosen_channels():
    model = _model(channels=(1,))
    x = torch.randn(2, 2, LENGTH)
    torch.testing.assert_close(model.spectrogram(x), CQT(input_length=LENGTH)(x[:, 1:]))


def test_channel_zero_only_ignores_channel_one():
    model = _model(channels=(0,)).eval()
    x = torch.randn(2, 2, LENGTH)
    y = x.clone()
    y[:, 1] = torch.randn(2, LENGTH)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(y))


@pytest.mark.parametrize("backbone", [TINY, "test_resnet", "test_convnext"])
def test_gradients_reach_every_parameter(backbone):
    model = _model(backbone=backbone, channels=(0,)).train()
    model(torch.randn(2, 2, LENGTH)).sum().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
    assert not list(model.cqt.parameters())  # the front-end is fixed


def test_head_interface():
    model = _model(num_classes=3).eval()
    x = torch.randn(2, 2, LENGTH)
    with torch.no_grad():
        pre = model.forward_head(model.forward_features(x), pre_logits=True)
        assert model(x).shape == (2, 3) and model.num_classes == 3
        model.reset_classifier(0)
        torch.testing.assert_close(model(x), pre)
    model.reset_classifier(1, "max")
    assert model.num_classes == 1


def test_augmentation_only_in_training_mode():
    plain, augmented = _model(), _model(augment=MASK_POLICY)
    augmented.load_state_dict(plain.state_dict())
    x = torch.randn(4, 2, LENGTH)
    with torch.no_grad():
        plain.eval(), augmented.eval()
        torch.testing.assert_close(augmented(x), plain(x))
        plain.train(), augmented.train()
        assert not torch.allclose(augmented(x), plain(x))


def test_training_forward_with_augmentation_is_reproducible_under_torch_seed():
    model = _model(augment=MASK_POLICY).train()
    x = torch.randn(4, 2, LENGTH)
    outs = []
    for _ in range(2):
        torch.manual_seed(7)
        with torch.no_grad():
            outs.append(model.forward_features(x))
    torch.testing.assert_close(outs[0], outs[1])


def test_checkpoint_round_trip_keeps_policy_and_channels(tmp_path):
    model = _model(channels=(0,), augment=MASK_POLICY, bins_per_octave=8, hop_length=64)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    model.train()
    model(torch.randn(4, 2, LENGTH)).sum().backward()
    opt.step()
    model.eval()
    path = gm.save_checkpoint(tmp_path / "fold0.pt", model)
    loaded, ckpt = gm.load_checkpoint(path)
    assert ckpt["model"]["kwargs"]["augment"] == MASK_POLICY
    assert loaded.image_shape() == (1, 38, 64)
    x = torch.randn(3, 2, LENGTH)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_pretrained_path_initialises_and_is_not_needed_to_reload(tmp_path):
    source = timm.create_model(TINY, in_chans=3, num_classes=1000)
    weights = tmp_path / "imagenet.pth"
    torch.save({"state_dict": source.state_dict()}, weights)
    model = _model(channels=(0,), pretrained_path=str(weights))
    stem = source.state_dict()["conv_stem.weight"]
    torch.testing.assert_close(model.backbone.conv_stem.weight, stem.sum(dim=1, keepdim=True))
    loaded = model.backbone.state_dict()
    rest = [k for k in source.state_dict() if k != "conv_stem.weight" and "classifier" not in k]
    assert len(rest) > 10
    for key in rest:
        torch.testing.assert_close(loaded[key], source.state_dict()[key], msg=key)
    assert model.backbone.classifier.out_features == 1
    assert "pretrained_path" not in gm.model_spec(model)["kwargs"]
    path = gm.save_checkpoint(tmp_path / "fold0.pt", model.eval())
    weights.unlink()
    loaded, _ = gm.load_checkpoint(path)
    x = torch.randn(2, 2, LENGTH)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_pretrained_path_problems_raise_value_error(tmp_path):
    with pytest.raises(ValueError, match="missing.pth"):
        _model(pretrained_path=str(tmp_path / "missing.pth"))
    bad = tmp_path / "bad.pth"
    torch.save({"conv_stem.weight": torch.zeros(3)}, bad)
    with pytest.raises(ValueError, match="bad.pth"):
        _model(pretrained_path=str(bad))
    with pytest.raises(ValueError, match="pretrained"):
        _model(pretrained=True)  # no hub offline
    with pytest.raises(ValueError, match="pretrained_path"):
        Spec2d(TINY, input_length=LENGTH, pretrained=True)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(backbone="resnet1d_tiny"), "resnet1d_tiny"),
        (dict(backbone="no_such_net"), "no_such_net"),
        (dict(channels=(0, 2)), r"channels=\(0, 2\)"),
        (dict(channels=(0, 0)), r"channels=\(0, 0\)"),
        (dict(channels=()), "channels"),
        (dict(normalize="minmax"), "minmax"),
        (dict(augment={"mixup": {"p": 0.5}}), "mixup"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _model(**kwargs)


def test_train_config_selects_backbone_by_name():
    from gwkit.training.loop import build_model

    cfg = resolve_config(None, ["model=spec2d", "model_kwargs={backbone: efficientnet_b0}"])
    model = build_model(cfg)
    assert isinstance(model, Spec2d) and model.backbone_name == "efficientnet_b0"
    cfg = resolve_config("gwkit_cqt")
    assert build_model(cfg).image_shape() == (1, 56, 128)
