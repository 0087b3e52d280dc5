"""Outputs and interruptions through the real command lines (issue 25, items 2-5).

Fail closed: ``gwkit.submit`` refuses a CSV without a valid, matching provenance sidecar
(each check named). Check first: every output path of a command is checked before any
work, so a bad one fails in one line with every old file untouched. One run, one writer:
``train`` and ``hybrid`` refuse a run folder locked by a running process. These run in
the bad-input harness (``tests/cli_sweep.py``). Ctrl-C: real processes are sent SIGINT
while they work and must exit 130 with one line, replacing nothing and leaving no
temporary file; an interrupted training resumes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest
import yaml
from cli_sweep import (
    Case,
    check_outcome,
    checkpoint,
    digests,
    npy,
    scores,
    sealed_env,
    selected_cases,
    sweep,
    train_preset,
    vouched_submission,
    write,
)

from gwkit.core.runlock import LOCK_FILE

# --------------------------------------------------------------------------- file makers


def edit_sidecar(d: Path, change) -> None:
    """The vouched submission, its sidecar's JSON record changed by ``change(record)``."""
    vouched_submission(d)
    side = d / "submission.provenance.json"
    record = json.loads(side.read_text())
    change(record)
    side.write_text(json.dumps(record))


def locked(run: Path) -> None:
    """A lock file naming a running process (the test's) of this host, as a live holder leaves."""
    write(run / LOCK_FILE, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                       "command": "python -m gwkit.train --fold 0"}))


def held_out_run(run: Path) -> None:
    """A run folder as ``gwkit.hybrid`` takes it (fold0/oof.csv and fold0/val.h5, never read
    by these cases) with its own filter bank mf_bank.h5."""
    write(run / "fold0" / "val.h5", b"never read")
    write(run / "fold0" / "oof.csv", "never read")
    write(run / "mf_bank.h5", b"the run's own bank, its stacker fitted with it")


def gwosc_pair(d: Path) -> None:
    """H1 and L1 GWOSC files of 8 s of white noise, coincident."""
    from gwkit.strain.gwosc import StrainSeries, write_gwosc

    rng = np.random.default_rng(7)
    for ifo in ("H1", "L1"):
        write_gwosc(d / f"{ifo[0]}-{ifo}_SIM-1000000000-8.hdf5",
                    StrainSeries(ifo, rng.normal(size=8 * 4096) * 1e-21, 1e9, 4096.0))


def ones(path: Path) -> None:
    """A 2-row test.npy of ones (other bytes than :func:`npy`'s zeros)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.ones((2, 1, 2, 16384)))


def folder(path: Path) -> None:
    """A folder (holding a file) where a command's output file goes."""
    write(path / "keep", "x")


# --------------------------------------------------------------------------- the cases

SUBMIT = ("-m", "gwkit.submit", "--file", "submission.csv", "--dry-run")
SIDE = "submission.provenance.json"
PREDICT = ("-m", "gwkit.predict", "--device", "cpu", "--runs", "run", "--data", "test.npy")
SIMULATE = ("-m", "gwkit.simulate", "--per-snr", "1", "--snr", "10", "--workers", "1",
            "--no-progress", "--out", "out")
HYBRID = ("-m", "gwkit.hybrid", "--runs", "run")
SCAN = ("-m", "gwkit.scan", "H-H1_SIM-1000000000-8.hdf5", "L-L1_SIM-1000000000-8.hdf5",
        "--runs", "run", "--out", "scan", "--dq-flags", "")


def _old_set(d: Path, names: tuple[str, ...] = ("test.npy", "labels.csv", "params.csv")) -> None:
    for name in names:
        write(d / "out" / name, f"old {name}")


