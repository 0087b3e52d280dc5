"""Optional input front-end: FFT-domain band-pass and decimation in front of any model.

One real FFT over the time axis, a gain mask (flat pass band, raised-cosine
edges ``transition`` Hz wide), and an inverse FFT onto ``nsamples // decimate``
points. Decimating this way is exact band-limited resampling; the mask's upper
edge is kept ``transition`` Hz below the new Nyquist frequency, so nothing
aliases. The FFT treats the segment as periodic: the competition's whitened,
windowed segments go to zero at the ends, so wrap-around is negligible.

Output length: ``nsamples // decimate`` (``nsamples`` must divide evenly); the
output sample rate is ``sample_rate / decimate``. Leading dimensions are kept,
so ``(B, C, L)`` and ``(B, 1, C, L)`` both work.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gwkit.sim.recipe import NSAMPLES, SAMPLE_RATE

__all__ = [
    "FrontEnd",
    "FrontEndModel",
    "LEGACY_ARGUMENTS",
    "bandpass_mask",
    "fft_bandpass",
    "frontend_arguments",
    "with_frontend",
]

#: Names :class:`FrontEnd` took before gwpy's vocabulary (``flow``/``fhigh`` now mean a
#: band of a spectrum, e.g. the PSD's cut-off); checkpoints and run configs written
#: with them still load through :func:`frontend_arguments`.
LEGACY_ARGUMENTS = {"flow": "highpass", "fhigh": "lowpass"}


def frontend_arguments(kwargs: dict) -> dict:
    """``kwargs`` of :class:`FrontEnd` with legacy names (``flow``, ``fhigh``) renamed.

    ValueError when a legacy name and its new name are both given.
    """
    out = dict(kwargs)
    for old, new in LEGACY_ARGUMENTS.items():
        if old in out:
            if new in out:
                raise ValueError(f"front-end arguments {old!r} and {new!r} name the same edge")
            out[new] = out.pop(old)
    return out


def _check_config(
    sample_rate: float, highpass: float | None, lowpass: float | None, decimate: int, transition: float
) -> None:
    if not sample_rate > 0:
        raise ValueError(f"sample_rate must be > 0 Hz, got {sample_rate}")
    if not isinstance(decimate, int) or decimate < 1:
        raise ValueError(f"decimate must be an integer >= 1, got {decimate!r}")
    if not transition > 0:
        raise ValueError(f"transition must be > 0 Hz, got {transition}")
    nyquist = sample_rate / decimate / 2
    if highpass is not None and not 0 <= highpass < nyquist:
        raise ValueError(f"highpass={highpass} Hz must lie in [0, {nyquist}) Hz (output Nyquist)")
    if lowpass is not None and not 0 < lowpass <= sample_rate / 2:
        raise ValueError(f"lowpass={lowpass} Hz must lie in (0, {sample_rate / 2}] Hz")
    upper = _upper_edge(sample_rate, lowpass, decimate, transition)
    if highpass is not None and upper is not None and not highpass < upper:
        raise ValueError(
            f"empty pass band: highpass={highpass} Hz is not below the upper edge {upper} Hz "
            f"(lowpass={lowpass}, decimate={decimate}, transition={transition})"
        )


def _upper_edge(
    sample_rate: float, lowpass: float | None, decimate: int, transition: float
) -> float | None:
    """Top of the flat pass band: ``lowpass``, lowered to leave room before the new Nyquist."""
    if decimate == 1:
        return lowpass
    anti_alias = sample_rate / decimate / 2 - transition
    return anti_alias if lowpass is None else min(lowpass, anti_alias)


def bandpass_mask(
    nsamples: int,
    sample_rate: float,
    *,
    highpass: float | None = None,
    lowpass: float | None = None,
    decimate: int = 1,
    transition: float = 5.0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Gain for the first ``nsamples // decimate // 2 + 1`` rfft bins of an ``nsamples`` segment.

    Gain is 1 in ``[highpass, lowpass]`` (Hz), 0 below ``highpass - transition`` and above
    ``lowpass + transition``, with raised-cosine edges. ``highpass=None``: no high-pass;
    ``lowpass=None``: no low-pass except the anti-alias edge when decimating.
    """
    _check_config(sample_rate, highpass, lowpass, decimate, transition)
    nbins = nsamples // decimate // 2 + 1
    freqs = torch.arange(nbins, dtype=torch.float64, device=device) * (sample_rate / nsamples)
    gain = torch.ones_like(freqs)
    if highpass is not None:
        ramp = ((freqs - (highpass - transition)) / transition).clamp(0, 1)
        gain = gain * 0.5 * (1 - torch.cos(math.pi * ramp))
    upper = _upper_edge(sample_rate, lowpass, decimate, transition)
    if upper is not None:
        ramp = ((upper + transition - freqs) / transition).clamp(0, 1)
        gain = gain * 0.5 * (1 - torch.cos(math.pi * ramp))
    return gain.float()


