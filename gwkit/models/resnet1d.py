"""1D ResNets over two-detector strain, written the timm way.

Read top to bottom: helpers, pooling heads, blocks, the :class:`ResNet1d` model,
the private :func:`_create_resnet1d` builder, then one small ``@register_model``
function per variant. Importing this module registers the variants with timm, so
``timm.create_model("resnet1d_18", in_chans=2, num_classes=1)`` works.

Input is ``(B, C, L)`` with the detectors as channels (``C = in_chans``, 2 for
H1/L1) or the competition layout ``(B, 1, C, L)``. The stem convolution may
stride over the 8192 Hz samples (``stem_stride``); its kernel is long enough to
learn its own anti-alias filter.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Literal

import torch
import torch.nn.functional as F
from timm.layers import DropPath, trunc_normal_
from timm.models import generate_default_cfgs, register_model
from torch import nn

from gwkit.models.layers import (
    LayerType,
    as_channels_first,
    build_timm_model,
    get_act_layer_strict,
    get_norm_layer_1d,
    make_classifier,
    model_cfg,
)
from gwkit.sim.recipe import NSAMPLES

__all__ = [
    "AttentionPool1d",
    "BasicBlock1d",
    "Bottleneck1d",
    "GeM1d",
    "GeMPool1d",
    "ResNet1d",
]

PoolType = Literal["avg", "gem", "flatten", "attn"]
DownsampleType = Literal["conv", "gem"]
POOL_TYPES: tuple[str, ...] = ("avg", "gem", "flatten", "attn")

# ---------------------------------------------------------------- helpers


def conv1d(
    in_chs: int, out_chs: int, kernel_size: int, stride: int = 1, bias: bool = False
) -> nn.Conv1d:
    """Odd-kernel 1-D convolution padded so the output length is ``ceil(L / stride)``."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    return nn.Conv1d(
        in_chs, out_chs, kernel_size, stride=stride, padding=kernel_size // 2, bias=bias
    )


# ---------------------------------------------------------------- pooling heads


