"""Bad inputs through the real command lines (issue 14's sweep).

Every case runs one CLI in a subprocess, in a fresh folder whose files the case
prepares, and must end with a non-zero exit, exactly one line on stderr that
names the problem, no traceback, and every file that existed before unchanged.
The environment is sealed: no Kaggle credentials, ``HOME`` and the Kaggle input
root inside the case's folder, and proxies pointing at a closed local port, so
no request can leave the machine.

Cases fail before any heavy work (no training, no simulation, no scoring), so
the sweep stays fast. Add a case to ``CASES`` (or to ``PREDICT_CASES`` for
``gwkit.predict``) with the files it needs and the text its error line must hold.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from gwkit.core.devices import usable_cpus

REPO = Path(__file__).resolve().parents[1]
NSAMPLES = 16384


@dataclass(frozen=True)
class Case:
    """One bad input: ``argv`` after ``python`` (``-m module ...`` or a script), run in a folder
    that ``setup`` fills; the error line must contain ``expect``."""

    id: str
    argv: tuple[str, ...]
    expect: str
    setup: Callable[[Path], None] | None = None
    env: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- file makers


def _npy(path: Path, rows: int = 2, nsamples: int = NSAMPLES) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.zeros((rows, 1, 2, nsamples)))


def _lying_npy(path: Path) -> None:
    """A .npy whose header claims 2.6 TB of float64 data; the file holds 64 bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**7, 1, 2, NSAMPLES)})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header.getvalue() + bytes(64))


def _npz_as_npy(path: Path) -> None:
    np.savez(path.with_suffix(".npz"), x=np.zeros(3))
    path.with_suffix(".npz").rename(path)


def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)


def _scores(d: Path, column: str = "", value: str = "") -> None:
    """``oof.csv`` with id,target,snr,score (8 rows); one cell of ``column`` replaced."""
    rows = [[str(i), str(i % 2), "10", str(0.1 + 0.1 * i)] for i in range(8)]
    if column:
        rows[3][["id", "target", "snr", "score"].index(column)] = value
    _write(d / "oof.csv", "id,target,snr,score\n" + "".join(",".join(r) + "\n" for r in rows))


def _labelled_h5(d: Path, nsamples: int = 64) -> None:
    from gwkit.data import write_hdf5

    write_hdf5(d / "set.h5", np.zeros((4, 2, nsamples), np.float32), y=[0, 1, 0, 1])


def _checkpoint(path: Path, extra: dict | None = None, **model_kwargs) -> None:
    from gwkit.models import create_model, save_checkpoint

    save_checkpoint(path, create_model("resnet1d_tiny", **model_kwargs), **(extra or {}))


def _checkpoint_with_unknown_argument(path: Path, length: int) -> None:
    """A checkpoint for inputs of ``length`` samples whose spec has a stray argument."""
    import torch

    _checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    ckpt["model"]["kwargs"].update(input_length=length, wings=2)
    torch.save(ckpt, path)


def _pickled_checkpoint(path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"x": np.zeros(3)}, path)  # unpickling it would need numpy's reconstructor


def _submission(d: Path, text: str = "id,target\n0,0.5\n1,0.25\n") -> None:
    _write(d / "submission.csv", text)


def _simulated_submission(d: Path) -> None:
    from gwkit.scoring.submission import input_record, write_submission

    _npy(d / "data" / "demo" / "test.npy")
    _write(d / "data" / "demo" / "labels.csv", "id,target\n0,0\n1,1\n")
    write_submission(d / "submission.csv", np.array([0.5, 0.25]),
                     provenance={"input": input_record(d / "data" / "demo" / "test.npy")})


def _train_preset(d: Path) -> None:
    """A tiny preset whose bank file exists (it is never read: the cases fail before)."""
    import yaml

    _write(d / "bank.h5", b"never read")
    _write(d / "tiny.yaml", yaml.safe_dump({
        "name": "tiny", "model": "resnet1d_tiny", "bank": str(d / "bank.h5"), "n_folds": 4,
        "device": "cpu", "out_dir": str(d / "runs")}))


def _train_state(d: Path, files: tuple[str, ...]) -> None:
    """A fold folder holding ``files`` (gwkit checkpoints without training state)."""
    from gwkit.training.config import resolve_config

    _train_preset(d)
    cfg = resolve_config(str(d / "tiny.yaml"), [])
    fold = d / "runs" / "tiny" / "fold0"
    for name in files:
        _checkpoint(fold / name, extra={"config": cfg.to_dict()})


