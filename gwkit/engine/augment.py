"""Training augmentations for whitened two-detector strain, batched in torch.

Every function works on a batch ``x`` of shape ``(batch, channel, time)`` (the
competition's ``(B, 2, 16384)`` at 8192 Hz, channels H1, L1), returns new tensors
and never modifies its input. Randomness comes only from the ``torch.Generator``
passed in (on the same device as ``x``); the global RNG is never used.

The pieces:

- ``time_shift`` / ``random_time_shift``: move each sample's content along time
  by a whole number of samples, the merger kept inside a placement range.
- ``detector_shift``: move channel 1 relative to channel 0 (physical mode only).
- ``swap_detectors``: exchange channels 0 and 1 (physical mode only).
- ``flip_sign``: multiply a sample by -1 (both modes).
- ``AugmentConfig`` + ``Augment``: all of them with one probability each.

Taper handling (time and detector shifts)
-----------------------------------------
The competition whitens ``tukey(alpha=1/8) * strain``, so whitened noise has an
envelope: std ~1 over the flat core and tapered over the first and last
~1024 samples (the Tukey taper of 16384 samples is ``alpha * N / 2 = 1024``
samples long; rms ~0.16 at the very ends, where whitening wraps around). A plain
``torch.roll`` would carry that taper into the middle of the window and bring
full-variance noise to the ends, which a network can learn.

These shifts therefore roll only the **core** ``[edge_nsamples, N -
edge_nsamples)`` circularly within itself and leave the ``edge_nsamples``
samples at each end bit-for-bit unchanged, so the taper profile stays exactly
where it was. This is sound because whitened noise in the core is white (the
lag-1 correlation is ~-0.002, from the band below 10 Hz that whitening zeroes):
splicing it at the core's ends and at the wrap point gives a series with the
same statistics, and no window model is needed. The alternative, rolling
everything and multiplying by ``envelope(t) / envelope(t - shift)``, divides by
a taper that is near zero, amplifies noise up to ~6x, and depends on an envelope
model that is not the Tukey window itself (the whitened envelope never reaches 0).

Signals stay whole as long as they stay inside the core: a competition signal
is cut to ``[3823, 12561)`` (the central Tukey window of 8738 samples), and the
largest shift that keeps its peak in ``[10240, 11878)`` is 1637 samples, so the
shifted signal lies in ``[2186, 14198)``, inside the default core
``[1024, 15360)``. What a fixed-set shift cannot reproduce is that the signal's
own central cut moves with it (by at most 1637 samples, where the inspiral is
weakest).

Where the engine simulates samples on the fly it should not use
``time_shift``: it draws the merger placement itself, before windowing and
whitening, which is exact. The time shift is for fixed sets (pre-generated
blocks, the course's ``.sav`` files).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from gwkit.sim.recipe import EDGE_NSAMPLES, PEAK_RANGE, SAMPLE_RATE

__all__ = [
    "Augment",
    "AugmentConfig",
    "detector_shift",
    "flip_sign",
    "random_time_shift",
    "sample_detector_shift",
    "sample_mask",
    "sample_time_shift",
    "swap_detectors",
    "time_shift",
]

# The shifts leave EDGE_NSAMPLES samples at each end untouched (the whitening window's
# taper) and keep the merger in PEAK_RANGE: both from gwkit.sim.recipe.


# ---------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------


def _check_batch(x: Tensor, *, nchannels: int | None = None) -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 3:
        raise ValueError(f"x must have shape (batch, channel, time), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if nchannels is not None and x.shape[1] != nchannels:
        raise ValueError(f"x must have {nchannels} channels, got {x.shape[1]}")


def _check_probability(name: str, p: float) -> None:
    if not (isinstance(p, (int, float)) and 0.0 <= p <= 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")


def _check_generator(generator: torch.Generator, device: torch.device) -> None:
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    gdev = generator.device
    same = gdev.type == device.type and (
        gdev.index is None or device.index is None or gdev.index == device.index
    )
    if not same:
        raise ValueError(f"generator is on {gdev} but x is on {device}; they must match")


def _check_peak_range(peak_range: tuple[int, int]) -> tuple[int, int]:
    try:
        lo, hi = (int(v) for v in peak_range)
    except (TypeError, ValueError):
        raise ValueError(f"peak_range must be two integers (lo, hi), got {peak_range!r}") from None
    if not 0 <= lo < hi:
        raise ValueError(f"peak_range must satisfy 0 <= lo < hi (samples), got {peak_range!r}")
    return lo, hi


def _check_peak_index(peak_index: Tensor, batch_size: int) -> None:
    if not isinstance(peak_index, Tensor) or peak_index.shape != (batch_size,):
        shape = tuple(peak_index.shape) if isinstance(peak_index, Tensor) else type(peak_index)
        raise ValueError(f"peak_index must be a tensor of shape ({batch_size},), got {shape}")
    if peak_index.is_floating_point() or peak_index.is_complex() or peak_index.dtype == torch.bool:
        raise ValueError(f"peak_index must have an integer dtype, got {peak_index.dtype}")


def _core_bounds(nsamples: int, edge_nsamples: int) -> tuple[int, int]:
    if edge_nsamples < 0:
        raise ValueError(f"edge_nsamples must be >= 0, got {edge_nsamples}")
    if nsamples - 2 * edge_nsamples <= 0:
        raise ValueError(
            f"edge_nsamples={edge_nsamples} leaves no core in {nsamples} samples "
            f"(need 2 * edge_nsamples < nsamples)"
        )
    return edge_nsamples, nsamples - edge_nsamples


def _check_range_in_core(peak_range: tuple[int, int], nsamples: int, edge_nsamples: int) -> None:
    lo, hi = _check_peak_range(peak_range)
    start, stop = _core_bounds(nsamples, edge_nsamples)
    if lo < start or hi > stop:
        raise ValueError(
            f"peak_range {tuple(peak_range)} must lie inside the shifted core "
            f"[{start}, {stop}) samples (edge_nsamples={edge_nsamples}, nsamples={nsamples})"
        )


# ---------------------------------------------------------------------------
# Deterministic transforms
# ---------------------------------------------------------------------------


def time_shift(x: Tensor, shift: Tensor | int, *, edge_nsamples: int = EDGE_NSAMPLES) -> Tensor:
    """Shift each sample's content later in time by ``shift`` samples.

    Only the core ``[edge_nsamples, N - edge_nsamples)`` moves, circularly within
    itself (content pushed past one end of the core re-enters at the other); the
    ``edge_nsamples`` samples at each end, where the whitened data is tapered,
    are copied unchanged (see the module docstring for why).

    Args:
        x: batch, shape ``(batch, channel, time)``.
        shift: integer shift in samples (positive = later): an int, shape
            ``(batch,)`` (same shift for every channel) or ``(batch, channel)``.
        edge_nsamples: samples at each end left untouched.

    Returns:
        New tensor, same shape, dtype and device as ``x``; a feature at core index
        ``t`` moves to ``t + shift`` (wrapped within the core).
    """
    _check_batch(x)
    nbatch, nchannels, nsamples = x.shape
    start, stop = _core_bounds(nsamples, edge_nsamples)
    shift = torch.as_tensor(shift, device=x.device)
    if shift.is_floating_point() or shift.is_complex() or shift.dtype == torch.bool:
        raise ValueError(f"shift must be an integer number of samples, got dtype {shift.dtype}")
    if shift.ndim == 0:
        shift = shift.expand(nbatch, nchannels)
    elif shift.shape == (nbatch,):
        shift = shift[:, None].expand(nbatch, nchannels)
    elif shift.shape != (nbatch, nchannels):
        raise ValueError(
            f"shift must be a scalar, shape ({nbatch},) or ({nbatch}, {nchannels}); "
            f"got shape {tuple(shift.shape)}"
        )
    ncore = stop - start
    t = torch.arange(ncore, device=x.device)
    source = torch.remainder(t - shift.long()[..., None], ncore)  # (batch, channel, ncore)
    core = x[..., start:stop].gather(-1, source)
    return torch.cat([x[..., :start], core, x[..., stop:]], dim=-1)


def detector_shift(x: Tensor, shift: Tensor | int, *, edge_nsamples: int = EDGE_NSAMPLES) -> Tensor:
    """Shift channel 1 relative to channel 0 by ``shift`` samples (positive = later).

    Meaningful only in physical mode, where both channels carry the signal; the
    taper is kept in place as in :func:`time_shift`. ``shift`` is an int or has
    shape ``(batch,)``; channel 0 is copied unchanged.
    """
    _check_batch(x, nchannels=2)
    shift = torch.as_tensor(shift, device=x.device)
    if shift.ndim == 0:
        shift = shift.expand(x.shape[0])
    if shift.shape != (x.shape[0],):
        raise ValueError(
            f"shift must be a scalar or shape ({x.shape[0]},), got shape {tuple(shift.shape)}"
        )
    per_channel = torch.stack([torch.zeros_like(shift), shift], dim=1)
    return time_shift(x, per_channel, edge_nsamples=edge_nsamples)


def swap_detectors(x: Tensor, mask: Tensor) -> Tensor:
    """Exchange channels 0 and 1 of the samples where ``mask`` (shape ``(batch,)``) is True.

    Valid only in physical mode (both channels carry the signal, same PSD).
    Warning: in competition mode only channel 0 carries the signal and channel 1
    is pure noise, so a swap moves the signal to the channel where test data
    never has one; do not use it there.
    """
    _check_batch(x, nchannels=2)
    mask = _check_mask(mask, x)
    return torch.where(mask[:, None, None], x.flip(1), x)


def flip_sign(x: Tensor, mask: Tensor) -> Tensor:
    """Multiply the samples where ``mask`` (shape ``(batch,)``) is True by -1, all channels.

    Valid in both modes: the Gaussian noise is symmetric, and for IMRPhenomD's
    (2,2) mode ``-h`` is the same source with orbital coalescence phase shifted
    by pi/2 (the mode's phase by pi), equivalently polarisation angle shifted by
    pi/2; both angles are uniform, so the signal distribution is unchanged.
    """
    _check_batch(x)
    mask = _check_mask(mask, x)
    return torch.where(mask[:, None, None], -x, x)


def _check_mask(mask: Tensor, x: Tensor) -> Tensor:
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        raise ValueError("mask must be a boolean tensor of shape (batch,)")
    if mask.shape != (x.shape[0],):
        raise ValueError(f"mask must have shape ({x.shape[0]},), got {tuple(mask.shape)}")
    return mask.to(x.device)


# ---------------------------------------------------------------------------
# Random draws
# ---------------------------------------------------------------------------


def sample_mask(generator: torch.Generator, batch_size: int, p: float) -> Tensor:
    """Draw a boolean mask of shape ``(batch_size,)``, each entry True with probability ``p``.

    Drawn on ``generator.device``; with ``p == 0`` nothing is drawn from the generator.
    """
    _check_probability("p", p)
    device = generator.device
    if p == 0.0:
        return torch.zeros(batch_size, dtype=torch.bool, device=device)
    return torch.rand(batch_size, generator=generator, device=device) < p


def sample_time_shift(
    generator: torch.Generator,
    batch_size: int,
    peak_index: Tensor | None = None,
    *,
    peak_range: tuple[int, int] = PEAK_RANGE,
    p: float = 1.0,
) -> tuple[Tensor, Tensor | None]:
    """Draw per-sample time shifts (samples) that keep the merger inside ``peak_range``.

    Each selected sample (probability ``p``) gets a new merger index drawn
    uniformly from ``[lo, hi)`` (the competition's placement distribution) and
    is shifted by ``new - peak_index``. Noise-only samples (``peak_index`` None,
    or entries < 0) are shifted as if their merger sat at a uniform point of the
    range, so their shifts have the same distribution as those of signal samples
    placed like the competition's (any shift is fine for noise).

    Args:
        generator: source of randomness; draws land on ``generator.device``.
        batch_size: number of samples.
        peak_index: merger index per sample, shape ``(batch_size,)``, integer
            dtype; negative entries mark noise-only samples. None: all noise.
        peak_range: allowed merger indices ``[lo, hi)``, in samples.
        p: probability that a sample is shifted; unselected samples get 0.

    Returns:
        ``(shift, new_peak_index)``: ``shift`` int64 of shape ``(batch_size,)``;
        ``new_peak_index`` like ``peak_index`` (noise entries unchanged), or None
        when ``peak_index`` is None.
    """
    _check_probability("p", p)
    lo, hi = _check_peak_range(peak_range)
    device = generator.device
    if peak_index is None:
        peak = torch.full((batch_size,), -1, dtype=torch.long, device=device)
    else:
        _check_peak_index(peak_index, batch_size)
        peak = peak_index.to(device=device, dtype=torch.long)
    if p == 0.0:
        shift = torch.zeros(batch_size, dtype=torch.long, device=device)
        return shift, (None if peak_index is None else peak_index.clone())
    apply = sample_mask(generator, batch_size, p)
    new_peak = torch.randint(lo, hi, (batch_size,), generator=generator, device=device)
    virtual_peak = torch.randint(lo, hi, (batch_size,), generator=generator, device=device)
    is_signal = peak >= 0
    shift = new_peak - torch.where(is_signal, peak, virtual_peak)
    shift = torch.where(apply, shift, torch.zeros_like(shift))
    if peak_index is None:
        return shift, None
    moved = torch.where(is_signal, peak + shift, peak)
    return shift, moved.to(device=peak_index.device, dtype=peak_index.dtype)


def sample_detector_shift(
    generator: torch.Generator, batch_size: int, max_shift_nsamples: int, *, p: float = 1.0
) -> Tensor:
    """Draw per-sample relative detector shifts, uniform in ``[-max, max]`` samples.

    Selected with probability ``p``; unselected samples get 0. Returns int64 of
    shape ``(batch_size,)`` on ``generator.device``.
    """
    _check_probability("p", p)
    if max_shift_nsamples < 0:
        raise ValueError(f"max_shift_nsamples must be >= 0, got {max_shift_nsamples}")
    device = generator.device
    if p == 0.0 or max_shift_nsamples == 0:
        return torch.zeros(batch_size, dtype=torch.long, device=device)
    apply = sample_mask(generator, batch_size, p)
    m = int(max_shift_nsamples)
    shift = torch.randint(-m, m + 1, (batch_size,), generator=generator, device=device)
    return torch.where(apply, shift, torch.zeros_like(shift))


def random_time_shift(
    x: Tensor,
    generator: torch.Generator,
    peak_index: Tensor | None = None,
    *,
    p: float = 1.0,
    peak_range: tuple[int, int] = PEAK_RANGE,
    edge_nsamples: int = EDGE_NSAMPLES,
) -> tuple[Tensor, Tensor | None]:
    """Randomly time-shift each sample, keeping the merger inside ``peak_range``.

    :func:`sample_time_shift` then :func:`time_shift`. ``peak_range`` must lie
    inside the shifted core ``[edge_nsamples, N - edge_nsamples)``. Returns
    ``(x_new, new_peak_index)``.
    """
    _check_batch(x)
    _check_generator(generator, x.device)
    _check_range_in_core(peak_range, x.shape[-1], edge_nsamples)
    shift, new_peak = sample_time_shift(
        generator, x.shape[0], peak_index, peak_range=peak_range, p=p
    )
    return time_shift(x, shift, edge_nsamples=edge_nsamples), new_peak


# ---------------------------------------------------------------------------
# Configured pipeline
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the training augmentations (0 disables one).

    Competition mode (only channel 0 carries the signal, channel 1 is pure
    noise) must keep ``swap_p = 0``: a swap moves the signal into channel 1,
    where the test data never has one. ``detector_shift_p`` is harmless there
    but pointless (it only moves channel 1's noise); set it to 0 as well.
    """

    time_shift_p: float = 0.0  # probability of a time shift per sample
    time_shift_range: tuple[int, int] = PEAK_RANGE  # allowed merger index [lo, hi), samples
    detector_shift_p: float = 0.0  # probability of a channel-1 shift (physical mode only)
    max_detector_shift_s: float = 0.010  # largest channel-1 shift, seconds
    swap_p: float = 0.0  # probability of exchanging channels 0 and 1 (physical mode only)
    sign_flip_p: float = 0.0  # probability of multiplying a sample by -1
    sample_rate: float = SAMPLE_RATE  # Hz
    edge_nsamples: int = EDGE_NSAMPLES  # tapered samples at each end left unchanged by shifts

    def __post_init__(self) -> None:
        for name in ("time_shift_p", "detector_shift_p", "swap_p", "sign_flip_p"):
            _check_probability(name, getattr(self, name))
        # YAML gives lists; store a tuple so the config stays hashable.
        object.__setattr__(self, "time_shift_range", _check_peak_range(self.time_shift_range))
        if not (self.max_detector_shift_s >= 0 and math.isfinite(self.max_detector_shift_s)):
            raise ValueError(
                f"max_detector_shift_s must be a finite number >= 0 (seconds), "
                f"got {self.max_detector_shift_s!r}"
            )
        if not self.sample_rate > 0:
            raise ValueError(f"sample_rate must be > 0 (Hz), got {self.sample_rate!r}")
        if self.edge_nsamples < 0:
            raise ValueError(f"edge_nsamples must be >= 0, got {self.edge_nsamples}")

    @property
    def max_detector_shift_nsamples(self) -> int:
        """Largest relative detector shift in whole samples (rounded down: 81 at defaults)."""
        return math.floor(self.max_detector_shift_s * self.sample_rate + 1e-9)


class Augment:
    """Apply the configured augmentations to a training batch.

    Order: time shift and detector shift (one gather), detector swap, sign flip;
    each decided per sample with its own probability. Validation batches are
    simply not passed through it.

    Warning: ``swap_p`` and ``detector_shift_p`` are for physical mode only. In
    competition mode only channel 0 carries the signal (channel 1 is pure noise),
    so a swap puts the signal in the wrong channel (and a detector shift only
    moves noise); keep both at 0 there.

    Example::

        augment = Augment(AugmentConfig(time_shift_p=0.5, sign_flip_p=0.5))
        g = torch.Generator(device=x.device).manual_seed(0)
        x_aug, peak_aug = augment(x, g, peak_index)
    """

    def __init__(self, config: AugmentConfig) -> None:
        if not isinstance(config, AugmentConfig):
            raise ValueError(f"config must be an AugmentConfig, got {type(config).__name__}")
        self.config = config

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    def __call__(
        self, x: Tensor, generator: torch.Generator, peak_index: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Augment ``x`` of shape ``(batch, channel, time)``.

        Args:
            x: batch; not modified, never aliased by the output.
            generator: all randomness; must be on ``x``'s device.
            peak_index: merger index per sample (samples, referred to channel 0),
                shape ``(batch,)``, integer; entries < 0 (or None) mean noise-only.

        Returns:
            ``(x_new, peak_index_new)``: the merger index follows the time shift
            (the detector shift, swap and sign flip leave it unchanged); None if
            ``peak_index`` is None.
        """
        cfg = self.config
        _check_batch(x)
        _check_generator(generator, x.device)
        nbatch, nchannels, nsamples = x.shape
        if (cfg.detector_shift_p > 0 or cfg.swap_p > 0) and nchannels != 2:
            raise ValueError(
                f"detector shift and swap need 2 channels, got {nchannels}; set "
                f"detector_shift_p and swap_p to 0"
            )
        if peak_index is not None:
            _check_peak_index(peak_index, nbatch)
        out = x
        shift = torch.zeros(nbatch, nchannels, dtype=torch.long, device=x.device)
        new_peak = None if peak_index is None else peak_index.clone()
        if cfg.time_shift_p > 0:
            _check_range_in_core(cfg.time_shift_range, nsamples, cfg.edge_nsamples)
            time, new_peak = sample_time_shift(
                generator, nbatch, peak_index, peak_range=cfg.time_shift_range, p=cfg.time_shift_p
            )
            shift = shift + time[:, None]
        if cfg.detector_shift_p > 0:
            relative = sample_detector_shift(
                generator, nbatch, cfg.max_detector_shift_nsamples, p=cfg.detector_shift_p
            )
            shift = shift + torch.stack([torch.zeros_like(relative), relative], dim=1)
        if cfg.time_shift_p > 0 or cfg.detector_shift_p > 0:
            out = time_shift(out, shift, edge_nsamples=cfg.edge_nsamples)
        if cfg.swap_p > 0:
            out = swap_detectors(out, sample_mask(generator, nbatch, cfg.swap_p))
        if cfg.sign_flip_p > 0:
            out = flip_sign(out, sample_mask(generator, nbatch, cfg.sign_flip_p))
        if out is x:
            out = x.clone()
        return out, new_peak
