"""Networks by name, and checkpoints that rebuild them.

Importing this package registers every gwkit model with timm (so
``timm.create_model("resnet1d_18", in_chans=2, num_classes=1)`` works too).
Models take ``(B, 2, L)`` or the competition layout ``(B, 1, 2, L)`` and return
logits ``(B, num_classes)``; the default is one logit.

Example::

    model = create_model("resnet1d_tiny", frontend=dict(highpass=20.0, lowpass=500.0, decimate=4))
    save_checkpoint("runs/x/fold0.pt", model, epoch=3)
    model, ckpt = load_checkpoint("runs/x/fold0.pt")
"""

from __future__ import annotations

import copy
import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import timm
import torch
from timm.models import model_entrypoint
from torch import nn

from gwkit.fileio import atomic_path
from gwkit.models import cnn, mfnet, resnet1d, spec2d
from gwkit.models.cnn import GabbardCNN, GWCNNBaseline
from gwkit.models.frontend import FrontEnd, FrontEndModel, frontend_arguments, with_frontend
from gwkit.models.resnet1d import ResNet1d
from gwkit.sim.recipe import NSAMPLES

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "FrontEnd",
    "FrontEndModel",
    "GWCNNBaseline",
    "GabbardCNN",
    "ResNet1d",
    "create_model",
    "list_models",
    "load_checkpoint",
    "model_spec",
    "save_checkpoint",
    "with_frontend",
]

CHECKPOINT_FORMAT = "gwkit.checkpoint"
CHECKPOINT_VERSION = 1
_RESERVED_KEYS = frozenset({"format", "version", "model", "state_dict"})
_MODEL_MODULES = (cnn, mfnet, resnet1d, spec2d)


def list_models(filter: str = "") -> list[str]:
    """Names of the gwkit models (those registered with timm from ``gwkit.models``).

    ``filter`` is a shell-style pattern such as ``"resnet1d_*"``.
    """
    modules = [m.__name__.rsplit(".", 1)[-1] for m in _MODEL_MODULES]
    return [
        name for name in timm.list_models(filter, module=modules)
        if model_entrypoint(name).__module__.startswith(f"{__name__}.")
    ]


def create_model(
    name: str, *, frontend: Mapping[str, Any] | None = None, **kwargs: Any
) -> nn.Module:
    """Build the gwkit model ``name``; keyword arguments go to its constructor.

    ``frontend=dict(sample_rate=..., highpass=..., lowpass=..., decimate=...)`` puts a
    :class:`FrontEnd` in front (the legacy names ``flow``/``fhigh`` of older
    checkpoints are read as ``highpass``/``lowpass``); ``input_length`` then means the raw input length
    and the model is sized for the front-end's output. The name and arguments are
    recorded on the model (``model.gwkit_spec``) for :func:`save_checkpoint`.
    """
    available = list_models()
    if name not in available:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available)}")
    if kwargs.get("pretrained"):
        raise ValueError(f"{name}: gwkit models have no pretrained weights")
    spec = {"name": name, "kwargs": copy.deepcopy(kwargs)}
    front = None
    if frontend is not None:
        if not isinstance(frontend, Mapping):
            raise ValueError(
                f"frontend must be a dict of FrontEnd arguments, got {type(frontend).__name__}"
            )
        if "input_length" in frontend:
            raise ValueError("pass input_length to create_model, not inside frontend=dict(...)")
        frontend = frontend_arguments(frontend)
        raw_length = kwargs.get("input_length", NSAMPLES)
        front = FrontEnd(**dict(frontend), input_length=raw_length)
        kwargs = dict(kwargs, input_length=front.output_length(raw_length))
        spec["kwargs"]["frontend"] = dict(frontend)
    model = timm.create_model(name, **kwargs)
    if hasattr(model, "portable_kwargs"):  # e.g. mfnet: its file's arrays are in the weights
        spec["kwargs"] = model.portable_kwargs(spec["kwargs"])
    if front is not None:
        model = with_frontend(model, front)
    model.gwkit_spec = spec
    return model


def _unwrap(model: nn.Module) -> nn.Module:
    model = getattr(model, "_orig_mod", model)  # torch.compile
    if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        model = model.module
    return model


def model_spec(model: nn.Module) -> dict[str, Any]:
    """``dict(name=..., kwargs=...)`` that :func:`create_model` rebuilds ``model`` from."""
    spec = getattr(_unwrap(model), "gwkit_spec", None)
    if spec is None:
        raise ValueError(
            f"{type(model).__name__} was not built by gwkit.models.create_model, "
            "so its name and arguments are unknown"
        )
    return copy.deepcopy(spec)


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
    state_dict = {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()}
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


def load_checkpoint(
    path: str | os.PathLike, map_location: Any = "cpu", *, input_length: int | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model saved by :func:`save_checkpoint`; returns ``(model, checkpoint)``.

    Loads with ``weights_only=True``. The model is in eval mode, on
    ``map_location`` when that is a device. With ``input_length`` (samples per
    detector of the data to score), a model built for another length is refused.
    Raises ``ValueError`` (one line naming the file) when it is not a gwkit
    checkpoint, names an unknown model, or cannot be rebuilt.
    """
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
    try:
        model = create_model(spec["name"], **spec["kwargs"])
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
