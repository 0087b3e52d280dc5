"""Implausible data and the last tracebacks, through the real command lines (issue 25, items 6-7).

Item 6: strain that cannot be whitened competition data (all-zero rows, a detector without
data, raw strain, absurd or overflowing amplitudes), text where numbers belong (ids, SNR
groups, HDF5 attributes), NaN GPS times, GWOSC metadata that contradicts the file name.
Item 7: inputs that used to end in a traceback or an unclear line: a corrupt ``last.pt`` on
``--resume``, ``stacker.json`` values, bank attributes, non-UTF-8 presets, ``--set`` values
that are out of range, a checkpoint spec asking for a huge model, a malformed
``kaggle.json``, labels of one class. Each case must end in one line naming the file and
the problem (the harness: ``tests/cli_sweep.py``); the config cases must also leave no run
folder behind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest
from cli_sweep import (
    NSAMPLES,
    REPO,
    Case,
    check_outcome,
    checkpoint,
    labelled_npy,
    noise,
    npy,
    scores,
    selected_cases,
    sweep,
    train_preset,
    weights,
    write,
)

# --------------------------------------------------------------------------- file makers

PREDICT = ("-m", "gwkit.predict", "--device", "cpu", "--runs", "run", "--data", "test.npy")
EVALUATE = ("-m", "gwkit.evaluate", "--bootstrap", "10", "--no-plots")
TRAIN = ("-m", "gwkit.train", "--preset", "tiny.yaml")
RESUME = (*TRAIN, "--fold", "0", "--resume")
SCAN = ("-m", "gwkit.scan", "--runs", str(REPO / "weights" / "gwkit_resnet" / "fold0.pt"),
        "--device", "cpu", "--no-plot")
GWOSC = ("H-H1_SIM-1000000000-12.hdf5", "L-L1_SIM-1000000000-12.hdf5")
HYBRID = ("-m", "gwkit.hybrid", "--runs", "run", "--filter-bank", "bank.h5")
MATCHED_FILTER = (*EVALUATE, "--matched-filter", "--filter-bank", "bank.h5", "--data", "set.h5",
                  "--device", "cpu")


def strain_npy(d: Path, x: np.ndarray) -> None:
    """A run with a checkpoint and ``test.npy`` holding ``x`` (N, 1, 2, 16384)."""
    checkpoint(d / "run" / "fold0.pt")
    np.save(d / "test.npy", x)


def zero_rows(*rows: int, detector: int | None = None) -> np.ndarray:
    """Three rows of noise; ``rows`` (one ``detector`` of them, else both) all zeros."""
    x = noise(3, 1, 2, NSAMPLES)
    for r in rows:
        x[r, 0, slice(None) if detector is None else detector] = 0.0
    return x


def labelled_set(d: Path, x: np.ndarray | None = None) -> None:
    """``set.h5``: four labelled rows of ``x`` (default noise) as gwkit's HDF5."""
    from gwkit.data import write_hdf5

    x = noise(4, 2, NSAMPLES) if x is None else x
    write_hdf5(d / "set.h5", x.astype(np.float32), y=[0, 1, 0, 1])


def raw_h5_strain(d: Path, x: np.ndarray) -> None:
    """``set.h5`` with dataset x written as given (no write-side checks) and labels."""
    import h5py

    with h5py.File(d / "set.h5", "w") as f:
        f["x"], f["y"] = x, np.array([0, 1, 0, 1])


def labels_and_scores(d: Path, labels: str, scored: str = "id,score\n0,0.1\n1,0.9\n") -> None:
    write(d / "labels.csv", labels)
    write(d / "s.csv", scored)