def _sav(d: Path, *, params: bool = True, cut: bool = False) -> None:
    """A course-format block ``train_ts_0.sav`` (2 rows: noise, signal) and its params file."""
    from gwkit.data.competition import write_sav_block
    from gwkit.data.training import sav_params_path

    x = np.random.default_rng(0).normal(size=(2, 2, NSAMPLES))
    path = write_sav_block(d / "train_ts_0.sav", x, np.array([0, 1]),
                           [None, {"m1": 30.0, "m2": 20.0, "peak_index": 10500}])[0]
    if not params:
        sav_params_path(path).unlink()
    if cut:
        path.write_bytes(path.read_bytes()[:5000])


def _evil_sav(d: Path) -> None:
    """A block whose pickle would call os.system when unpickled by plain pickle."""
    import pickle

    class Evil:
        def __reduce__(self):
            return os.system, ("echo pwned",)

    _write(d / "train_ts_0.sav", pickle.dumps([Evil(), [0]]))


def _labelled_npy(d: Path, *, labels: bool = True, nan_row: int | None = None) -> None:
    x = np.random.default_rng(0).normal(size=(4, 1, 2, NSAMPLES))
    if nan_row is not None:
        x[nan_row, 0, 1, 7] = np.nan
    np.save(d / "test.npy", x)
    if labels:
        _write(d / "labels.csv", "id,target\n0,0\n1,1\n2,0\n3,1\n")
        _write(d / "params.csv", "id,waveform_id,peak_index\n0,-1,\n1,0,10400\n2,-1,\n3,1,10500\n")


def _weights(d: Path) -> None:
    _write(d / "weights" / "gwkit_resnet" / "fold0.pt", b"shipped weights")


# --------------------------------------------------------------------------- the cases

EVALUATE = ("-m", "gwkit.evaluate", "--bootstrap", "10", "--no-plots")
RUNS_ON_H5 = (*EVALUATE, "--runs", "run", "--data", "set.h5", "--device", "cpu")
TRAIN = ("-m", "gwkit.train", "--preset", "tiny.yaml")

