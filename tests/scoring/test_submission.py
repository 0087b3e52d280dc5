"""gwkit.scoring.submission: strict CSV rows and ids, provenance sidecar."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gwkit.scoring.submission import (
    ProvenanceError,
    SubmissionError,
    input_problem,
    input_record,
    provenance_path,
    read_provenance,
    validate_submission,
    write_submission,
)


@pytest.mark.parametrize("text, problem", [
    # pandas made the first of three fields an index and read "id,target" from the rest
    ("id,target\n0,0,0.5\n1,1,0.5\n", "row 0 (line 2) has 3 field(s), expected 2"),
    ("id,target\n0,0.5\n1,0.5,7\n", "row 1 (line 3) has 3 field(s)"),
    ("id,target\n0,0.5\n1\n", "row 1 (line 3) has 1 field(s)"),
    ("id,target\n0.0,0.5\n1.0,0.5\n", "integers written as integers ('0', not '0.0'); row 0"),
    ("id,target\n0,0.5\n1e0,0.5\n", "integers written as integers"),
    ("id,target\n0,0.5\n-1,0.5\n", "integers written as integers"),
])
def test_rows_need_exactly_two_fields_and_integer_ids(tmp_path, text, problem):
    path = tmp_path / "submission.csv"
    path.write_text(text)
    with pytest.raises(SubmissionError) as err:
        validate_submission(path)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_dataframe_ids_written_as_floats_are_refused():
    with pytest.raises(SubmissionError, match="integers written as integers"):
        validate_submission(pd.DataFrame({"id": [0.0, 1.0], "target": [0.1, 0.2]}))
    ok = validate_submission(pd.DataFrame({"id": [0, 1], "target": [0.1, 0.2]}))
    assert ok["id"].tolist() == [0, 1]


def test_trailing_blank_lines_and_crlf_are_fine(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(b"id,target\r\n0,0.5\r\n1,1\r\n\r\n")
    assert validate_submission(path, n_expected=2)["target"].tolist() == [0.5, 1.0]


# --------------------------------------------------------------------------- provenance


def _sim_set(folder, labelled: bool):
    folder.mkdir(parents=True)
    np.save(folder / "test.npy", np.zeros((2, 1, 2, 8)))
    if labelled:
        (folder / "labels.csv").write_text("id,target\n0,0\n1,1\n")
    return folder / "test.npy"


def test_provenance_round_trip_and_stale_sidecar(tmp_path):
    data = _sim_set(tmp_path / "real", labelled=False)
    out = tmp_path / "sub" / "submission.csv"
    prov = {"input": input_record(data), "runs": ["weights/x"], "folds": ["fold0"],
            "tta": "none", "ensemble": "mean"}
    write_submission(out, np.array([0.2, 0.8]), n_expected=2, provenance=prov)
    side = provenance_path(out)
    assert side == tmp_path / "sub" / "submission.provenance.json"
    record = read_provenance(out)
    assert record["runs"] == ["weights/x"] and record["tta"] == "none"
    assert record["input"]["size"] == data.stat().st_size and record["csv"]["rows"] == 2
    assert input_problem(record, reference=data) is None
    assert "no competition test.npy found" in input_problem(record)  # fails closed
    assert sorted(p.name for p in out.parent.iterdir()) == ["submission.csv",
                                                            "submission.provenance.json"]

    write_submission(out, np.array([0.3, 0.7]))  # a CSV made without provenance
    with pytest.raises(ProvenanceError, match="stale"):
        read_provenance(out)
    side.write_text("{not json")
    with pytest.raises(ProvenanceError, match="unreadable"):
        read_provenance(out)
    side.unlink()
    assert read_provenance(out) is None


def test_sidecar_of_another_csv_is_refused(tmp_path):
    """A sidecar copied beside another CSV with the same bytes still names its own CSV."""
    write_submission(tmp_path / "a.csv", np.array([0.5]), provenance={"note": "x"})
    (tmp_path / "b.csv").write_bytes((tmp_path / "a.csv").read_bytes())
    provenance_path(tmp_path / "b.csv").write_bytes(provenance_path(tmp_path / "a.csv").read_bytes())
    with pytest.raises(ProvenanceError, match=r"is for another file \('a.csv'\), not b.csv"):
        read_provenance(tmp_path / "b.csv")


def test_trio_is_written_together_and_vouched_for(tmp_path):
    """Logits, CSV and sidecar appear together; the sidecar records both files' sha256."""
    from gwkit.core.fileio import file_sha256
    from gwkit.scoring.submission import logits_path, submission_outputs

    out = tmp_path / "submission.csv"
    assert submission_outputs(out, logits=True) == [out, logits_path(out), provenance_path(out)]
    write_submission(out, np.array([0.5, 0.25]), provenance={"note": "x"},
                     logits={"score": np.array([0.0, -1.1])})
    record = read_provenance(out)
    assert record["logits_file"] == {"name": "submission.logits.npz",
                                     "sha256": file_sha256(logits_path(out))}
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ValueError, match="plain JSON"):  # fails before anything is staged
        write_submission(out, np.array([0.1, 0.2]), provenance={"bad": object()},
                         logits={"score": np.zeros(2)})
    with pytest.raises(ValueError, match="not valid"):  # fails while staging: nothing replaced
        write_submission(out, np.array([0.1, 0.2]), provenance={"note": "y"},
                         logits={"score": _Unsaveable()})
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


class _Unsaveable:
    def __array__(self, *args, **kwargs):
        raise ValueError("not valid")


def test_input_problem_spots_simulated_sets_and_other_files(tmp_path):
    sim = _sim_set(tmp_path / "demo", labelled=True)
    record = {"input": input_record(sim)}
    assert record["input"]["simulated"] is True
    assert "simulated set (labels.csv beside it)" in input_problem(record)
    real = _sim_set(tmp_path / "real", labelled=False)
    assert "is a simulated set (labels.csv beside it)" in \
        input_problem({"input": input_record(real)}, reference=sim)
    assert "records no sha256" in input_problem({"input": {"path": str(real)}}, reference=real)

    other = _sim_set(tmp_path / "other", labelled=False)
    downloaded = tmp_path / "data" / "test.npy"
    downloaded.parent.mkdir()
    np.save(downloaded, np.ones((2, 1, 2, 8)))
    problem = input_problem({"input": input_record(other)}, reference=downloaded)
    assert "content differs from" in problem and str(downloaded) in problem
    assert input_problem({"runs": []}) == "the provenance records no input file"


def test_provenance_must_be_plain_json(tmp_path):
    out = tmp_path / "submission.csv"
    with pytest.raises(ValueError, match="plain JSON"):
        write_submission(out, np.array([0.5]), provenance={"input": {"path": object()}})
    with pytest.raises(ValueError, match="reserved"):
        write_submission(out, np.array([0.5]), provenance={"csv": 1})
    assert list(tmp_path.iterdir()) == []
    write_submission(out, np.array([0.5]), provenance={"note": "x"})
    assert json.loads(provenance_path(out).read_text())["note"] == "x"
