"""FrontEnd: band-pass and decimation."""

from __future__ import annotations

import math

import pytest
import torch

import gwkit.models as gm
from gwkit.models.frontend import FrontEnd, with_frontend

SAMPLE_RATE = 8192.0
NSAMPLES = 16384


def _sine(freq: float, nsamples: int = NSAMPLES, sample_rate: float = SAMPLE_RATE):
    t = torch.arange(nsamples, dtype=torch.float64) / sample_rate
    return torch.sin(2 * math.pi * freq * t).float()


def test_bandpass_keeps_100hz_removes_5hz_and_1500hz():
    front = FrontEnd(SAMPLE_RATE, highpass=20.0, lowpass=500.0)
    keep, low, high = _sine(100.0), _sine(5.0), _sine(1500.0)
    x = torch.stack([keep + low + high, low, high]).reshape(3, 1, NSAMPLES)
    out = front(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out[0, 0], keep, atol=1e-4, rtol=0)
    assert out[1].abs().max() < 1e-4
    assert out[2].abs().max() < 1e-4


def test_decimation_length_and_content():
    front = FrontEnd(SAMPLE_RATE, highpass=20.0, decimate=4)
    assert front.output_length(NSAMPLES) == 4096
    assert front.output_sample_rate == 2048.0
    x = (_sine(100.0) + _sine(1500.0)).reshape(1, 1, 1, NSAMPLES).expand(2, 1, 2, NSAMPLES)
    out = front(x)
    assert out.shape == (2, 1, 2, 4096)
    # 100 Hz survives at the new rate; 1500 Hz is above the new Nyquist and does not alias
    torch.testing.assert_close(out[0, 0, 0], _sine(100.0, 4096, 2048.0), atol=1e-4, rtol=0)


def test_other_lengths_and_bad_lengths():
    front = FrontEnd(SAMPLE_RATE, lowpass=500.0, decimate=2)
    assert front(torch.randn(2, 2, 4096)).shape == (2, 2, 2048)
    with pytest.raises(ValueError, match="multiple of decimate"):
        front(torch.randn(2, 2, 4095))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sample_rate=0.0), "sample_rate"),
        (dict(decimate=0), "decimate"),
        (dict(decimate=1.5), "decimate"),
        (dict(highpass=600.0, lowpass=500.0), "empty pass band"),
        (dict(lowpass=5000.0), "lowpass"),
        (dict(highpass=1100.0, decimate=4), "highpass"),
    ],
)
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FrontEnd(**kwargs)


def test_with_frontend_and_create_model():
    model = gm.create_model(
        "gw_cnn_baseline", input_length=4096,
        frontend=dict(sample_rate=SAMPLE_RATE, highpass=20.0, lowpass=500.0, decimate=2),
    )
    assert model.model.input_length == 2048
    assert model(torch.randn(2, 1, 2, 4096)).shape == (2, 1)
    wrapped = with_frontend(gm.create_model("resnet1d_tiny"), highpass=20.0)
    assert wrapped(torch.randn(2, 2, 4096)).shape == (2, 1)
    assert wrapped.num_classes == 1


def test_legacy_argument_names_of_saved_models_still_load():
    """Checkpoints and configs written with flow/fhigh rebuild with highpass/lowpass."""
    old = gm.create_model("resnet1d_tiny", frontend=dict(flow=20.0, fhigh=500.0, decimate=4))
    new = gm.create_model("resnet1d_tiny", frontend=dict(highpass=20.0, lowpass=500.0, decimate=4))
    assert old.gwkit_spec == new.gwkit_spec  # saved again under the new names
    assert (old.frontend.highpass, old.frontend.lowpass) == (20.0, 500.0)
    torch.testing.assert_close(old.frontend.mask, new.frontend.mask)
    with pytest.raises(ValueError, match="'flow' and 'highpass'"):
        gm.create_model("resnet1d_tiny", frontend=dict(flow=20.0, highpass=30.0))
