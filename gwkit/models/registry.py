"""Networks by name: every gwkit model registered with timm, built from (name, arguments).

:func:`create_model` builds a model and records its name and arguments on it
(``model.gwkit_spec``), which :mod:`gwkit.models.checkpoint` saves so that a
checkpoint rebuilds its model.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import timm
from timm.models import model_entrypoint
from torch import nn

from gwkit.models import cnn, mfnet, resnet1d, spec2d
from gwkit.models.frontend import FrontEnd, frontend_arguments, with_frontend
from gwkit.sim.recipe import NSAMPLES

__all__ = ["create_model", "list_models", "model_spec", "unwrap"]

_MODEL_MODULES = (cnn, mfnet, resnet1d, spec2d)


def list_models(filter: str = "") -> list[str]:
    """Names of the gwkit models (those registered with timm from ``gwkit.models``).

    ``filter`` is a shell-style pattern such as ``"resnet1d_*"``.
    """
    modules = [m.__name__.rsplit(".", 1)[-1] for m in _MODEL_MODULES]
    return [
        name for name in timm.list_models(filter, module=modules)
        if model_entrypoint(name).__module__.startswith("gwkit.models.")
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


def unwrap(model: nn.Module) -> nn.Module:
    model = getattr(model, "_orig_mod", model)  # torch.compile
    if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        model = model.module
    return model


def model_spec(model: nn.Module) -> dict[str, Any]:
    """``dict(name=..., kwargs=...)`` that :func:`create_model` rebuilds ``model`` from."""
    spec = getattr(unwrap(model), "gwkit_spec", None)
    if spec is None:
        raise ValueError(
            f"{type(model).__name__} was not built by gwkit.models.create_model, "
            "so its name and arguments are unknown"
        )
    return copy.deepcopy(spec)
