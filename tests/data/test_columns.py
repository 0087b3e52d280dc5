"""One meaning per column name, and tables written before read with the current names."""

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from gwkit.core.errors import DataError
from gwkit.data import load_hdf5, write_hdf5
from gwkit.data.columns import (
    OOF_COLUMNS,
    check_both_classes,
    check_ids,
    check_numbers,
    read_oof,
    upgrade_labelled,
)

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


@pytest.mark.parametrize("run", ["course_cnn", "gwkit_cnn", "gwkit_resnet"])
def test_the_shipped_oof_files_read_with_the_current_names(run):
    """weights/*/oof.csv were written with target (the label), snr (the group) and score."""
    raw = pd.read_csv(WEIGHTS / run / "oof.csv")
    assert {"target", "snr", "score"} <= set(raw.columns)  # the legacy layout, shipped as is
    oof = read_oof(WEIGHTS / run / "oof.csv")
    assert list(oof.columns) == list(OOF_COLUMNS)
    np.testing.assert_array_equal(oof["label"], raw["target"])
    np.testing.assert_array_equal(oof["snr_group"], raw["snr"])
    np.testing.assert_allclose(expit(oof["logit"]), raw["score"], rtol=1e-5)  # the same model


def test_an_oof_file_with_only_a_probability_gets_its_logit(tmp_path):
    path = tmp_path / "oof.csv"
    pd.DataFrame({"id": [0, 1], "target": [0, 1], "score": [0.25, 0.9]}).to_csv(path, index=False)
    oof = read_oof(path)
    np.testing.assert_allclose(oof["logit"], np.log([1 / 3, 9.0]))
    assert list(oof["label"]) == [0, 1]
    (tmp_path / "bad.csv").write_text("id,logit\n0,1.5\n")
    with pytest.raises(ValueError, match="bad.csv: .*missing label"):
        read_oof(tmp_path / "bad.csv")


def test_current_tables_are_left_alone_and_params_keep_the_rows_own_snr():
    current = pd.DataFrame({"id": [0], "label": [1], "snr_group": [8.0], "target": [0.7]})
    assert upgrade_labelled(current) is current  # a submission-like target beside a label stays
    params = pd.DataFrame({"id": [0], "target": [1], "snr_group": [8.0], "snr": [8.0]})
    assert list(upgrade_labelled(params).columns) == ["id", "label", "snr_group", "snr"]


def test_hdf5_sets_written_before_read_their_snr_groups_and_labels(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 2, 64)).astype(np.float32)
    path = write_hdf5(tmp_path / "new.h5", x, y=[0, 1],
                      snr_group=[5.0, 5.0], params=pd.DataFrame({"label": [0, 1]}))
    with h5py.File(path, "r+") as f:  # the layout of files written before: snr, params/target
        f.move("snr_group", "snr")
        f["params"].move("label", "target")
        f["params"].attrs["columns"] = ["target"]
    data = load_hdf5(path, nsamples=None)
    np.testing.assert_array_equal(data.snr_group, [5.0, 5.0])
    assert list(data.params.columns) == ["label"]


# --------------------------------------------------------------------------- checks (issue 25)


@pytest.mark.parametrize("ids, message", [
    (["a", "b"], r"f\.csv: id must hold whole numbers \(row numbers\); row 0 has 'a' \(2 bad"),
    ([0, 1.5, 2], r"row 1 has 1\.5 \(1 bad"),
    ([0, np.nan], r"row 1 has nan"),
    ([0, 3, 3], r"f\.csv: id 3 appears more than once \(1 repeated row"),
])
def test_ids_are_whole_and_distinct(ids, message):
    with pytest.raises(DataError, match=message):
        check_ids(ids, "f.csv")


def test_ids_written_as_floats_or_text_digits_are_read_as_integers():
    ids = check_ids(pd.Series(["0", "2.0", 5.0], dtype=object), "f.csv")
    assert ids.dtype == np.int64 and ids.tolist() == [0, 2, 5]


def test_numbers_refuse_text_and_optionally_nan():
    np.testing.assert_array_equal(check_numbers(["5", 10, np.nan], "f", column="snr_group",
                                                finite=False), [5.0, 10.0, np.nan])
    with pytest.raises(DataError, match=r"f: snr_group must be numbers; row 1 has 'loud'"):
        check_numbers([5, "loud"], "f", column="snr_group", finite=False)
    with pytest.raises(DataError, match=r"f: snr_group must be finite numbers; row 0 has inf"):
        check_numbers([np.inf, 3], "f", column="snr_group")


@pytest.mark.parametrize("labels, message", [
    ([1, 1, 1], r"all 3 labelled rows are signals \(label 1\); an AUC needs both"),
    ([0, 0], r"all 2 labelled rows are noise \(label 0\)"),
    ([], r"no labelled rows"),
])
def test_an_auc_needs_both_classes(labels, message):
    with pytest.raises(DataError, match=rf"^labels\.csv: {message}"):
        check_both_classes(labels, "labels.csv")
    check_both_classes([0, 1], "labels.csv")


@pytest.mark.parametrize("column, value, message", [
    ("logit", "high", r"oof\.csv: logit must be finite numbers; row 1 has 'high'"),
    ("logit", "nan", r"oof\.csv: logit must be finite numbers; row 1 has nan"),
    ("label", "2", r"oof\.csv: labels \(label\) must be 0 or 1; row 1 has 2"),
    ("id", "b", r"oof\.csv: id must hold whole numbers \(row numbers\); row 1 has 'b'"),
    ("snr_group", "loud", r"oof\.csv: snr_group must be numbers; row 1 has 'loud'"),
])
def test_an_oof_file_is_checked_as_it_is_read(tmp_path, column, value, message):
    rows = {"id": ["0", "1", "0"], "label": ["0", "1", "1"], "snr_group": ["5", "5", "5"],
            "logit": ["0.1", "0.2", "0.3"]}  # ids repeat: a combined file holds every fold
    rows[column][1] = value
    pd.DataFrame(rows).to_csv(tmp_path / "oof.csv", index=False)
    with pytest.raises(DataError, match=message):
        read_oof(tmp_path / "oof.csv")
    rows[column][1] = "1"
    pd.DataFrame(rows).to_csv(tmp_path / "oof.csv", index=False)
    assert read_oof(tmp_path / "oof.csv")["id"].tolist() == [0, 1, 0]