def gwosc(d: Path, h1: np.ndarray | None = None, names: tuple[str, str] = GWOSC,
          edit: Callable | None = None) -> None:
    """H1 and L1 GWOSC-style files of 12 s at 4096 Hz (raw-strain-sized noise; H1's strain
    ``h1`` when given); ``edit(f)`` then changes the H1 file, open for writing."""
    import h5py

    from gwkit.strain.gwosc import StrainSeries, write_gwosc

    rng = np.random.default_rng(1)
    n = 12 * 4096
    for ifo, data, name in (("H1", h1, names[0]), ("L1", None, names[1])):
        x = rng.normal(size=n) * 1e-21 if data is None else data
        write_gwosc(d / name, StrainSeries(ifo, x, 1e9, 4096.0))
    if edit is not None:
        with h5py.File(d / names[0], "r+") as f:
            edit(f)


def replace_dataset(key: str, value) -> Callable:
    def edit(f) -> None:
        del f[key]
        f[key] = value
    return edit


def text_strain(f) -> None:
    """Replace the strain by text, keeping its attributes."""
    attrs = dict(f["strain/Strain"].attrs)
    del f["strain/Strain"]
    f["strain/Strain"] = np.array([b"ab"] * 8)
    f["strain/Strain"].attrs.update(attrs)


def set_attr(key: str, value, where: str = "strain/Strain") -> Callable:
    def edit(f) -> None:
        f[where].attrs[key] = value
    return edit


def filter_bank(d: Path, **attrs) -> None:
    """A one-filter matched-filter bank ``bank.h5`` (random filter) with ``attrs`` overwritten,
    and a labelled ``set.h5`` to run it on."""
    import h5py

    from gwkit.sim.mf_features import FilterBank, output_grid

    labelled_set(d)
    nbins, _ = output_grid(NSAMPLES, 8192.0, 1024.0, 4)
    basis = noise(1, nbins).astype(np.complex64)
    FilterBank([30.0], [20.0], [1.0], basis, None, 12000).save(d / "bank.h5")
    with h5py.File(d / "bank.h5", "r+") as f:
        f.attrs.update(attrs)


def waveform_bank(d: Path, n: int = 8, **attrs) -> None:
    """The preset ``tiny.yaml`` and its bank ``bank.h5``: ``n`` entries of a short segment
    (plain numbers, no waveforms), ``attrs`` overwritten."""
    from dataclasses import asdict

    import h5py

    from gwkit.sim.bank import BANK_FORMAT, BankConfig

    train_preset(d)
    config = BankConfig(pre=100, length=200)
    with h5py.File(d / "bank.h5", "w") as f:
        f.attrs.update({"gwkit_format": BANK_FORMAT, "kind": "waveform_bank", "seed": 0, "n": n,
                        **{f"config_{k}": v for k, v in asdict(config).items()}})
        f["m1"], f["m2"] = np.linspace(20, 40, n), np.linspace(10, 20, n)
        f["f_start"], f["amplitude"] = np.full(n, 15.0), np.full(n, 1e-21)
        f["last"], f["coeffs"] = np.full(n, 150), np.ones((n, 2, 200), np.float32)
        f.attrs.update(attrs)


def training_state(d: Path, corrupt: Callable[[dict], None]) -> None:
    """The preset ``tiny.yaml`` and its fold 0's ``last.pt`` after one real optimizer step
    (what ``gwkit.train`` saves), then changed by ``corrupt(checkpoint dict)``."""
    import torch

    from gwkit.core.distributed import Dist
    from gwkit.models import save_checkpoint
    from gwkit.training.config import resolve_config
    from gwkit.training.loop import make_learner, train_step

    train_preset(d)
    cfg = resolve_config(str(d / "tiny.yaml"), [])
    learner = make_learner(cfg, Dist(), torch.device("cpu"))
    train_step(learner, torch.randn(2, 2, NSAMPLES), torch.tensor([0.0, 1.0]), cfg)
    path = d / "runs" / "tiny" / "fold0" / "last.pt"
    rng = {"engine": [torch.Generator().get_state()], "torch": [torch.get_rng_state()],
           "cuda": None}
    save_checkpoint(path, learner.model, config=cfg.to_dict(), fold=0, epoch=1, step=1,
                    optimizer=learner.optimizer.state_dict(), ema=None,
                    select_metric=cfg.select_metric, best_score=0.5, best_epoch=1, bad_epochs=0,
                    stopped=False, history=[{"epoch": 1, "val_auc": 0.5}], rng=rng,
                    world_size=1)
    state = torch.load(path, weights_only=True)
    corrupt(state)
    torch.save(state, path)


