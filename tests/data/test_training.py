"""Fixed training sets: the three formats read alike and lazily, rows grouped without leaks."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import gwkit.data.training as training
from gwkit.data import DataError, write_hdf5
from gwkit.data.competition import write_sav_block
from gwkit.data.training import expand_paths, group_rows, open_training_data, sav_params_path
from gwkit.data.writers import sav_records

N = 16384


def make_set(n: int = 12, seed: int = 0) -> tuple[np.ndarray, pd.DataFrame]:
    """Random strain and a parameter table like gwkit.simulate's: 3 waveforms x 2 copies + noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2, N))
    wid = np.full(n, -1)
    wid[[1, 4]], wid[[2, 7]], wid[[5, 9]] = 0, 1, 2
    params = pd.DataFrame({
        "id": np.arange(n), "block_row": np.arange(n), "label": (wid >= 0).astype(int),
        "snr_group": 20.0, "waveform_id": wid,
        "m1": np.where(wid >= 0, 30.0 + wid, np.nan), "mchirp": np.where(wid >= 0, 20.0 + wid, np.nan),
        "peak_index": np.where(wid >= 0, 10300 + 100 * wid, np.nan),
        "snr": np.where(wid >= 0, 20.0, 0.0),
    })
    return x, params


def write_npy(folder, x, params, *, with_params=True):
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "test.npy", x[:, None])
    params[["id", "label", "snr_group"]].to_csv(folder / "labels.csv", index=False)
    if with_params:
        params.to_csv(folder / "params.csv", index=False)
    return folder / "test.npy"


def test_labels_csv_with_current_and_legacy_names(tmp_path):
    x, params = make_set()
    npy = write_npy(tmp_path, x, params)
    for names in ({}, {"label": "target", "snr_group": "snr"}):  # as written now, then before
        labels = pd.read_csv(tmp_path / "labels.csv").rename(columns=names)
        labels.to_csv(tmp_path / "labels.csv", index=False)
        data = open_training_data([npy])
        np.testing.assert_array_equal(data.y, params["label"])
        np.testing.assert_array_equal(data.snr_group, params["snr_group"])


def write_h5(path, x, params):
    return write_hdf5(path, x.astype(np.float32), y=params["label"].to_numpy(),
                      snr_group=params["snr_group"].to_numpy(), params=params, attrs={"mode": "competition"})


def write_sav(folder, x, params, index=0):
    folder.mkdir(parents=True, exist_ok=True)
    return write_sav_block(folder / f"train_ts_{index}.sav", x, params["label"].to_numpy(),
                           sav_records(params))[0]


def test_the_three_formats_read_the_same_rows_and_groups(tmp_path):
    x, params = make_set()
    paths = [write_npy(tmp_path / "npy", x, params), write_h5(tmp_path / "set.h5", x, params),
             write_sav(tmp_path / "sav", x, params)]
    rows = np.array([7, 0, 3, 7, 11])
    for path in paths:
        data = open_training_data([path], cache_dir=tmp_path / "cache")
        np.testing.assert_array_equal(data.read(rows), x[rows].astype(np.float32), err_msg=str(path))
        np.testing.assert_array_equal(data.y, params["label"])
        np.testing.assert_array_equal(data.peak_index, params["peak_index"].fillna(-1))
        # one group per waveform (its copies together), every noise row alone
        assert data.row_group[1] == data.row_group[4] and data.row_group[2] == data.row_group[7]
        assert data.row_group[5] == data.row_group[9] and len(set(data.row_group.tolist())) == 12 - 3
        if path.suffix != ".sav":
            np.testing.assert_array_equal(data.snr_group, 20.0)
    both = open_training_data(paths[:2], cache_dir=tmp_path / "cache")  # concatenated
    assert len(both) == 24
    np.testing.assert_array_equal(both.read(np.array([12, 0])), x[[0, 0]].astype(np.float32))
    # the same waveform ids in two files: the same waveforms (conservative), so one group each
    assert both.row_group[1] == both.row_group[13] and both.row_group[0] == both.row_group[12]  # shared noise too


def test_sav_blocks_of_one_seed_share_waveforms_and_noise_across_snrs(tmp_path):
    """The course's quirk: blocks made with one seed at two SNRs share sources and noise."""
    x, params = make_set()
    loud = params.assign(snr=np.where(params["label"] == 1, 30.0, 0.0))
    write_sav(tmp_path, x, params, 0)
    write_sav(tmp_path, x + 0.5 * (params["label"].to_numpy() == 1)[:, None, None], loud, 1)
    data = open_training_data([tmp_path], cache_dir=tmp_path / "cache")  # a folder: both blocks
    assert [p.name for p in data.paths] == ["train_ts_0.sav", "train_ts_1.sav"]
    np.testing.assert_array_equal(data.row_group[:12], data.row_group[12:])  # row i of each: one group
    assert data.row_group[1] == data.row_group[16] and len(set(data.row_group.tolist())) == 9


