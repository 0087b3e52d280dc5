"""gwkit.scoring.inference: checkpoint discovery, detection logits, ensembles, the submission map."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from gwkit.models import create_model, save_checkpoint
from gwkit.scoring.inference import (
    InferenceError,
    ensemble,
    find_checkpoints,
    load_detector,
    predict_logits,
    submission_target,
    tta_views,
)

MODEL = "gabbard2018"


def test_tta_views():
    assert tta_views("none", "competition") == [(1.0, False)]
    assert tta_views("flip", "physical") == [(1.0, False), (-1.0, False)]
    assert len(tta_views("all", "competition")) == 2  # no detector swap in competition mode
    assert len(tta_views("all", "physical")) == 4
    with pytest.raises(ValueError, match="tta"):
        tta_views("mirror", "competition")


def test_ensemble_math():
    z1, z2 = np.array([-2.0, 0.0, 3.0]), np.array([0.0, 1.0, 2.0])
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    np.testing.assert_allclose(ensemble([[z1, z2]]), (z1 + z2) / 2)  # default: mean logit
    np.testing.assert_allclose(ensemble([[z1, z2]], "mean"), logit((sig(z1) + sig(z2)) / 2))
    np.testing.assert_allclose(ensemble([[z1], [z2]], "rank"), [0.0, 0.5, 1.0])
    # runs weigh equally whatever their fold count
    np.testing.assert_allclose(ensemble([[z1, z1, z1], [z2]]), (z1 + z2) / 2)
    with pytest.raises(ValueError, match="nothing"):
        ensemble([[]])


def test_submission_target_is_the_sigmoid_then_a_tail_that_never_ties():
    s = np.array([-5.0, -1.0, 0.0, 2.0, 19.9])
    np.testing.assert_allclose(submission_target(s), 1 / (1 + np.exp(-s)), rtol=1e-12)
    loud = np.array([30.0, 37.0, 40.0, 100.0, 1e3, 1e4])  # float64's sigmoid: 1.0 from ~37 on
    assert len(np.unique(1 / (1 + np.exp(-loud)))) < len(loud)
    t = submission_target(np.r_[-loud[::-1], s, loud])
    assert np.all(np.diff(t) > 0) and t.min() > 0 and t.max() < 1
    # the written CSV keeps them apart too
    assert len({f"{v:.17g}" for v in t}) == t.size
    with pytest.raises(ValueError, match="finite"):
        submission_target(np.array([np.nan]))


def test_discovery_skips_hidden_files_and_folders(tmp_path):
    run = tmp_path / "weights" / "run"
    save_checkpoint(run / "fold0.pt", create_model(MODEL))
    # what a writer killed mid-save leaves behind, and a hidden folder of runs
    (run / ".fold1.pt.tmp-host-123-abc.pt").write_bytes(b"partial")
    save_checkpoint(tmp_path / "weights" / ".trash" / "fold0.pt", create_model(MODEL))
    found = find_checkpoints([tmp_path / "weights"])
    assert [(c.run, c.fold) for c in found] == [("run", "fold0")]
    with pytest.raises(InferenceError, match="does not exist"):
        find_checkpoints([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InferenceError, match="no checkpoint found"):
        find_checkpoints([tmp_path / "empty"])


def test_discovery_imports_no_torch(tmp_path):
    """Finding checkpoints (exported files told apart by name) stays light: no torch import."""
    save_checkpoint(tmp_path / "run" / "fold0.pt", create_model(MODEL))
    (tmp_path / "run.onnx").write_bytes(b"")
    code = ("import sys; from gwkit.scoring.inference import find_checkpoints; "
            f"found = find_checkpoints([{str(tmp_path / 'run')!r}, {str(tmp_path / 'run.onnx')!r}]); "
            "print(len(found), 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "False"]


def test_two_output_models_score_the_log_odds_of_the_signal_class(tmp_path):
    torch.manual_seed(0)
    model = create_model(MODEL, num_classes=2)
    save_checkpoint(tmp_path / "run" / "fold0.pt", model)
    (ck,) = find_checkpoints([tmp_path / "run"])
    det = load_detector(ck, nsamples=16384)
    assert det.num_outputs == 2
    x = np.random.default_rng(1).normal(size=(3, 2, 16384)).astype(np.float32)
    with torch.inference_mode():
        out = det.model(torch.from_numpy(x)).double().numpy()
    z = predict_logits(det, x, [(1.0, False)], 2, "cpu")
    np.testing.assert_allclose(z, out[:, 1] - out[:, 0], rtol=1e-4, atol=1e-7)
    assert not np.allclose(z, out[:, 0], rtol=1e-2)  # not the noise class


def test_a_model_for_another_length_is_refused(tmp_path):
    model = create_model("resnet1d_tiny", global_pool="flatten", input_length=4096)
    save_checkpoint(tmp_path / "run" / "fold0.pt", model)
    (ck,) = find_checkpoints([tmp_path / "run"])
    with pytest.raises(InferenceError, match="4096"):
        load_detector(ck, nsamples=16384)
    assert load_detector(ck, nsamples=4096).input_length == 4096


def test_tta_flip_averages_the_logits_of_both_signs(tmp_path):
    torch.manual_seed(3)
    model = create_model(MODEL)
    x = np.random.default_rng(2).normal(size=(4, 2, 16384)).astype(np.float32)
    plain = predict_logits(model, x, [(1.0, False)], 4, "cpu")
    flipped = predict_logits(model, -x, [(1.0, False)], 4, "cpu")
    both = predict_logits(model, x, tta_views("flip", "competition"), 3, "cpu")
    np.testing.assert_allclose(both, (plain + flipped) / 2, rtol=1e-5)
    swapped = predict_logits(model, x[:, ::-1], [(1.0, False)], 4, "cpu")
    four = predict_logits(model, x, tta_views("all", "physical"), 4, "cpu")
    flipped_swapped = predict_logits(model, -x[:, ::-1], [(1.0, False)], 4, "cpu")
    np.testing.assert_allclose(four, (plain + flipped + swapped + flipped_swapped) / 4, rtol=1e-5)
