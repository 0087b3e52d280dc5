"""Plain convolutional baselines: the course's network and Gabbard et al. (2018).

* :func:`gw_cnn_baseline` is the course baseline layer for layer (Conv2d over
  ``(1, k)`` kernels on ``(B, 1, 2, 16384)``, ELU(alpha=0.01) then BatchNorm2d
  after each conv, Flatten to 20224, Linear 64, ELU, Dropout 0.5, Linear).
  With ``num_classes=2`` it has the course's 1,457,946 trainable parameters.
* :func:`gabbard2018` is Table I of Gabbard, Williams, Hayes & Messenger, PRL
  120, 141103 (2018): six Conv1d layers over the detectors as channels, ELU,
  max pools after layers 2, 4 and 6, two hidden dense layers of 64 with
  dropout 0.5.

Both use unpadded ("valid") convolutions, so the flatten width depends on the
input length: pass ``input_length`` (samples, default 16384). Both accept
``(B, C, L)`` and ``(B, 1, C, L)``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
from timm.layers import get_act_layer
from timm.models import generate_default_cfgs, register_model
from torch import nn

from gwkit.models.layers import as_channels_first, build_timm_model, make_classifier, model_cfg
from gwkit.sim.recipe import NSAMPLES

__all__ = ["GWCNNBaseline", "GabbardCNN", "valid_conv_pool_length"]


def valid_conv_pool_length(
    input_length: int, kernel_sizes: Sequence[int], pool_sizes: Sequence[int]
) -> int:
    """Length after unpadded convs (``L - k + 1``), each followed by a max pool (``L // p``).

    A pool size of 1 means no pool. Raises ``ValueError`` when the input is too short.
    """
    length = input_length
    for kernel, pool in zip(kernel_sizes, pool_sizes, strict=True):
        length = (length - kernel + 1) // pool
        if length < 1:
            raise ValueError(
                f"input_length={input_length} is too short for kernels {tuple(kernel_sizes)} "
                f"and pools {tuple(pool_sizes)}"
            )
    return length


def _check_layer_table(
    channels: Sequence[int], kernel_sizes: Sequence[int], pool_sizes: Sequence[int]
) -> None:
    if not len(channels) == len(kernel_sizes) == len(pool_sizes) or not channels:
        raise ValueError(
            f"channels, kernel_sizes and pool_sizes need one entry per conv layer, got "
            f"{tuple(channels)}, {tuple(kernel_sizes)}, {tuple(pool_sizes)}"
        )


def _as_4d(x: torch.Tensor, in_chans: int) -> torch.Tensor:
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] != in_chans:
        raise ValueError(
            f"expected input (B, {in_chans}, L) or (B, 1, {in_chans}, L), got {tuple(x.shape)}"
        )
    return x


class _PlainCNN(nn.Module):
    """Shared head and classifier interface of the plain CNNs."""

    num_classes: int
    head_hidden_size: int
    fc: nn.Module

    def get_classifier(self) -> nn.Module:
        """The final linear layer."""
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the final linear layer; these models have no pooling choice."""
        if global_pool is not None:
            raise ValueError(f"{type(self).__name__} has no global_pool, got {global_pool!r}")
        self.num_classes = num_classes
        self.fc = make_classifier(self.head_hidden_size, num_classes)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Flatten, hidden dense layers, classifier; ``pre_logits`` stops before it."""
        x = self.hidden(self.flatten(x))
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, L)`` or ``(B, 1, C, L)`` -> logits ``(B, num_classes)``."""
        return self.forward_head(self.forward_features(x))


class GWCNNBaseline(_PlainCNN):
    """The course baseline: Conv2d with ``(1, k)`` kernels over ``(B, 1, detectors, L)``.

    Each conv is followed by the activation, then BatchNorm2d, then (where the
    pool size is above 1) MaxPool2d ``(1, p)``. Default activation: ELU(alpha=0.01).

    Args:
        channels, kernel_sizes, pool_sizes: one entry per conv layer.
        in_chans: detectors (the height of the 2-D input).
        num_classes: 1 gives one logit, 2 the course's two-class head.
        input_length: samples per detector; sets the flatten width.
        hidden_size: width of the hidden dense layer.
        act_layer: activation name or class; ``None`` means ELU(alpha=act_alpha).
        act_alpha: ELU alpha when ``act_layer`` is ``None``.
        drop_rate: dropout after the hidden dense layer.
    """

    def __init__(
        self,
        channels: Sequence[int] = (8, 16, 16, 32, 64, 64, 128, 128),
        kernel_sizes: Sequence[int] = (32, 16, 16, 16, 8, 8, 4, 4),
        pool_sizes: Sequence[int] = (8, 1, 1, 1, 6, 1, 1, 4),
        in_chans: int = 2,
        num_classes: int = 1,
        input_length: int = NSAMPLES,
        hidden_size: int = 64,
        act_layer: str | Callable[..., nn.Module] | None = None,
        act_alpha: float = 0.01,
        drop_rate: float = 0.5,
    ) -> None:
        super().__init__()
        _check_layer_table(channels, kernel_sizes, pool_sizes)
        act = get_act_layer(act_layer) if act_layer is not None else partial(nn.ELU, act_alpha)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.input_length = input_length
        self.feature_length = valid_conv_pool_length(input_length, kernel_sizes, pool_sizes)
        layers: list[nn.Module] = []
        in_chs = 1
        for out_chs, kernel, pool in zip(channels, kernel_sizes, pool_sizes, strict=True):
            layers += [nn.Conv2d(in_chs, out_chs, (1, kernel)), act(), nn.BatchNorm2d(out_chs)]
            if pool > 1:
                layers.append(nn.MaxPool2d((1, pool)))
            in_chs = out_chs
        self.features = nn.Sequential(*layers)
        self.num_features = in_chs * in_chans * self.feature_length
        self.head_hidden_size = hidden_size
        self.flatten = nn.Flatten(1)
        self.hidden = nn.Sequential(OrderedDict(
            fc=nn.Linear(self.num_features, hidden_size), act=act(), drop=nn.Dropout(drop_rate),
        ))
        self.fc = make_classifier(self.head_hidden_size, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, L)`` or ``(B, 1, C, L)`` -> ``(B, channels[-1], C, T)``."""
        return self.features(_as_4d(x, self.in_chans))


class GabbardCNN(_PlainCNN):
    """Gabbard et al. (2018), Table I: Conv1d over the detectors as channels.

    Each conv is followed by the activation and (where the pool size is above 1)
    MaxPool1d; no normalisation, as in the paper.

    Args:
        channels, kernel_sizes, pool_sizes: one entry per conv layer.
        in_chans: detectors (input channels).
        num_classes: 1 gives one logit, 2 the paper's softmax pair.
        input_length: samples per detector; sets the flatten width.
        hidden_sizes: widths of the hidden dense layers (each followed by
            activation and dropout).
        act_layer: activation name or class (paper: ELU).
        drop_rate: dropout after each hidden dense layer.
    """

    def __init__(
        self,
        channels: Sequence[int] = (8, 8, 16, 16, 32, 32),
        kernel_sizes: Sequence[int] = (64, 32, 32, 16, 16, 16),
        pool_sizes: Sequence[int] = (1, 8, 1, 6, 1, 4),
        in_chans: int = 2,
        num_classes: int = 1,
        input_length: int = NSAMPLES,
        hidden_sizes: Sequence[int] = (64, 64),
        act_layer: str | Callable[..., nn.Module] = "elu",
        drop_rate: float = 0.5,
    ) -> None:
        super().__init__()
        _check_layer_table(channels, kernel_sizes, pool_sizes)
        act = get_act_layer(act_layer)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.input_length = input_length
        self.feature_length = valid_conv_pool_length(input_length, kernel_sizes, pool_sizes)
        layers: list[nn.Module] = []
        in_chs = in_chans
        for out_chs, kernel, pool in zip(channels, kernel_sizes, pool_sizes, strict=True):
            layers += [nn.Conv1d(in_chs, out_chs, kernel), act()]
            if pool > 1:
                layers.append(nn.MaxPool1d(pool))
            in_chs = out_chs
        self.features = nn.Sequential(*layers)
        self.num_features = in_chs * self.feature_length
        hidden: list[nn.Module] = []
        width = self.num_features
        for size in hidden_sizes:
            hidden += [nn.Linear(width, size), act(), nn.Dropout(drop_rate)]
            width = size
        self.head_hidden_size = width
        self.flatten = nn.Flatten(1)
        self.hidden = nn.Sequential(*hidden)
        self.fc = make_classifier(self.head_hidden_size, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, L)`` or ``(B, 1, C, L)`` -> ``(B, channels[-1], T)``."""
        return self.features(as_channels_first(x, self.in_chans))


_cfg = partial(model_cfg, first_conv="features.0")


default_cfgs = generate_default_cfgs({
    "gw_cnn_baseline": _cfg(description="2023 GW data bootcamp course baseline"),
    "gabbard2018": _cfg(paper_ids="arXiv:1712.06041"),
})


@register_model
def gw_cnn_baseline(pretrained: bool = False, **kwargs: Any) -> GWCNNBaseline:
    """Course baseline; ``num_classes=2`` reproduces its 1,457,946 parameters."""
    model_args = dict(
        channels=(8, 16, 16, 32, 64, 64, 128, 128),
        kernel_sizes=(32, 16, 16, 16, 8, 8, 4, 4),
        pool_sizes=(8, 1, 1, 1, 6, 1, 1, 4),
    )
    return build_timm_model(GWCNNBaseline, "gw_cnn_baseline", pretrained, **dict(model_args, **kwargs))


@register_model
def gabbard2018(pretrained: bool = False, **kwargs: Any) -> GabbardCNN:
    """Gabbard et al. (2018) Table I; needs ``input_length`` of at least 2094 samples."""
    model_args = dict(
        channels=(8, 8, 16, 16, 32, 32),
        kernel_sizes=(64, 32, 32, 16, 16, 16),
        pool_sizes=(1, 8, 1, 6, 1, 4),
    )
    return build_timm_model(GabbardCNN, "gabbard2018", pretrained, **dict(model_args, **kwargs))
