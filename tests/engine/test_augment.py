"""Tests for gwkit.engine.augment (CPU; a CUDA smoke test runs when a GPU is present)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from scipy.signal.windows import tukey

from gwkit.engine.augment import (
    Augment,
    AugmentConfig,
    detector_shift,
    flip_sign,
    random_time_shift,
    sample_detector_shift,
    sample_mask,
    sample_time_shift,
    swap_detectors,
    time_shift,
)
from gwkit.sim.recipe import EDGE_NSAMPLES, PEAK_RANGE

NSAMPLES = 16384
SAMPLE_RATE = 8192
ALL_ON = AugmentConfig(time_shift_p=1.0, detector_shift_p=1.0, swap_p=0.5, sign_flip_p=0.5)


def gen(seed: int = 0, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def random_batch(nbatch: int = 8, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """White noise batch and merger indices inside the placement range (one noise sample)."""
    g = gen(seed)
    x = torch.randn(nbatch, 2, NSAMPLES, generator=g)
    peak = torch.randint(*PEAK_RANGE, (nbatch,), generator=g)
    peak[0] = -1
    return x, peak


def whitened_noise(nbatch: int, seed: int = 0) -> torch.Tensor:
    """Noise made like the competition's: coloured, Tukey(1/8)-windowed, whitened.

    Uses a toy PSD (steep low-frequency wall, zero below 10 Hz) instead of the
    LALSuite design curve; the taper profile has the same shape.
    """
    g = gen(seed)
    duration = NSAMPLES / SAMPLE_RATE
    df = 1.0 / duration
    f = torch.arange(NSAMPLES // 2 + 1, dtype=torch.float64) * df
    psd = torch.where(f >= 10, (f.clamp(min=10) / 20) ** -8 + 1 + (f / 500) ** 2, 0.0)
    std = (duration * psd / 4).sqrt()
    spec = (
        torch.complex(
            torch.randn(nbatch, 2, f.numel(), generator=g, dtype=torch.float64),
            torch.randn(nbatch, 2, f.numel(), generator=g, dtype=torch.float64),
        )
        * std
    )
    spec[..., 0] = 0
    noise = NSAMPLES * torch.fft.irfft(spec, n=NSAMPLES) * df
    window = torch.from_numpy(tukey(NSAMPLES, 1 / 8))
    white = torch.where(psd > 0, (2 / (SAMPLE_RATE * psd)).sqrt(), 0.0)
    spec = torch.fft.rfft(noise * window) * white
    spec[..., 0] = 0
    return torch.fft.irfft(spec, n=NSAMPLES).float()


def block_std(x: torch.Tensor, block: int = 256) -> torch.Tensor:
    """Std over batch, channels and ``block`` consecutive samples: the taper profile."""
    blocks = x.reshape(x.shape[0], x.shape[1], -1, block)
    return blocks.transpose(1, 2).reshape(x.shape[0], -1, 2 * block).std(dim=(0, 2))


# ---------------------------------------------------------------------------
# Augment: contract
# ---------------------------------------------------------------------------


def test_input_never_modified_and_not_aliased():
    x, peak = random_batch()
    x0, peak0 = x.clone(), peak.clone()
    for config in (ALL_ON, AugmentConfig()):
        out, new_peak = Augment(config)(x, gen(3), peak)
        assert torch.equal(x, x0) and torch.equal(peak, peak0)
        assert out.data_ptr() != x.data_ptr()
        assert new_peak.data_ptr() != peak.data_ptr()


def test_same_seed_same_output_different_seed_differs():
    x, peak = random_batch()
    augment = Augment(ALL_ON)
    a, pa = augment(x, gen(7), peak)
    b, pb = augment(x, gen(7), peak)
    c, pc = augment(x, gen(8), peak)
    assert torch.equal(a, b) and torch.equal(pa, pb)
    assert not torch.equal(a, c)
    assert not torch.equal(pa, pc)


def test_global_rng_untouched():
    x, peak = random_batch()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    Augment(ALL_ON)(x, gen(0), peak)
    assert torch.equal(torch.rand(3), expected)


def test_p_zero_is_identity():
    x, peak = random_batch()
    out, new_peak = Augment(AugmentConfig())(x, gen(0), peak)
    assert torch.equal(out, x) and torch.equal(new_peak, peak)
    out, new_peak = Augment(AugmentConfig())(x, gen(0), None)
    assert torch.equal(out, x) and new_peak is None


def test_sign_flip_p1_negates_all():
    x, peak = random_batch()
    out, new_peak = Augment(AugmentConfig(sign_flip_p=1.0))(x, gen(0), peak)
    assert torch.equal(out, -x)
    assert torch.equal(new_peak, peak)


def test_swap_p1_swaps_channels_exactly():
    x, peak = random_batch()
    out, new_peak = Augment(AugmentConfig(swap_p=1.0))(x, gen(0), peak)
    assert torch.equal(out[:, 0], x[:, 1]) and torch.equal(out[:, 1], x[:, 0])
    assert torch.equal(new_peak, peak)


def test_partial_probability_mixes_within_batch():
    x, _ = random_batch(nbatch=64)
    out, _ = Augment(AugmentConfig(sign_flip_p=0.5))(x, gen(0))
    flipped = (out == -x).all(dim=(1, 2))
    kept = (out == x).all(dim=(1, 2))
    assert torch.all(flipped ^ kept)
    assert 10 < int(flipped.sum()) < 54


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_dtype_and_device_preserved(dtype):
    x, peak = random_batch()
    x = x.to(dtype)
    out, new_peak = Augment(ALL_ON)(x, gen(0), peak)
    assert out.dtype == dtype and out.device == x.device and out.shape == x.shape
    assert new_peak.dtype == peak.dtype and new_peak.device == peak.device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_contract():
    x, peak = random_batch()
    x, peak = x.cuda(), peak.cuda()
    x0 = x.clone()
    a, pa = Augment(ALL_ON)(x, gen(5, "cuda"), peak)
    b, pb = Augment(ALL_ON)(x, gen(5, "cuda"), peak)
    assert a.is_cuda and pa.is_cuda and torch.equal(x, x0)
    assert torch.equal(a, b) and torch.equal(pa, pb)
    assert ((pa[1:] >= PEAK_RANGE[0]) & (pa[1:] < PEAK_RANGE[1])).all()


def test_generator_on_wrong_device_rejected():
    x, _ = random_batch()
    with pytest.raises(ValueError, match="generator is on"):
        Augment(ALL_ON)(x.to("meta"), gen(0))


# ---------------------------------------------------------------------------
# Time shift
# ---------------------------------------------------------------------------


def test_time_shift_keeps_peak_in_range_over_many_draws():
    nbatch = 20000
    g = gen(11)
    # Current mergers anywhere in the core, some noise-only samples.
    peak = torch.randint(3000, 13000, (nbatch,), generator=g)
    peak[::7] = -1
    shift, new_peak = sample_time_shift(gen(12), nbatch, peak)
    signal = peak >= 0
    assert torch.equal(new_peak[~signal], peak[~signal])
    assert torch.equal(new_peak[signal], peak[signal] + shift[signal])
    lo, hi = PEAK_RANGE
    assert new_peak[signal].min() >= lo and new_peak[signal].max() < hi
    # New placement is uniform over the range: both ends are reached.
    assert new_peak[signal].min() < lo + 50 and new_peak[signal].max() > hi - 50
    # Noise shifts look like signal shifts between uniform placements.
    assert shift[~signal].abs().max() <= hi - lo - 1


def test_time_shift_moves_delta_by_exactly_the_drawn_shift():
    nbatch = 32
    peak = torch.randint(*PEAK_RANGE, (nbatch,), generator=gen(4))
    x = torch.zeros(nbatch, 2, NSAMPLES)
    x[torch.arange(nbatch), :, peak] = 1.0
    out, new_peak = random_time_shift(x, gen(9), peak)
    shift, _ = sample_time_shift(gen(9), nbatch, peak)
    assert torch.equal(new_peak - peak, shift)
    expected = torch.zeros_like(x)
    expected[torch.arange(nbatch), :, new_peak] = 1.0
    assert torch.equal(out, expected)


def test_per_sample_shifts_differ_across_batch():
    shift, _ = sample_time_shift(gen(0), 64, torch.full((64,), 11000))
    assert shift.unique().numel() > 50


def test_time_shift_p_zero_and_partial():
    peak = torch.full((1000,), 11000)
    shift, new_peak = sample_time_shift(gen(0), 1000, peak, p=0.0)
    assert not shift.any() and torch.equal(new_peak, peak)
    shift, _ = sample_time_shift(gen(0), 1000, peak, p=0.3)
    assert 200 < int((shift != 0).sum()) < 400


def test_time_shift_noise_only_returns_none():
    x, _ = random_batch()
    out, new_peak = random_time_shift(x, gen(0), None)
    assert new_peak is None and not torch.equal(out, x)


def test_time_shift_leaves_edges_and_rolls_core():
    x, _ = random_batch(nbatch=3)
    shift = torch.tensor([5, -300, 0])
    out = time_shift(x, shift)
    e = EDGE_NSAMPLES
    assert torch.equal(out[..., :e], x[..., :e]) and torch.equal(out[..., -e:], x[..., -e:])
    core = x[..., e:-e]
    for b in range(3):
        assert torch.equal(out[b, :, e:-e], core[b].roll(int(shift[b]), dims=-1))


def test_time_shift_per_channel_and_scalar():
    x, _ = random_batch(nbatch=2)
    out = time_shift(x, torch.tensor([[0, 3], [-2, 0]]), edge_nsamples=0)
    assert torch.equal(out[0, 0], x[0, 0]) and torch.equal(out[0, 1], x[0, 1].roll(3))
    assert torch.equal(out[1, 0], x[1, 0].roll(-2)) and torch.equal(out[1, 1], x[1, 1])
    assert torch.equal(time_shift(x, 4, edge_nsamples=0), x.roll(4, dims=-1))


def test_time_shift_preserves_taper_profile():
    x = whitened_noise(128)
    profile = block_std(x)
    # The fixture really is tapered: ends well below the flat middle.
    assert profile[0] < 0.4 * profile[32] and profile[-1] < 0.4 * profile[32]
    shifted, _ = random_time_shift(x, gen(2), None)
    assert not torch.equal(shifted, x)
    torch.testing.assert_close(block_std(shifted), profile, rtol=0.04, atol=0.0)
    # First / last 512 samples vs the middle: the ratio the brief asks about.
    for sl in (slice(0, 512), slice(-512, None)):
        before = x[..., sl].std() / x[..., 4096:12288].std()
        after = shifted[..., sl].std() / shifted[..., 4096:12288].std()
        assert abs(after / before - 1) < 0.02
    # A plain roll by the same amounts would move the taper (the test has power).
    shift, _ = sample_time_shift(gen(2), x.shape[0], None)
    rolled = torch.stack([x[b].roll(int(shift[b]), dims=-1) for b in range(x.shape[0])])
    assert (block_std(rolled) / profile - 1).abs().max() > 0.5


def test_time_shift_peak_range_outside_core_rejected():
    x, _ = random_batch()
    with pytest.raises(ValueError, match="inside the shifted core"):
        random_time_shift(x, gen(0), None, peak_range=(100, 2000))
    with pytest.raises(ValueError, match="inside the shifted core"):
        Augment(AugmentConfig(time_shift_p=1.0, time_shift_range=(10240, 16000)))(x, gen(0))


# ---------------------------------------------------------------------------
# Detector shift, swap, sign flip
# ---------------------------------------------------------------------------


def test_detector_shift_moves_only_channel_one():
    x, _ = random_batch(nbatch=4)
    shift = torch.tensor([0, 7, -81, 81])
    out = detector_shift(x, shift)
    assert torch.equal(out[:, 0], x[:, 0])
    assert torch.equal(out[:, 1], time_shift(x, shift)[:, 1])


def test_detector_shift_bounded_by_max_shift():
    config = AugmentConfig(detector_shift_p=1.0)
    assert config.max_detector_shift_nsamples == 81  # floor(0.010 s * 8192 Hz)
    shift = sample_detector_shift(gen(0), 5000, config.max_detector_shift_nsamples)
    assert shift.abs().max() == 81 and shift.unique().numel() == 163
    # Through Augment: a delta in channel 1 moves by at most 81 samples.
    x = torch.zeros(256, 2, NSAMPLES)
    x[:, :, 11000] = 1.0
    out, _ = Augment(config)(x, gen(1))
    assert torch.equal(out[:, 0], x[:, 0])
    moved = out[:, 1].argmax(dim=-1) - 11000
    assert moved.abs().max() <= 81 and moved.unique().numel() > 50


def test_swap_and_flip_masks():
    x, _ = random_batch(nbatch=4)
    mask = torch.tensor([True, False, True, False])
    swapped = swap_detectors(x, mask)
    assert torch.equal(swapped[0], x[0].flip(0)) and torch.equal(swapped[1], x[1])
    flipped = flip_sign(x, mask)
    assert torch.equal(flipped[2], -x[2]) and torch.equal(flipped[3], x[3])


def test_sample_mask_p_extremes():
    g = gen(0)
    state = g.get_state()
    assert not sample_mask(g, 10, 0.0).any()
    assert torch.equal(g.get_state(), state)  # p=0 draws nothing
    assert sample_mask(g, 10, 1.0).all()


# ---------------------------------------------------------------------------
# Configuration and bad input
# ---------------------------------------------------------------------------


def test_config_accepts_yaml_list_and_is_frozen():
    config = AugmentConfig(time_shift_p=0.5, time_shift_range=[10240, 11878])
    assert config.time_shift_range == (10240, 11878)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.time_shift_p = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"time_shift_p": 1.5}, "time_shift_p"),
        ({"swap_p": -0.1}, "swap_p"),
        ({"time_shift_range": (11878, 10240)}, "lo < hi"),
        ({"time_shift_range": (1, 2, 3)}, "two integers"),
        ({"max_detector_shift_s": -0.01}, "max_detector_shift_s"),
        ({"sample_rate": 0}, "sample_rate"),
        ({"edge_nsamples": -1}, "edge_nsamples"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AugmentConfig(**kwargs)


def test_bad_inputs_rejected():
    x, peak = random_batch()
    augment = Augment(ALL_ON)
    with pytest.raises(ValueError, match="batch, channel, time"):
        augment(x[0], gen(0))
    with pytest.raises(ValueError, match="floating-point"):
        augment(x.long(), gen(0))
    with pytest.raises(ValueError, match="2 channels"):
        augment(x[:, :1], gen(0))
    with pytest.raises(ValueError, match="peak_index must be a tensor of shape"):
        augment(x, gen(0), peak[:3])
    with pytest.raises(ValueError, match="integer dtype"):
        augment(x, gen(0), peak.float())
    with pytest.raises(ValueError, match="integer number of samples"):
        time_shift(x, torch.zeros(x.shape[0]))
    with pytest.raises(ValueError, match="leaves no core"):
        time_shift(x, 1, edge_nsamples=NSAMPLES // 2)
    with pytest.raises(ValueError, match="boolean"):
        flip_sign(x, torch.ones(x.shape[0]))
    with pytest.raises(ValueError, match="AugmentConfig"):
        Augment({"time_shift_p": 1.0})  # type: ignore[arg-type]


def test_single_channel_allowed_without_detector_augmentations():
    x, peak = random_batch()
    out, _ = Augment(AugmentConfig(time_shift_p=1.0, sign_flip_p=0.5))(x[:, :1], gen(0), peak)
    assert out.shape == (x.shape[0], 1, NSAMPLES)
