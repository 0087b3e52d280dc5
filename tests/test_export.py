"""python -m gwkit.export: the shipped ensemble as ONNX reproduces predict and scan; refusals.

The shipped ``weights/gwkit_resnet`` is checked on a handful of rows of white
noise (the whitened rows' distribution under the noise hypothesis), not the
README's simulated demo set: simulating it takes about a minute.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from gwkit.export import main
from gwkit.models import create_model, save_checkpoint
from gwkit.predict import main as predict
from gwkit.scan import main as scan
from gwkit.scoring.submission import logits_path, read_provenance
from gwkit.sim.generator import coloured_noise
from gwkit.sim.psd import design_psd
from gwkit.sim.recipe import PSD_FLOW
from gwkit.strain.gwosc import StrainSeries, write_gwosc

REPO = Path(__file__).resolve().parents[1]
RESNET = REPO / "weights" / "gwkit_resnet"
ROWS = 5


@pytest.fixture(scope="module")
def resnet_onnx(tmp_path_factory) -> tuple[Path, str]:
    """weights/gwkit_resnet exported to ONNX once, and what the command printed."""
    out = tmp_path_factory.mktemp("exports") / "gwkit_resnet.onnx"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["--runs", str(RESNET), "--format", "onnx", "--out", str(out)]) == 0
    return out, printed.getvalue()


@pytest.fixture(scope="module")
def test_npy(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "test.npy"
    np.save(path, np.random.default_rng(0).standard_normal((ROWS, 1, 2, 16384)))
    return path


def _predict(runs: list[Path], data: Path, out: Path, *extra: str) -> np.ndarray:
    assert predict(["--runs", *map(str, runs), "--data", str(data), "--out", str(out),
                    "--batch-size", "2", "--device", "cpu", *extra]) == 0
    with np.load(logits_path(out)) as z:
        return z["score"]


def test_export_writes_the_network_of_a_hybrid_run_and_says_so(resnet_onnx):
    out, printed = resnet_onnx
    assert "note: gwkit_resnet is a hybrid detector (stacker.json): exported its network only" \
        in printed
    assert f"wrote {out}" in printed and "resnet1d_tiny, 2 fold(s), competition mode" in printed
    record = json.loads(out.with_name(out.name + ".json").read_text())
    assert record["network_only"] and record["stackers_left_out"] == [
        str((RESNET / "stacker.json").resolve())]
    assert record["input"]["channels"] == ["L1", "H1"] and record["input"]["mode"] == "competition"


def test_exported_gwkit_resnet_reproduces_predicts_logits(resnet_onnx, test_npy, tmp_path, capsys):
    reference = _predict([RESNET], test_npy, tmp_path / "ref" / "s.csv", "--no-stack")
    capsys.readouterr()
    got = _predict([resnet_onnx[0]], test_npy, tmp_path / "onnx" / "s.csv")
    np.testing.assert_allclose(got, reference, atol=1e-4, rtol=0)
    assert np.ptp(reference) > 0.1
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("test data:") and first.endswith("hybrid: none")  # the network alone
    record = read_provenance(tmp_path / "onnx" / "s.csv")
    assert record["runs"]["gwkit_resnet.onnx"]["folds"] == ["exported"]
    assert record["runs"]["gwkit_resnet.onnx"]["stacker"] is None


@pytest.fixture(scope="module")
def noise_files(tmp_path_factory) -> list[str]:
    """12 s of design-PSD noise in H1 and L1 files (8 s after whitening: 7 windows at 1 s)."""
    folder = tmp_path_factory.mktemp("gwosc")
    fs, t0 = 4096.0, 1000000000.0
    nsamples = int(12 * fs)
    noise = coloured_noise(np.random.default_rng(7), design_psd(nsamples, fs, PSD_FLOW),
                           nsamples, fs)
    return [str(write_gwosc(folder / f"{ifo[0]}-{ifo}_SIM-{t0:.0f}-12.hdf5",
                            StrainSeries(ifo, noise[c], t0, fs)))
            for c, ifo in enumerate(("H1", "L1"))]


def test_scan_scores_windows_with_the_exported_file_as_with_the_checkpoints(
        resnet_onnx, noise_files, tmp_path, capsys):
    scores = {}
    for name, run in (("ref", RESNET), ("onnx", resnet_onnx[0])):
        out = tmp_path / name
        assert scan([*noise_files, "--runs", str(run), "--out", str(out), "--stride", "1",
                     "--exclude", "0.1", "--no-plot"]) == 0
        scores[name] = pd.read_csv(out / "scores.csv")["score"].to_numpy()
    assert scores["ref"].size == 7
    np.testing.assert_allclose(scores["onnx"], scores["ref"], atol=1e-4, rtol=0)
    assert "models: gwkit_resnet.onnx (2 folds), competition mode; channels: 0 = L1, 1 = H1" \
        in capsys.readouterr().out


def _run(root: Path, name: str, folds: int, seed: int) -> Path:
    for k in range(folds):
        torch.manual_seed(seed + k)
        model = create_model("resnet1d_tiny", frontend=dict(decimate=8))
        save_checkpoint(root / name / f"fold{k}" / "best.pt", model, config={"mode": "competition"})
    return root / name


def test_several_runs_weigh_as_predicts_run_ensemble(tmp_path, test_npy, monkeypatch, capsys):
    """Two runs of 2 and 1 folds: each run's fold mean, then the mean of the runs."""
    runs = [_run(tmp_path, "a", 2, 0), _run(tmp_path, "b", 1, 5)]
    (tmp_path / "b" / "stacker.json").write_text("{}")  # a hybrid run: only the network goes out
    monkeypatch.chdir(tmp_path)
    assert main(["--runs", *map(str, runs), "--format", "torchscript"]) == 0
    printed = capsys.readouterr().out
    assert "note: b is a hybrid detector" in printed and "note: a " not in printed
    exported = tmp_path / "exports" / "a+b.pt"  # the default --out
    reference = _predict(runs, test_npy, tmp_path / "ref" / "s.csv", "--no-stack")
    got = _predict([exported], test_npy, tmp_path / "ts" / "s.csv")
    np.testing.assert_allclose(got, reference, atol=1e-4, rtol=0)


def test_refusals_are_one_line_naming_the_model_and_format(tmp_path):
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "cqt" / "fold0.pt", create_model("spec2d_tiny"))
    with pytest.raises(SystemExit, match=r"^gwkit\.export: cannot export spec2d_tiny \(cqt/fold0\) "
                                         r"to onnx: its constant-Q transform computes with "
                                         r"complex tensors.*; use --format torchscript or pt2$"):
        main(["--runs", str(tmp_path / "cqt"), "--format", "onnx", "--out",
              str(tmp_path / "x.onnx")])
    assert not (tmp_path / "x.onnx").exists()
    with pytest.raises(SystemExit, match=r"^gwkit\.export: run .*nowhere does not exist$"):
        main(["--runs", str(tmp_path / "nowhere"), "--format", "pt2"])