def _other_shape(state: dict) -> None:
    import torch

    state["state_dict"][next(iter(state["state_dict"]))] = torch.zeros(3, 3)


def _short_engine_rng(state: dict) -> None:
    import torch

    state["rng"]["engine"] = [torch.zeros(10, dtype=torch.uint8)]


def _zero_torch_rng(state: dict) -> None:
    state["rng"]["torch"] = [state["rng"]["torch"][0] * 0]


def _one_param_group(state: dict) -> None:
    groups = state["optimizer"]["param_groups"]
    groups[0]["params"] += groups.pop(1)["params"]


def _moments_of_another_shape(state: dict) -> None:
    import torch

    moments = next(iter(state["optimizer"]["state"].values()))
    moments["exp_avg"] = torch.zeros(7)


def held_out_run(d: Path, logit: str = "0.1", label: str | None = None) -> None:
    """A one-fold run for ``gwkit.hybrid``: a checkpoint, the fold's ``val.h5`` (8 rows of
    noise) and its ``oof.csv`` with row 3's logit (and label, when given) as written; a bank."""
    from gwkit.engine import FixedSet

    y = np.arange(8) % 2
    waveform = np.where(y > 0, np.arange(8), -1)
    checkpoint(d / "run" / "fold0" / "best.pt")
    FixedSet(noise(8, 2, NSAMPLES).astype(np.float32), y.astype(np.float32), np.full(8, 10.0),
             waveform, np.zeros((8, 2))).save(d / "run" / "fold0" / "val.h5")
    rows = [[i, y[i], 10, waveform[i], 0.1, 0] for i in range(8)]
    rows[3][4] = logit
    rows[3][1] = y[3] if label is None else label
    write(d / "run" / "fold0" / "oof.csv", "id,label,snr_group,waveform_id,logit,fold\n"
          + "".join(",".join(map(str, r)) + "\n" for r in rows))
    filter_bank(d)


def stacker(d: Path, **values) -> None:
    """A run (checkpoint, stacker.json with ``values`` overwritten, its bank file) and test.npy."""
    checkpoint(d / "run" / "fold0.pt")
    npy(d / "test.npy")
    write(d / "run" / "mf_bank.h5", b"a bank")
    fields = {"format": "gwkit.stacker", "version": 1, "features": ["logit", "mf_lse_time"],
              "mean": [0.0, 0.0], "scale": [1.0, 1.0], "coef": [1.0, 1.0], "intercept": 0.0,
              "compression": 10.0, "mode": "competition", "filter_bank": "mf_bank.h5",
              "filter_bank_sha256": hashlib.sha256(b"a bank").hexdigest(), **values}
    write(d / "run" / "stacker.json", json.dumps(fields))


def huge_spec_checkpoint(d: Path) -> None:
    """A checkpoint whose spec asks for ~1e9 values (its weights are those of the tiny model)."""
    import torch

    checkpoint(d / "run" / "fold0.pt")
    state = torch.load(d / "run" / "fold0.pt", weights_only=True)
    state["model"]["kwargs"]["channels"] = [32, 64, 128, 2**20]
    torch.save(state, d / "run" / "fold0.pt")
    npy(d / "test.npy")