CASES: list[Case] = [
    # kernels/build_dataset.py (item 1)
    Case("build_dataset-out-overlaps-weights",
         ("kernels/build_dataset.py", "--out", ".", "--no-wheel", "--weights",
          "weights/gwkit_resnet"), "overlaps the output", _weights),
    Case("build_dataset-missing-weights",
         ("kernels/build_dataset.py", "--out", "ds", "--no-wheel", "--weights", "nope"),
         "--weights nope: no such folder"),
    # gwkit.submit (items 2, 4, 5 and messages)
    Case("submit-three-fields",
         ("-m", "gwkit.submit", "--file", "submission.csv", "--dry-run"),
         "row 0 (line 2) has 3 field(s), expected 2",
         lambda d: _submission(d, "id,target\n0,0,0.5\n1,1,0.25\n")),
    Case("submit-float-ids",
         ("-m", "gwkit.submit", "--file", "submission.csv", "--dry-run"),
         "integers written as integers", lambda d: _submission(d, "id,target\n0.0,0.5\n")),
    Case("submit-empty-data",
         ("-m", "gwkit.submit", "--file", "submission.csv", "--data", "test.npy"),
         "test.npy: cannot read as a .npy array",
         lambda d: (_submission(d), _write(d / "test.npy", b""))),
    Case("submit-npz-data",
         ("-m", "gwkit.submit", "--file", "submission.csv", "--data", "test.npy"),
         ".npz (zip) archive", lambda d: (_submission(d), _npz_as_npy(d / "test.npy"))),
    Case("submit-lying-npy-header",
         ("-m", "gwkit.submit", "--file", "submission.csv", "--data", "test.npy"),
         "header claims shape", lambda d: (_submission(d), _lying_npy(d / "test.npy"))),
    Case("submit-simulated-input",
         ("-m", "gwkit.submit", "--file", "submission.csv"),
         "simulated set (labels.csv beside it), not the competition's test.npy; pass --force",
         _simulated_submission),
    Case("submit-unknown-GWKIT_KAGGLE", ("-m", "gwkit.submit", "--dry-run"),
         "GWKIT_KAGGLE must be 1/0", env={"GWKIT_KAGGLE": "maybe"}),
    Case("submit-malformed-kaggle-json",
         ("-m", "gwkit.submit", "--file", "submission.csv"), "kaggle.json is malformed",
         lambda d: (_submission(d), _write(d / "home" / ".kaggle" / "kaggle.json", "{oops"))),
    Case("download-path-is-a-file", ("-m", "gwkit.download", "--path", "data"),
         "--path data: cannot write there (it is a file", lambda d: _write(d / "data", "x")),
    # gwkit.evaluate (item 6 and bad scores / labels / checkpoints)
    Case("evaluate-nan-score", (*EVALUATE, "--scores", "oof.csv"),
         "oof.csv (column score): scores must be finite numbers; row 3 has nan",
         lambda d: _scores(d, "score", "nan")),
    Case("evaluate-inf-score", (*EVALUATE, "--scores", "oof.csv"),
         "scores must be finite numbers; row 3 has inf", lambda d: _scores(d, "score", "inf")),
    Case("evaluate-text-score", (*EVALUATE, "--scores", "oof.csv"),
         "scores must be finite numbers; row 3 has 'high'",
         lambda d: _scores(d, "score", "high")),
    Case("evaluate-label-2", (*EVALUATE, "--scores", "oof.csv"),
         "labels (target) must be 0 or 1; row 3 has 2", lambda d: _scores(d, "target", "2")),
    Case("evaluate-nan-label",
         (*EVALUATE, "--scores", "s.csv", "--labels", "labels.csv"),
         "labels.csv: labels (target) must be 0 or 1; row 1 has nan",
         lambda d: (_write(d / "s.csv", "id,score\n0,0.1\n1,0.9\n"),
                    _write(d / "labels.csv", "id,target\n0,0\n1,\n"))),
    Case("evaluate-empty-scores-csv", (*EVALUATE, "--scores", "oof.csv"),
         "scores oof.csv: cannot read as a CSV table", lambda d: _write(d / "oof.csv", "")),
    Case("evaluate-lying-npy-header", (*EVALUATE, "--runs", "run", "--data", "test.npy"),
         "header claims shape",
         lambda d: (_lying_npy(d / "test.npy"), _write(d / "labels.csv", "id,target\n"))),
    Case("evaluate-unknown-constructor-argument", RUNS_ON_H5,
         "cannot rebuild resnet1d_tiny from its saved arguments",
         lambda d: (_labelled_h5(d),
                    _checkpoint_with_unknown_argument(d / "run" / "fold0.pt", 64))),
    Case("evaluate-flatten-head-other-length", RUNS_ON_H5,
         "was built for inputs of 2048 samples per detector, the data has 64",
         lambda d: (_labelled_h5(d), _checkpoint(d / "run" / "fold0.pt", input_length=2048,
                                                 global_pool="flatten"))),
    # gwkit.train (items 3, 8; best.pt copied over last.pt)
    Case("train-fold-twice", (*TRAIN, "--fold", "1,1"), "fold 1 given twice", _train_preset),
    Case("train-best-copied-over-last", (*TRAIN, "--fold", "0", "--resume"),
         "last.pt holds no training state", lambda d: _train_state(d, ("best.pt", "last.pt"))),
    Case("train-killed-before-first-last", (*TRAIN, "--fold", "0"),
         "holds best.pt but no last.pt (killed during its first epoch); pass --resume",
         lambda d: _train_state(d, ("best.pt",))),
    # gwkit.train --train-data (issue 18): the data module's one-line errors, before any run folder
    Case("train-data-missing", (*TRAIN, "--train-data", "nope.sav"), "nope.sav: no such file",
         _train_preset),
    Case("train-data-truncated-sav", (*TRAIN, "--train-data", "train_ts_0.sav"),
         "train_ts_0.sav: cannot unpickle", lambda d: (_train_preset(d), _sav(d, cut=True))),
    Case("train-data-evil-sav", (*TRAIN, "--train-data", "train_ts_0.sav"),
         "train_ts_0.sav: refused to unpickle global", lambda d: (_train_preset(d), _evil_sav(d))),
    Case("train-data-sav-without-params", (*TRAIN, "--train-data", "train_ts_0.sav"),
         "which rows share a waveform cannot be known",
         lambda d: (_train_preset(d), _sav(d, params=False))),
    Case("train-data-params-file", (*TRAIN, "--train-data", "train_params_0.sav"),
         "train_params_0.sav: a parameter file", lambda d: (_train_preset(d), _sav(d))),
    Case("train-data-npy-without-labels", (*TRAIN, "--train-data", "test.npy"),
         "test.npy: training needs labels: no labels.csv beside it",
         lambda d: (_train_preset(d), _labelled_npy(d, labels=False))),
    Case("train-data-nan-row", (*TRAIN, "--train-data", "."),
         "test.npy: expected finite strain, found NaN or inf in row 2",
         lambda d: (_train_preset(d), _labelled_npy(d, nan_row=2))),
    Case("train-data-text-file", (*TRAIN, "--train-data", "rows.txt"),
         "rows.txt: expected a .sav block, a .npy with labels.csv, or a gwkit .h5",
         lambda d: (_train_preset(d), _write(d / "rows.txt", "0,1\n"))),
    Case("train-time-shift-without-train-data", (*TRAIN, "--set", "time_shift_p=0.5"),
         "time_shift_p and engine_fraction need train_data", _train_preset),
    # gwkit.inspect, gwkit.simulate
    Case("inspect-noise-rows-0", ("-m", "gwkit.inspect", "test.npy", "--noise-rows", "0"),
         "--noise-rows must be at least 1", lambda d: _npy(d / "test.npy")),
    Case("inspect-lying-npy-header", ("-m", "gwkit.inspect", "test.npy"),
         "header claims shape", lambda d: _lying_npy(d / "test.npy")),
    Case("simulate-out-unwritable", ("-m", "gwkit.simulate", "--out", "file/set"),
         "--out file/set: cannot write there", lambda d: _write(d / "file", "x")),
    Case("simulate-bank-out-unwritable",
         ("-m", "gwkit.simulate", "bank", "--n", "2", "--out", "file/bank.h5"),
         "--out file/bank.h5: cannot write there", lambda d: _write(d / "file", "x")),
]

