"""albumentations policies on batches of spectrogram images, ``(B, C, F, T)``.

A policy is a plain mapping (it lives in a model's arguments, so in the run's
config and checkpoint) from a transform name to its arguments, ``p`` being the
probability that the transform fires on one image::

    {"time_shift": {"p": 0.5, "max_frames": 8},
     "xy_masking": {"p": 0.5, "num_masks_x": [1, 2], "mask_x_length": [4, 16],
                    "num_masks_y": [1, 2], "mask_y_length": [2, 6]},
     "coarse_dropout": {"p": 0.3, "num_holes_range": [1, 4],
                        "hole_height_range": [2, 6], "hole_width_range": [4, 16]}}

Transforms (applied in this order, whatever the order of the mapping):

- ``time_shift``: roll the image along time by an integer number of frames in
  ``[-max_frames, max_frames]`` (``A.Affine`` with a wrapped border, exact for
  the circular CQT of :mod:`gwkit.models.spectrogram`).
- ``xy_masking``: ``A.XYMasking``, time (x) and frequency (y) stripes set to ``fill``.
- ``coarse_dropout``: ``A.CoarseDropout``, rectangles set to ``fill``.

Arguments other than ``max_frames`` are albumentations' own; ``fill`` defaults
to 0, the mean of an instance-normalised image. Every transform keeps shape and
dtype. Randomness: one seed per batch, drawn from torch's global RNG (which
``gwkit.train`` seeds per fold and saves in ``last.pt``), so training runs stay
reproducible and resumable.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["POLICY_ORDER", "SpectrogramAugment", "build_transform"]

#: Transform names in the order they are applied.
POLICY_ORDER: tuple[str, ...] = ("time_shift", "xy_masking", "coarse_dropout")


def _time_shift(p: float = 0.5, max_frames: int = 8) -> Any:
    import albumentations as A
    import cv2

    if not isinstance(max_frames, int) or max_frames < 0:
        raise ValueError(f"time_shift: max_frames must be an integer >= 0, got {max_frames!r}")
    return A.Affine(
        translate_px={"x": (-max_frames, max_frames), "y": 0}, border_mode=cv2.BORDER_WRAP,
        interpolation=cv2.INTER_NEAREST, p=p,
    )


def _xy_masking(**kwargs: Any) -> Any:
    import albumentations as A

    return A.XYMasking(**kwargs)


def _coarse_dropout(**kwargs: Any) -> Any:
    import albumentations as A

    return A.CoarseDropout(**kwargs)


_BUILDERS: dict[str, Callable[..., Any]] = {
    "time_shift": _time_shift,
    "xy_masking": _xy_masking,
    "coarse_dropout": _coarse_dropout,
}
_TARGETS: dict[str, str] = {"xy_masking": "XYMasking", "coarse_dropout": "CoarseDropout"}


def _tuples(value: Any) -> Any:
    """YAML lists -> tuples (albumentations' ranges), recursively."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, Mapping):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def build_transform(name: str, kwargs: Mapping[str, Any]) -> Any:
    """The albumentations transform for policy entry ``name``; bad names or arguments raise ValueError."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown augmentation {name!r}; choose from {', '.join(POLICY_ORDER)}")
    if not isinstance(kwargs, Mapping):
        raise ValueError(f"augmentation {name!r}: expected a mapping of arguments, got {kwargs!r}")
    if "p" not in kwargs:
        raise ValueError(f"augmentation {name!r}: give its probability p (in [0, 1])")
    p = kwargs["p"]
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"augmentation {name!r}: p={p!r} must lie in [0, 1]")
    if name in _TARGETS:
        import albumentations as A

        target = getattr(A, _TARGETS[name])
        kwargs = {"fill": 0, **kwargs}
    else:
        target = _BUILDERS[name]
    allowed = set(inspect.signature(target).parameters)
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise ValueError(
            f"augmentation {name!r}: unknown argument(s) {unknown}; valid: {sorted(allowed)}"
        )
    try:
        return _BUILDERS[name](**_tuples(dict(kwargs)))
    except (TypeError, ValueError) as err:  # pydantic's ValidationError is a ValueError
        raise ValueError(f"augmentation {name!r} with {dict(kwargs)}: {err}") from None


class SpectrogramAugment(nn.Module):
    """Apply an albumentations policy to ``(B, C, F, T)`` images, in training mode only.

    Each image is augmented on its own (``(F, T, C)`` numpy, float32); the batch
    comes back on its device and in its dtype. In eval mode, or with an empty
    policy, the input is returned unchanged.
    """

    def __init__(self, policy: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        super().__init__()
        policy = {} if policy is None else policy
        if not isinstance(policy, Mapping):
            raise ValueError(f"augment={policy!r}: expected a mapping {{name: {{p: ..., ...}}}}")
        unknown = sorted(set(policy) - set(POLICY_ORDER))
        if unknown:
            raise ValueError(
                f"unknown augmentation(s) {unknown}; choose from {', '.join(POLICY_ORDER)}"
            )
        names = [name for name in POLICY_ORDER if name in policy]
        transforms = [build_transform(name, policy[name]) for name in names]
        self.policy = {name: dict(policy[name]) for name in names}
        self.compose = None
        if transforms:
            import albumentations as A

            self.compose = A.Compose(transforms, p=1.0)

    def apply(self, images: torch.Tensor, seed: int) -> torch.Tensor:
        """The policy on every image of ``images`` ``(B, C, F, T)`` with the given seed."""
        if images.ndim != 4:
            raise ValueError(f"expected images (B, C, F, T), got {tuple(images.shape)}")
        if self.compose is None:
            return images
        self.compose.set_random_seed(seed)
        array = images.detach().float().permute(0, 2, 3, 1).cpu().numpy()
        out = np.stack([self.compose(image=np.ascontiguousarray(a))["image"] for a in array])
        if out.shape != array.shape:
            raise RuntimeError(f"augmentation changed the shape {array.shape} -> {out.shape}")
        return torch.from_numpy(out).permute(0, 3, 1, 2).to(images.device, images.dtype)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Augmented ``images`` when training, else ``images``; the seed comes from torch's RNG."""
        if not self.training or self.compose is None:
            return images
        seed = int(torch.randint(0, 2**31 - 1, ()).item())
        return self.apply(images, seed)

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={kw}" for name, kw in self.policy.items()) or "no augmentation"