def kaggle_submission(d: Path, credentials: str) -> None:
    """A predict-made submission of test.npy and ``~/.kaggle/kaggle.json`` holding ``credentials``."""
    from gwkit.scoring.submission import input_record, write_submission

    npy(d / "test.npy")
    write_submission(d / "submission.csv", np.array([0.5, 0.25]),
                     provenance={"input": input_record(d / "test.npy")})
    write(d / "home" / ".kaggle" / "kaggle.json", credentials)


# --------------------------------------------------------------------------- the cases

PLAUSIBILITY: list[Case] = [
    # strain rows (gwkit.data.competition.check_amplitudes, every reader)
    Case("predict-all-zero-rows", PREDICT, "test.npy: H1 is constant (0) in rows 0, 1, 2: an "
         "unfilled file", lambda d: strain_npy(d, zero_rows(0, 1, 2))),
    Case("predict-one-zero-row", PREDICT, "test.npy: H1 is constant (0) in row 1:",
         lambda d: strain_npy(d, zero_rows(1))),
    Case("predict-detector-without-data", PREDICT, "test.npy: L1 is constant (0) in rows 0, 2",
         lambda d: strain_npy(d, zero_rows(0, 2, detector=1))),
    Case("predict-raw-strain", PREDICT, "below 0.001: raw strain? gwkit expects whitened strain",
         lambda d: strain_npy(d, 1e-21 * noise(2, 1, 2, NSAMPLES))),
    Case("predict-amplitude-1e30", PREDICT, "test.npy: H1 has RMS 1e+30 in rows 0, 1, above 1000",
         lambda d: strain_npy(d, 1e30 * np.sign(noise(2, 1, 2, NSAMPLES)))),
    Case("predict-amplitude-overflows", PREDICT, "test.npy: H1 has RMS inf in rows 0, 1",
         lambda d: strain_npy(d, np.full((2, 1, 2, NSAMPLES), 1.7e308) * np.sign(
             noise(2, 1, 2, NSAMPLES)))),
    Case("predict-constant-rows", PREDICT, "test.npy: H1 is constant (0.5) in rows 0, 1",
         lambda d: strain_npy(d, np.full((2, 1, 2, NSAMPLES), 0.5))),
    Case("inspect-raw-strain", ("-m", "gwkit.inspect", "test.npy"), "test.npy: H1 has RMS 1e-21",
         lambda d: np.save(d / "test.npy", 1e-21 * np.sign(noise(2, 1, 2, NSAMPLES)))),
    Case("evaluate-zero-rows-in-h5", (*EVALUATE, "--runs", "run", "--data", "set.h5", "--device",
                                      "cpu"), "set.h5: H1 is constant (0) in row 2",
         lambda d: (checkpoint(d / "run" / "fold0.pt"),
                    labelled_set(d, zero_rows(2).reshape(3, 2, NSAMPLES)[[0, 1, 2, 0]]))),
    Case("evaluate-nan-strain-in-h5", (*EVALUATE, "--runs", "run", "--data", "set.h5", "--device",
                                       "cpu"), "set.h5: expected finite strain",
         lambda d: (checkpoint(d / "run" / "fold0.pt"),
                    raw_h5_strain(d, np.where(np.arange(4)[:, None, None] == 3, np.nan,
                                              noise(4, 2, 64))))),
    Case("train-data-zero-rows", (*TRAIN, "--train-data", "."), "test.npy: H1 is constant (0)",
         lambda d: (train_preset(d), labelled_npy(d),
                    np.save(d / "test.npy", np.zeros((4, 1, 2, NSAMPLES))))),
    # text where numbers belong, in tables (gwkit.data.columns)
    Case("evaluate-string-ids", (*EVALUATE, "--scores", "s.csv", "--labels", "labels.csv"),
         "labels.csv: id must hold whole numbers (row numbers); row 0 has 'a'",
         lambda d: labels_and_scores(d, "id,target\na,0\nb,1\n")),
    Case("evaluate-string-score-ids", (*EVALUATE, "--scores", "s.csv", "--labels", "labels.csv"),
         "scores s.csv: id must hold whole numbers (row numbers); row 1 has 'b'",
         lambda d: labels_and_scores(d, "id,target\n0,0\n1,1\n", "id,score\n0,0.1\nb,0.9\n")),
    Case("evaluate-fractional-ids", (*EVALUATE, "--scores", "s.csv", "--labels", "labels.csv"),
         "labels.csv: id must hold whole numbers (row numbers); row 1 has 1.5",
         lambda d: labels_and_scores(d, "id,target\n0,0\n1.5,1\n")),
    Case("evaluate-repeated-label-ids", (*EVALUATE, "--scores", "s.csv", "--labels", "labels.csv"),
         "labels.csv: id 1 appears more than once",
         lambda d: labels_and_scores(d, "id,target\n0,0\n1,1\n1,0\n")),
    Case("evaluate-string-params-ids", (*EVALUATE, "--scores", "s.csv", "--labels", "labels.csv"),
         "params.csv: id must hold whole numbers",
         lambda d: (labels_and_scores(d, "id,target\n0,0\n1,1\n"),
                    write(d / "params.csv", "id,waveform_id\nzero,-1\none,3\n"))),
    Case("evaluate-text-snr-group", (*EVALUATE, "--scores", "oof.csv"),
         "oof.csv: snr_group must be numbers; row 3 has 'loud'", lambda d: scores(d, "snr", "loud")),
    Case("evaluate-text-snr-group-in-labels",
         (*EVALUATE, "--scores", "s.csv", "--labels", "labels.csv"),
         "labels.csv: snr_group must be numbers; row 1 has 'high'",
         lambda d: labels_and_scores(d, "id,target,snr_group\n0,0,5\n1,1,high\n")),
    Case("evaluate-signal-without-snr-group", (*EVALUATE, "--scores", "oof.csv"),
         "oof.csv (column score): snr_group of a signal row must be a finite number; row 1 has nan",
         lambda d: write(d / "oof.csv", "id,label,snr_group,score\n0,0,5,0.1\n1,1,,0.9\n")),
    Case("evaluate-absurd-scores", (*EVALUATE, "--scores", "s.csv"),
         "s.csv (column score): scores must be finite numbers; row 1 has 1e+308",
         lambda d: write(d / "s.csv", "id,label,score\n0,0,-1e3\n1,1,1e308\n")),
    # GWOSC files (gwkit.strain.gwosc) and their whitening (gwkit.strain.whiten.check_psd)
    Case("scan-detector-without-data", (*SCAN, *GWOSC),
         "H-H1_SIM-1000000000-12.hdf5: the strain is constant (0): the file holds no data",
         lambda d: gwosc(d, h1=np.zeros(12 * 4096))),
    Case("scan-strain-overflows-the-psd", (*SCAN, *GWOSC),
         "H-H1_SIM-1000000000-12.hdf5: its PSD at 15 Hz is inf: it overflows float64",
         lambda d: gwosc(d, h1=1e160 * noise(12 * 4096))),
    Case("scan-strain-underflows-the-psd", (*SCAN, *GWOSC),
         "H-H1_SIM-1000000000-12.hdf5: its PSD at 15 Hz is zero",
         lambda d: gwosc(d, h1=1e-170 * noise(12 * 4096))),
    Case("scan-nan-gps-start", (*SCAN, *GWOSC),
         "H-H1_SIM-1000000000-12.hdf5: attribute Xstart of strain/Strain is nan, expected a "
         "finite number", lambda d: gwosc(d, edit=set_attr("Xstart", np.nan))),
    Case("scan-text-sample-spacing", (*SCAN, *GWOSC),
         "attribute Xspacing of strain/Strain is 'fast', expected a finite number",
         lambda d: gwosc(d, edit=set_attr("Xspacing", "fast"))),
    Case("scan-detector-contradicts-the-name", (*SCAN, *GWOSC),
         "H-H1_SIM-1000000000-12.hdf5: the file name says detector H1, its meta/Detector says L1",
         lambda d: gwosc(d, edit=replace_dataset("meta/Detector", "L1"))),
    Case("scan-detector-contradicts-a-plain-name", (*SCAN, "l1.hdf5", "h1.hdf5"),
         "l1.hdf5: the file name says detector L1, its meta/Detector says H1",
         lambda d: gwosc(d, names=("l1.hdf5", "h1.hdf5"))),
    Case("scan-gps-contradicts-the-name", (*SCAN, "H-H1_SIM-1000000100-12.hdf5", GWOSC[1]),
         "the file name says GPS start 1000000100, the strain says 1000000000",
         lambda d: gwosc(d, names=("H-H1_SIM-1000000100-12.hdf5", GWOSC[1]))),
    Case("scan-nan-meta-gps-start", (*SCAN, *GWOSC),
         "H-H1_SIM-1000000000-12.hdf5: meta/GPSstart is nan, the strain says 1000000000",
         lambda d: gwosc(d, edit=replace_dataset("meta/GPSstart", np.nan))),
    Case("scan-nan-reference-gps", (*SCAN, *GWOSC, "--reference-gps", "nan"),
         "gwkit.scan: --reference-gps nan: expected a finite number", gwosc),
    Case("scan-infinite-fftlength", (*SCAN, *GWOSC, "--fftlength", "inf"),
         "gwkit.scan: --fftlength inf: expected a finite number", gwosc),
    Case("simulate-infinite-snr", ("-m", "gwkit.simulate", "--out", "set", "--snr", "20", "inf"),
         "gwkit.simulate: --snr: SNRs must be positive finite numbers, got [20.0, inf]"),
    Case("scan-text-strain", (*SCAN, *GWOSC), "strain/Strain holds |S2, expected numbers",
         lambda d: gwosc(d, edit=text_strain)),
]

