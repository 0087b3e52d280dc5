"""albumentations policies on spectrogram batches: shape, dtype, what each does, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gwkit.models.spec_augment import POLICY_ORDER, SpectrogramAugment, build_transform

ALWAYS = {
    "time_shift": {"p": 1.0, "max_frames": 6},
    "xy_masking": {"p": 1.0, "num_masks_x": [1, 2], "mask_x_length": [2, 8],
                   "num_masks_y": [1, 2], "mask_y_length": [2, 6]},
    "coarse_dropout": {"p": 1.0, "num_holes_range": [1, 4], "hole_height_range": [2, 6],
                       "hole_width_range": [2, 8]},
}


def _images(channels: int = 2) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(5, channels, 38, 64) + 3.0  # no pixel is 0 before masking


@pytest.mark.parametrize("name", POLICY_ORDER)
@pytest.mark.parametrize("channels", [1, 2])
def test_every_transform_keeps_shape_and_dtype(name, channels):
    augment = SpectrogramAugment({name: ALWAYS[name]})
    images = _images(channels)
    out = augment.apply(images, seed=1)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert torch.isfinite(out).all()
    assert not torch.equal(out, images)  # p=1: it did something


@pytest.mark.parametrize("name", POLICY_ORDER)
def test_every_transform_is_reproducible_under_a_seed(name):
    augment = SpectrogramAugment({name: ALWAYS[name]})
    images = _images()
    torch.testing.assert_close(augment.apply(images, 3), augment.apply(images, 3), rtol=0, atol=0)
    assert not torch.equal(augment.apply(images, 3), augment.apply(images, 4))


def test_time_shift_rolls_each_image_along_time_only():
    images = _images()
    out = SpectrogramAugment({"time_shift": ALWAYS["time_shift"]}).apply(images, 5)
    for before, after in zip(images, out, strict=True):
        shifts = [s for s in range(-6, 7) if torch.equal(torch.roll(before, s, dims=-1), after)]
        assert len(shifts) == 1


@pytest.mark.parametrize("name", ["xy_masking", "coarse_dropout"])
def test_masks_only_set_pixels_to_the_fill_value(name):
    images = _images()
    out = SpectrogramAugment({name: ALWAYS[name]}).apply(images, 2)
    kept = out == images
    assert (kept | (out == 0)).all()
    assert 0 < (~kept).float().mean() < 0.6


def test_masks_cover_whole_rows_and_columns():
    images = _images(1)
    policy = {"xy_masking": {"p": 1.0, "num_masks_x": [1, 1], "mask_x_length": [3, 3]}}  # time only
    out = SpectrogramAugment(policy).apply(images, 0)
    masked_columns = (out == 0).all(dim=-2)  # (B, C, T): every frequency bin of a column
    assert ((out == 0) == masked_columns.unsqueeze(-2)).all()
    assert (masked_columns.sum(dim=-1) == 3).all()


def test_forward_is_identity_in_eval_mode_and_seeded_by_torch_in_training():
    augment = SpectrogramAugment(ALWAYS)
    images = _images()
    assert augment.eval()(images) is images
    augment.train()
    torch.manual_seed(11)
    first = augment(images)
    torch.manual_seed(11)
    torch.testing.assert_close(augment(images), first, rtol=0, atol=0)
    assert SpectrogramAugment(None).train()(images) is images


def test_probability_zero_never_fires():
    policy = {name: {**kw, "p": 0.0} for name, kw in ALWAYS.items()}
    images = _images()
    torch.testing.assert_close(SpectrogramAugment(policy).apply(images, 0), images)


def test_policy_is_applied_in_a_fixed_order():
    reordered = dict(reversed(list(ALWAYS.items())))
    assert list(SpectrogramAugment(reordered).policy) == list(POLICY_ORDER)
    images = _images()
    torch.testing.assert_close(SpectrogramAugment(reordered).apply(images, 9),
                               SpectrogramAugment(ALWAYS).apply(images, 9))


@pytest.mark.parametrize(
    "policy, match",
    [
        ({"mixup": {"p": 0.5}}, "mixup"),
        ({"time_shift": {"max_frames": 4}}, "probability p"),
        ({"time_shift": {"p": 1.5}}, r"p=1\.5"),
        ({"time_shift": {"p": 0.5, "max_frames": -1}}, "max_frames"),
        ({"xy_masking": {"p": 0.5, "num_mask_x": 2}}, "num_mask_x"),
        ({"coarse_dropout": {"p": 0.5, "num_holes_range": [4, 1]}}, "coarse_dropout"),
        ({"xy_masking": 0.5}, "xy_masking"),
    ],
)
def test_bad_policies_raise_value_error(policy, match):
    with pytest.raises(ValueError, match=match):
        SpectrogramAugment(policy)


def test_build_transform_passes_albumentations_arguments():
    transform = build_transform("coarse_dropout", {"p": 0.25, "num_holes_range": [2, 3]})
    assert transform.p == 0.25 and tuple(transform.num_holes_range) == (2, 3)
    image = np.ones((8, 16, 1), dtype=np.float32)
    assert transform(image=image)["image"].dtype == np.float32