CASES: list[Case] = [
    # item 2: submit fails closed, naming the check
    Case("submit-no-sidecar", SUBMIT, f"no provenance sidecar ({SIDE} absent",
         lambda d: (vouched_submission(d), (d / SIDE).unlink())),
    Case("submit-sidecar-not-json", SUBMIT, f"provenance sidecar {SIDE} is unreadable",
         lambda d: (vouched_submission(d), write(d / SIDE, "{"))),
    Case("submit-sidecar-not-utf8", SUBMIT, f"provenance sidecar {SIDE} is unreadable",
         lambda d: (vouched_submission(d), write(d / SIDE, b"\xff\xfe{}"))),
    Case("submit-sidecar-is-a-folder", SUBMIT, f"provenance sidecar {SIDE} is unreadable",
         lambda d: (vouched_submission(d), (d / SIDE).unlink(), folder(d / SIDE))),
    Case("submit-sidecar-a-list", SUBMIT, f"provenance sidecar {SIDE} is not a gwkit provenance",
         lambda d: (vouched_submission(d), write(d / SIDE, "[]"))),
    Case("submit-sidecar-other-version", SUBMIT, "has version 7, this gwkit reads 1",
         lambda d: edit_sidecar(d, lambda r: r.update(version=7))),
    Case("submit-sidecar-of-another-csv", SUBMIT, "is for another file ('other.csv')",
         lambda d: edit_sidecar(d, lambda r: r["csv"].update(name="other.csv"))),
    Case("submit-sidecar-stale", SUBMIT, f"provenance sidecar {SIDE} is stale",
         lambda d: (vouched_submission(d), write(d / "submission.csv", "id,target\n0,0.5\n1,0.2\n"))),
    Case("submit-sidecar-copied-beside-a-copy",
         ("-m", "gwkit.submit", "--file", "copy.csv", "--dry-run"),
         "copy.provenance.json is for another file ('submission.csv'), not copy.csv",
         lambda d: (vouched_submission(d),
                    write(d / "copy.csv", (d / "submission.csv").read_bytes()),
                    write(d / "copy.provenance.json", (d / SIDE).read_bytes()))),
    Case("submit-no-input-recorded", SUBMIT, "the provenance records no input file",
         lambda d: edit_sidecar(d, lambda r: r.pop("input"))),
    Case("submit-no-input-sha256", SUBMIT, "records no sha256 of its input",
         lambda d: edit_sidecar(d, lambda r: r["input"].update(sha256=""))),
    Case("submit-no-test-npy-to-compare", SUBMIT, "no competition test.npy found to compare",
         lambda d: (vouched_submission(d, data="elsewhere/test.npy"))),
    Case("submit-input-differs", SUBMIT, "whose content differs from /",
         lambda d: (vouched_submission(d, data="elsewhere/test.npy"), ones(d / "data" / "test.npy"))),
    Case("submit-reference-is-simulated",
         ("-m", "gwkit.submit", "--file", "submission.csv", "--dry-run", "--data", "sim"),
         "sim/test.npy, is a simulated set (labels.csv beside it)",
         lambda d: (vouched_submission(d), npy(d / "sim" / "test.npy"),
                    write(d / "sim" / "labels.csv", "id,label\n0,0\n1,1\n"))),
    # item 3: every output checked before any work; old files untouched
    Case("predict-sidecar-path-is-a-folder", (*PREDICT, "--out", "sub.csv"),
         "sub.provenance.json: cannot write",
         lambda d: (checkpoint(d / "run" / "fold0.pt"), npy(d / "test.npy"),
                    folder(d / "sub.provenance.json"))),
    Case("predict-logits-path-is-a-folder", (*PREDICT, "--out", "sub.csv"),
         "sub.logits.npz: cannot write",
         lambda d: (checkpoint(d / "run" / "fold0.pt"), npy(d / "test.npy"),
                    vouched_submission(d, csv="sub.csv"), (d / "sub.logits.npz").unlink(),
                    folder(d / "sub.logits.npz"))),
    Case("predict-stacker-fails-old-trio-kept", (*PREDICT, "--out", "sub.csv"),
         "stacker.json: not a readable stacker JSON",
         lambda d: (checkpoint(d / "run" / "fold0.pt"), npy(d / "test.npy"),
                    write(d / "run" / "stacker.json", "{"), vouched_submission(d, csv="sub.csv"))),
    Case("simulate-labels-path-is-a-folder", SIMULATE, "out/labels.csv: cannot write",
         lambda d: (_old_set(d, ("test.npy",)), folder(d / "out" / "labels.csv"))),
    Case("simulate-params-path-is-a-folder", SIMULATE, "out/params.csv: cannot write",
         lambda d: (_old_set(d, ("test.npy", "labels.csv")), folder(d / "out" / "params.csv"))),
    Case("simulate-sav-block-path-is-a-folder",
         (*SIMULATE[:5], "10", "20", *SIMULATE[6:], "--format", "sav"),
         "out/train_params_1.sav: cannot write",
         lambda d: (_old_set(d, ("train_ts_0.sav", "train_params_0.sav")),
                    folder(d / "out" / "train_params_1.sav"))),
    Case("simulate-h5-path-is-a-folder", (*SIMULATE, "--format", "hdf5"),
         "out/test.h5: cannot write", lambda d: folder(d / "out" / "test.h5")),
    Case("scan-summary-path-is-a-folder", SCAN, "scan/summary.json: cannot write",
         lambda d: (gwosc_pair(d), write(d / "scan" / "scores.csv", "old"),
                    folder(d / "scan" / "summary.json"))),
    Case("scan-plot-path-is-a-folder", SCAN, "scan/scan.png: cannot write",
         lambda d: (gwosc_pair(d), folder(d / "scan" / "scan.png"))),
    Case("hybrid-stacker-path-is-a-folder", HYBRID, "stacker.json: cannot write",
         lambda d: (held_out_run(d / "run"), folder(d / "run" / "stacker.json"))),
    Case("hybrid-bad-filter-bank-keeps-the-runs-bank", (*HYBRID, "--filter-bank", "other.h5"),
         "other.h5: not a readable gwkit filter bank",
         lambda d: (held_out_run(d / "run"), write(d / "other.h5", b"not a bank"))),
    Case("evaluate-report-path-is-a-folder",
         ("-m", "gwkit.evaluate", "--scores", "oof.csv", "--out", "rep", "--no-plots"),
         "rep/report.json: cannot write",
         lambda d: (scores(d), write(d / "rep" / "summary.md", "old"), folder(d / "rep" / "report.json"))),
    # item 4: one run, one writer
    Case("train-run-locked", ("-m", "gwkit.train", "--preset", "tiny.yaml"),
         f"runs/tiny is in use by pid {os.getpid()} on host",
         lambda d: (train_preset(d), locked(d / "runs" / "tiny"))),
    Case("train-resume-run-locked", ("-m", "gwkit.train", "--preset", "tiny.yaml", "--resume"),
         f"runs/tiny/{LOCK_FILE}; wait for it to finish",
         lambda d: (train_preset(d), locked(d / "runs" / "tiny"))),
    Case("train-out-under-a-file", ("-m", "gwkit.train", "--preset", "tiny.yaml", "--out", "file/runs"),
         "file is a file, not a folder",
         lambda d: (train_preset(d), write(d / "file", "x"))),
    Case("hybrid-run-locked", HYBRID, "run is in use by pid",
         lambda d: (held_out_run(d / "run"), locked(d / "run"))),
]


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory) -> dict[str, Future]:
    with sweep(selected_cases(request), tmp_path_factory.mktemp("bad_outputs")) as futures:
        yield futures


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_output_ends_in_one_line(case: Case, outcomes: dict[str, Future]):
    check_outcome(case, outcomes[case.id].result())


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


