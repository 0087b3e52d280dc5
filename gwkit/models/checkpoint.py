"""Checkpoints: plain data (tensors, numbers, strings) that rebuild their model, read one way.

:func:`save_checkpoint` writes a model's spec and weights (and plain extras)
atomically; :func:`read_checkpoint` is the package's only ``torch.load`` of a
checkpoint (``weights_only=True``: a file's code never runs) and checks the
format; :func:`load_checkpoint` rebuilds the model from it. Errors are one
``ValueError`` line naming the file.
"""

from __future__ import annotations

import math
import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from gwkit.core.fileio import atomic_path
from gwkit.models.registry import create_model, list_models, model_spec, unwrap
from gwkit.sim.recipe import NSAMPLES

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "load_checkpoint", "read_checkpoint",
           "save_checkpoint"]

CHECKPOINT_FORMAT = "gwkit.checkpoint"
CHECKPOINT_VERSION = 1
_RESERVED_KEYS = frozenset({"format", "version", "model", "state_dict"})
#: A spec may build at most ``MODEL_SLACK * (values its file holds) + MODEL_MARGIN`` tensor
#: values (parameters, buffers, temporaries): a larger model cannot be the one saved.
MODEL_SLACK = 8
MODEL_MARGIN = 2**25
#: Tensor constructors whose first argument is the size: checked before they allocate.
_SIZED = (torch.empty, torch.zeros, torch.ones, torch.full, torch.rand, torch.randn)
_CONSTRUCTORS = (*_SIZED, torch.empty_strided, torch.randint, torch.eye, torch.tensor,
                 torch.as_tensor, torch.arange, torch.linspace, torch.logspace, torch.empty_like,
                 torch.zeros_like, torch.ones_like, torch.full_like, torch.rand_like,
                 torch.randn_like)


class _TooLarge(Exception):
    """A model being built would make more tensor values than its budget."""


class _ValueBudget(TorchFunctionMode):
    """Counts the values of the tensors that constructors make; ``_TooLarge`` past ``limit``,
    before the allocation when the size is an argument (``torch.empty(n, m)``)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit, self.total = limit, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _SIZED and self.total + _size(args, kwargs) > self.limit:
            raise _TooLarge(self.total + _size(args, kwargs))
        out = func(*args, **kwargs)
        if func in _CONSTRUCTORS and isinstance(out, torch.Tensor):
            self.total += out.numel()
            if self.total > self.limit:
                raise _TooLarge(self.total)
        return out


def _size(args: tuple, kwargs: dict) -> int:
    """Values a sized constructor is asked for: ``f(n, m)``, ``f((n, m))``, ``f(size=...)``."""
    size = kwargs.get("size", args[0] if args and not isinstance(args[0], int) else
                      [a for a in args if isinstance(a, int)])
    ok = isinstance(size, (tuple, list, torch.Size)) and all(isinstance(n, int) for n in size)
    return math.prod(size) if ok else 0


def _check_plain(obj: Any, where: str) -> None:
    """Raise ValueError unless ``obj`` loads with ``torch.load(weights_only=True)``."""
    if obj is None or isinstance(obj, (bool, int, float, str, torch.Tensor)):
        return
    if isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, (str, int)):
                raise ValueError(f"{where} has a key of type {type(key).__name__}: {key!r}")
            _check_plain(value, f"{where}[{key!r}]")
        return
    raise ValueError(
        f"{where} is a {type(obj).__name__} ({obj!r}); checkpoints hold only plain types and "
        "tensors (name layers by string, e.g. act_layer='gelu')"
    )


def save_checkpoint(path: str | os.PathLike, model: nn.Module, **extra: Any) -> Path:
    """Write ``model`` (spec and weights) and ``extra`` entries to ``path`` atomically.

    ``extra`` holds plain types and tensors (epoch, optimizer state, metrics,
    config dict) and lands at the top level of the checkpoint dict.
    """
    clash = _RESERVED_KEYS & extra.keys()
    if clash:
        raise ValueError(f"extra entries {sorted(clash)} clash with checkpoint keys")
    state_dict = {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()}
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model": model_spec(model),
        "state_dict": state_dict,
        **extra,
    }
    _check_plain(checkpoint, "checkpoint")
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)
    return Path(path)


def _load_failure(err: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` failed, in one line without torch's advice.

    Torch's message suggests ``weights_only=False``, i.e. running the file's code:
    never passed on.
    """
    text = " ".join(str(err).split())
    if isinstance(err, pickle.UnpicklingError) and "weights only" in text.lower():
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        what = f" ({found.group(1)})" if found else ""
        return (f"it holds Python objects other than tensors and plain data{what}; gwkit "
                "loads checkpoints with weights_only=True and never runs code from a file")
    if "PytorchStreamReader" in text:
        return f"truncated or corrupt ({text.split('. ')[0]})"
    first = text.split(". ")[0][:160]
    return f"not a PyTorch checkpoint file ({type(err).__name__}{': ' + first if first else ''})"


