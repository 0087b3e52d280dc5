"""python -m gwkit.evaluate: the command on scores CSVs, labelled sets, runs and the matched filter; its errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from gwkit.evaluate import main

PNG = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- CLI


def test_cli_on_scores_csvs(tmp_path, capsys, synthetic_scores):
    a, b = synthetic_scores(seed=0), synthetic_scores(seed=1)
    a.to_csv(tmp_path / "a.csv", index=False)
    run = tmp_path / "runs" / "myrun"
    run.mkdir(parents=True)
    b.to_csv(run / "oof.csv", index=False)
    out = tmp_path / "rep"
    assert main(["--scores", str(tmp_path / "a.csv"), str(run / "oof.csv"), "--out", str(out),
                 "--bootstrap", "50"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert list(rep["sets"]) == ["a", "myrun"]
    assert rep["sets"]["a"]["auc"] == pytest.approx(roc_auc_score(a["target"], a["score"]))
    assert rep["sets"]["a"]["pauc"] == roc_auc_score(a["target"], a["score"], max_fpr=1e-3)
    out = capsys.readouterr().out
    assert "| metric | a | myrun |" in out and "| pAUC @ FPR <= 0.001 |" in out


def test_cli_joins_labels_from_csv_and_h5(tmp_path, synthetic_scores):
    from gwkit.data import write_hdf5

    df = synthetic_scores()
    labels = df[["id", "target", "snr"]]
    labels.to_csv(tmp_path / "labels.csv", index=False)
    write_hdf5(tmp_path / "set.h5", np.zeros((len(df), 2, 64)), y=df["target"], snr_group=df["snr"])
    shuffled = df.sample(frac=1.0, random_state=0)
    shuffled[["id", "score"]].to_csv(tmp_path / "scores.csv", index=False)
    shuffled[["id", "score"]].rename(columns={"score": "target"}).to_csv(  # a submission file
        tmp_path / "submission.csv", index=False)
    expected = roc_auc_score(df["target"], df["score"])
    for labels_file in ("labels.csv", "set.h5"):
        out = tmp_path / f"rep_{labels_file}"
        main(["--scores", str(tmp_path / "scores.csv"), str(tmp_path / "submission.csv"),
              "--names", "s", "sub", "--labels", str(tmp_path / labels_file), "--out", str(out),
              "--bootstrap", "20", "--no-plots"])
        rep = json.loads((out / "report.json").read_text())
        assert rep["sets"]["s"]["auc"] == pytest.approx(expected)
        assert rep["sets"]["sub"]["auc"] == pytest.approx(expected)
        assert set(rep["sets"]["s"]["per_snr_auc"]) == {"5", "10", "20"}


def test_cli_errors(tmp_path, synthetic_scores):
    df = synthetic_scores()
    df[["id", "score"]].to_csv(tmp_path / "nolabels.csv", index=False)
    with pytest.raises(SystemExit, match="no label column"):
        main(["--scores", str(tmp_path / "nolabels.csv"), "--out", str(tmp_path / "r")])
    with pytest.raises(SystemExit, match="nothing to evaluate"):
        main([])
    with pytest.raises(SystemExit, match="need --data"):
        main(["--matched-filter"])
    with pytest.raises(SystemExit, match="names"):
        main(["--scores", str(tmp_path / "nolabels.csv"), "--names", "a", "b"])
    pd.DataFrame({"id": [0, 1], "score": [0.1, 0.9]}).to_csv(tmp_path / "s.csv", index=False)
    pd.DataFrame({"id": [0, 5], "target": [0, 1]}).to_csv(tmp_path / "l.csv", index=False)
    with pytest.raises(SystemExit, match="no label"):
        main(["--scores", str(tmp_path / "s.csv"), "--labels", str(tmp_path / "l.csv")])


def test_cli_report_stays_in_reports_and_keeps_earlier_ones(tmp_path, monkeypatch, capsys, synthetic_scores):
    """Issue 14 item 6: --scores ../submission.csv was named '..' and wrote into the cwd."""
    df = synthetic_scores()
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    df[["id", "target"]].to_csv(work / "labels.csv", index=False)
    df[["id", "score"]].rename(columns={"score": "target"}).to_csv(work / "submission.csv",
                                                                    index=False)
    monkeypatch.chdir(work / "sub")
    args = ["--scores", "../submission.csv", "--labels", "../labels.csv", "--bootstrap", "10",
            "--no-plots"]
    assert main(args) == 0
    assert sorted(p.name for p in (work / "sub").iterdir()) == ["reports"]
    first = work / "sub" / "reports" / "work" / "report.json"
    before = first.read_bytes()
    capsys.readouterr()
    assert main([*args, "--bootstrap", "20"]) == 0  # the default --out keeps the first report
    assert first.read_bytes() == before
    assert (work / "sub" / "reports" / "work-2" / "report.json").is_file()
    assert "reports/work holds an earlier report, kept; writing reports/work-2" in \
        capsys.readouterr().err
    assert sorted(p.name for p in work.iterdir()) == ["labels.csv", "sub", "submission.csv"]


@pytest.mark.parametrize("column, value, message", [
    ("score", np.nan, r"scores must be finite numbers; row 3 has nan"),
    ("score", np.inf, r"scores must be finite numbers; row 3 has inf"),
    ("score", "high", r"scores must be finite numbers; row 3 has 'high'"),
    ("target", 2, r"labels \(target\) must be 0 or 1; row 3 has 2"),
    ("target", np.nan, r"labels \(target\) must be 0 or 1; row 3 has nan"),
])
def test_cli_bad_scores_and_labels_are_one_line_errors(tmp_path, column, value, message, synthetic_scores):
    df = synthetic_scores().astype({column: object})
    df.loc[3, column] = value
    df.to_csv(tmp_path / "oof.csv", index=False)
    with pytest.raises(SystemExit, match=message) as err:
        main(["--scores", str(tmp_path / "oof.csv"), "--out", str(tmp_path / "r")])
    assert str(tmp_path / "oof.csv") in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "r").exists()


def test_cli_nan_label_is_not_called_missing(tmp_path):
    pd.DataFrame({"id": [0, 1], "score": [0.1, 0.9]}).to_csv(tmp_path / "s.csv", index=False)
    (tmp_path / "l.csv").write_text("id,target\n0,0\n1,\n")
    with pytest.raises(SystemExit, match=r"l.csv: labels \(target\) must be 0 or 1; row 1 has nan"):
        main(["--scores", str(tmp_path / "s.csv"), "--labels", str(tmp_path / "l.csv")])


def test_cli_run_built_for_another_length_is_one_line(tmp_path):
    from gwkit.data import write_hdf5
    from gwkit.models import create_model, save_checkpoint

    data = write_hdf5(tmp_path / "set.h5", np.random.default_rng(0).normal(size=(4, 2, 4096))
                      .astype(np.float32), y=[0, 1, 0, 1])  # noise: zeros are refused
    save_checkpoint(tmp_path / "run" / "fold0.pt",
                    create_model("resnet1d_tiny", input_length=2048, global_pool="flatten"))
    with pytest.raises(SystemExit) as err:
        main(["--runs", str(tmp_path / "run"), "--data", str(data), "--device", "cpu",
              "--out", str(tmp_path / "rep")])
    assert "fold0.pt: resnet1d_tiny was built for inputs of 2048 samples per detector, the " \
           "data has 4096" in str(err.value)
    assert "\n" not in str(err.value) and not (tmp_path / "rep").exists()


def test_cli_scores_runs_and_matched_filter_on_a_labelled_h5(tmp_path, whitened_noise):
    """End to end: a fold checkpoint and the matched filter score the same 12-row HDF5 set."""
    from gwkit.data import write_hdf5
    from gwkit.models import create_model, save_checkpoint
    from gwkit.sim.matched_filter import TemplateBank
    from gwkit.sim.mf_features import FilterBank

    bank = TemplateBank.build(1, min_match=None, seed=0)  # one template from the prior
    bank_path = FilterBank.from_templates(bank).save(tmp_path / "filters.h5")
    x = whitened_noise(12, seed=0)
    y = np.arange(12) % 2
    x[y == 1, 0] += 12 * np.roll(bank.templates[0].astype(np.float64), 200)
    params = pd.DataFrame({"waveform_id": np.where(y == 1, np.arange(12) // 2, -1)})
    data = write_hdf5(tmp_path / "set.h5", x.astype(np.float32), y=y, snr_group=np.full(12, 12.0),
                      params=params, attrs={"mode": "competition"})
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "runs" / "tiny" / "fold0" / "best.pt", create_model("gabbard2018"),
                    config={"mode": "competition"})
    out = tmp_path / "rep"
    assert main(["--runs", str(tmp_path / "runs" / "tiny"), "--data", str(data), "--matched-filter",
                 "--filter-bank", str(bank_path), "--device", "cpu", "--batch-size", "4",
                 "--bootstrap", "20", "--out", str(out)]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert set(rep["sets"]) == {"tiny", "matched_filter", "mf_bayes"}
    assert rep["sets"]["matched_filter"]["auc"] == 1.0 and rep["sets"]["mf_bayes"]["auc"] == 1.0
    mf = pd.read_csv(out / "scores_matched_filter.csv")
    assert list(mf.columns[:4]) == ["id", "label", "snr_group", "waveform_id"]
    assert np.all(mf.loc[mf["label"] == 1, "score"] > 8)
    fs = bank.recipe.sample_rate
    np.testing.assert_allclose(mf.loc[mf["label"] == 1, "mf_time"] * fs, bank.ref_index + 200,
                               atol=12)
    tiny = pd.read_csv(out / "scores_tiny.csv")
    assert np.isfinite(tiny["score"]).all() and len(tiny) == 12  # logits
    assert (out / "roc_snr_matched_filter.png").read_bytes().startswith(PNG)
