"""save_checkpoint / load_checkpoint round trips and clear errors."""

from __future__ import annotations

import pytest
import torch

import gwkit.models as gm


def _trained_a_bit(model: torch.nn.Module, length: int) -> torch.nn.Module:
    """Move weights and BN statistics off their initial values."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    model.train()
    for _ in range(2):
        opt.zero_grad()
        model(torch.randn(4, 2, length)).sum().backward()
        opt.step()
    return model.eval()


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("gw_cnn_baseline", dict(input_length=2048)),
        ("resnet1d_tiny", dict(input_length=2048, global_pool="attn", act_layer="gelu")),
        ("resnet1d_tiny", dict(input_length=4096,
                               frontend=dict(sample_rate=8192.0, highpass=20.0, lowpass=500.0,
                                             decimate=2))),
    ],
)
def test_round_trip(tmp_path, name, kwargs):
    torch.manual_seed(0)
    length = kwargs["input_length"]
    model = _trained_a_bit(gm.create_model(name, **kwargs), length)
    path = gm.save_checkpoint(tmp_path / "run" / "fold0.pt", model, epoch=3,
                              metrics={"auc": 0.9}, config={"lr": 3e-3, "layers": [1, 2]})
    loaded, ckpt = gm.load_checkpoint(path)
    assert ckpt["epoch"] == 3 and ckpt["metrics"] == {"auc": 0.9}
    assert ckpt["model"] == gm.model_spec(model) == gm.model_spec(loaded)
    assert not loaded.training
    x = torch.randn(3, 2, length)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    assert list(tmp_path.joinpath("run").iterdir()) == [path]  # no temporary files left


def test_optimizer_state_round_trips(tmp_path):
    model = gm.create_model("resnet1d_tiny", input_length=2048)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(2, 2, 2048)).sum().backward()
    opt.step()
    path = gm.save_checkpoint(tmp_path / "ckpt.pt", model, optimizer=opt.state_dict())
    loaded, ckpt = gm.load_checkpoint(path)
    torch.optim.AdamW(loaded.parameters()).load_state_dict(ckpt["optimizer"])


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"this is not a checkpoint at all")
    with pytest.raises(ValueError, match="garbage.pt is not a gwkit checkpoint"):
        gm.load_checkpoint(path)


def test_plain_state_dict_is_a_clear_error(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(gm.create_model("resnet1d_tiny").state_dict(), path)
    with pytest.raises(ValueError, match="weights.pt is not a gwkit checkpoint"):
        gm.load_checkpoint(path)


def test_unknown_model_name_is_a_clear_error(tmp_path):
    path = gm.save_checkpoint(tmp_path / "ok.pt", gm.create_model("resnet1d_tiny"))
    ckpt = torch.load(path, weights_only=True)
    ckpt["model"]["name"] = "resnet1d_999"
    torch.save(ckpt, tmp_path / "renamed.pt")
    with pytest.raises(ValueError, match=r"renamed.pt holds unknown model 'resnet1d_999'"):
        gm.load_checkpoint(tmp_path / "renamed.pt")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        gm.load_checkpoint(tmp_path / "nope.pt")


def test_non_plain_entries_refused(tmp_path):
    model = gm.create_model("resnet1d_tiny", act_layer=torch.nn.GELU)
    with pytest.raises(ValueError, match="act_layer"):
        gm.save_checkpoint(tmp_path / "x.pt", model)
    model = gm.create_model("resnet1d_tiny")
    with pytest.raises(ValueError, match="clash"):
        gm.save_checkpoint(tmp_path / "x.pt", model, state_dict={})
    with pytest.raises(ValueError, match="extra"):
        gm.save_checkpoint(tmp_path / "x.pt", model, extra=object())
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- one-line errors


def _one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and "weights_only=False" not in text and "Re-running" not in text
    return text


def test_empty_file_says_so(tmp_path):
    (tmp_path / "best.pt").write_bytes(b"")
    with pytest.raises(ValueError) as err:
        gm.load_checkpoint(tmp_path / "best.pt")
    assert "best.pt is not a gwkit checkpoint: the file is empty (0 bytes" in _one_line(err)


def test_torchs_weights_only_advice_is_never_passed_on(tmp_path):
    import numpy as np

    torch.save({"x": np.zeros(3)}, tmp_path / "pickled.pt")  # needs code to unpickle
    with pytest.raises(ValueError) as err:
        gm.load_checkpoint(tmp_path / "pickled.pt")
    text = _one_line(err)
    assert "holds Python objects other than tensors" in text and "never runs code" in text
    data = (tmp_path / "pickled.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as err:
        gm.load_checkpoint(tmp_path / "cut.pt")
    assert "cut.pt is not a gwkit checkpoint: truncated or corrupt" in _one_line(err)


def test_unknown_constructor_argument_is_a_clear_error(tmp_path):
    path = gm.save_checkpoint(tmp_path / "ok.pt", gm.create_model("resnet1d_tiny"))
    ckpt = torch.load(path, weights_only=True)
    ckpt["model"]["kwargs"]["wings"] = 2
    torch.save(ckpt, tmp_path / "odd.pt")
    with pytest.raises(ValueError) as err:
        gm.load_checkpoint(tmp_path / "odd.pt")
    assert "odd.pt: cannot rebuild resnet1d_tiny from its saved arguments" in _one_line(err)
    assert "wings" in str(err.value)


def test_model_built_for_another_length_is_refused_when_asked(tmp_path):
    model = gm.create_model("resnet1d_tiny", input_length=2048, global_pool="flatten")
    path = gm.save_checkpoint(tmp_path / "flat.pt", model)
    with pytest.raises(ValueError) as err:
        gm.load_checkpoint(path, input_length=16384)
    assert ("flat.pt: resnet1d_tiny was built for inputs of 2048 samples per detector, the data "
            "has 16384") in _one_line(err)
    loaded, _ = gm.load_checkpoint(path, input_length=2048)
    assert loaded(torch.randn(1, 2, 2048)).shape == (1, 1)


def test_a_spec_asking_for_a_huge_model_is_refused_before_it_is_built(tmp_path):
    """Issue 25: an edited spec (a flatten head for 2**34 samples: ~128 GiB) is refused from
    the values its constructors ask for, before any of them is allocated."""
    import time

    path = gm.save_checkpoint(tmp_path / "a.pt", gm.create_model("resnet1d_tiny"))
    state = torch.load(path, weights_only=True)
    state["model"]["kwargs"] = {"global_pool": "flatten", "input_length": 2**34}
    torch.save(state, tmp_path / "huge.pt")
    tic = time.perf_counter()
    with pytest.raises(ValueError, match=r"huge\.pt: its spec asks for a resnet1d_tiny of at least "
                                         r"[\d,]+ values \(1\d\d\.\d GiB as float32\), over the "
                                         r"limit of [\d,]+ for a file holding [\d,]+ weights"):
        gm.load_checkpoint(tmp_path / "huge.pt")
    assert time.perf_counter() - tic < 5
    model, _ = gm.load_checkpoint(path)  # the model the file holds is within its budget
    assert sum(p.numel() for p in model.parameters()) > 0
