"""The hybrid detector end to end: fit a stacker on a run's held-out rows, predict without LALSuite."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from gwkit.core.metrics import roc_auc
from gwkit.engine import FixedSet
from gwkit.hybrid import main as hybrid_main
from gwkit.models import create_model, save_checkpoint
from gwkit.scoring.inference import find_checkpoints, load_detector, predict_logits
from gwkit.scoring.stack import Stacker, feature_table
from gwkit.scoring.submission import logits_path
from gwkit.sim.matched_filter import build_filter_bank
from gwkit.sim.mf_features import MatchedFilter

REPO = Path(__file__).resolve().parents[1]


def _rows(bank, whitened_noise, n: int, seed: int,
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Whitened noise rows (n, 2, N), half with a bank template at SNR 5-12 in channel 0."""
    rng = np.random.default_rng(seed)
    x = whitened_noise(n, rng).astype(np.float32)
    y = (np.arange(n) % 2).astype(np.float32)
    snr = rng.uniform(5, 12, n)
    wid = np.where(y > 0, np.arange(n) // 4, -1)  # each waveform twice
    for i in np.flatnonzero(y):
        x[i, 0] += snr[i] * np.roll(bank.templates[wid[i] % len(bank)], int(rng.integers(-300, 300)))
    return x, y, np.round(snr), wid


@pytest.fixture(scope="module")
def hybrid_run(heavy_template_bank, whitened_noise, tmp_path_factory) -> dict[str, Path]:
    """A one-fold run (an untrained network: its logits carry no information), its validation
    rows and OOF logits, a filter bank, and a labelled test.npy."""
    root = tmp_path_factory.mktemp("hybrid")
    run = root / "run"
    torch.manual_seed(0)
    save_checkpoint(run / "fold0" / "best.pt", create_model("resnet1d_tiny"),
                    config={"mode": "competition"})
    x, y, snr, wid = _rows(heavy_template_bank, whitened_noise, 64, seed=1)
    FixedSet(x, y, snr, wid, np.zeros((len(y), 2))).save(run / "fold0" / "val.h5")
    (ck,) = find_checkpoints([run])
    logit = predict_logits(load_detector(ck), x, [(1.0, False)], 32, "cpu")
    pd.DataFrame({"id": np.arange(len(y)), "label": y.astype(int), "snr_group": snr,
                  "waveform_id": wid, "logit": logit, "fold": 0}).to_csv(
        run / "fold0" / "oof.csv", index=False)
    build_filter_bank(heavy_template_bank, n_draws=20).save(root / "bank.h5")
    xt, yt, _, _ = _rows(heavy_template_bank, whitened_noise, 32, seed=2)
    (root / "data").mkdir()
    np.save(root / "data" / "test.npy", xt[:, None].astype(np.float64))
    np.save(root / "labels.npy", yt)
    return {"root": root, "run": run, "bank": root / "bank.h5"}


def test_fit_writes_a_stacker_that_sees_the_signals(hybrid_run, capsys):
    run = hybrid_run["run"]
    assert hybrid_main(["--runs", str(run), "--filter-bank", str(hybrid_run["bank"])]) == 0
    stacker = Stacker.load(run / "stacker.json")
    assert stacker.bank_path(run / "stacker.json") == run / "mf_bank.h5"
    stacked = stacker.cv["rejected_stack"]["auc"]  # logit + filter, measured and rejected
    assert stacked["mf_lse_time"] > 0.95 and stacked["stacked"] > 0.9  # the filter finds SNR 5-12
    assert abs(stacked["logit"] - 0.5) < 0.25  # the untrained network does not
    # so the stack, below the filter alone out of fold, does not ship: the filter alone does
    assert stacked["stacked"] < stacked["mf_lse_time"]
    assert stacker.features == ("mf_lse_time",)
    out = capsys.readouterr().out
    assert "hybrid CV AUC" in out and "the stacker uses mf_lse_time alone" in out


def test_predict_applies_the_stacker_without_lalsuite(hybrid_run):
    """In a process where `import lal` fails, predict still runs the hybrid: its logits are the
    stacker's on the network logit and the matched-filter features of the rows."""
    root, run = hybrid_run["root"], hybrid_run["run"]
    if not (run / "stacker.json").is_file():
        hybrid_main(["--runs", str(run), "--filter-bank", str(hybrid_run["bank"])])
    out = root / "sub" / "submission.csv"
    code = ("import sys, runpy; sys.modules.update(lal=None, lalsimulation=None); "
            "sys.argv = ['gwkit.predict'] + sys.argv[1:]; "
            "runpy.run_module('gwkit.predict', run_name='__main__')")
    done = subprocess.run(
        [sys.executable, "-c", code, "--runs", str(run), "--data", str(root / "data"),
         "--out", str(out), "--device", "cpu"],
        capture_output=True, text=True, cwd=root, timeout=600,
        env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "GWKIT_KAGGLE": "0",
             "PYTHONPATH": str(REPO), "HOME": str(root)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "hybrid: run" in done.stdout and "hybrid 0." in done.stdout
    x = np.load(root / "data" / "test.npy")[:, 0]
    with np.load(logits_path(out)) as z:
        network, hybrid = z["network/run"], z["hybrid/run"]
    stacker = Stacker.load(run / "stacker.json")
    from gwkit.sim.mf_features import FilterBank

    mf = MatchedFilter(FilterBank.load(run / "mf_bank.h5")).features(x)
    np.testing.assert_allclose(hybrid, stacker.decision(feature_table(network, mf)), rtol=1e-5)
    y = np.load(root / "labels.npy")
    assert roc_auc(y, hybrid) > 0.9 > roc_auc(y, network) + 0.15
    record = json.loads(out.with_name("submission.provenance.json").read_text())
    assert record["runs"]["run"]["stacker"] == str((run / "stacker.json").resolve())


def test_the_stacker_cv_goes_to_the_loggers_the_run_asks_for(hybrid_run, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from gwkit.training.config import TrainConfig, save_config

    run = tmp_path / "run"
    shutil.copytree(hybrid_run["run"] / "fold0", run / "fold0")
    save_config(TrainConfig(name="run", logger=["csv", "tensorboard"]), run / "config.yaml")
    assert hybrid_main(["--runs", str(run), "--filter-bank", str(hybrid_run["bank"])]) == 0
    cv = Stacker.load(run / "stacker.json").cv
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    logged = {tag: [(e.step, e.value) for e in events.Scalars(tag)]
              for tag in events.Tags()["scalars"]}
    assert logged["hybrid/cv_auc"] == [(0, pytest.approx(cv["auc"]["stacked"]))]
    for name, auc in cv["rejected_stack"]["auc"].items():  # every candidate, the stack too
        assert logged[f"hybrid/auc_{name}"] == [(0, pytest.approx(auc))]


def test_a_run_without_its_validation_sets_is_refused(hybrid_run, tmp_path):
    run = tmp_path / "run"
    (run / "fold0").mkdir(parents=True)
    (run / "fold0" / "oof.csv").write_text("id,target\n")
    with pytest.raises(SystemExit, match="val.h5"):
        hybrid_main(["--runs", str(run), "--filter-bank", str(hybrid_run["bank"])])


def test_evaluate_scores_the_hybrid_beside_the_network(hybrid_run, tmp_path):
    from gwkit.data import write_hdf5
    from gwkit.evaluate import main as evaluate_main

    root, run = hybrid_run["root"], hybrid_run["run"]
    if not (run / "stacker.json").is_file():
        hybrid_main(["--runs", str(run), "--filter-bank", str(hybrid_run["bank"])])
    x = np.load(root / "data" / "test.npy")[:, 0].astype(np.float32)
    y = np.load(root / "labels.npy").astype(int)
    data = write_hdf5(tmp_path / "set.h5", x, y=y, snr_group=np.full(len(y), 8.0),
                      attrs={"mode": "competition"})
    out = tmp_path / "rep"
    assert evaluate_main(["--runs", str(run), "--data", str(data), "--matched-filter",
                          "--device", "cpu", "--bootstrap", "20", "--no-plots",
                          "--out", str(out)]) == 0
    sets = json.loads((out / "report.json").read_text())["sets"]
    assert set(sets) == {"run", "run+mf", "matched_filter", "mf_bayes"}
    assert sets["run+mf"]["auc"] > 0.9 and sets["run+mf"]["auc"] > sets["run"]["auc"] + 0.15