def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """The checkpoint dict of ``path`` (``torch.load(weights_only=True)``), format and version
    checked; FileNotFoundError or one ValueError line naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is not a gwkit checkpoint: the file is empty (0 bytes; "
                         "an interrupted copy or download?)")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets one line
        raise ValueError(f"{path} is not a gwkit checkpoint: {_load_failure(err)}") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} is not a gwkit checkpoint (no format={CHECKPOINT_FORMAT!r} entry); "
            "write checkpoints with gwkit.models.save_checkpoint"
        )
    version = checkpoint.get("version")
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise ValueError(
            f"{path} has checkpoint version {version!r}; this gwkit reads up to "
            f"{CHECKPOINT_VERSION}"
        )
    return checkpoint


def load_checkpoint(
    path: str | os.PathLike, map_location: Any = "cpu", *, input_length: int | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model saved by :func:`save_checkpoint`; returns ``(model, checkpoint)``.

    Loads with ``weights_only=True``. The model is in eval mode, on
    ``map_location`` when that is a device. With ``input_length`` (samples per
    detector of the data to score), a model built for another length is refused.
    Raises ``ValueError`` (one line naming the file) when it is not a gwkit
    checkpoint, names an unknown model, or cannot be rebuilt, and before building
    when its spec asks for more tensor values than ``MODEL_SLACK`` times its
    weights plus ``MODEL_MARGIN`` (an edited spec asking for gigabytes).
    """
    path = Path(path)
    checkpoint = read_checkpoint(path, map_location)
    spec = checkpoint.get("model")
    if (
        not isinstance(spec, dict)
        or not isinstance(spec.get("name"), str)
        or not isinstance(spec.get("kwargs"), dict)
    ):
        raise ValueError(f"{path} has no valid model spec (dict with 'name' and 'kwargs')")
    available = list_models()
    if spec["name"] not in available:
        raise ValueError(
            f"{path} holds unknown model {spec['name']!r}; available: {', '.join(available)}"
        )
    if not isinstance(checkpoint.get("state_dict"), dict):
        raise ValueError(f"{path} has no 'state_dict' entry")
    built_for = spec["kwargs"].get("input_length", NSAMPLES)
    if input_length is not None and built_for != input_length:
        raise ValueError(
            f"{path}: {spec['name']} was built for inputs of {built_for} samples per detector, "
            f"the data has {input_length}"
        )
    stored = sum(v.numel() for v in checkpoint["state_dict"].values()
                 if isinstance(v, torch.Tensor))
    limit = MODEL_SLACK * stored + MODEL_MARGIN
    try:
        with _ValueBudget(limit):
            model = create_model(spec["name"], **spec["kwargs"])
    except _TooLarge as big:
        need = big.args[0]
        raise ValueError(f"{path}: its spec asks for a {spec['name']} of at least {need:,} values "
                         f"({4 * need / 2**30:.1f} GiB as float32), over the limit of {limit:,} "
                         f"for a file holding {stored:,} weights; refusing to build it (an edited "
                         f"or corrupt spec: {str(spec['kwargs'])[:200]})") from None
    except (TypeError, ValueError) as err:
        why = " ".join(str(err).split())
        raise ValueError(f"{path}: cannot rebuild {spec['name']} from its saved arguments "
                         f"({why})") from None
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        why = " ".join(str(err).split())[:300]
        raise ValueError(f"{path}: weights do not fit {spec['name']} ({why})") from None
    if isinstance(map_location, (str, torch.device)):
        model.to(map_location)
    return model.eval(), checkpoint