TRACEBACKS: list[Case] = [
    # --resume validates last.pt against the run's config before loading it
    Case("resume-weights-of-another-shape", RESUME,
         "last.pt: cannot resume from it: its weights do not fit this resnet1d_tiny",
         lambda d: training_state(d, _other_shape)),
    Case("resume-bad-engine-rng", RESUME,
         "last.pt: cannot resume from it: the engine RNG state of process 0 is not a generator",
         lambda d: training_state(d, _short_engine_rng)),
    Case("resume-bad-torch-rng", RESUME,
         "last.pt: cannot resume from it: the torch RNG state of process 0 is not a generator",
         lambda d: training_state(d, _zero_torch_rng)),
    Case("resume-other-optimizer-groups", RESUME,
         "last.pt: cannot resume from it: its optimizer state does not fit this resnet1d_tiny "
         "(loaded state dict has a different number of parameter groups)",
         lambda d: training_state(d, _one_param_group)),
    Case("resume-moments-of-another-shape", RESUME,
         "last.pt: cannot resume from it: its optimizer's exp_avg has shape (7,)",
         lambda d: training_state(d, _moments_of_another_shape)),
    Case("resume-history-not-a-list", RESUME,
         "last.pt: cannot resume from it: its history is not a list of epoch rows",
         lambda d: training_state(d, lambda s: s.update(history="lost"))),
    Case("resume-negative-step", RESUME, "last.pt: cannot resume from it: step is -4",
         lambda d: training_state(d, lambda s: s.update(step=-4))),
    Case("resume-model-spec-not-a-mapping", RESUME,
         "last.pt: cannot resume from it: its model spec or config is not a mapping",
         lambda d: training_state(d, lambda s: s.update(model=[1]))),
    # stacker.json values (gwkit.scoring.stack.Stacker)
    Case("stacker-nan-mean", PREDICT, "run/stacker.json: mean holds nan; expected finite numbers",
         lambda d: stacker(d, mean=[float("nan"), 0.0])),
    Case("stacker-huge-coefficients", PREDICT, "run/stacker.json: coef holds 1e+300",
         lambda d: stacker(d, coef=[1e300, 1.0])),
    Case("stacker-infinite-intercept", PREDICT, "run/stacker.json: intercept holds inf",
         lambda d: stacker(d, intercept=float("inf"))),
    Case("stacker-text-scale", PREDICT, "run/stacker.json: scale holds 'wide'",
         lambda d: stacker(d, scale=["wide", 1.0])),
    Case("stacker-text-compression", PREDICT, "run/stacker.json: compression holds 'asinh'",
         lambda d: stacker(d, compression="asinh")),
    Case("stacker-unknown-mode", PREDICT,
         "run/stacker.json: mode 'quantum' is not one of competition, physical",
         lambda d: stacker(d, mode="quantum")),
    Case("stacker-features-as-text", PREDICT,
         "run/stacker.json: features must be a list of feature names, found 'logit'",
         lambda d: stacker(d, features="logit")),
    # a run's oof.csv (gwkit.data.columns.read_oof), before any filtering
    Case("hybrid-text-logit", HYBRID, "run/fold0/oof.csv: logit must be finite numbers; row 3 "
         "has 'high'", lambda d: held_out_run(d, logit="high")),
    Case("hybrid-nan-logit", HYBRID, "run/fold0/oof.csv: logit must be finite numbers; row 3 has "
         "nan", lambda d: held_out_run(d, logit="nan")),
    Case("hybrid-text-label", HYBRID, "run/fold0/oof.csv: labels (label) must be 0 or 1; row 3 "
         "has 'noise'", lambda d: held_out_run(d, label="noise")),
    # banks' attributes (gwkit.core.hdf5.attribute)
    Case("filter-bank-infinite-reference-index", MATCHED_FILTER,
         "bank.h5: attribute ref_index is inf, expected a whole number",
         lambda d: filter_bank(d, ref_index=np.inf)),
    Case("filter-bank-text-stride", MATCHED_FILTER,
         "bank.h5: attribute stride is 'four', expected a whole number",
         lambda d: filter_bank(d, stride="four")),
    Case("waveform-bank-infinite-reference-index", TRAIN,
         "bank.h5: attribute config_pre is inf, expected a whole number",
         lambda d: waveform_bank(d, config_pre=np.inf)),
    Case("waveform-bank-text-seed", TRAIN, "bank.h5: attribute seed is 'zero', expected a whole",
         lambda d: waveform_bank(d, seed="zero")),
    Case("waveform-bank-smaller-than-the-folds", TRAIN,
         "bank.h5: n_folds: expected at most the number of waveforms (2), got 4",
         lambda d: waveform_bank(d, n=2)),
    # configs: decoded and range-checked before anything is created
    Case("train-latin1-preset", ("-m", "gwkit.train", "--preset", "latin1.yaml"),
         "latin1.yaml: not a UTF-8 text file (byte 9 is b'\\xe9')",
         lambda d: write(d / "latin1.yaml", b"name: caf\xe9\n")),
    Case("train-latin1-run-config", TRAIN, "runs/tiny/config.yaml: not a UTF-8 text file",
         lambda d: (train_preset(d), write(d / "runs" / "tiny" / "config.yaml", b"model: r\xe9s"))),
    Case("train-nan-in-preset", ("-m", "gwkit.train", "--preset", "nan.yaml"),
         "nan.yaml: lr=nan: expected a finite number", lambda d: write(d / "nan.yaml", "lr: .nan\n")),
    Case("train-negative-seed", (*TRAIN, "--set", "seed=-1"),
         "seed=-1: must be a whole number in [0, 2**63)", train_preset),
    Case("train-infinite-lr", (*TRAIN, "--set", "lr=inf"), "lr=inf: expected a finite number",
         train_preset),
    Case("train-infinite-weight-decay", (*TRAIN, "--set", "weight_decay=.inf"),
         "weight_decay=inf: expected a finite number", train_preset),
    Case("train-negative-bank-seed", (*TRAIN, "--set", "bank_seed=-3"),
         "bank_seed=-3: must be a whole number", train_preset),
    # a checkpoint whose spec asks for a model far larger than its weights
    Case("predict-spec-asks-for-gigabytes", PREDICT,
         "run/fold0.pt: its spec asks for a resnet1d_tiny of at least", huge_spec_checkpoint),
    # unclear lines made clear
    Case("submit-kaggle-json-list", ("-m", "gwkit.submit", "--file", "submission.csv", "--force"),
         "kaggle.json is malformed (it holds a list, not an object)",
         lambda d: kaggle_submission(d, "[1, 2]")),
    Case("submit-kaggle-json-string", ("-m", "gwkit.submit", "--file", "submission.csv",
                                       "--force"),
         "kaggle.json is malformed (it holds a string, not an object)",
         lambda d: kaggle_submission(d, '"alice:key"')),
    Case("evaluate-one-class-labels", (*EVALUATE, "--scores", "s.csv", "--labels", "labels.csv"),
         "labels.csv: all 2 labelled rows are signals (label 1); an AUC needs both",
         lambda d: labels_and_scores(d, "id,target\n0,1\n1,1\n")),
    Case("evaluate-one-class-oof", (*EVALUATE, "--scores", "oof.csv"),
         "oof.csv: all 3 labelled rows are noise (label 0)",
         lambda d: write(d / "oof.csv", "id,target,score\n0,0,0.1\n1,0,0.9\n2,0,0.3\n")),
    Case("evaluate-one-class-after-the-join",
         (*EVALUATE, "--scores", "s.csv", "--labels", "labels.csv"),
         "s.csv with labels.csv: all 1 labelled rows are signals",
         lambda d: labels_and_scores(d, "id,target\n0,1\n1,0\n", "id,score\n0,0.5\n")),
    Case("evaluate-ids-without-labels-name-both-files",
         (*EVALUATE, "--scores", "s.csv", "--labels", "labels.csv"),
         "s.csv: 1 id(s) have no label in labels.csv (first: id 5)",
         lambda d: labels_and_scores(d, "id,target\n0,0\n1,1\n", "id,score\n0,0.1\n5,0.9\n")),
    # an output folder under a file
    Case("build_dataset-out-under-a-file",
         ("kernels/build_dataset.py", "--out", "file/ds", "--no-wheel", "--weights",
          "weights/gwkit_resnet"), "--out file/ds: cannot write there",
         lambda d: (weights(d), write(d / "file", "x"))),
    Case("train-out-under-a-file", (*TRAIN, "--out", "file/runs"), "file/runs/tiny/fold0: cannot "
         "write there", lambda d: (waveform_bank(d), write(d / "file", "x"))),
    Case("scan-out-under-a-file", (*SCAN, *GWOSC, "--out", "file/scan"), "cannot write there",
         lambda d: (gwosc(d), write(d / "file", "x"))),
]

CASES = PLAUSIBILITY + TRACEBACKS
#: Cases that must fail before creating anything: no run folder appears.
NO_RUN_FOLDER = {c.id for c in TRACEBACKS if c.id.startswith("train-")} - {
    "train-latin1-run-config", "train-out-under-a-file"}


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory) -> tuple[Path, dict[str, Future]]:
    root = tmp_path_factory.mktemp("bad_inputs_plausibility")
    with sweep(selected_cases(request), root) as futures:
        yield root, futures


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_ends_in_one_line(case: Case, outcomes: tuple[Path, dict[str, Future]]):
    root, futures = outcomes
    check_outcome(case, futures[case.id].result())
    if case.id in NO_RUN_FOLDER:
        assert not (root / case.id / "runs").exists(), "a half-made run folder"


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
