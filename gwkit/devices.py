"""Choosing the torch device: one rule for training, prediction and evaluation."""

from __future__ import annotations

import torch

__all__ = ["DeviceError", "pick_device"]


class DeviceError(ValueError):
    """The requested device is not available on this machine."""


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto``: cuda > mps > cpu; a bare ``cuda`` under DDP means GPU ``local_rank``."""
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device={name}: CUDA is not available here (try --device cpu)")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device={name}: MPS is not available here (try --device cpu)")
    return device
