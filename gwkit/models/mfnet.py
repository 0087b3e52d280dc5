"""A matched-filter network: the filter bank's log Bayes factor as a trainable model.

``mfnet`` is :class:`gwkit.sim.mf_features.MatchedFilter`'s ``lse_time`` (the
template- and merger-time-marginalised likelihood ratio, ``mf_lse_time``)
written as layers whose numbers are parameters (Yan et al. 2022, PRD 105
043006: a network initialised as the template bank, then trained):

1. correlate channel 0 with the bank's ``r`` SVD basis filters (fixed
   buffers: rfft, product, inverse FFT on the 1024 Hz grid, merger window);
2. template SNR series ``z = C z_B`` with the template coefficients ``C``
   (K x r complex, **trainable**: training may move the templates);
3. per template and time ``g(|z|^2)``, with ``g(y) = (1/2 + a_3) y + a_1
   log(1 + y) + a_2 sqrt(y)``. At ``a = 0`` it is the phase- and
   amplitude-maximised ``|z|^2 / 2``; marginalising the amplitude over a prior
   instead gives ``|z|^2 / 2 - log|z|`` for loud rows and a smaller slope
   for faint ones, which ``a`` can learn;
4. ``logsumexp`` over templates and time with the trainable log prior weights
   ``log w_k`` and ``log p(t)``, then ``scale * lse + bias``.

At initialisation (``a = 0``, scale 1, bias 0) the output equals
``MatchedFilter(bank).forward(x)["lse_time"]``: training starts at the Bayes
factor. The bank's arrays live in the state dict, so a checkpoint loads with
``weights_only=True`` and without the filter-bank file or LALSuite; the
checkpoint's spec records the bank's sizes (``geometry``), not its path.
Competition mode only (channel 0).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from timm.models import generate_default_cfgs, register_model
from torch import nn

from gwkit.models.layers import as_channels_first, build_timm_model, model_cfg
from gwkit.sim.mf_features import FilterBank, MatchedFilter, basis_series
from gwkit.sim.recipe import NSAMPLES

__all__ = ["MatchedFilterNet"]

GEOMETRY_KEYS = ("templates", "rank", "nbins", "nout", "window")


class MatchedFilterNet(nn.Module):
    """The log Bayes factor of a filter bank, trainable (see the module docstring).

    Args:
        filter_bank: a :class:`gwkit.sim.mf_features.FilterBank` file; or None
            with ``geometry`` (sizes only: the arrays come from a state dict).
        geometry: ``{templates, rank, nbins, nout, window}`` of the bank.
        train_templates: whether the template coefficients ``C`` train.
        in_chans, num_classes, input_length: the timm interface (one logit,
            ``input_length`` = the bank's ``nsamples``).
    """

    def __init__(self, filter_bank: str | os.PathLike | None = None, *,
                 geometry: dict[str, int] | None = None, train_templates: bool = True,
                 in_chans: int = 2, num_classes: int = 1, input_length: int = NSAMPLES,
                 **kwargs: Any) -> None:
        super().__init__()
        kwargs.pop("pretrained_cfg", None)
        kwargs.pop("pretrained_cfg_overlay", None)
        if kwargs:
            raise ValueError(f"mfnet: unknown arguments {sorted(kwargs)}")
        if num_classes != 1:
            raise ValueError(f"mfnet scores one logit (num_classes=1), got {num_classes}")
        if (filter_bank is None) == (geometry is None):
            raise ValueError("mfnet needs exactly one of filter_bank (a file) and geometry")
        self.in_chans, self.num_classes, self.input_length = in_chans, 1, input_length
        if filter_bank is not None:
            bank = FilterBank.load(filter_bank)
            if bank.nsamples != input_length:
                raise ValueError(f"{filter_bank}: filters of {bank.nsamples} samples, the model "
                                 f"takes {input_length}")
            mf = MatchedFilter(bank, mode="competition")
            coefficients = mf.coefficients if mf.coefficients is not None else torch.eye(
                bank.rank, dtype=torch.complex64)
            arrays = dict(basis=mf.basis, coefficients=coefficients, window=mf.window,
                          log_weight=mf.log_weight, log_time_prior=mf.log_time_prior)
            geometry = dict(templates=len(bank), rank=bank.rank, nbins=mf.nbins, nout=mf.nout,
                            window=int(mf.window.numel()))
        else:
            missing = [k for k in GEOMETRY_KEYS if k not in geometry]
            if missing:
                raise ValueError(f"mfnet geometry lacks {missing}")
            k, r, m, w = (int(geometry[key]) for key in ("templates", "rank", "nbins", "window"))
            arrays = dict(basis=torch.zeros(r, m, dtype=torch.complex64),
                          coefficients=torch.zeros(k, r, dtype=torch.complex64),
                          window=torch.zeros(w, dtype=torch.int64),
                          log_weight=torch.zeros(k), log_time_prior=torch.zeros(w))
        self.geometry = {key: int(geometry[key]) for key in GEOMETRY_KEYS}
        # complex arrays stored as real (..., 2) views: plain float tensors in every checkpoint
        self.register_buffer("basis", torch.view_as_real(arrays["basis"].clone()))
        self.register_buffer("window", arrays["window"].clone())
        self.coefficients = nn.Parameter(torch.view_as_real(arrays["coefficients"].clone()),
                                         requires_grad=train_templates)
        self.log_weight = nn.Parameter(arrays["log_weight"].clone().float())
        self.log_time_prior = nn.Parameter(arrays["log_time_prior"].clone().float())
        self.amplitude = nn.Parameter(torch.zeros(3))  # a_1 log1p(y), a_2 sqrt(y), a_3 y
        self.scale = nn.Parameter(torch.ones(()))
        self.bias = nn.Parameter(torch.zeros(()))

    def portable_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Constructor arguments that rebuild this model without the filter-bank file."""
        kwargs = {k: v for k, v in kwargs.items() if k != "filter_bank"}
        return dict(kwargs, geometry=dict(self.geometry))

    def get_classifier(self) -> nn.Module:
        """No classifier layer: the statistic is the output (timm interface)."""
        return nn.Identity()

    def snr_series(self, x: torch.Tensor) -> torch.Tensor:
        """``|z|^2`` of every template over the merger window: (B, K, W)."""
        x = as_channels_first(x, self.in_chans)[:, 0].float()
        if x.shape[-1] != self.input_length:
            raise ValueError(f"mfnet takes {self.input_length} samples, got {x.shape[-1]}")
        zb = basis_series(x, torch.view_as_complex(self.basis), self.geometry["nout"],
                          self.window)  # (B, r, W)
        z = torch.matmul(torch.view_as_complex(self.coefficients), zb)  # (B, K, W)
        return z.real**2 + z.imag**2

    def log_bayes_factor(self, x: torch.Tensor) -> torch.Tensor:
        """``log sum_k w_k sum_t p(t) exp(g(|z_k(t)|^2))``: (B,)."""
        y = self.snr_series(x)
        a1, a2, a3 = self.amplitude
        g = (0.5 + a3) * y + a1 * torch.log1p(y) + a2 * torch.sqrt(y + 1e-12)
        per_template = torch.logsumexp(g + self.log_time_prior, dim=-1)
        return torch.logsumexp(per_template + self.log_weight, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.scale * self.log_bayes_factor(x) + self.bias)[:, None]


default_cfgs = generate_default_cfgs({"mfnet.gwkit": model_cfg(first_conv="basis",
                                                               classifier="bias")})


@register_model
def mfnet(pretrained: bool = False, **kwargs: Any) -> MatchedFilterNet:
    """The filter bank's log Bayes factor, trainable (``filter_bank=`` a FilterBank file)."""
    return build_timm_model(MatchedFilterNet, "mfnet", pretrained, **kwargs)
