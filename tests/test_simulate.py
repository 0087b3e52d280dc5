import numpy as np
import pandas as pd
import pytest

from gwkit import inspect as gw_inspect
from gwkit import simulate
from gwkit.data import load_competition_file, load_test_npy
from gwkit.data.inspection import inspect_array


def _run(tmp_path, name, *extra):
    out = tmp_path / name
    args = ["--snr", "5", "25", "--per-snr", "8", "--block-rows", "12", "--nnoise", "3",
            "--workers", "1", "--no-progress", "--out", str(out), *extra]
    assert simulate.main(args) == 0
    return out


def test_cli_writes_the_competition_layout_reproducibly(tmp_path):
    a = _run(tmp_path, "a", "--seed", "7")
    b = _run(tmp_path, "b", "--seed", "7")
    x = load_test_npy(a / "test.npy")
    assert x.shape == (16, 1, 2, 16384) and x.dtype == np.float64
    assert (a / "test.npy").read_bytes() == (b / "test.npy").read_bytes()
    labels = pd.read_csv(a / "labels.csv")
    assert list(labels.columns) == ["id", "label", "snr_group"]
    assert sorted(labels.snr_group.unique()) == [5.0, 25.0]
    params = pd.read_csv(a / "params.csv")
    sig = params[params.label == 1]
    assert np.all(sig.snr_ch1 == 0) and np.all(sig.snr_ch0 < sig.snr)  # competition quirk
    c = _run(tmp_path, "c", "--seed", "8")
    assert (a / "test.npy").read_bytes() != (c / "test.npy").read_bytes()


def test_cli_hdf5_physical_independent(tmp_path):
    out = _run(tmp_path, "p", "--mode", "physical", "--format", "hdf5", "--draw", "independent",
               "--per-snr", "6", "--dtype", "float32")
    data = load_competition_file(out / "test.h5")
    assert data.x.shape == (12, 2, 16384) and data.x.dtype == np.float32
    assert data.attrs["mode"] == "physical"
    sig = data.params[data.params.label == 1]
    assert np.all(sig.snr_ch1 > 0)


def test_cli_sav_writes_the_course_layout_reproducibly(tmp_path):
    """``--format sav``: one ``train_ts_<k>.sav`` = [X, y] + ``train_params_<k>.sav`` per SNR."""
    from gwkit.data import load_sav_block, load_sav_params

    args = ("--format", "sav", "--draw", "independent", "--per-snr", "8", "--nnoise", "2")
    a, b = _run(tmp_path, "a", *args), _run(tmp_path, "b", *args)
    assert sorted(p.name for p in a.iterdir()) == ["train_params_0.sav", "train_params_1.sav",
                                                   "train_ts_0.sav", "train_ts_1.sav"]
    for name in ("train_ts_0.sav", "train_params_1.sav"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    for k, snr in enumerate((5.0, 25.0)):  # the --snr order of _run
        x, y = load_sav_block(a / f"train_ts_{k}.sav")
        records = load_sav_params(a / f"train_params_{k}.sav")
        assert x.shape == (8, 2, 16384) and x.dtype == np.float64 and y.sum() == 4
        assert [r is None for r in records] == (y == 0).tolist()
        signals = [r for r in records if r is not None]
        assert {r["snr"] for r in signals} == {snr}
        assert all(10240 <= r["peak_index"] < 11878 for r in signals)
        ids = [r["waveform_id"] for r in signals]
        assert sorted(ids.count(i) for i in set(ids)) == [2, 2]  # 2 waveforms x 2 noise draws
        same = [r for r in signals if r["waveform_id"] == ids[0]]
        assert same[0] == same[1]  # a waveform's copies carry one record


def test_bank_subcommand(tmp_path, capsys):
    assert simulate.main(["bank", "--n", "3", "--out", str(tmp_path / "b.h5"), "--workers", "1",
                          "--no-progress"]) == 0
    assert "3 waveforms" in capsys.readouterr().out


def test_cli_rejects_bad_arguments(tmp_path):
    with pytest.raises(SystemExit):
        simulate.main(["--per-snr", "0", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        simulate.main(["--snr", "-3", "--out", str(tmp_path)])


def test_unwritable_out_is_refused_before_simulating(tmp_path, capsys, monkeypatch):
    def no_simulation(*args, **kwargs):
        raise AssertionError("simulated before checking --out")

    monkeypatch.setattr(simulate, "simulate_competition", no_simulation)
    monkeypatch.setattr(simulate, "build_bank", no_simulation)
    (tmp_path / "file").write_text("x")
    for args in (["--out", str(tmp_path / "file" / "set")],
                 ["bank", "--n", "2", "--out", str(tmp_path / "file" / "bank.h5")]):
        assert simulate.main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "cannot write there" in err and "is a file" in err
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_usage_line_names_the_bank_subcommand(capsys):
    with pytest.raises(SystemExit):
        simulate.main(["--help"])
    usage = capsys.readouterr().out.split("\n\n")[0]
    assert "python -m gwkit.simulate bank --n N --out FILE" in usage


def test_inspect_reports_which_channel_carries_signal(tmp_path, capsys):
    out = _run(tmp_path, "i", "--per-snr", "30", "--block-rows", "40", "--nnoise", "4", "--snr", "20", "30")
    assert gw_inspect.main([str(out / "test.npy"), "--noise-rows", "100",
                            "--json", str(tmp_path / "r.json")]) == 0
    text = capsys.readouterr().out
    assert "suggested simulation mode: competition" in text
    report = inspect_array(load_test_npy(out / "test.npy", layout="flat"), noise_rows=100)
    assert report.channels[0].carries_signal and not report.channels[1].carries_signal
    assert report.shared_channel1_groups  # rows drawn twice share channel-1 noise
    assert (tmp_path / "r.json").stat().st_size > 100
    assert gw_inspect.main([str(tmp_path / "nope.npy")]) == 2