# --------------------------------------------------------------------------- gwkit.predict
# (A two-output checkpoint scores its positive class and hidden temp files are skipped by
# the checkpoint search: tests/test_inference.py; the logits archive is named by the CSV.)
PREDICT = ("-m", "gwkit.predict", "--device", "cpu")


def _three_output_checkpoint(path: Path) -> None:
    _checkpoint(path, num_classes=3)


def _bad_stacker(run: Path) -> None:
    _checkpoint(run / "fold0.pt")
    _write(run / "stacker.json", "{not json")

PREDICT_CASES: list[Case] = [
    Case("predict-missing-run", (*PREDICT, "--runs", "nope", "--data", "test.npy"),
         "run nope does not exist", lambda d: _npy(d / "test.npy")),
    Case("predict-missing-data", (*PREDICT, "--runs", "run", "--data", "nope"),
         "--data nope: expected test.npy", lambda d: _checkpoint(d / "run" / "fold0.pt")),
    Case("predict-lying-npy-header", (*PREDICT, "--runs", "run", "--data", "test.npy"),
         "header claims shape",
         lambda d: (_checkpoint(d / "run" / "fold0.pt"), _lying_npy(d / "test.npy"))),
    Case("predict-empty-checkpoint", (*PREDICT, "--runs", "run", "--data", "test.npy"),
         "the file is empty (0 bytes",
         lambda d: (_write(d / "run" / "fold0.pt", b""), _npy(d / "test.npy"))),
    Case("predict-unknown-constructor-argument",
         (*PREDICT, "--runs", "run", "--data", "test.npy"),
         "cannot rebuild resnet1d_tiny from its saved arguments",
         lambda d: (_checkpoint_with_unknown_argument(d / "run" / "fold0.pt", NSAMPLES),
                    _npy(d / "test.npy"))),
    Case("predict-pickled-checkpoint", (*PREDICT, "--runs", "run", "--data", "test.npy"),
         "never runs code from a file",
         lambda d: (_pickled_checkpoint(d / "run" / "fold0.pt"), _npy(d / "test.npy"))),
    Case("predict-model-for-another-length", (*PREDICT, "--runs", "run", "--data", "test.npy"),
         "was built for inputs of 4096 samples per detector, the data has 16384",
         lambda d: (_checkpoint(d / "run" / "fold0.pt", global_pool="flatten", input_length=4096),
                    _npy(d / "test.npy"))),
    Case("predict-three-outputs", (*PREDICT, "--runs", "run", "--data", "test.npy"),
         "the model has 3 outputs",
         lambda d: (_three_output_checkpoint(d / "run" / "fold0.pt"), _npy(d / "test.npy"))),
    Case("predict-out-is-a-folder",
         (*PREDICT, "--runs", "run", "--data", "test.npy", "--out", "folder"),
         "folder: cannot write the output file there (it is a folder)",
         lambda d: (_checkpoint(d / "run" / "fold0.pt"), _npy(d / "test.npy"),
                    _write(d / "folder" / "keep", "x"))),
    Case("predict-out-under-a-file",
         (*PREDICT, "--runs", "run", "--data", "test.npy", "--out", "file/submission.csv"),
         "file/submission.csv: cannot write there",
         lambda d: (_checkpoint(d / "run" / "fold0.pt"), _npy(d / "test.npy"),
                    _write(d / "file", "x"))),
    Case("predict-unknown-gwkit-kaggle", (*PREDICT, "--runs", "run", "--data", "test.npy"),
         "GWKIT_KAGGLE",
         lambda d: (_checkpoint(d / "run" / "fold0.pt"), _npy(d / "test.npy")),
         env={"GWKIT_KAGGLE": "perhaps"}),
    Case("predict-bad-stacker", (*PREDICT, "--runs", "run", "--data", "test.npy"),
         "stacker.json: not a readable stacker JSON",
         lambda d: (_bad_stacker(d / "run"), _npy(d / "test.npy"))),
]


