"""Bad inputs through the real command lines (issue 14's sweep, grown by issue 25's).

Every case runs one CLI in a fresh folder whose files the case prepares, and must end
with a non-zero exit, exactly one line on stderr that names the problem, no traceback,
and every file that existed before unchanged (the harness: ``tests/cli_sweep.py``).
Cases fail before any heavy work (no training, no simulation, no scoring), so the sweep
stays fast. Add a case to ``CASES`` (or to ``PREDICT_CASES`` for ``gwkit.predict``),
or a category of its own in a ``tests/test_bad_inputs_<category>.py`` beside this one.
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

import pytest
from cli_sweep import (
    NSAMPLES,
    Case,
    check_outcome,
    checkpoint,
    checkpoint_with_unknown_argument,
    evil_sav,
    labelled_h5,
    labelled_npy,
    lying_npy,
    npy,
    npz_as_npy,
    pickled_checkpoint,
    sav,
    scores,
    selected_cases,
    simulated_submission,
    submission,
    sweep,
    train_preset,
    train_state,
    vouched_submission,
    weights,
    write,
)

# --------------------------------------------------------------------------- the cases

EVALUATE = ("-m", "gwkit.evaluate", "--bootstrap", "10", "--no-plots")
RUNS_ON_H5 = (*EVALUATE, "--runs", "run", "--data", "set.h5", "--device", "cpu")
TRAIN = ("-m", "gwkit.train", "--preset", "tiny.yaml")
PREDICT = ("-m", "gwkit.predict", "--device", "cpu")

CASES: list[Case] = [
    # kernels/build_dataset.py (item 1)
    Case("build_dataset-out-overlaps-weights",
         ("kernels/build_dataset.py", "--out", ".", "--no-wheel", "--weights",
          "weights/gwkit_resnet"), "overlaps the output", weights),
    Case("build_dataset-missing-weights",
         ("kernels/build_dataset.py", "--out", "ds", "--no-wheel", "--weights", "nope"),
         "--weights nope: no such folder"),
    # gwkit.submit (items 2, 4, 5 and messages)
    Case("submit-three-fields",
         ("-m", "gwkit.submit", "--file", "submission.csv", "--dry-run"),
         "row 0 (line 2) has 3 field(s), expected 2",
         lambda d: submission(d, "id,target\n0,0,0.5\n1,1,0.25\n")),
    Case("submit-float-ids",
         ("-m", "gwkit.submit", "--file", "submission.csv", "--dry-run"),
         "integers written as integers", lambda d: submission(d, "id,target\n0.0,0.5\n")),
    Case("submit-empty-data",
         ("-m", "gwkit.submit", "--file", "submission.csv", "--data", "test.npy"),
         "test.npy: cannot read as a .npy array",
         lambda d: (submission(d), write(d / "test.npy", b""))),
    Case("submit-npz-data",
         ("-m", "gwkit.submit", "--file", "submission.csv", "--data", "test.npy"),
         ".npz (zip) archive", lambda d: (submission(d), npz_as_npy(d / "test.npy"))),
    Case("submit-lying-npy-header",
         ("-m", "gwkit.submit", "--file", "submission.csv", "--data", "test.npy"),
         "header claims shape", lambda d: (submission(d), lying_npy(d / "test.npy"))),
    Case("submit-simulated-input",
         ("-m", "gwkit.submit", "--file", "submission.csv"),
         "simulated set (labels.csv beside it), not the competition's test.npy; pass --force",
         simulated_submission),
    Case("submit-unknown-GWKIT_KAGGLE", ("-m", "gwkit.submit", "--dry-run"),
         "GWKIT_KAGGLE must be 1/0", env={"GWKIT_KAGGLE": "maybe"}),
    Case("submit-malformed-kaggle-json",
         ("-m", "gwkit.submit", "--file", "submission.csv"), "kaggle.json is malformed",
         lambda d: (vouched_submission(d), write(d / "home" / ".kaggle" / "kaggle.json", "{oops"))),
    Case("download-path-is-a-file", ("-m", "gwkit.download", "--path", "data"),
         "--path data: cannot write there (it is a file", lambda d: write(d / "data", "x")),
    # gwkit.evaluate (item 6 and bad scores / labels / checkpoints)
    Case("evaluate-nan-score", (*EVALUATE, "--scores", "oof.csv"),
         "oof.csv (column score): scores must be finite numbers; row 3 has nan",
         lambda d: scores(d, "score", "nan")),
    Case("evaluate-inf-score", (*EVALUATE, "--scores", "oof.csv"),
         "scores must be finite numbers; row 3 has inf", lambda d: scores(d, "score", "inf")),
    Case("evaluate-text-score", (*EVALUATE, "--scores", "oof.csv"),
         "scores must be finite numbers; row 3 has 'high'",
         lambda d: scores(d, "score", "high")),
    Case("evaluate-label-2", (*EVALUATE, "--scores", "oof.csv"),
         "labels (target) must be 0 or 1; row 3 has 2", lambda d: scores(d, "target", "2")),
    Case("evaluate-nan-label",
         (*EVALUATE, "--scores", "s.csv", "--labels", "labels.csv"),
         "labels.csv: labels (target) must be 0 or 1; row 1 has nan",
         lambda d: (write(d / "s.csv", "id,score\n0,0.1\n1,0.9\n"),
                    write(d / "labels.csv", "id,target\n0,0\n1,\n"))),
    Case("evaluate-empty-scores-csv", (*EVALUATE, "--scores", "oof.csv"),
         "scores oof.csv: cannot read as a CSV table", lambda d: write(d / "oof.csv", "")),
    Case("evaluate-lying-npy-header", (*EVALUATE, "--runs", "run", "--data", "test.npy"),
         "header claims shape",
         lambda d: (lying_npy(d / "test.npy"), write(d / "labels.csv", "id,target\n"))),
    Case("evaluate-unknown-constructor-argument", RUNS_ON_H5,
         "cannot rebuild resnet1d_tiny from its saved arguments",
         lambda d: (labelled_h5(d),
                    checkpoint_with_unknown_argument(d / "run" / "fold0.pt", 64))),
    Case("evaluate-flatten-head-other-length", RUNS_ON_H5,
         "was built for inputs of 2048 samples per detector, the data has 64",
         lambda d: (labelled_h5(d), checkpoint(d / "run" / "fold0.pt", input_length=2048,
                                                 global_pool="flatten"))),
    # gwkit.train (items 3, 8; best.pt copied over last.pt)
    Case("train-fold-twice", (*TRAIN, "--fold", "1,1"), "fold 1 given twice", train_preset),
    Case("train-best-copied-over-last", (*TRAIN, "--fold", "0", "--resume"),
         "last.pt holds no training state", lambda d: train_state(d, ("best.pt", "last.pt"))),
    Case("train-killed-before-first-last", (*TRAIN, "--fold", "0"),
         "holds best.pt but no last.pt (killed during its first epoch); pass --resume",
         lambda d: train_state(d, ("best.pt",))),
    # gwkit.train --train-data (issue 18): the data module's one-line errors, before any run folder
    Case("train-data-missing", (*TRAIN, "--train-data", "nope.sav"), "nope.sav: no such file",
         train_preset),
    Case("train-data-truncated-sav", (*TRAIN, "--train-data", "train_ts_0.sav"),
         "train_ts_0.sav: cannot unpickle", lambda d: (train_preset(d), sav(d, cut=True))),
    Case("train-data-evil-sav", (*TRAIN, "--train-data", "train_ts_0.sav"),
         "train_ts_0.sav: refused to unpickle global", lambda d: (train_preset(d), evil_sav(d))),
    Case("train-data-sav-without-params", (*TRAIN, "--train-data", "train_ts_0.sav"),
         "which rows share a waveform cannot be known",
         lambda d: (train_preset(d), sav(d, params=False))),
    Case("train-data-params-file", (*TRAIN, "--train-data", "train_params_0.sav"),
         "train_params_0.sav: a parameter file", lambda d: (train_preset(d), sav(d))),
    Case("train-data-npy-without-labels", (*TRAIN, "--train-data", "test.npy"),
         "test.npy: training needs labels: no labels.csv beside it",
         lambda d: (train_preset(d), labelled_npy(d, labels=False))),
    Case("train-data-nan-row", (*TRAIN, "--train-data", "."),
         "test.npy: expected finite strain, found NaN or inf in row 2",
         lambda d: (train_preset(d), labelled_npy(d, nan_row=2))),
    Case("train-data-text-file", (*TRAIN, "--train-data", "rows.txt"),
         "rows.txt: expected a .sav block, a .npy with labels.csv, or a gwkit .h5",
         lambda d: (train_preset(d), write(d / "rows.txt", "0,1\n"))),
    Case("train-time-shift-without-train-data", (*TRAIN, "--set", "time_shift_p=0.5"),
         "time_shift_p and engine_fraction need train_data", train_preset),
    Case("evaluate-cache-is-a-file",
         (*EVALUATE, "--matched-filter", "--data", "test.npy", "--labels", "labels.csv"),
         "cache: cannot write there (it is a file", lambda d: (labelled_npy(d), write(d / "cache", "x"))),
    # usage errors (text where a number belongs, unknown options): one line, exit 2
    Case("train-epochs-text", (*TRAIN, "--epochs", "x"), "--epochs: invalid int value: 'x'",
         train_preset, returncode=2),
    Case("simulate-bank-n-text", ("-m", "gwkit.simulate", "bank", "--n", "x"),
         "--n: invalid int value: 'x'", returncode=2),
    Case("evaluate-bootstrap-text", ("-m", "gwkit.evaluate", "--bootstrap", "many"),
         "--bootstrap: invalid int value: 'many'", returncode=2),
    Case("predict-unknown-option", (*PREDICT, "--bogus"), "unrecognized arguments: --bogus",
         returncode=2),
    Case("scan-no-files", ("-m", "gwkit.scan", "--threshold", "high"), "error:", returncode=2),
    # gwkit.inspect, gwkit.simulate
    Case("inspect-noise-rows-0", ("-m", "gwkit.inspect", "test.npy", "--noise-rows", "0"),
         "--noise-rows must be at least 1", lambda d: npy(d / "test.npy")),
    Case("inspect-lying-npy-header", ("-m", "gwkit.inspect", "test.npy"),
         "header claims shape", lambda d: lying_npy(d / "test.npy")),
    Case("simulate-out-unwritable", ("-m", "gwkit.simulate", "--out", "file/set"),
         "--out file/set: cannot write there", lambda d: write(d / "file", "x")),
    Case("simulate-bank-out-unwritable",
         ("-m", "gwkit.simulate", "bank", "--n", "2", "--out", "file/bank.h5"),
         "--out file/bank.h5: cannot write there", lambda d: write(d / "file", "x")),
]

# --------------------------------------------------------------------------- gwkit.predict
# (A two-output checkpoint scores its positive class and hidden temp files are skipped by
# the checkpoint search: tests/test_inference.py; the logits archive is named by the CSV.)


def _three_output_checkpoint(path: Path) -> None:
    checkpoint(path, num_classes=3)


def _bad_stacker(run: Path) -> None:
    checkpoint(run / "fold0.pt")
    write(run / "stacker.json", "{not json")

PREDICT_CASES: list[Case] = [
    Case("predict-missing-run", (*PREDICT, "--runs", "nope", "--data", "test.npy"),
         "run nope does not exist", lambda d: npy(d / "test.npy")),
    Case("predict-missing-data", (*PREDICT, "--runs", "run", "--data", "nope"),
         "--data nope: expected test.npy", lambda d: checkpoint(d / "run" / "fold0.pt")),
    Case("predict-lying-npy-header", (*PREDICT, "--runs", "run", "--data", "test.npy"),
         "header claims shape",
         lambda d: (checkpoint(d / "run" / "fold0.pt"), lying_npy(d / "test.npy"))),
    Case("predict-empty-checkpoint", (*PREDICT, "--runs", "run", "--data", "test.npy"),
         "the file is empty (0 bytes",
         lambda d: (write(d / "run" / "fold0.pt", b""), npy(d / "test.npy"))),
    Case("predict-unknown-constructor-argument",
         (*PREDICT, "--runs", "run", "--data", "test.npy"),
         "cannot rebuild resnet1d_tiny from its saved arguments",
         lambda d: (checkpoint_with_unknown_argument(d / "run" / "fold0.pt", NSAMPLES),
                    npy(d / "test.npy"))),
    Case("predict-pickled-checkpoint", (*PREDICT, "--runs", "run", "--data", "test.npy"),
         "never runs code from a file",
         lambda d: (pickled_checkpoint(d / "run" / "fold0.pt"), npy(d / "test.npy"))),
    Case("predict-model-for-another-length", (*PREDICT, "--runs", "run", "--data", "test.npy"),
         "was built for inputs of 4096 samples per detector, the data has 16384",
         lambda d: (checkpoint(d / "run" / "fold0.pt", global_pool="flatten", input_length=4096),
                    npy(d / "test.npy"))),
    Case("predict-three-outputs", (*PREDICT, "--runs", "run", "--data", "test.npy"),
         "the model has 3 outputs",
         lambda d: (_three_output_checkpoint(d / "run" / "fold0.pt"), npy(d / "test.npy"))),
    Case("predict-out-is-a-folder",
         (*PREDICT, "--runs", "run", "--data", "test.npy", "--out", "folder"),
         "folder: cannot write the output file there (it is a folder)",
         lambda d: (checkpoint(d / "run" / "fold0.pt"), npy(d / "test.npy"),
                    write(d / "folder" / "keep", "x"))),
    Case("predict-out-under-a-file",
         (*PREDICT, "--runs", "run", "--data", "test.npy", "--out", "file/submission.csv"),
         "file/submission.csv: cannot write there",
         lambda d: (checkpoint(d / "run" / "fold0.pt"), npy(d / "test.npy"),
                    write(d / "file", "x"))),
    Case("predict-unknown-gwkit-kaggle", (*PREDICT, "--runs", "run", "--data", "test.npy"),
         "GWKIT_KAGGLE",
         lambda d: (checkpoint(d / "run" / "fold0.pt"), npy(d / "test.npy")),
         env={"GWKIT_KAGGLE": "perhaps"}),
    Case("predict-bad-stacker", (*PREDICT, "--runs", "run", "--data", "test.npy"),
         "stacker.json: not a readable stacker JSON",
         lambda d: (_bad_stacker(d / "run"), npy(d / "test.npy"))),
]



@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory) -> dict[str, Future]:
    with sweep(selected_cases(request), tmp_path_factory.mktemp("bad_inputs")) as futures:
        yield futures


@pytest.mark.parametrize("case", CASES + PREDICT_CASES, ids=lambda c: c.id)
def test_bad_input_ends_in_one_line(case: Case, outcomes: dict[str, Future]):
    check_outcome(case, outcomes[case.id].result())


def test_case_ids_are_unique():
    ids = [c.id for c in CASES + PREDICT_CASES]
    assert len(ids) == len(set(ids))