# --------------------------------------------------------------------------- Ctrl-C


def _default_sigint() -> None:
    """A shell starts background jobs with SIGINT ignored, and the child would inherit that
    (CI runners may run the suite so): give the command the disposition a terminal gives."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(argv: list[str], cwd: Path, *, after: str, wait_for: Path | None = None,
               delay: float = 0.0, sig: int = signal.SIGINT) -> subprocess.CompletedProcess:
    """Run ``python argv`` in its own process group (as a terminal runs a command) and
    send ``sig`` to the whole group once stdout has shown ``after`` (and ``wait_for``
    exists, and ``delay`` seconds passed): what Ctrl-C does."""
    env = sealed_env(cwd, {})
    (cwd / "home").mkdir(exist_ok=True)
    proc = subprocess.Popen([sys.executable, *argv], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_default_sigint)
    try:
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if after in line:
                break
        else:
            raise AssertionError(f"never printed {after!r}: {''.join(seen)}"
                                 f"{proc.stderr.read()[-2000:]}")
        deadline = time.monotonic() + 120
        while wait_for is not None and not wait_for.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "finished too early"
            time.sleep(0.05)
        time.sleep(delay)
        assert proc.poll() is None, "finished before the signal"
        os.killpg(proc.pid, sig)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return subprocess.CompletedProcess(argv, proc.returncode, "".join(seen) + out, err)


def _temporaries(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if ".tmp-" in p.name]


def test_ctrl_c_in_simulate_replaces_nothing(tmp_path):
    _old_set(tmp_path)
    before = digests(tmp_path / "out")
    r = _interrupt(["-m", "gwkit.simulate", "--per-snr", "200", "--snr", "10", "20", "--workers",
                    "2", "--no-progress", "--out", "out", "--block-rows", "400"],
                   tmp_path, after="simulating", delay=0.5)
    assert r.returncode == 130, r.stderr
    assert r.stderr == "gwkit.simulate: interrupted; nothing was replaced\n"
    assert digests(tmp_path / "out") == before and _temporaries(tmp_path) == []


def test_ctrl_c_in_predict_keeps_the_previous_submission(tmp_path):
    checkpoint(tmp_path / "run" / "fold0.pt")
    np.save(tmp_path / "test.npy",
            np.random.default_rng(0).normal(size=(24, 1, 2, 16384)).astype(np.float32))
    vouched_submission(tmp_path, csv="sub.csv")
    before = digests(tmp_path)
    r = _interrupt(["-m", "gwkit.predict", "--device", "cpu", "--runs", "run", "--data",
                    "test.npy", "--batch-size", "1", "--out", "sub.csv"],
                   tmp_path, after="test data:", delay=0.3)
    assert r.returncode == 130, r.stderr
    assert r.stderr == "gwkit.predict: interrupted; nothing was replaced\n"
    assert digests(tmp_path) == before and _temporaries(tmp_path) == []


@pytest.fixture
def _restore_threads():
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_ctrl_c_in_train_then_resume(tmp_path, small_bank, capfd, monkeypatch, _restore_threads):
    """Ctrl-C during fold 0's second epoch: exit 130, one line, the lock released, epoch 1's
    last.pt intact; a kill -9 afterwards (its lock and a half-written temporary left behind)
    is resumed too, with one line about the stale lock, and the run completes."""
    from gwkit.train import main as train_main

    model = dict(layers=[1, 1], channels=[8, 16], stem_width=8, stem_stride=2, global_pool="gem",
                 frontend=dict(decimate=8, highpass=15.0))
    write(tmp_path / "tiny.yaml", yaml.safe_dump(dict(
        name="tiny", model="resnet1d_tiny", model_kwargs=model, bank=str(small_bank.path),
        n_folds=4, val_per_snr=4, snr="uniform:10:30", epochs=3, steps_per_epoch=6,
        batch_size=8, lr=1e-2, warmup_steps=2, min_lr=1e-4, device="cpu", out_dir="runs",
        eval_batch_size=64, num_threads=1)))
    fold = tmp_path / "runs" / "tiny" / "fold0"
    r = _interrupt(["-m", "gwkit.train", "--preset", "tiny.yaml"], tmp_path, after="run runs",
                   wait_for=fold / "last.pt")
    assert r.returncode == 130, r.stderr
    assert r.stderr == "gwkit.train: interrupted; resume with --resume\n"  # no bar in a pipe
    assert not (tmp_path / "runs" / "tiny" / LOCK_FILE).exists() and _temporaries(tmp_path) == []
    import torch

    assert torch.load(fold / "last.pt", weights_only=False)["epoch"] >= 1

    # what a kill -9 leaves: the lock of a dead process and a temporary file of its pid
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write(tmp_path / "runs" / "tiny" / LOCK_FILE,
          json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    host = "".join(c for c in socket.gethostname() if c.isalnum())
    write(fold / f".last.pt.tmp-{host}-{dead.pid}-abc.pt", b"half")
    monkeypatch.chdir(tmp_path)
    capfd.readouterr()
    results = train_main(["--preset", "tiny.yaml", "--resume"])
    err = capfd.readouterr().err
    assert f"took over the stale lock runs/tiny/{LOCK_FILE} of pid {dead.pid}" in err
    assert set(results) == {0} and _temporaries(tmp_path) == []
    assert len((fold / "metrics.csv").read_text().splitlines()) == 1 + 3  # epochs 1-3, once each
    assert not (tmp_path / "runs" / "tiny" / LOCK_FILE).exists()
