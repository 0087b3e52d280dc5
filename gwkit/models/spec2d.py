"""Any timm 2-D image backbone behind the CQT front-end: the G2Net 2021 recipe.

Strain ``(B, C, L)`` (or the competition layout ``(B, 1, C, L)``) -> the chosen
detector channels -> :class:`~gwkit.models.spectrogram.CQT` images
``(B, len(channels), F, T)`` -> (training only) an albumentations policy
(:mod:`gwkit.models.spec_augment`) -> ``timm.create_model(backbone)`` with
``in_chans=len(channels)`` -> logits ``(B, num_classes)``.

Example::

    model = create_model("spec2d", backbone="efficientnet_b0", channels=(0,))
    python -m gwkit.train --set model=spec2d --set "model_kwargs={backbone: efficientnet_b0}"

Backbones start from scratch (no hub offline). ``pretrained_path`` loads a local
weights file a user brings (e.g. a Kaggle dataset), with
``torch.load(weights_only=True)``; timm's ``adapt_input_conv`` fits its first
convolution to ``len(channels)`` input channels and a classifier of another
size stays fresh.
It only initialises: the model's spec (``gwkit_spec``, what checkpoints rebuild
it from) leaves it out, so a trained checkpoint loads without that file.

In the competition's layout only channel 0 carries signal, hence
``channels=(0,)`` there; the physical two-detector mode wants ``(0, 1)``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import timm
import torch
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from torch import nn

from gwkit.models.resnet1d import as_channels_first
from gwkit.models.spec_augment import SpectrogramAugment
from gwkit.models.spectrogram import CQT, CQT_DEFAULTS, NormType
from gwkit.sim.recipe import NSAMPLES, SAMPLE_RATE

__all__ = ["Spec2d", "load_backbone_weights"]


def _check_backbone(backbone: str) -> None:
    if not isinstance(backbone, str) or not timm.is_model(backbone):
        raise ValueError(f"backbone={backbone!r} is not a timm model (see timm.list_models())")
    module = timm.models.model_entrypoint(backbone).__module__
    if module.startswith("gwkit."):
        raise ValueError(f"backbone={backbone!r} is a gwkit 1-D model; choose a timm 2-D model")


def _read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from ``path`` (``torch.load(weights_only=True)``), unwrapped from
    the usual containers (``state_dict``, ``model``, ``state_dict_ema``)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"pretrained_path={str(path)!r}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"pretrained_path={str(path)!r}: torch.load failed ({err})") from None
    for key in ("state_dict_ema", "state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"pretrained_path={str(path)!r} holds no state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _names(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if not value:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def load_backbone_weights(
    backbone: str, path: str | os.PathLike, **kwargs: Any
) -> nn.Module:
    """``timm.create_model(backbone, **kwargs)`` initialised from the weights file ``path``.

    The first convolution is adapted to ``in_chans`` (timm's ``adapt_input_conv``)
    and a classifier of another size is left at its initialisation; every other
    weight must be in the file with its shape, else ``ValueError`` naming the file.
    """
    from timm.models import adapt_input_conv

    state = _read_state_dict(path)
    model = timm.create_model(backbone, pretrained=False, **kwargs)
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    own = model.state_dict()
    for conv in _names(cfg.get("first_conv")):
        key = f"{conv}.weight"
        if key in state and key in own and state[key].shape != own[key].shape:
            try:
                state[key] = adapt_input_conv(own[key].shape[1], state[key].float())
            except Exception as err:
                raise ValueError(
                    f"pretrained_path={str(path)!r}: cannot adapt {key} "
                    f"{tuple(state[key].shape)} to {tuple(own[key].shape)} ({err})"
                ) from None
    heads = tuple(f"{c}." for c in _names(cfg.get("classifier")))
    for key in [k for k in state if k.startswith(heads)]:
        if key in own and state[key].shape != own[key].shape:
            del state[key]  # another number of classes: keep the fresh classifier
    mismatched = sorted(k for k in state if k in own and state[k].shape != own[k].shape)
    missing = sorted(k for k in own if k not in state and not k.startswith(heads))
    if mismatched or missing:
        what = mismatched[:3] or missing[:3]
        raise ValueError(
            f"pretrained_path={str(path)!r} does not fit {backbone}: "
            f"{len(mismatched)} weights of another shape, {len(missing)} missing (e.g. {what})"
        )
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return model


class Spec2d(nn.Module):
    """CQT images of the chosen detector channels, then a timm 2-D backbone.

    Args:
        backbone: timm model name (``timm.list_models()``), e.g. ``"efficientnet_b0"``.
        in_chans: detector channels of the input strain (2: H1, L1).
        channels: which input channels become image channels (backbone ``in_chans``).
        num_classes: classifier outputs; 1 gives one logit.
        input_length: samples per input (2 s at 8192 Hz: 16384).
        sample_rate: input sample rate in Hz.
        fmin, fmax: CQT frequency range in Hz.
        bins_per_octave: CQT bins per octave (``F`` image rows).
        hop_length: CQT hop in samples (``T = input_length / hop_length`` columns).
        filter_scale: CQT ``Q`` factor multiplier.
        normalize: per-channel image normalisation, ``"instance"`` or ``"none"``.
        augment: albumentations policy applied in training mode only
            (:mod:`gwkit.models.spec_augment`); ``None``: none.
        pretrained_path: local weights file for the backbone (initialisation only).
        **backbone_kwargs: more timm arguments (``drop_rate``, ``drop_path_rate``, ...).

    Shapes: ``(B, in_chans, L)`` or ``(B, 1, in_chans, L)`` -> ``(B, num_classes)``.
    """

    def __init__(
        self,
        backbone: str = "efficientnet_b0",
        *,
        in_chans: int = 2,
        channels: Sequence[int] = (0, 1),
        num_classes: int = 1,
        input_length: int = NSAMPLES,
        sample_rate: float = SAMPLE_RATE,
        fmin: float = CQT_DEFAULTS.fmin,
        fmax: float = CQT_DEFAULTS.fmax,
        bins_per_octave: int = CQT_DEFAULTS.bins_per_octave,
        hop_length: int = CQT_DEFAULTS.hop_length,
        filter_scale: float = CQT_DEFAULTS.filter_scale,
        normalize: NormType = CQT_DEFAULTS.normalize,
        augment: Mapping[str, Mapping[str, Any]] | None = None,
        pretrained_path: str | None = None,
        **backbone_kwargs: Any,
    ) -> None:
        super().__init__()
        _check_backbone(backbone)
        channels = tuple(channels)
        if not channels or len(set(channels)) != len(channels) or not all(
            isinstance(c, int) and 0 <= c < in_chans for c in channels
        ):
            raise ValueError(
                f"channels={channels!r} must be distinct indices into the {in_chans} input channels"
            )
        self.in_chans = in_chans
        self.channels = channels
        self.input_length = input_length
        self.backbone_name = backbone
        self.cqt = CQT(
            sample_rate, fmin=fmin, fmax=fmax, bins_per_octave=bins_per_octave,
            hop_length=hop_length, filter_scale=filter_scale, normalize=normalize,
            input_length=input_length,
        )
        self.augment = SpectrogramAugment(augment)
        kwargs = dict(backbone_kwargs, in_chans=len(channels), num_classes=num_classes)
        if kwargs.pop("pretrained", False):
            raise ValueError("pretrained=True: no hub offline; give pretrained_path (a local file)")
        if pretrained_path is not None:
            self.backbone = load_backbone_weights(backbone, pretrained_path, **kwargs)
        else:
            self.backbone = timm.create_model(backbone, pretrained=False, **kwargs)

    # create_model records the spec after construction; keep pretrained_path out of
    # it so checkpoints rebuild the architecture without needing the weights file.
    @property
    def gwkit_spec(self) -> dict[str, Any]:
        """``dict(name=..., kwargs=...)`` for :func:`gwkit.models.create_model`."""
        return self.__dict__["_gwkit_spec"]

    @gwkit_spec.setter
    def gwkit_spec(self, spec: dict[str, Any]) -> None:
        spec = copy.deepcopy(spec)
        spec.get("kwargs", {}).pop("pretrained_path", None)
        self.__dict__["_gwkit_spec"] = spec

    @property
    def num_classes(self) -> int:
        """Outputs of the classifier."""
        return self.backbone.num_classes

    @property
    def num_features(self) -> int:
        """Channels of the backbone's last feature map."""
        return self.backbone.num_features

    def image_shape(self, input_length: int | None = None) -> tuple[int, int, int]:
        """``(C, F, T)`` of the images the backbone sees."""
        n_bins, n_frames = self.cqt.output_shape(input_length or self.input_length)
        return len(self.channels), n_bins, n_frames

    def spectrogram(self, x: torch.Tensor) -> torch.Tensor:
        """Strain ``(B, in_chans, L)`` or ``(B, 1, in_chans, L)`` -> normalised images ``(B, C, F, T)``."""
        x = as_channels_first(x, self.in_chans)
        return self.cqt(x[:, list(self.channels)])

    def get_classifier(self) -> nn.Module:
        """The backbone's classifier."""
        return self.backbone.get_classifier()

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the backbone's classifier (and pooling, when ``global_pool`` is given)."""
        if global_pool is None:
            self.backbone.reset_classifier(num_classes)
        else:
            self.backbone.reset_classifier(num_classes, global_pool)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Strain -> images -> (augmented when training) -> backbone feature map."""
        return self.backbone.forward_features(self.augment(self.spectrogram(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """The backbone's pooling and classifier; ``pre_logits=True`` stops before the classifier."""
        return self.backbone.forward_head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Strain -> logits ``(B, num_classes)``."""
        return self.forward_head(self.forward_features(x))


# ---------------------------------------------------------------- builder and variants


def _create_spec2d(variant: str, pretrained: bool = False, **kwargs: Any) -> Spec2d:
    if pretrained:
        raise ValueError(f"{variant}: no hub weights offline; give pretrained_path (a local file)")
    return build_model_with_cfg(Spec2d, variant, pretrained, **kwargs)


def _cfg(**kwargs: Any) -> dict[str, Any]:
    # input_size=None: timm's (C, H, W) would otherwise force in_chans=3.
    return dict(
        url="", num_classes=1, input_size=None, mean=None, std=None,
        first_conv="backbone", classifier="backbone", license="mit", **kwargs,
    )


default_cfgs = generate_default_cfgs({
    "spec2d": _cfg(description="any timm backbone (default efficientnet_b0) on 20-500 Hz CQT"),
    "spec2d_tiny": _cfg(description="mobilenetv3_small_100 on 20-500 Hz CQT (CPU budget)"),
})


@register_model
def spec2d(pretrained: bool = False, **kwargs: Any) -> Spec2d:
    """Any timm backbone (default ``efficientnet_b0``, G2Net's) on 56 x 128 CQT images."""
    model_args = dict(backbone="efficientnet_b0")
    return _create_spec2d("spec2d", pretrained, **dict(model_args, **kwargs))


@register_model
def spec2d_tiny(pretrained: bool = False, **kwargs: Any) -> Spec2d:
    """CPU-sized: ``mobilenetv3_small_100`` (1.5M parameters) on 56 x 128 CQT images."""
    model_args = dict(backbone="mobilenetv3_small_100")
    return _create_spec2d("spec2d_tiny", pretrained, **dict(model_args, **kwargs))