# --------------------------------------------------------------------------- the sweep


def _sealed_env(folder: Path, extra: dict[str, str]) -> dict[str, str]:
    dead = "http://127.0.0.1:9"  # the discard port: nothing listens, nothing leaves
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KAGGLE_", "GWKIT_")) and k.lower() not in
           ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    env.update({
        "HOME": str(folder / "home"), "XDG_CONFIG_HOME": str(folder / "home" / ".config"),
        "GWKIT_KAGGLE": "0", "GWKIT_KAGGLE_INPUT": str(folder / "no-kaggle-input"),
        "KAGGLE_API_ENVIRONMENT": "LOCALHOST",
        "HTTP_PROXY": dead, "http_proxy": dead, "HTTPS_PROXY": dead, "https_proxy": dead,
        "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE",
        "PYTHONPATH": os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    })
    env.update(extra)
    return env


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    changed: list[str]


def _run_case(case: Case, folder: Path) -> Outcome:
    """Prepare ``folder``, run the case's command there; what came out and what changed."""
    (folder / "home").mkdir(parents=True)
    if case.setup is not None:
        case.setup(folder)
    before = _digests(folder)
    argv = [str(REPO / a) if a.endswith(".py") and not a.startswith("-") else a
            for a in case.argv]
    done = subprocess.run([sys.executable, *argv], cwd=folder, env=_sealed_env(folder, case.env),
                          capture_output=True, text=True, timeout=300)
    after = _digests(folder)
    changed = [name for name, digest in before.items() if after.get(name) != digest]
    return Outcome(done.returncode, done.stdout, done.stderr, changed)


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory) -> dict[str, Future]:
    """Every selected case, one process per usable CPU (each one thread): no oversubscription."""
    selected = [item.callspec.params["case"] for item in request.session.items
                if item.module is request.module and hasattr(item, "callspec")
                and "case" in item.callspec.params]
    root = tmp_path_factory.mktemp("bad_inputs")
    with ThreadPoolExecutor(max_workers=usable_cpus()) as pool:
        futures = {c.id: pool.submit(_run_case, c, root / c.id) for c in selected}
        yield futures


@pytest.mark.parametrize("case", CASES + PREDICT_CASES, ids=lambda c: c.id)
def test_bad_input_ends_in_one_line(case: Case, outcomes: dict[str, Future]):
    out = outcomes[case.id].result()
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode != 0, f"exit 0; stdout: {out.stdout[-800:]}"
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{out.stderr[-3000:]}"
    assert case.expect in lines[0], lines[0]
    assert not out.changed, f"changed or removed: {out.changed}"


def test_case_ids_are_unique():
    ids = [c.id for c in CASES + PREDICT_CASES]
    assert len(ids) == len(set(ids))