def test_group_rows_links_through_waveforms_and_noise():
    groups = group_rows(["a", "a", None, "b", None, "c"], [b"1", b"2", b"2", b"3", None, b"3"])
    assert groups.tolist() == [0, 0, 0, 1, 2, 1]


def test_unknown_waveforms_are_refused_unless_groups_none(tmp_path):
    x, params = make_set()
    npy = write_npy(tmp_path / "npy", x, params, with_params=False)
    sav = write_sav(tmp_path / "sav", x, params)
    sav_params_path(sav).unlink()
    for path, missing in ((npy, "params.csv beside it"), (sav, "train_params_0.sav")):
        with pytest.raises(DataError, match=f"cannot be known .*{missing} missing.*groups=none"):
            open_training_data([path], cache_dir=tmp_path / "cache")
        data = open_training_data([path], groups="none", cache_dir=tmp_path / "cache")
        assert data.row_group.tolist() == list(range(12))


def test_sav_blocks_are_unpickled_once_then_read_from_the_spill(tmp_path, monkeypatch):
    x, params = make_set()
    sav = write_sav(tmp_path, x, params)
    first = open_training_data([sav], cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache" / "train_data").glob("*.npy"))) == 2  # strain, labels
    monkeypatch.setattr(training, "load_sav_block", lambda *a, **k: pytest.fail("unpickled again"))
    again = open_training_data([sav], cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again.read(np.arange(12)), first.read(np.arange(12)))


def test_rows_are_read_without_mapping_the_file(tmp_path, monkeypatch):
    x, params = make_set()
    npy = write_npy(tmp_path, x, params)
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("np.load maps or reads it whole"))
    monkeypatch.setattr(np, "memmap", lambda *a, **k: pytest.fail("memory-mapped"))
    data = open_training_data([npy])
    np.testing.assert_array_equal(data.take(np.array([3, 2])).read(np.array([1])), x[[2]].astype(np.float32))


@pytest.mark.parametrize(("damage", "message"), [
    ("nan", r"test.npy: expected finite strain, found NaN or inf in row 5"),
    ("labels_short", r"labels.csv: expected 12 rows \(one per row of test.npy\), found 11"),
    ("labels_2", r"labels.csv: labels must be 0 or 1; row 3 has 2"),
    ("no_labels", r"test.npy: training needs labels: no labels.csv beside it"),
    ("shape", r"test.npy: expected strain of shape \(N, 1, 2, 16384\)"),
])
def test_bad_npy_sets_are_one_line_errors(tmp_path, damage, message):
    x, params = make_set()
    if damage == "nan":
        x[5, 0, 100] = np.nan
    npy = write_npy(tmp_path, x, params)
    labels = pd.read_csv(tmp_path / "labels.csv")
    if damage == "labels_short":
        labels.iloc[:-1].to_csv(tmp_path / "labels.csv", index=False)
    elif damage == "labels_2":
        labels.loc[3, "label"] = 2
        labels.to_csv(tmp_path / "labels.csv", index=False)
    elif damage == "no_labels":
        (tmp_path / "labels.csv").unlink()
    elif damage == "shape":
        np.save(npy, x[:, :, :100])
    with pytest.raises(DataError, match=message) as err:
        open_training_data([npy])
    assert "\n" not in str(err.value)


def test_bad_sav_blocks_are_one_line_errors(tmp_path):
    x, params = make_set()
    sav = write_sav(tmp_path, x, params)
    records = pickle.loads(sav_params_path(sav).read_bytes())
    records[0] = {"m1": 3.0}  # row 0 is noise
    sav_params_path(sav).write_bytes(pickle.dumps(records))
    with pytest.raises(DataError, match="record 0 is a record but row 0 of train_ts_0.sav has label 0"):
        open_training_data([sav], cache_dir=tmp_path / "cache")
    with pytest.raises(DataError, match="a parameter file; give the block"):
        open_training_data([sav_params_path(sav)], cache_dir=tmp_path / "cache")
    with pytest.raises(DataError, match="given twice"):
        open_training_data([sav, tmp_path], cache_dir=tmp_path / "cache")
    with pytest.raises(DataError, match="nope.sav: no such file"):
        open_training_data([tmp_path / "nope.sav"])
    assert expand_paths([tmp_path]) == [sav]
