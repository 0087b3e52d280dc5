"""gwkit.scoring.exported: a run's fold ensemble as one ONNX / TorchScript / torch.export file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import gwkit
from gwkit.core.fileio import file_sha256
from gwkit.models import create_model, save_checkpoint
from gwkit.scoring.exported import (
    FORMATS,
    SUFFIXES,
    ExportError,
    FoldMean,
    export_runs,
    load_exported,
)
from gwkit.scoring.inference import (
    contract_path,
    ensemble,
    find_checkpoints,
    load_detector,
    predict_logits,
    run_checkpoints,
)
from gwkit.strain.search import DEFAULT_CHANNELS

ROWS = 5  # scored in batches of 2: the last batch holds one row (the batch axis is dynamic)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """Two resnet1d_tiny folds with a band-pass + 4x-decimation front-end, physical mode."""
    run = tmp_path_factory.mktemp("runs") / "tiny"
    for k in range(2):
        torch.manual_seed(k)
        model = create_model("resnet1d_tiny", frontend=dict(highpass=20.0, decimate=4))
        save_checkpoint(run / f"fold{k}" / "best.pt", model, config={"mode": "physical"})
    return run


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("exports")
    return {fmt: export_runs([tiny_run], fmt, folder / f"tiny{SUFFIXES[fmt]}").path
            for fmt in FORMATS}


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    return np.random.default_rng(3).standard_normal((ROWS, 2, 16384))


def _fold_mean(run: Path, x: np.ndarray) -> np.ndarray:
    """What gwkit.predict scores a run with (no TTA): the mean of its folds' logits."""
    dets = [load_detector(ck) for ck in find_checkpoints([run])]
    return ensemble([[predict_logits(d, x, [(1.0, False)], 2, "cpu") for d in dets]], "logit")


@pytest.mark.parametrize("fmt", FORMATS)
def test_exported_file_scores_rows_as_the_fold_checkpoints(fmt, exported, tiny_run, rows):
    (ck,) = find_checkpoints([exported[fmt]])
    assert (ck.run, ck.fold, ck.run_dir) == (exported[fmt].name, "exported", exported[fmt])
    det = load_detector(ck, nsamples=16384)
    assert (det.mode, det.input_length, det.folds) == ("physical", 16384, 2)
    z = predict_logits(det, rows, [(1.0, False)], 2, "cpu")
    reference = _fold_mean(tiny_run, rows)
    np.testing.assert_allclose(z, reference, atol=1e-4, rtol=0)
    assert np.ptp(reference) > 1e-3  # the rows are told apart: the check has teeth
    # views are applied outside the file, so TTA works on it too
    flipped = predict_logits(det, rows, [(1.0, False), (-1.0, True)], 2, "cpu")
    np.testing.assert_allclose(flipped, (reference + _fold_mean(tiny_run, -rows[:, ::-1])) / 2,
                               atol=1e-4, rtol=0)


def test_contract_states_the_input_output_and_sources(exported, tiny_run):
    path = exported["onnx"]
    record = json.loads(contract_path(path).read_text())
    assert record["input"]["shape"] == ["batch", 2, 16384]
    assert record["input"]["dtype"] == "float32" and record["input"]["sample_rate_hz"] == 8192.0
    assert record["input"]["mode"] == "physical"
    assert tuple(record["input"]["channels"]) == DEFAULT_CHANNELS["physical"] == ("H1", "L1")
    assert record["output"]["shape"] == ["batch"] and "mean" in record["output"]["meaning"]
    assert record["file_format"] == "onnx" and record["sha256"] == file_sha256(path)
    assert record["gwkit_version"] == gwkit.__version__
    assert record["network_only"] and record["stackers_left_out"] == []
    (run,) = record["runs"]
    assert [f["fold"] for f in run["folds"]] == ["fold0", "fold1"]
    for fold in run["folds"]:
        assert fold["sha256"] == file_sha256(tiny_run / fold["fold"] / "best.pt")
        assert fold["model"] == "resnet1d_tiny"
    assert record["check"]["max_abs_logit_difference"] <= record["check"]["tolerance"] == 1e-4


def test_fold_mean_weights_members_and_reads_two_output_models():
    torch.manual_seed(0)
    one = create_model("resnet1d_tiny", input_length=1024).eval()
    two = create_model("resnet1d_tiny", input_length=1024, num_classes=2).eval()
    x = torch.randn(3, 2, 1024)
    with torch.no_grad():
        got = FoldMean([one, two], [0.25, 0.75], [1, 2])(x)
        z2 = two(x)
        expected = 0.25 * one(x)[:, 0] + 0.75 * (z2[:, 1] - z2[:, 0])
    torch.testing.assert_close(got, expected)


def test_a_changed_file_a_missing_contract_and_another_length_are_refused(exported, tmp_path):
    path = tmp_path / "tiny.pt2"
    shutil.copyfile(exported["pt2"], path)
    shutil.copyfile(contract_path(exported["pt2"]), contract_path(path))
    with pytest.raises(ExportError, match="exported for rows of 16384 samples per detector, "
                                          "the data has 8192"):
        load_exported(path, nsamples=8192)
    with path.open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ExportError, match="SHA-256 is not the one in tiny.pt2.json"):
        load_exported(path)
    contract_path(path).unlink()
    with pytest.raises(ExportError, match=r"no contract tiny\.pt2\.json beside it"):
        load_exported(path)


def test_folder_discovery_skips_an_exported_torchscript_file(exported, tiny_run, tmp_path):
    """A TorchScript export is a .pt file: with its contract beside it, it is not a checkpoint."""
    shutil.copyfile(tiny_run / "fold0" / "best.pt", tmp_path / "fold0.pt")
    for path in (exported["torchscript"], contract_path(exported["torchscript"])):
        shutil.copyfile(path, tmp_path / path.name)
    assert run_checkpoints(tmp_path) == [tmp_path / "fold0.pt"]
    with pytest.raises(ExportError, match="not exported files"):
        export_runs([tmp_path / "tiny.pt"], "pt2", tmp_path / "again.pt2")
