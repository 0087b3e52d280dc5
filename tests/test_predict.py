"""gwkit.predict: fold and run ensembles of logits, validated atomic output, provenance, CV AUC."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from gwkit.models import create_model, load_checkpoint, save_checkpoint
from gwkit.predict import main
from gwkit.scoring.inference import find_checkpoints, submission_target
from gwkit.scoring.submission import (
    SubmissionError,
    logits_path,
    read_provenance,
    validate_submission,
    write_submission,
)

N = 6
MODEL = "gabbard2018"


def _oof(path: Path, ids, seed: int) -> None:
    rng = np.random.default_rng(seed)
    label = np.array([i % 2 for i in ids])
    logit = label * 1.5 + rng.normal(size=len(ids))
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": ids, "label": label, "snr_group": 10.0, "waveform_id": ids,
                  "logit": logit}).to_csv(path, index=False)


def _make_run(root: Path, name: str, *, folds: int = 2, seed: int = 0, same: bool = False,
              mode: str = "competition", oof_ids=None) -> Path:
    run = root / name
    for k in range(folds):
        torch.manual_seed(seed if same else seed + k)
        model = create_model(MODEL)
        save_checkpoint(run / f"fold{k}" / "best.pt", model, config={"mode": mode, "fold": k})
        if oof_ids is not None:
            ids = [i for i in oof_ids if i % folds == k]
            _oof(run / f"fold{k}" / "oof.csv", ids, seed + k)
    return run


@pytest.fixture(scope="module")
def test_npy(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "test.npy"
    x = np.random.default_rng(0).normal(size=(N, 1, 2, 16384))
    np.save(path, x)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    ids = list(range(40))
    return {
        "a": _make_run(root, "run_a", seed=1, oof_ids=ids),
        "same": _make_run(root, "run_same", seed=7, same=True),
        "b": _make_run(root, "run_b", seed=3, folds=1, mode="physical", oof_ids=ids),
    }


def _predict(tmp_path, test_npy, *run_dirs, extra=()) -> tuple[pd.DataFrame, Path]:
    out = tmp_path / "sub" / "submission.csv"
    rc = main(["--runs", *map(str, run_dirs), "--data", str(test_npy), "--out", str(out),
               "--batch-size", "4", "--device", "cpu", *extra])
    assert rc == 0
    return validate_submission(out, n_expected=N), out


def test_single_run_writes_csv_provenance_and_fold_logits(tmp_path, test_npy, runs, capsys):
    df, out = _predict(tmp_path, test_npy, runs["a"])
    assert out.read_text().splitlines()[0] == "id,target"
    assert list(df["id"]) == list(range(N))
    with np.load(logits_path(out)) as z:
        assert sorted(z.files) == ["fold/run_a/fold0", "fold/run_a/fold1", "network/run_a",
                                   "score"]
        z0, z1, score = z["fold/run_a/fold0"], z["fold/run_a/fold1"], z["score"]
    assert z0.shape == (N,) and not np.allclose(z0, z1)
    np.testing.assert_allclose(score, (z0 + z1) / 2)  # the mean logit of the folds
    np.testing.assert_allclose(df["target"], submission_target(score), rtol=1e-12)
    record = read_provenance(out)
    assert record["input"]["path"] == str(test_npy.resolve())
    assert record["runs"]["run_a"]["folds"] == ["fold0", "fold1"]
    assert record["runs"]["run_a"]["stacker"] is None and record["tta"] == "none"
    assert "CV AUC run_a: network 0." in capsys.readouterr().out


def test_mean_of_identical_folds_equals_one_fold(tmp_path, test_npy, runs):
    df, _ = _predict(tmp_path, test_npy, runs["same"])
    df1, _ = _predict(tmp_path / "one", test_npy, runs["same"] / "fold0" / "best.pt")
    np.testing.assert_allclose(df["target"], df1["target"], rtol=1e-12)


@pytest.mark.parametrize("method", ["logit", "rank"])
def test_logit_and_rank_ensembles_are_valid(tmp_path, test_npy, runs, method, capsys):
    df, out = _predict(tmp_path, test_npy, runs["a"], runs["b"], extra=["--ensemble", method])
    assert df["target"].between(0, 1).all()
    with np.load(logits_path(out)) as z:
        a, b = z["network/run_a"], z["network/run_b"]
    if method == "rank":
        assert df["target"].mean() == pytest.approx(0.5)  # scaled ranks average to 1/2
    else:
        np.testing.assert_allclose(df["target"], submission_target((a + b) / 2), rtol=1e-12)
    out = capsys.readouterr().out
    assert "CV AUC run_a: network 0." in out and "CV AUC run_b: network 0." in out
    assert f"CV AUC ensemble of networks ({method}): 0." in out  # both share OOF ids 0..39


def _logit(checkpoint: Path, x: torch.Tensor) -> np.ndarray:
    model, _ = load_checkpoint(checkpoint)
    with torch.no_grad():
        return model.eval()(x).double()[:, 0].numpy()


def test_tta_averages_the_logits_of_each_checkpoints_views(tmp_path, test_npy, runs, capsys):
    """--tta all: x and -x for a competition-mode checkpoint; also the detector swap in physical."""
    df, out = _predict(tmp_path, test_npy, runs["a"], runs["b"], extra=["--tta", "all"])
    assert len(df) == N
    text = capsys.readouterr().out
    assert "run_b/fold0: best.pt mode=physical views=4" in text
    assert "run_a/fold0: best.pt mode=competition views=2" in text
    x = torch.from_numpy(np.load(test_npy)[:, 0]).float()
    a0, b0 = runs["a"] / "fold0" / "best.pt", runs["b"] / "fold0" / "best.pt"
    with np.load(logits_path(out)) as z:
        assert len([f for f in z.files if f.startswith("fold/")]) == 3
        tta_a, tta_b = z["fold/run_a/fold0"], z["fold/run_b/fold0"]
    np.testing.assert_allclose(tta_a, (_logit(a0, x) + _logit(a0, -x)) / 2, rtol=1e-5, atol=1e-6)
    views = [x, -x, x.flip(1), -x.flip(1)]
    np.testing.assert_allclose(tta_b, np.mean([_logit(b0, v) for v in views], axis=0),
                               rtol=1e-5, atol=1e-6)
    assert not np.allclose(tta_a, _logit(a0, x))  # the views differ: TTA changed the scores


def test_weights_folder_layout(tmp_path):
    folder = tmp_path / "weights" / MODEL
    save_checkpoint(folder / "fold0.pt", create_model(MODEL), config={"mode": "competition"})
    found = find_checkpoints([tmp_path / "weights"])
    assert [(c.run, c.fold) for c in found] == [(MODEL, "fold0")]


def test_missing_checkpoint_is_a_clear_error(tmp_path, test_npy):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as err:
        main(["--runs", str(tmp_path / "empty"), "--data", str(test_npy),
              "--out", str(tmp_path / "s.csv")])
    assert "no checkpoint found" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(SystemExit, match="does not exist"):
        main(["--runs", str(tmp_path / "nope"), "--data", str(test_npy)])
    assert not (tmp_path / "s.csv").exists()


def test_missing_data_is_a_clear_error(tmp_path, runs):
    with pytest.raises(SystemExit) as err:
        main(["--runs", str(runs["a"]), "--data", str(tmp_path / "nodata"),
              "--out", str(tmp_path / "s.csv")])
    assert "test.npy" in str(err.value) and "\n" not in str(err.value)


def test_failure_never_overwrites_existing_submission(tmp_path, test_npy, runs, monkeypatch):
    out = tmp_path / "submission.csv"
    out.write_text("id,target\n0,0.5\n")  # an existing (here: stale) file
    before = out.read_bytes()
    import gwkit.predict as predict
    import gwkit.scoring.inference as inference

    monkeypatch.setattr(inference, "predict_logits", lambda *a, **k: np.full(N, np.nan))
    with pytest.raises(SystemExit, match="non-finite"):
        main(["--runs", str(runs["a"]), "--data", str(test_npy), "--out", str(out)])
    monkeypatch.setattr(predict, "submission_target", lambda score: np.full(N, 1.5))
    monkeypatch.setattr(inference, "predict_logits", lambda *a, **k: np.zeros(N))
    with pytest.raises(SystemExit, match="refusing to write"):
        main(["--runs", str(runs["a"]), "--data", str(test_npy), "--out", str(out)])
    assert out.read_bytes() == before
    assert not (tmp_path / "submission.provenance.json").exists()
    # the logits archive of the refused run may remain, named by the CSV; no temp files
    assert {p.name for p in tmp_path.iterdir()} <= {"submission.csv", "submission.logits.npz"}


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("text, problem", [
    ("", "empty"),
    ("id,prediction\n0,0.5\n", "header"),
    ("target,id\n0.5,0\n", "header"),
    ("id,target\n", "no rows"),
    ("id,target\n1,0.5\n0,0.5\n", "file order"),
    ("id,target\n0,0.5\n2,0.5\n", "file order"),
    ("id,target\n0,nan\n", "finite"),
    ("id,target\n0,\n", "finite"),
    ("id,target\n0,inf\n", "finite"),
    ("id,target\n0,1.5\n", "[0, 1]"),
    ("id,target\n0,-0.1\n", "[0, 1]"),
    ("id,target\nx,0.5\n", "non-numeric id"),
])
def test_validate_rejects(tmp_path, text, problem):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(SubmissionError) as err:
        validate_submission(path)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_validate_counts_and_accepts(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text("id,target\n0,0\n1,1\n2,0.25\n")
    df = validate_submission(path, n_expected=3)
    assert df["target"].tolist() == [0.0, 1.0, 0.25]
    with pytest.raises(SubmissionError, match="3 rows, expected 4"):
        validate_submission(path, n_expected=4)
    with pytest.raises(SubmissionError, match="no such"):
        validate_submission(tmp_path / "missing.csv")
    with pytest.raises(SubmissionError, match="columns"):
        validate_submission(pd.DataFrame({"id": [0], "score": [0.1]}))


def test_write_submission_refuses_bad_targets(tmp_path):
    out = tmp_path / "submission.csv"
    write_submission(out, np.array([0.1, 0.9]), n_expected=2)
    good = out.read_bytes()
    with pytest.raises(SubmissionError):
        write_submission(out, np.array([0.1, np.nan]))
    with pytest.raises(SubmissionError):
        write_submission(out, np.array([0.1, 0.2, 0.3]), n_expected=2)
    assert out.read_bytes() == good


def test_resolve_duplicates_uses_the_shared_seed():
    from gwkit.data.duplicates import resolve_duplicates
    from gwkit.sim.generator import simulate_competition

    x, params = simulate_competition((4.0, 20.0), per_snr=12, block_rows=10, nnoise=2, seed=2)
    scores = np.full(len(params), 0.5)
    new, n0, n1 = resolve_duplicates(x, scores)
    changed = new != 0.5
    assert n0 + n1 == changed.sum() > 0 and n1 > 0
    y = params.label.to_numpy()
    # a channel 0 that differs under shared channel-1 noise is certainly a signal
    assert np.all(y[new == 1.0] == 1)
    # identical rows are noise, unless one signal row was drawn twice within one SNR group
    twice = params.duplicated(["snr_group", "block_row"], keep=False).to_numpy()
    assert np.all(y[(new == 0.0) & ~twice] == 0)