class GeM1d(nn.Module):
    """Generalised-mean pooling over time, ``(B, C, T) -> (B, C)``, learnable exponent."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.tensor(float(p)))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=self.eps).pow(self.p).mean(dim=-1).pow(1.0 / self.p)


class GeMPool1d(nn.Module):
    """Generalised-mean pooling over windows of ``kernel_size`` steps, ``(B, C, T) -> (B, C, T/k)``.

    Downsamples like a strided convolution would, without learning an
    anti-alias filter: the cube mean ``(mean x^3)^(1/3)`` of each window sits
    between its average and its maximum (GeM with ``p = 3``, fixed: a learnable
    exponent costs ~40% of a small model's CPU time in ``pow`` and its
    gradient). Windows are padded to cover ``T`` (output ``ceil(T / k)``).
    """

    def __init__(self, kernel_size: int, eps: float = 1e-6) -> None:
        super().__init__()
        if kernel_size < 1:
            raise ValueError(f"kernel_size must be >= 1, got {kernel_size}")
        self.kernel_size = kernel_size
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clamp(min=self.eps)
        x = F.avg_pool1d(x * x * x, self.kernel_size, ceil_mode=True)
        return x.clamp(min=self.eps**3).pow(1.0 / 3.0)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, p=3"


class AttentionPool1d(nn.Module):
    """Attention pooling over time, ``(B, C, T) -> (B, C)``.

    A learned query attends over the ``T`` time steps; a learned positional
    embedding (``seq_len`` positions, linearly resampled when ``T`` differs)
    lets the pooling depend on where in the window a feature occurs.
    """

    def __init__(self, dim: int, seq_len: int, num_heads: int = 4) -> None:
        super().__init__()
        if num_heads < 1 or dim % num_heads:
            raise ValueError(f"num_heads={num_heads} must divide the feature width {dim}")
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        self.seq_len = seq_len
        self.pos_embed = nn.Parameter(torch.zeros(1, seq_len, dim))
        self.query = nn.Parameter(torch.zeros(1, 1, dim))
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        trunc_normal_(self.pos_embed, std=0.02)
        trunc_normal_(self.query, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.transpose(1, 2)  # (B, T, C)
        pos = self.pos_embed
        if tokens.shape[1] != self.seq_len:
            pos = F.interpolate(
                pos.transpose(1, 2), size=tokens.shape[1], mode="linear", align_corners=False
            ).transpose(1, 2)
        tokens = self.norm(tokens + pos)
        query = self.query.expand(tokens.shape[0], -1, -1)
        pooled, _ = self.attn(query, tokens, tokens, need_weights=False)
        return pooled[:, 0]


def _create_pool(
    pool_type: str, num_features: int, feature_length: int, num_heads: int
) -> tuple[nn.Module, int]:
    """Return the pooling module for ``pool_type`` and the width it outputs."""
    if pool_type == "avg":
        return nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten(1)), num_features
    if pool_type == "gem":
        return GeM1d(), num_features
    if pool_type == "flatten":
        return nn.Flatten(1), num_features * feature_length
    if pool_type == "attn":
        return AttentionPool1d(num_features, feature_length, num_heads), num_features
    raise ValueError(f"unknown global_pool {pool_type!r}; choose one of {POOL_TYPES}")


# ---------------------------------------------------------------- blocks


def _downsample(
    in_chs: int, out_chs: int, stride: int, norm_layer: Callable[..., nn.Module]
) -> nn.Module:
    if stride == 1 and in_chs == out_chs:
        return nn.Identity()
    return nn.Sequential(conv1d(in_chs, out_chs, 1, stride=stride), norm_layer(out_chs))


class BasicBlock1d(nn.Module):
    """Two ``kernel_size`` convolutions and a shortcut; the first one strides."""

    expansion = 1

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        stride: int = 1,
        kernel_size: int = 3,
        act_layer: Callable[..., nn.Module] = nn.ReLU,
        norm_layer: Callable[..., nn.Module] = nn.BatchNorm1d,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.conv1 = conv1d(in_chs, out_chs, kernel_size, stride=stride)
        self.bn1 = norm_layer(out_chs)
        self.act1 = act_layer()
        self.conv2 = conv1d(out_chs, out_chs, kernel_size)
        self.bn2 = norm_layer(out_chs)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.downsample = _downsample(in_chs, out_chs, stride, norm_layer)
        self.act2 = act_layer()

    def zero_init_last(self) -> None:
        """Zero the last norm's scale so the block starts as the identity."""
        if getattr(self.bn2, "weight", None) is not None:
            nn.init.zeros_(self.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.downsample(x)
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        return self.act2(self.drop_path(x) + shortcut)


class Bottleneck1d(nn.Module):
    """1x1 reduce, ``kernel_size`` (strided) conv, 1x1 expand to ``out_chs``."""

    expansion = 4

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        stride: int = 1,
        kernel_size: int = 3,
        act_layer: Callable[..., nn.Module] = nn.ReLU,
        norm_layer: Callable[..., nn.Module] = nn.BatchNorm1d,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        if out_chs % self.expansion:
            raise ValueError(
                f"bottleneck width {out_chs} must be a multiple of {self.expansion}"
            )
        mid_chs = out_chs // self.expansion
        self.conv1 = conv1d(in_chs, mid_chs, 1)
        self.bn1 = norm_layer(mid_chs)
        self.act1 = act_layer()
        self.conv2 = conv1d(mid_chs, mid_chs, kernel_size, stride=stride)
        self.bn2 = norm_layer(mid_chs)
        self.act2 = act_layer()
        self.conv3 = conv1d(mid_chs, out_chs, 1)
        self.bn3 = norm_layer(out_chs)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.downsample = _downsample(in_chs, out_chs, stride, norm_layer)
        self.act3 = act_layer()

    def zero_init_last(self) -> None:
        """Zero the last norm's scale so the block starts as the identity."""
        if getattr(self.bn3, "weight", None) is not None:
            nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.downsample(x)
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        x = self.bn3(self.conv3(x))
        return self.act3(self.drop_path(x) + shortcut)


_BLOCKS: dict[str, type[nn.Module]] = {"basic": BasicBlock1d, "bottleneck": Bottleneck1d}


def _resolve_block(block: str | type[nn.Module]) -> type[nn.Module]:
    if isinstance(block, str):
        if block not in _BLOCKS:
            raise ValueError(f"unknown block {block!r}; choose one of {sorted(_BLOCKS)}")
        return _BLOCKS[block]
    return block


# ---------------------------------------------------------------- model


def _check_architecture(layers: Sequence[int], channels: Sequence[int], strides: tuple,
                        input_length: int, stem_pool: bool | str, downsample: str) -> None:
    """ValueError naming the first :class:`ResNet1d` argument that cannot build a network."""
    if not len(layers) == len(channels) == len(strides) or not layers:
        raise ValueError(
            f"layers, channels and strides need one entry per stage, got "
            f"{tuple(layers)}, {tuple(channels)}, {strides}"
        )
    if input_length < 1:
        raise ValueError(f"input_length must be >= 1, got {input_length}")
    if stem_pool not in (False, True, "max", "gem"):
        raise ValueError(f"stem_pool must be False, True, 'max' or 'gem', got {stem_pool!r}")
    if downsample not in ("conv", "gem"):
        raise ValueError(f"downsample must be 'conv' or 'gem', got {downsample!r}")


def _stage(block_cls: type[nn.Module], in_chs: int, out_chs: int, depth: int, stride: int,
           downsample: str, kernel_size: int, act, norm, drop_paths: Sequence[float],
           ) -> nn.Sequential:
    """One stage: ``depth`` blocks, the first striding (or a GeM pool before it)."""
    blocks: list[nn.Module] = []
    if downsample == "gem" and stride > 1:
        blocks.append(GeMPool1d(stride))
    conv_stride = stride if downsample == "conv" else 1
    for j in range(depth):
        blocks.append(block_cls(in_chs if j == 0 else out_chs, out_chs,
                                stride=conv_stride if j == 0 else 1, kernel_size=kernel_size,
                                act_layer=act, norm_layer=norm, drop_path=drop_paths[j]))
    return nn.Sequential(*blocks)


class ResNet1d(nn.Module):
    """1-D ResNet: stem, stages of residual blocks, pooling head, linear classifier.

    Args:
        block: ``"basic"``, ``"bottleneck"`` or a block class.
        layers: blocks per stage.
        channels: output width of each stage.
        strides: stride of each stage's first block (default ``1, 2, 2, ...``).
        in_chans: input channels (detectors).
        num_classes: classifier outputs; 1 gives one logit, 0 no classifier.
        input_length: samples per input; sizes the ``"flatten"`` and ``"attn"`` heads.
        kernel_size: odd convolution kernel of the blocks.
        stem_width, stem_kernel_size, stem_stride: the stem convolution.
        stem_pool: pooling after the stem: ``False``, ``True``/``"max"`` (a stride-2
            max pool) or ``"gem"`` (a :class:`GeMPool1d` of ``stem_pool_size``).
        stem_pool_size: window and stride of the ``"gem"`` stem pooling.
        downsample: how a stage with stride > 1 downsamples: ``"conv"`` (its first
            block's convolution strides) or ``"gem"`` (a :class:`GeMPool1d` in front
            of the stage; the blocks keep stride 1).
        global_pool: ``"avg"``, ``"gem"``, ``"flatten"`` (keeps time order, needs
            ``input_length``) or ``"attn"`` (attention pooling with a learned
            query and positional embedding).
        attn_num_heads: heads of the ``"attn"`` pooling.
        act_layer, norm_layer: names or classes (``"relu"``, ``"gelu"``; ``"batchnorm1d"``).
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic-depth rate, growing linearly to this over the blocks.
        zero_init_last: start every residual branch at zero.
    """

    def __init__(
        self,
        block: str | type[nn.Module] = "basic",
        layers: Sequence[int] = (2, 2, 2, 2),
        channels: Sequence[int] = (32, 64, 128, 256),
        strides: Sequence[int] | None = None,
        in_chans: int = 2,
        num_classes: int = 1,
        input_length: int = NSAMPLES,
        kernel_size: int = 7,
        stem_width: int = 32,
        stem_kernel_size: int = 31,
        stem_stride: int = 4,
        stem_pool: bool | Literal["max", "gem"] = False,
        stem_pool_size: int = 2,
        downsample: DownsampleType = "conv",
        global_pool: PoolType = "avg",
        attn_num_heads: int = 4,
        act_layer: LayerType = "relu",
        norm_layer: LayerType = "batchnorm1d",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        zero_init_last: bool = True,
    ) -> None:
        super().__init__()
        strides = (1,) + (2,) * (len(layers) - 1) if strides is None else tuple(strides)
        _check_architecture(layers, channels, strides, input_length, stem_pool, downsample)
        block_cls = _resolve_block(block)
        act = get_act_layer_strict(act_layer)
        norm = get_norm_layer_1d(norm_layer)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.input_length = input_length
        self.drop_rate = drop_rate
        self.attn_num_heads = attn_num_heads

        stem = [
            ("conv", conv1d(in_chans, stem_width, stem_kernel_size, stride=stem_stride)),
            ("bn", norm(stem_width)),
            ("act", act()),
        ]
        pool_stride = 1
        if stem_pool == "gem":
            stem.append(("pool", GeMPool1d(stem_pool_size)))
            pool_stride = stem_pool_size
        elif stem_pool:
            stem.append(("pool", nn.MaxPool1d(3, stride=2, padding=1)))
            pool_stride = 2
        self.stem = nn.Sequential(OrderedDict(stem))
        self._series_strides = (stem_stride,) + ((pool_stride,) if stem_pool else ()) + strides
        reduction = stem_stride * pool_stride
        self.feature_info = [
            dict(num_chs=stem_width, reduction=reduction, module=f"stem.{stem[-1][0]}")
        ]

        dpr = torch.linspace(0, drop_path_rate, sum(layers)).tolist()
        stages, in_chs, block_idx = [], stem_width, 0
        stage_cfgs = zip(layers, channels, strides, strict=True)
        for i, (depth, out_chs, stride) in enumerate(stage_cfgs):
            stages.append(_stage(block_cls, in_chs, out_chs, depth, stride, downsample,
                                 kernel_size, act, norm, dpr[block_idx:block_idx + depth]))
            in_chs, block_idx, reduction = out_chs, block_idx + depth, reduction * stride
            self.feature_info.append(
                dict(num_chs=out_chs, reduction=reduction, module=f"stages.{i}")
            )
        self.stages = nn.Sequential(*stages)
        self.num_features = in_chs

        self.feature_length = self.output_length(input_length)
        self.global_pool_type = global_pool
        self.global_pool, self.head_hidden_size = _create_pool(
            global_pool, self.num_features, self.feature_length, attn_num_heads
        )
        self.head_drop = nn.Dropout(drop_rate)
        self.fc = make_classifier(self.head_hidden_size, num_classes)
        self._init_weights(zero_init_last)

    def output_length(self, input_length: int) -> int:
        """Time steps that :meth:`forward_features` returns for ``input_length`` samples."""
        length = input_length
        for stride in self._series_strides:
            length = math.ceil(length / stride)  # odd kernels padded by k // 2
        return length

    def _init_weights(self, zero_init_last: bool) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv1d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if zero_init_last:
            for module in self.modules():
                if hasattr(module, "zero_init_last"):
                    module.zero_init_last()

    def get_classifier(self) -> nn.Module:
        """The final linear layer."""
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: PoolType | None = None) -> None:
        """Replace the classifier (and the pooling, when ``global_pool`` is given)."""
        if global_pool is not None:
            self.global_pool_type = global_pool
            self.global_pool, self.head_hidden_size = _create_pool(
                global_pool, self.num_features, self.feature_length, self.attn_num_heads
            )
        self.num_classes = num_classes
        self.fc = make_classifier(self.head_hidden_size, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, L)`` or ``(B, 1, C, L)`` -> ``(B, num_features, T)``."""
        x = as_channels_first(x, self.in_chans)
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool, dropout and classify; ``pre_logits=True`` stops before the classifier."""
        if self.global_pool_type == "flatten" and x.shape[-1] != self.feature_length:
            raise ValueError(
                f"flatten head was built for input_length={self.input_length} "
                f"({self.feature_length} time steps), got {x.shape[-1]} time steps"
            )
        x = self.head_drop(self.global_pool(x))
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, L)`` or ``(B, 1, C, L)`` -> logits ``(B, num_classes)``."""
        return self.forward_head(self.forward_features(x))


# ---------------------------------------------------------------- builder and variants


def _create_resnet1d(variant: str, pretrained: bool = False, **kwargs: Any) -> ResNet1d:
    nstages = len(kwargs.get("layers", (2, 2, 2, 2)))
    return build_timm_model(
        ResNet1d, variant, pretrained,
        feature_cfg=dict(flatten_sequential=True, out_indices=tuple(range(nstages + 1))),
        **kwargs,
    )


_cfg = partial(model_cfg, first_conv="stem.conv")


default_cfgs = generate_default_cfgs({
    "resnet1d_tiny": _cfg(),
    "resnet1d_gem": _cfg(),
    "resnet1d_18": _cfg(),
    "resnet1d_34": _cfg(),
    "resnet1d_50": _cfg(),
    "resnet1d_54": _cfg(description="AresGW-like ResNet-54 (27 basic blocks)"),
})


@register_model
def resnet1d_tiny(pretrained: bool = False, **kwargs: Any) -> ResNet1d:
    """Cheap CPU model: one narrow basic block per stage after a stride-8 stem."""
    model_args = dict(
        block="basic", layers=(1, 1, 1, 1), channels=(16, 32, 64, 128), kernel_size=7,
        stem_width=16, stem_kernel_size=31, stem_stride=8,
    )
    return _create_resnet1d("resnet1d_tiny", pretrained, **dict(model_args, **kwargs))


@register_model
def resnet1d_gem(pretrained: bool = False, **kwargs: Any) -> ResNet1d:
    """G2Net-2021-style 1-D CNN: a stride-1 large-kernel stem, SiLU, GeM pooling to downsample.

    Meant for the band-passed, 4x-decimated input (2048 Hz) with a flatten head.
    """
    model_args = dict(
        block="basic", layers=(1, 1, 1, 1), channels=(16, 32, 64, 128), kernel_size=7,
        stem_width=16, stem_kernel_size=31, stem_stride=1, stem_pool="gem", stem_pool_size=4,
        downsample="gem", act_layer="silu",
    )
    return _create_resnet1d("resnet1d_gem", pretrained, **dict(model_args, **kwargs))


@register_model
def resnet1d_18(pretrained: bool = False, **kwargs: Any) -> ResNet1d:
    """ResNet-18 layout (2, 2, 2, 2) of basic blocks, widths 32-256, stride-4 stem."""
    model_args = dict(block="basic", layers=(2, 2, 2, 2), channels=(32, 64, 128, 256))
    return _create_resnet1d("resnet1d_18", pretrained, **dict(model_args, **kwargs))


@register_model
def resnet1d_34(pretrained: bool = False, **kwargs: Any) -> ResNet1d:
    """ResNet-34 layout (3, 4, 6, 3) of basic blocks, widths 32-256, stride-4 stem."""
    model_args = dict(block="basic", layers=(3, 4, 6, 3), channels=(32, 64, 128, 256))
    return _create_resnet1d("resnet1d_34", pretrained, **dict(model_args, **kwargs))


@register_model
def resnet1d_50(pretrained: bool = False, **kwargs: Any) -> ResNet1d:
    """ResNet-50 layout (3, 4, 6, 3) of bottleneck blocks, output widths 128-1024."""
    model_args = dict(
        block="bottleneck", layers=(3, 4, 6, 3), channels=(128, 256, 512, 1024), kernel_size=5,
    )
    return _create_resnet1d("resnet1d_50", pretrained, **dict(model_args, **kwargs))


@register_model
def resnet1d_54(pretrained: bool = False, **kwargs: Any) -> ResNet1d:
    """AresGW-like ResNet-54: 27 basic blocks, kernel 3, widths 8-64-16, flatten head.

    The stride-4 stem brings 8192 Hz to AresGW's 2048 Hz; five stride-2 stages follow.
    """
    model_args = dict(
        block="basic", layers=(4, 3, 3, 3, 3, 3, 5, 3),
        channels=(8, 16, 32, 64, 64, 64, 32, 16), strides=(1, 2, 2, 2, 2, 2, 1, 1),
        kernel_size=3, stem_width=8, stem_kernel_size=31, stem_stride=4, global_pool="flatten",
    )
    return _create_resnet1d("resnet1d_54", pretrained, **dict(model_args, **kwargs))
