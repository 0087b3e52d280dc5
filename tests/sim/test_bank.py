import h5py
import numpy as np
import pytest

import gwkit.sim.bank as bank_mod
from gwkit.data.competition import DataError
from gwkit.sim.bank import BankConfig, bank_entry, build_bank, load_bank
from gwkit.sim.waveforms import imrphenomd


def test_coefficients_reproduce_the_lalsuite_waveform():
    cfg = BankConfig(dtype="float64")
    coeffs, amplitude, f_start, last = bank_entry(25.0, 12.0, cfg)
    hp, hc, _ = imrphenomd(25.0, 12.0)
    peak = int(np.argmax(hp**2 + hc**2))
    knots = (coeffs[:, :-2] + 4 * coeffs[:, 1:-1] + coeffs[:, 2:]) / 6 * amplitude
    lo = peak - cfg.pre + 1
    want = np.stack([hp[lo : lo + 4000], hc[lo : lo + 4000]])
    np.testing.assert_allclose(knots[:, :4000], want, atol=1e-9 * amplitude)
    assert f_start == 12.0 and coeffs.shape == (2, cfg.length)
    assert last == cfg.pre + hp.size - 1 - peak


def test_build_is_reproducible_and_records_masses(tmp_path):
    a = load_bank(build_bank(6, tmp_path / "a.h5", seed=4, workers=1))
    b = load_bank(build_bank(6, tmp_path / "b.h5", seed=4, workers=2, chunk=2))
    np.testing.assert_array_equal(a.coeffs, b.coeffs)
    assert a.coeffs.dtype == np.float32 and len(a) == 6
    assert np.all(a.m1 >= a.m2) and np.all(a.m1 + a.m2 < 100)
    assert np.all(a.chirp_time > 0) and np.all(a.mchirp < a.m1)
    sub = load_bank(tmp_path / "a.h5", ids=[1, 3])
    np.testing.assert_array_equal(sub.coeffs, a.coeffs[[1, 3]])


def test_interrupted_build_resumes(tmp_path, monkeypatch):
    out = tmp_path / "bank.h5"
    calls = {"n": 0}
    real = bank_mod._entry_job

    def flaky(args):
        calls["n"] += 1
        if calls["n"] > 4:
            raise KeyboardInterrupt
        return real(args)

    monkeypatch.setattr(bank_mod, "_entry_job", flaky)
    with pytest.raises(KeyboardInterrupt):
        build_bank(8, out, seed=1, workers=1, chunk=4)
    assert not out.exists()  # nothing half-written under the final name
    with h5py.File(out.with_name("bank.h5.partial"), "r") as f:
        assert f.attrs["n_done"] == 4
    monkeypatch.setattr(bank_mod, "_entry_job", real)
    calls["n"] = 0
    resumed = load_bank(build_bank(8, out, seed=1, workers=1, chunk=4))
    fresh = load_bank(build_bank(8, tmp_path / "fresh.h5", seed=1, workers=1, chunk=4))
    np.testing.assert_array_equal(resumed.coeffs, fresh.coeffs)


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="gwkit.simulate bank"):
        load_bank(tmp_path / "missing.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(DataError, match="other.h5.*not a gwkit waveform bank"):
        load_bank(tmp_path / "other.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(DataError, match="junk.h5"):
        load_bank(tmp_path / "junk.h5")


def _small_bank(path, n: int = 3, **attrs):
    """A bank file of ``n`` plain-number entries (no waveforms), ``attrs`` overwritten."""
    from dataclasses import asdict

    config = BankConfig(pre=10, length=20)
    with h5py.File(path, "w") as f:
        f.attrs.update({"gwkit_format": bank_mod.BANK_FORMAT, "kind": "waveform_bank", "seed": 0,
                        "n": n, **{f"config_{k}": v for k, v in asdict(config).items()}})
        f["m1"], f["m2"] = np.full(n, 30.0), np.full(n, 20.0)
        f["f_start"], f["amplitude"], f["last"] = np.full(n, 15.0), np.full(n, 1e-21), np.full(n, 15)
        f["coeffs"] = np.ones((n, 2, 20), np.float32)
        f.attrs.update(attrs)
    return path


@pytest.mark.parametrize("attrs, message", [
    (dict(config_pre=np.inf), r"attribute config_pre is inf, expected a whole number"),
    (dict(config_pre=2.5), r"attribute config_pre is 2\.5, expected a whole number"),
    (dict(config_sample_rate="fast"), r"attribute config_sample_rate is 'fast', expected a finite"),
    (dict(config_pre=30), r"the waveform bank's settings are inconsistent \(need 0 < pre < length"),
    (dict(seed=np.nan), r"attribute seed is nan"),
])
def test_bank_attributes_are_checked(tmp_path, attrs, message):
    """Issue 25: an infinite reference index (``pre``) or text in a number is one DataError line."""
    with pytest.raises(DataError, match=rf"^{tmp_path / 'b.h5'}: {message}"):
        load_bank(_small_bank(tmp_path / "b.h5", **attrs))
    assert len(load_bank(_small_bank(tmp_path / "ok.h5"))) == 3


def test_bank_entries_are_checked(tmp_path):
    path = _small_bank(tmp_path / "b.h5")
    with h5py.File(path, "r+") as f:
        f["m1"][1] = np.nan
    with pytest.raises(DataError, match=r"b\.h5: the waveform bank's m1 must be finite and > 0"):
        load_bank(path)
    with h5py.File(path, "r+") as f:
        f["m1"][1] = 30.0
        del f["last"]
        f["last"] = np.full(3, 15.5)
    with pytest.raises(DataError, match=r"last \(the segment index of each waveform's end\) must "
                                        r"be whole numbers"):
        load_bank(path)