def fft_bandpass(
    x: torch.Tensor, mask: torch.Tensor, decimate: int = 1
) -> torch.Tensor:
    """Multiply the rfft of ``x`` by ``mask``; transform back onto ``nsamples // decimate`` points.

    ``x``: ``(..., nsamples)``; returns ``(..., nsamples // decimate)`` in ``x``'s dtype.
    """
    nsamples = x.shape[-1]
    if nsamples % decimate:
        raise ValueError(f"nsamples={nsamples} is not a multiple of decimate={decimate}")
    nout = nsamples // decimate
    spectrum = torch.fft.rfft(x.float(), dim=-1)[..., : nout // 2 + 1]
    if spectrum.shape[-1] != mask.shape[-1]:
        raise ValueError(f"mask has {mask.shape[-1]} bins, the data {spectrum.shape[-1]}")
    out = torch.fft.irfft(spectrum * mask, n=nout, dim=-1) / decimate
    return out.to(x.dtype)


class FrontEnd(nn.Module):
    """Band-pass and/or decimate strain along the last axis.

    Args:
        sample_rate: input sample rate in Hz.
        highpass: high-pass edge in Hz (``None``: none).
        lowpass: low-pass edge in Hz (``None``: none, except anti-aliasing).
        decimate: integer decimation factor; output rate ``sample_rate / decimate``.
        transition: width of the raised-cosine edges in Hz.
        input_length: samples the mask buffer is precomputed for; other lengths
            get a mask computed on the fly.

    Shapes: ``(..., L) -> (..., L // decimate)``.
    """

    def __init__(
        self,
        sample_rate: float = SAMPLE_RATE,
        *,
        highpass: float | None = None,
        lowpass: float | None = None,
        decimate: int = 1,
        transition: float = 5.0,
        input_length: int = NSAMPLES,
    ) -> None:
        super().__init__()
        _check_config(sample_rate, highpass, lowpass, decimate, transition)
        self.sample_rate = float(sample_rate)
        self.highpass = highpass
        self.lowpass = lowpass
        self.decimate = decimate
        self.transition = transition
        self.input_length = input_length
        self.output_length(input_length)
        self.register_buffer("mask", self._mask(input_length), persistent=False)

    def _mask(self, nsamples: int, device: torch.device | None = None) -> torch.Tensor:
        return bandpass_mask(
            nsamples, self.sample_rate, highpass=self.highpass, lowpass=self.lowpass,
            decimate=self.decimate, transition=self.transition, device=device,
        )

    @property
    def output_sample_rate(self) -> float:
        """Sample rate of the output in Hz."""
        return self.sample_rate / self.decimate

    def output_length(self, input_length: int) -> int:
        """Samples out for ``input_length`` samples in (``input_length // decimate``)."""
        if input_length < 1 or input_length % self.decimate:
            raise ValueError(
                f"input_length={input_length} must be a positive multiple of "
                f"decimate={self.decimate}"
            )
        return input_length // self.decimate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., L) -> (..., L // decimate)``."""
        nsamples = x.shape[-1]
        self.output_length(nsamples)
        mask = self.mask if nsamples == self.input_length else self._mask(nsamples, x.device)
        return fft_bandpass(x, mask, self.decimate)

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, highpass={self.highpass}, lowpass={self.lowpass}, "
            f"decimate={self.decimate}, transition={self.transition}"
        )


class FrontEndModel(nn.Module):
    """``model(frontend(x))`` with the timm interface of ``model`` passed through."""

    def __init__(self, frontend: FrontEnd, model: nn.Module) -> None:
        super().__init__()
        self.frontend = frontend
        self.model = model

    @property
    def num_classes(self) -> int:
        """Outputs of the wrapped model's classifier."""
        return self.model.num_classes

    def get_classifier(self) -> nn.Module:
        """The wrapped model's classifier."""
        return self.model.get_classifier()

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the wrapped model's classifier."""
        self.model.reset_classifier(num_classes, global_pool)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Front-end, then the model's features."""
        return self.model.forward_features(self.frontend(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """The model's head."""
        return self.model.forward_head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the model on the front-end's output."""
        return self.model(self.frontend(x))


def with_frontend(
    model: nn.Module, frontend: FrontEnd | None = None, **frontend_kwargs: float | int | None
) -> FrontEndModel:
    """Put a :class:`FrontEnd` (given, or built from ``frontend_kwargs``) in front of ``model``.

    The model must accept the front-end's output length: models with an
    ``input_length`` argument need ``frontend.output_length(L)``.
    :func:`gwkit.models.create_model` with ``frontend=dict(...)`` does that for you.
    """
    if frontend is None:
        frontend = FrontEnd(**frontend_kwargs)
    elif frontend_kwargs:
        raise ValueError("pass either a FrontEnd or its keyword arguments, not both")
    return FrontEndModel(frontend, model)
