"""Labelled sets read and checked in one place: labels, scores joined on ids, strain."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

from gwkit.core.errors import GwkitError
from gwkit.data import write_hdf5
from gwkit.data.labelled import ScoreSet, load_labels, load_scores, open_data


def _write(path, text: str):
    path.write_text(text)
    return path


def test_labels_carry_their_file_and_checked_columns(tmp_path):
    labels = load_labels(_write(tmp_path / "labels.csv", "id,target,snr\n0,0,5\n1,1,5.0\n"))
    assert labels.attrs["source"] == str(tmp_path / "labels.csv")
    assert labels["id"].dtype == np.int64 and labels["snr_group"].tolist() == [5.0, 5.0]


@pytest.mark.parametrize("text, message", [
    ("id,target\na,0\nb,1\n", r"labels .*labels\.csv: id must hold whole numbers"),
    ("id,target\n0,1\n1,1\n", r"labels .*labels\.csv: all 2 labelled rows are signals"),
    ("id,target,snr_group\n0,0,5\n1,1,\n", r"snr_group of a signal row must be finite numbers"),
    ("id,target,waveform_id\n0,0,-1\n1,1,w7\n", r"waveform_id must be numbers; row 1 has 'w7'"),
])
def test_bad_labels_are_one_line_errors_naming_the_file(tmp_path, text, message):
    with pytest.raises(GwkitError, match=message):
        load_labels(_write(tmp_path / "labels.csv", text))


def test_labels_of_a_npy_set_name_its_labels_csv(tmp_path):
    np.save(tmp_path / "test.npy", np.zeros((2, 1, 2, 8)))
    _write(tmp_path / "labels.csv", "id,label\n0,0\n1,0\n")
    with pytest.raises(GwkitError, match=r"labels .*labels\.csv: all 2 labelled rows are noise"):
        load_labels(tmp_path / "test.npy")


def test_h5_labels_are_checked_too(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 2, 64))
    write_hdf5(tmp_path / "one.h5", x, y=[1, 1])
    with pytest.raises(GwkitError, match=r"one\.h5: all 2 labelled rows are signals"):
        load_labels(tmp_path / "one.h5")
    write_hdf5(tmp_path / "text.h5", x, y=[0, 1], snr_group=[5.0, 5.0])
    with h5py.File(tmp_path / "text.h5", "r+") as f:
        del f["snr_group"]
        f["snr_group"] = np.array([b"5", b"loud"])
    with pytest.raises(GwkitError, match=r"text\.h5: snr_group must be numbers; row 1 has"):
        load_labels(tmp_path / "text.h5")


def test_a_join_names_the_scores_and_the_labels_files(tmp_path, capsys):
    labels = load_labels(_write(tmp_path / "labels.csv", "id,target\n0,0\n1,1\n2,1\n"))
    scores = _write(tmp_path / "s.csv", "id,score\n0,0.1\n7,0.9\n")
    with pytest.raises(GwkitError, match=r"s\.csv: 1 id\(s\) have no label in .*labels\.csv "
                                         r"\(first: id 7\)$"):
        load_scores(scores, name="s", labels=labels)
    _write(scores, "id,score\n1,0.1\n2,0.9\n")  # a subset of one class
    with pytest.raises(GwkitError, match=r"s\.csv with .*labels\.csv: all 2 labelled rows are "
                                         r"signals"):
        load_scores(scores, name="s", labels=labels)
    assert capsys.readouterr().err == ""  # no note before the error
    _write(scores, "id,score\n0,0.1\n2,0.9\n")
    assert load_scores(scores, name="s", labels=labels).y.tolist() == [0, 1]
    assert "scores 2 of the 3 rows of" in capsys.readouterr().err


def test_text_ids_in_scores_are_refused_before_the_join(tmp_path):
    labels = load_labels(_write(tmp_path / "labels.csv", "id,target\n0,0\n1,1\n"))
    with pytest.raises(GwkitError, match=r"scores .*s\.csv: id must hold whole numbers \(row "
                                         r"numbers\); row 1 has 'b'"):
        load_scores(_write(tmp_path / "s.csv", "id,score\n0,0.1\nb,0.9\n"), name="s",
                    labels=labels)


def test_absurd_scores_and_one_class_score_sets_are_refused(tmp_path):
    oof = _write(tmp_path / "oof.csv", "id,label,score\n0,0,0.1\n1,1,1e305\n")
    with pytest.raises(GwkitError, match=r"scores must be finite numbers; row 1 has 1e\+305"):
        load_scores(oof, name="a")
    with pytest.raises(GwkitError, match=r"^run a: all 2 labelled rows are noise"):
        ScoreSet("a", [0, 0], [0.1, 0.2], source="run a")
    with pytest.raises(GwkitError, match=r"^a: snr_group of a signal row must be a finite number; "
                                         r"row 1 has nan"):  # it would fall out of per-SNR numbers
        ScoreSet("a", [0, 1], [0.1, 0.2], snr_group=[np.nan, np.nan])


def test_an_h5_set_is_checked_before_scoring(tmp_path):
    x = np.random.default_rng(0).normal(size=(4, 2, 64))
    x[3, 1] = 0.0
    write_hdf5(tmp_path / "set.h5", x, y=[0, 1, 0, 1])
    with pytest.raises(GwkitError, match=r"set\.h5: L1 is constant \(0\) in row 3"):
        open_data(tmp_path / "set.h5")
    x[3, 1] = 1.0 + x[3, 0]
    write_hdf5(tmp_path / "set.h5", x, y=[0, 1, 0, 1])
    strain, labels, _ = open_data(tmp_path / "set.h5")
    assert strain.shape == (4, 2, 64) and isinstance(labels, pd.DataFrame)
