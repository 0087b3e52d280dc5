"""Pieces shared by the gwkit model families (as timm keeps its own in ``timm/layers``).

- :func:`as_channels_first`: the competition layout ``(B, 1, C, L)`` or ``(B, C, L)`` in,
  ``(B, C, L)`` out;
- :func:`get_norm_layer_1d`, :func:`get_act_layer_strict`: layers by name for 1-D models;
- :func:`make_classifier`: the final linear layer (``num_classes=0``: none);
- :func:`model_cfg`, :func:`build_timm_model`: timm's pretrained config and builder for
  models that have no pretrained weights.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from timm.layers import GroupNorm1, get_act_layer, get_norm_layer
from timm.models import build_model_with_cfg
from torch import nn

__all__ = [
    "LayerType",
    "as_channels_first",
    "build_timm_model",
    "get_act_layer_strict",
    "get_norm_layer_1d",
    "make_classifier",
    "model_cfg",
]

LayerType = str | type[nn.Module] | Callable[..., nn.Module]

# Norm layers that normalise (B, C, L) per channel, by name. Not timm's table: its
# "batchnorm" is BatchNorm2d (rejects 3-D input), it has no instance norm, and its
# other names (layernorm, ...) normalise the last axis, which is time here.
_NORM_1D: dict[str, Callable[..., nn.Module]] = {
    "batchnorm": nn.BatchNorm1d,
    "batchnorm1d": nn.BatchNorm1d,
    "groupnorm1": GroupNorm1,
    "instancenorm": partial(nn.InstanceNorm1d, affine=True),
    "instancenorm1d": partial(nn.InstanceNorm1d, affine=True),
}


def as_channels_first(x: torch.Tensor, in_chans: int) -> torch.Tensor:
    """Return ``x`` as ``(B, C, L)``; the competition layout ``(B, 1, C, L)`` is squeezed."""
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 3 or x.shape[1] != in_chans:
        raise ValueError(
            f"expected input (B, {in_chans}, L) or (B, 1, {in_chans}, L), got {tuple(x.shape)}"
        )
    return x


def get_norm_layer_1d(norm_layer: LayerType) -> Callable[..., nn.Module]:
    """Resolve a norm layer for ``(B, C, L)`` tensors from a name, class or partial.

    Names: ``"batchnorm"`` / ``"batchnorm1d"``, ``"groupnorm1"``, ``"instancenorm"``.
    Classes and partials go through :func:`timm.layers.get_norm_layer`.
    """
    if isinstance(norm_layer, str):
        key = norm_layer.replace("_", "").lower()
        if key not in _NORM_1D:
            raise ValueError(
                f"unknown 1-D norm layer {norm_layer!r}; choose one of {sorted(_NORM_1D)}"
            )
        return _NORM_1D[key]
    return get_norm_layer(norm_layer)


def get_act_layer_strict(act_layer: LayerType) -> Callable[..., nn.Module]:
    """:func:`timm.layers.get_act_layer`, but ValueError instead of None for a falsy name."""
    layer = get_act_layer(act_layer)
    if layer is None:
        raise ValueError(f"act_layer must name an activation, got {act_layer!r}")
    return layer


def make_classifier(in_features: int, num_classes: int) -> nn.Module:
    """``Linear(in_features, num_classes)``, or ``Identity`` for ``num_classes=0``."""
    if num_classes < 0:
        raise ValueError(f"num_classes must be >= 0, got {num_classes}")
    return nn.Linear(in_features, num_classes) if num_classes else nn.Identity()


def model_cfg(*, first_conv: str, classifier: str = "fc", **kwargs: Any) -> dict[str, Any]:
    """timm's pretrained config of a gwkit model: one logit, no weights to download.

    ``input_size=None``: timm's (C, H, W) would otherwise force ``in_chans=3``.
    """
    return dict(
        url="", num_classes=1, input_size=None, mean=None, std=None,
        first_conv=first_conv, classifier=classifier, license="mit", **kwargs,
    )


def build_timm_model(model_cls: type[nn.Module], variant: str, pretrained: bool = False,
                **kwargs: Any) -> nn.Module:
    """timm's ``build_model_with_cfg`` for models without pretrained weights."""
    if pretrained:
        raise ValueError(f"{variant}: there are no pretrained weights for gwkit models")
    return build_model_with_cfg(model_cls, variant, pretrained, **kwargs)
