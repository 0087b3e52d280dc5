"""One meaning per column name, and tables written before read with the current names."""

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from gwkit.data import load_hdf5, write_hdf5
from gwkit.data.columns import OOF_COLUMNS, read_oof, upgrade_labelled

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
    path = write_hdf5(tmp_path / "new.h5", np.zeros((2, 2, 64), np.float32), y=[0, 1],
                      snr_group=[5.0, 5.0], params=pd.DataFrame({"label": [0, 1]}))
    with h5py.File(path, "r+") as f:  # the layout of files written before: snr, params/target
        f.move("snr_group", "snr")
        f["params"].move("label", "target")
        f["params"].attrs["columns"] = ["target"]
    data = load_hdf5(path, nsamples=None)
    np.testing.assert_array_equal(data.snr_group, [5.0, 5.0])
    assert list(data.params.columns) == ["label"]
