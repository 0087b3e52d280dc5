"""python -m gwkit.train: loop, outputs, resume, folds without leakage, DDP, errors.

Everything runs on the CPU with a 16-waveform bank (built once per session), a
~4k-parameter ResNet and a handful of steps of batch 8.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

import gwkit.training.loop as gt
from gwkit.data.folds import fold_split, load_folds
from gwkit.engine import Augment, FixedSet
from gwkit.engine.sampler import Sampler
from gwkit.models import load_checkpoint
from gwkit.sim.bank import build_bank
from gwkit.sim.recipe import COMPETITION_SNRS
from gwkit.train import main as train_main
from gwkit.training.config import TrainConfig, load_config
from gwkit.training.fold_data import FoldData, RunError, derive_seed

REPO = Path(__file__).resolve().parents[1]
TINY_MODEL = dict(layers=[1, 1], channels=[8, 16], stem_width=8, stem_stride=2,
                  global_pool="gem", frontend=dict(decimate=8, highpass=15.0))


@pytest.fixture(autouse=True)
def _restore_threads():
    """The runs use one thread (tiny model; no spinning on a busy CPU); restore it after."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def bank_path(tmp_path_factory) -> Path:
    return build_bank(16, tmp_path_factory.mktemp("bank") / "bank16.h5", seed=3, workers=2)


def tiny_preset(tmp_path: Path, bank: Path, **changes) -> Path:
    """A preset file for a run that takes a few seconds."""
    settings = dict(
        name="tiny", model="resnet1d_tiny", model_kwargs=TINY_MODEL, bank=str(bank),
        n_folds=4, val_per_snr=4, snr="uniform:10:30", epochs=2, steps_per_epoch=3,
        batch_size=8, lr=1e-2, warmup_steps=2, min_lr=1e-4, device="cpu",
        out_dir=str(tmp_path / "runs"), eval_batch_size=64, num_threads=1,
    )
    settings.update(changes)
    path = tmp_path / "tiny.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings))
    return path


def run(preset: Path, *args: str) -> dict:
    return train_main(["--preset", str(preset), *args])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


# ---------------------------------------------------------------- helpers


def test_get_lr_warmup_then_cosine():
    cfg = TrainConfig(epochs=2, steps_per_epoch=50, warmup_steps=10, lr=1e-3, min_lr=1e-5)
    lrs = [gt.get_lr(s, cfg) for s in range(cfg.total_steps)]
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11]))  # rising during warm-up
    assert lrs[10] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))  # then falling
    assert gt.get_lr(cfg.total_steps, cfg) == pytest.approx(1e-5)
    assert min(lrs) > 1e-5 - 1e-12


def test_derived_seeds_differ_by_stream_fold_and_rank():
    seeds = {derive_seed(0, s, f, r) for s in range(3) for f in range(5) for r in range(4)}
    assert len(seeds) == 60 and all(0 <= s < 2**63 for s in seeds)


# ---------------------------------------------------------------- training


def test_loss_falls_on_loud_signals(tmp_path, bank_path):
    preset = tiny_preset(tmp_path, bank_path, snr=30, epochs=4, steps_per_epoch=10,
                         warmup_steps=0, sign_flip_p=0.0)
    run(preset, "--fold", "0")
    metrics = pd.read_csv(tmp_path / "runs" / "tiny" / "fold0" / "metrics.csv")
    loss = metrics["train_loss"].to_numpy()
    assert loss[0] > 0.6 and loss[-1] < loss[0] - 0.15, loss
    assert metrics["auc_snr30"].iloc[-1] > 0.8


def test_outputs_exist_and_parse(tmp_path, bank_path, capsys):
    preset = tiny_preset(tmp_path, bank_path, ema=0.9)
    result = run(preset, "--fold", "1")
    run_dir = tmp_path / "runs" / "tiny"
    out = run_dir / "fold1"
    for name in ("best.pt", "last.pt", "metrics.csv", "oof.csv", "config.yaml", "val.h5",
                 "curves.png"):
        assert (out / name).is_file(), name
    assert (run_dir / "folds.csv").is_file() and (run_dir / "config.yaml").is_file()
    assert not [p for p in run_dir.rglob(".*")], "temporary files left behind"

    cfg = load_config(out / "config.yaml")
    assert isinstance(cfg, TrainConfig) and cfg == load_config(run_dir / "config.yaml")
    assert cfg.model_kwargs == TINY_MODEL and cfg.ema == 0.9

    metrics = pd.read_csv(out / "metrics.csv")
    expected = ["epoch", "step", "lr", "train_loss", "val_loss", "val_acc", "val_auc"]
    assert list(metrics.columns[:7]) == expected and "val_pauc" in metrics
    assert [f"auc_snr{s:g}" for s in COMPETITION_SNRS] == [c for c in metrics if "snr" in c]
    assert metrics["epoch"].tolist() == [1, 2] and metrics["step"].tolist() == [3, 6]

    oof = pd.read_csv(out / "oof.csv")
    assert list(oof.columns) == ["id", "label", "snr_group", "waveform_id", "logit", "fold"]
    assert len(oof) == cfg.val_per_snr * len(COMPETITION_SNRS)
    assert set(oof["snr_group"]) == set(COMPETITION_SNRS)  # every row's group, noise rows too
    assert (oof["label"] == 1).sum() == len(oof) // 2
    assert oof["id"].tolist() == list(range(len(oof), 2 * len(oof)))  # unique within the run

    model, ckpt = load_checkpoint(out / "best.pt")
    assert ckpt["model"]["name"] == "resnet1d_tiny" and ckpt["config"] == cfg.to_dict()
    assert ckpt["metrics"]["val_auc"] == pytest.approx(result[1]["val_auc"])
    assert ckpt["metrics"]["val_auc"] == pytest.approx(metrics["val_auc"].max())
    assert ckpt["select_metric"] == "auc" and ckpt["best_score"] == ckpt["metrics"]["val_auc"]
    last = torch.load(out / "last.pt", weights_only=True)
    assert last["epoch"] == 2 and last["step"] == 6 and last["ema"] is not None
    assert "AUC" in capsys.readouterr().out


class Killed(Exception):
    """Stands in for kill -9 in the middle of an epoch."""


def test_resume_after_kill_equals_uninterrupted_run(tmp_path, bank_path, monkeypatch):
    # dropout (torch's global RNG), EMA and sign flips (engine stream) all in play
    changes = dict(epochs=3, ema=0.8, sign_flip_p=0.5,
                   model_kwargs=dict(TINY_MODEL, drop_rate=0.3))
    whole = tiny_preset(tmp_path / "a", bank_path, **changes)
    run(whole, "--fold", "0")

    broken = tiny_preset(tmp_path / "b", bank_path, **changes)
    calls = {"n": 0}
    original = Sampler.sample

    def dies_in_epoch_3(self, *args, **kwargs):
        if kwargs.get("y") is None:  # training draws only
            calls["n"] += 1
            if calls["n"] == 2 * 3 + 2:
                raise Killed
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Sampler, "sample", dies_in_epoch_3)
    with pytest.raises(Killed):
        run(broken, "--fold", "0")
    monkeypatch.setattr(Sampler, "sample", original)
    out_b = tmp_path / "b" / "runs" / "tiny" / "fold0"
    assert torch.load(out_b / "last.pt", weights_only=True)["epoch"] == 2
    assert not (out_b / "oof.csv").exists()
    run(broken, "--fold", "0", "--resume")

    out_a = tmp_path / "a" / "runs" / "tiny" / "fold0"
    assert_same_training(out_a, out_b, steps=9)


def assert_same_training(out_a: Path, out_b: Path, *, steps: int) -> None:
    """Bit-identical folds: weights, EMA, optimizer state, RNG states, metrics, OOF logits."""
    a = torch.load(out_a / "last.pt", weights_only=True)
    b = torch.load(out_b / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == steps
    for key in ("state_dict", "ema"):
        assert a[key].keys() == b[key].keys()
        for name, tensor in a[key].items():
            assert torch.equal(b[key][name], tensor), f"{key}: {name}"
    for name, state in a["optimizer"]["state"].items():
        for part in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(b["optimizer"]["state"][name][part], state[part]), (name, part)
    assert torch.equal(a["rng"]["engine"][0], b["rng"]["engine"][0])
    assert torch.equal(a["rng"]["torch"][0], b["rng"]["torch"][0])
    ma, mb = (pd.read_csv(o / "metrics.csv") for o in (out_a, out_b))
    cols = [c for c in ma if c not in ("samples_per_s", "epoch_s")]
    pd.testing.assert_frame_equal(ma[cols], mb[cols], check_exact=True)
    oa, ob = (pd.read_csv(o / "oof.csv") for o in (out_a, out_b))
    pd.testing.assert_frame_equal(oa, ob, check_exact=True)


def test_kill_between_first_best_and_last_is_restartable(tmp_path, bank_path, capsys):
    """Issue 14 item 3: such a fold was refused by --resume and --skip-existing alike."""
    preset = tiny_preset(tmp_path, bank_path, epochs=1, steps_per_epoch=2)
    run(preset, "--fold", "0")
    out = tmp_path / "runs" / "tiny" / "fold0"
    first = torch.load(out / "best.pt", weights_only=True)
    for name in ("last.pt", "oof.csv", "metrics.csv", "curves.png"):  # what the kill left out
        (out / name).unlink()
    for flags in ([], ["--skip-existing"]):
        with pytest.raises(SystemExit, match="best.pt but no last.pt .*pass --resume to restart"):
            run(preset, "--fold", "0", *flags)
    capsys.readouterr()
    run(preset, "--fold", "0", "--resume")
    assert "no last.pt (killed during its first epoch); restarting" in capsys.readouterr().out
    again = torch.load(out / "best.pt", weights_only=True)
    for name, tensor in first["state_dict"].items():  # the restart reproduces the lost epoch
        torch.testing.assert_close(again["state_dict"][name], tensor, msg=name)
    assert (out / "last.pt").is_file() and (out / "oof.csv").is_file()


def test_best_copied_over_last_is_a_one_line_error(tmp_path, bank_path):
    preset = tiny_preset(tmp_path, bank_path, epochs=1, steps_per_epoch=1)
    run(preset, "--fold", "0")
    out = tmp_path / "runs" / "tiny" / "fold0"
    (out / "last.pt").write_bytes((out / "best.pt").read_bytes())
    before = snapshot(out)
    with pytest.raises(SystemExit) as err:
        run(preset, "--fold", "0", "--resume")
    assert "last.pt holds no training state (no optimizer" in str(err.value)
    assert "\n" not in str(err.value)
    assert snapshot(out) == before


def test_resume_of_nothing_says_so_and_folds_are_not_repeated(tmp_path, bank_path, capsys):
    """Issue 14 item 8; and the CV line no longer repeats a single fold's AUC line."""
    preset = tiny_preset(tmp_path, bank_path, epochs=1, steps_per_epoch=1)
    with pytest.raises(SystemExit, match="--fold 1,1: fold 1 given twice"):
        run(preset, "--fold", "1,1")
    assert not (tmp_path / "runs").exists()
    run(preset, "--fold", "0", "--resume")
    text = capsys.readouterr().out
    assert "--resume: nothing to resume in" in text and "training from scratch" in text
    assert text.count(" AUC 0.") + text.count(" AUC 1.") == 2  # epoch line, best-epoch line
    assert "CV over 1 fold (folds [1, 2, 3] not run yet): fold 0's AUC above" in text


def test_no_waveform_in_training_and_validation_of_a_fold(tmp_path, bank_path, monkeypatch):
    drawn: dict[str, list[np.ndarray]] = {"train": [], "fixed": []}
    original = Sampler.sample

    def recording(self, *args, **kwargs):
        batch = original(self, *args, **kwargs)
        ids = batch.waveform_id[batch.waveform_id >= 0].numpy()
        drawn["train" if kwargs.get("y") is None else "fixed"].append(ids)
        return batch

    monkeypatch.setattr(Sampler, "sample", recording)
    preset = tiny_preset(tmp_path, bank_path, epochs=1, steps_per_epoch=12, n_folds=4)
    for fold in (0, 2):
        drawn["train"].clear()
        drawn["fixed"].clear()
        run(preset, "--fold", str(fold))
        folds = load_folds(tmp_path / "runs" / "tiny" / "folds.csv")
        train_ids, val_ids = fold_split(folds, fold)
        assert not set(train_ids) & set(val_ids)
        trained_on = set(np.concatenate(drawn["train"]).tolist())
        validated_on = set(np.concatenate(drawn["fixed"]).tolist())
        oof = pd.read_csv(tmp_path / "runs" / "tiny" / f"fold{fold}" / "oof.csv")
        in_oof = set(oof.loc[oof["label"] == 1, "waveform_id"].tolist())
        assert trained_on and validated_on
        assert trained_on <= set(train_ids.tolist()), "training drew a held-out waveform"
        assert validated_on <= set(val_ids.tolist()) and in_oof <= set(val_ids.tolist())
        assert not trained_on & validated_on
    # folds are stratified over the whole bank, one fold per waveform
    assert sorted(folds["waveform_id"]) == list(range(16))
    assert folds.groupby("fold").size().tolist() == [4, 4, 4, 4]


def test_fold_all_skip_existing_and_combined_oof(tmp_path, bank_path, capsys):
    preset = tiny_preset(tmp_path, bank_path, epochs=1, steps_per_epoch=2, n_folds=2,
                         val_per_snr=2)
    run(preset, "--fold", "0")
    oof = pd.read_csv(tmp_path / "runs" / "tiny" / "oof.csv")  # one fold so far
    assert oof["fold"].unique().tolist() == [0] and len(oof) == 24
    assert "CV over 1 fold (folds [1] not run yet)" in capsys.readouterr().out
    before = snapshot(tmp_path / "runs" / "tiny" / "fold0")
    result = run(preset, "--fold", "all", "--skip-existing")
    assert list(result) == [1]  # fold 0 skipped, untouched
    assert snapshot(tmp_path / "runs" / "tiny" / "fold0") == before
    oof = pd.read_csv(tmp_path / "runs" / "tiny" / "oof.csv")
    assert sorted(oof["fold"].unique()) == [0, 1] and len(oof) == 2 * 24
    assert oof["id"].is_unique
    assert "CV over 2 folds" in capsys.readouterr().out


def test_two_processes_with_gloo(tmp_path, bank_path):
    preset = tiny_preset(tmp_path, bank_path, epochs=1, steps_per_epoch=2, val_per_snr=2)
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "gwkit.train", "--preset", str(preset), "--fold", "0"]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "runs" / "tiny" / "fold0"
    assert sorted(p.name for p in out.glob("*.pt")) == ["best.pt", "last.pt"]
    assert not [p for p in out.parent.rglob(".*")], "temporary files left behind"
    last = torch.load(out / "last.pt", weights_only=True)
    assert last["world_size"] == 2 and len(last["rng"]["engine"]) == 2
    assert not torch.equal(*last["rng"]["engine"])  # each rank its own engine stream
    assert proc.stdout.count("fold 0 best epoch") == 1  # only rank 0 reports


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "model=nope"], "unknown model 'nope'; available:"),
        (["--set", "epochs=two"], "epochs='two': expected an integer"),
        (["--set", "learning_rate=1"], "unknown key 'learning_rate'; valid keys: name,"),
        (["--set", "snr=loud"], "bad SNR spec"),
        (["--fold", "7"], "folds run from 0 to 3"),
        (["--set", "time_shift_p=0.5"], "time_shift_p and engine_fraction need train_data"),
        (["--train-data", "nope.sav"], "nope.sav: no such file"),
    ],
)
def test_bad_settings_exit_with_one_line(tmp_path, bank_path, args, message):
    preset = tiny_preset(tmp_path, bank_path)
    with pytest.raises(SystemExit) as err:
        run(preset, *args)
    text = str(err.value)
    assert message in text and "\n" not in text
    assert not (tmp_path / "runs").exists()


def test_unknown_preset_and_missing_bank(tmp_path, bank_path):
    with pytest.raises(SystemExit, match=r"unknown preset 'nope'; available: .*demo"):
        train_main(["--preset", "nope"])
    preset = tiny_preset(tmp_path, tmp_path / "missing.h5")
    with pytest.raises(SystemExit, match=r"bank=.*missing.h5: no such file"):
        run(preset)
    assert not (tmp_path / "runs").exists()


def test_existing_run_is_never_overwritten(tmp_path, bank_path):
    preset = tiny_preset(tmp_path, bank_path, epochs=1, steps_per_epoch=1)
    run(preset, "--fold", "0")
    out = tmp_path / "runs" / "tiny" / "fold0"
    before = snapshot(out.parent)
    with pytest.raises(SystemExit, match="already holds a run; pass --resume"):
        run(preset, "--fold", "0")
    with pytest.raises(SystemExit, match="holds model 'resnet1d_tiny', the config asks for "
                                         "'gabbard2018'"):
        run(preset, "--fold", "0", "--resume", "--set", "model=gabbard2018",
            "--set", "model_kwargs={}")
    with pytest.raises(SystemExit, match=r"other settings \(lr: 0.01 -> 0.5\)"):
        run(preset, "--fold", "1", "--set", "lr=0.5")
    assert snapshot(out.parent) == before


def test_resume_of_a_finished_fold_changes_nothing(tmp_path, bank_path):
    preset = tiny_preset(tmp_path, bank_path, epochs=1, steps_per_epoch=1)
    run(preset, "--fold", "0")
    last = tmp_path / "runs" / "tiny" / "fold0" / "last.pt"
    before = last.read_bytes()
    result = run(preset, "--fold", "0", "--resume")
    assert last.read_bytes() == before and math.isfinite(result[0]["val_auc"])


# ---------------------------------------------------------------- what the loop does (issue 17)


def record_training(monkeypatch) -> dict[str, list]:
    """Record every training batch drawn from the engine and every input the model trains on."""
    seen: dict[str, list] = {"drawn": [], "trained": []}
    sample, step = Sampler.sample, gt.train_step

    def drawing(self, *args, **kwargs):
        batch = sample(self, *args, **kwargs)
        if kwargs.get("y") is None:  # training draws only (fixed sets pass their labels)
            seen["drawn"].append(batch)
        return batch

    def training(learner, x, y, *args, **kwargs):
        seen["trained"].append((x.clone(), y.clone()))
        return step(learner, x, y, *args, **kwargs)

    monkeypatch.setattr(Sampler, "sample", drawing)
    monkeypatch.setattr(gt, "train_step", training)
    return seen


@pytest.mark.parametrize("flip", [0.0, 1.0])
def test_training_batches_are_augmented(tmp_path, bank_path, monkeypatch, flip):
    seen = record_training(monkeypatch)
    run(tiny_preset(tmp_path, bank_path, epochs=1, steps_per_epoch=2, sign_flip_p=flip), "--fold", "0")
    assert len(seen["drawn"]) == len(seen["trained"]) == 2
    for batch, (x, y) in zip(seen["drawn"], seen["trained"]):
        assert torch.equal(y, batch.y)
        assert torch.equal(x, -batch.x if flip else batch.x)  # p=1: every row flipped


def test_curriculum_advances_with_the_step(tmp_path, bank_path, monkeypatch):
    seen = record_training(monkeypatch)
    curriculum = [{"until": 0.5, "snr": 30}, {"until": 1.0, "snr": 5}]
    run(tiny_preset(tmp_path, bank_path, epochs=2, steps_per_epoch=2, snr=curriculum,
                    signal_fraction=1.0), "--fold", "0")
    snrs = [sorted(set(b.snr.tolist())) for b in seen["drawn"]]
    assert snrs == [[30.0], [30.0], [5.0], [5.0]]  # steps 0-1 loud, 2-3 the second stage


def fake_evaluate(aucs: list[float]):
    """``evaluate`` scoring the validation set with the given pooled AUCs, epoch after epoch."""
    calls = {"n": 0}

    def evaluate(model, val, **kwargs):
        auc = aucs[min(calls["n"], len(aucs) - 1)]
        calls["n"] += 1
        metrics = {"val_loss": 1.0 - auc, "val_acc": auc, "val_auc": auc, "val_pauc": auc}
        return metrics, np.zeros(len(val), dtype=np.float32)

    return evaluate


@pytest.mark.parametrize(("patience", "epochs_run"), [(0, 6), (1, 2), (2, 3)])
def test_early_stopping_after_patience_epochs_without_a_better_auc(
        tmp_path, bank_path, monkeypatch, capsys, patience, epochs_run):
    monkeypatch.setattr(gt, "validate", fake_evaluate([0.6, 0.5, 0.55, 0.7, 0.8, 0.9]))
    run(tiny_preset(tmp_path, bank_path, epochs=6, steps_per_epoch=1, patience=patience),
        "--fold", "0")
    out = tmp_path / "runs" / "tiny" / "fold0"
    assert pd.read_csv(out / "metrics.csv")["epoch"].tolist() == list(range(1, epochs_run + 1))
    last = torch.load(out / "last.pt", weights_only=True)
    assert last["stopped"] is (patience > 0)
    assert torch.load(out / "best.pt", weights_only=True)["epoch"] == (6 if patience == 0 else 1)
    assert ("(early stop)" in capsys.readouterr().out) is (patience > 0)


def test_pick_device(monkeypatch):
    from gwkit.core.devices import DeviceError, pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu")
    assert pick_device("cpu", local_rank=3) == torch.device("cpu")
    for name in ("cuda", "cuda:1"):
        with pytest.raises(DeviceError, match=f"device={name}: CUDA is not available"):
            pick_device(name)
    with pytest.raises(DeviceError, match="device=mps: MPS is not available"):
        pick_device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # cuda wins over mps
    assert pick_device("auto") == torch.device("cuda", 0)
    assert pick_device("auto", local_rank=2) == torch.device("cuda", 2)  # DDP: one GPU per rank
    assert pick_device("cuda:1", local_rank=2) == torch.device("cuda", 1)  # an explicit index wins


def test_physical_mode_trains_on_both_detectors(tmp_path, bank_path, monkeypatch):
    seen = record_training(monkeypatch)
    run(tiny_preset(tmp_path, bank_path, epochs=1, steps_per_epoch=2, mode="physical",
                    val_mode="physical", signal_fraction=1.0, sign_flip_p=0.0, swap_p=1.0,
                    detector_shift_p=0.0), "--fold", "0")
    for batch, (x, _) in zip(seen["drawn"], seen["trained"]):
        assert (batch.snr_channel > 0).all()  # H1 and L1 both carry every signal
        assert torch.equal(x, batch.x.flip(1))  # swap_p=1: the detectors exchanged
    val = pd.read_csv(tmp_path / "runs" / "tiny" / "fold0" / "oof.csv")
    assert len(val) == 4 * len(COMPETITION_SNRS)
    with h5py.File(tmp_path / "runs" / "tiny" / "fold0" / "val.h5") as f:
        signal = f["y"][()] == 1
        assert (f["params/snr_ch1"][()][signal] > 0).all()  # validated on physical rows too


def test_weight_decay_only_on_weight_matrices_and_kernels():
    cfg = TrainConfig(weight_decay=0.1, lr=0.01, optimizer="adamw")
    model = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.BatchNorm1d(4),
                                torch.nn.Flatten(), torch.nn.Linear(8, 1))
    model[1].weight.requires_grad_(False)  # frozen: in no group
    optimizer = gt.make_optimizer(model, cfg)
    decay, plain = optimizer.param_groups
    assert decay["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(model[0].weight), id(model[3].weight)}
    assert {id(p) for p in plain["params"]} == {id(model[0].bias), id(model[1].bias),
                                                 id(model[3].bias)}
    before = [p.detach().clone() for p in model.parameters()]
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()  # a zero gradient: only the decoupled decay moves anything
    after = list(model.parameters())
    torch.testing.assert_close(after[0], before[0] * (1 - 0.01 * 0.1))  # conv kernel decays
    torch.testing.assert_close(after[4], before[4] * (1 - 0.01 * 0.1))  # linear weight decays
    for i in (1, 2, 3, 5):  # biases, frozen norm weight, norm bias: unchanged
        assert torch.equal(after[i], before[i])


def test_ema_weights_are_the_ones_validated_and_kept(tmp_path, bank_path):
    run(tiny_preset(tmp_path, bank_path, epochs=1, steps_per_epoch=3, ema=0.5), "--fold", "0")
    out = tmp_path / "runs" / "tiny" / "fold0"
    last = torch.load(out / "last.pt", weights_only=True)
    model, best = load_checkpoint(out / "best.pt")
    ema = {k.removeprefix("module."): v for k, v in last["ema"].items() if k != "n_averaged"}
    assert ema.keys() == best["state_dict"].keys() == last["state_dict"].keys()
    for name, tensor in best["state_dict"].items():
        assert torch.equal(tensor, ema[name]), name  # best.pt holds the EMA's weights
    trained = [k for k, v in last["state_dict"].items() if v.is_floating_point()]
    assert any(not torch.equal(last["state_dict"][k], ema[k]) for k in trained)
    val = FixedSet.load(out / "val.h5")  # and the validation scores are the EMA's
    _, logit = gt.validate(model, val, batch_size=64, device=torch.device("cpu"))
    np.testing.assert_allclose(pd.read_csv(out / "oof.csv")["logit"], logit, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- fixed training data (issue 18)


@pytest.fixture(scope="session")
def sav_set(tmp_path_factory) -> Path:
    """Two course-format blocks made by gwkit.simulate: 40 rows each (5 waveforms x 4 copies)."""
    from gwkit.simulate import main as simulate

    out = tmp_path_factory.mktemp("sav")
    assert simulate(["--format", "sav", "--snr", "30", "10", "--per-snr", "40", "--nnoise", "4",
                     "--draw", "independent", "--workers", "1", "--no-progress",
                     "--out", str(out)]) == 0
    return out


def sav_waveforms(folder: Path) -> dict[tuple[int, int], int]:
    """(block, row) -> waveform id of every signal row, read from the blocks' parameter files."""
    from gwkit.data import load_sav_params

    return {(k, i): rec["waveform_id"] for k in (0, 1)
            for i, rec in enumerate(load_sav_params(folder / f"train_params_{k}.sav"))
            if rec is not None}


def test_train_data_sav_through_the_cli(tmp_path, bank_path, sav_set, monkeypatch):
    """Rows seen only from the training folds' waveforms; time shifts keep the merger in range."""
    from gwkit.data.training import TrainingData
    from gwkit.engine.augment import time_shift
    from gwkit.sim.recipe import EDGE_NSAMPLES, PEAK_RANGE

    reads, shifts = [], []
    read, augment = TrainingData.read, Augment.__call__

    def reading(self, index):
        reads.append((len(self), list(zip(self.file_of[index].tolist(),
                                           self.row_in_file[index].tolist()))))
        return read(self, index)

    def augmenting(self, x, gen, peak=None):
        out = augment(self, x, gen, peak)
        shifts.append((x, peak, *out))
        return out

    monkeypatch.setattr(TrainingData, "read", reading)
    monkeypatch.setattr(Augment, "__call__", augmenting)
    preset = tiny_preset(tmp_path, bank_path, time_shift_p=1.0, sign_flip_p=0.0, epochs=2,
                         steps_per_epoch=4, cache_dir=str(tmp_path / "cache"))
    run(preset, "--fold", "0", "--train-data", str(sav_set))

    oof = pd.read_csv(tmp_path / "runs" / "tiny" / "fold0" / "oof.csv")
    trained = {r for n, rows in reads if n == 80 - len(oof) for r in rows}
    validated = {r for n, rows in reads if n == len(oof) for r in rows}
    assert len(validated) == len(oof) and not trained & validated
    assert trained | validated == {(k, i) for k in (0, 1) for i in range(40)}  # a whole pass
    waveform = sav_waveforms(sav_set)
    assert not {waveform[r] for r in trained if r in waveform} & \
        {waveform[r] for r in validated if r in waveform}, "a waveform on both sides"
    assert len(shifts) == 2 * 4
    for x, peak, moved, new_peak in shifts:
        signal = peak >= 0
        assert signal.any() and ((new_peak >= PEAK_RANGE[0]) & (new_peak < PEAK_RANGE[1]))[signal].all()
        assert (new_peak != peak)[signal].float().mean() > 0.9  # p=1: (almost) every merger moved
        drawn = new_peak - peak  # the merger moved by exactly the drawn shift
        assert torch.equal(moved[signal], time_shift(x[signal], drawn[signal]))
        edges = np.r_[0:EDGE_NSAMPLES, x.shape[-1] - EDGE_NSAMPLES:x.shape[-1]]
        assert torch.equal(moved[..., edges], x[..., edges])  # the tapered ends stay put
    cfg = load_config(tmp_path / "runs" / "tiny" / "fold0" / "config.yaml")
    assert cfg.time_shift_p == 1.0 and cfg.train_data == [str(sav_set)]


def test_train_data_resume_after_kill_equals_uninterrupted_run(tmp_path, bank_path, sav_set,
                                                               monkeypatch):
    changes = dict(epochs=3, ema=0.8, sign_flip_p=0.5, time_shift_p=0.5, engine_fraction=0.25,
                   model_kwargs=dict(TINY_MODEL, drop_rate=0.3), train_data=[str(sav_set)],
                   cache_dir=str(tmp_path / "cache"))
    run(tiny_preset(tmp_path / "a", bank_path, **changes), "--fold", "1")
    broken = tiny_preset(tmp_path / "b", bank_path, **changes)
    calls = {"n": 0}
    original = FoldData.fixed_batch

    def dies_in_epoch_3(self, *args):
        calls["n"] += 1
        if calls["n"] == 2 * 3 + 2:
            raise Killed
        return original(self, *args)

    monkeypatch.setattr(FoldData, "fixed_batch", dies_in_epoch_3)
    with pytest.raises(Killed):
        run(broken, "--fold", "1")
    monkeypatch.setattr(FoldData, "fixed_batch", original)
    run(broken, "--fold", "1", "--resume")
    assert_same_training(tmp_path / "a" / "runs" / "tiny" / "fold1",
                         tmp_path / "b" / "runs" / "tiny" / "fold1", steps=9)


def test_train_data_mixed_with_the_engine_and_validated_on_the_engine(tmp_path, bank_path,
                                                                      sav_set, monkeypatch):
    seen = record_training(monkeypatch)
    run(tiny_preset(tmp_path, bank_path, epochs=1, steps_per_epoch=2, sign_flip_p=0.0,
                    engine_fraction=0.25, val_source="engine", train_data=[str(sav_set)],
                    cache_dir=str(tmp_path / "cache")), "--fold", "0")
    assert len(seen["drawn"]) == len(seen["trained"]) == 2  # one engine draw per step
    for batch, (x, y) in zip(seen["drawn"], seen["trained"]):
        assert len(batch.y) == 2 and len(y) == 8  # 25% of each batch from the engine, first
        assert torch.equal(x[:2], batch.x) and torch.equal(y[:2], batch.y)
    out = tmp_path / "runs" / "tiny" / "fold0"
    assert (out / "val.h5").is_file()  # the engine's competition mix, comparable across runs
    assert len(pd.read_csv(out / "oof.csv")) == 4 * len(COMPETITION_SNRS)


def test_train_data_in_physical_mode_swaps_detectors(tmp_path, bank_path, monkeypatch):
    from gwkit.data import write_hdf5
    from gwkit.data.training import TrainingData

    rng = np.random.default_rng(1)
    y = np.tile([0, 1], 16)
    wid = np.where(y == 1, np.arange(32) // 4, -1)  # 8 waveforms x 2 copies, 16 noise rows
    path = write_hdf5(tmp_path / "phys.h5", rng.normal(size=(32, 2, 16384)).astype(np.float32),
                      y=y, params=pd.DataFrame({"waveform_id": wid}), attrs={"mode": "physical"})
    preset = tiny_preset(tmp_path, bank_path, epochs=1, steps_per_epoch=2, sign_flip_p=0.0,
                         train_data=[str(path)])
    with pytest.raises(SystemExit, match="phys.h5 holds physical-mode rows, the config says "
                                         "mode=competition"):
        run(preset)
    reads = []
    read = TrainingData.read
    monkeypatch.setattr(TrainingData, "read", lambda self, i: reads.append(read(self, i)) or reads[-1])
    seen = record_training(monkeypatch)
    run(preset, "--set", "mode=physical", "--set", "swap_p=1.0")
    assert len(seen["trained"]) == 2
    for rows, (x, _) in zip(reads, seen["trained"]):  # the first reads are the training batches
        assert torch.equal(x, torch.from_numpy(rows).flip(1))


# ---------------------------------------------------------------- distillation, fine-tuning


def test_distillation_from_the_filter_bank_trains_and_is_reproducible(tmp_path, bank_path):
    teacher = REPO / "weights" / "gwkit_resnet" / "mf_bank.h5"
    preset = tiny_preset(tmp_path, bank_path, teacher=str(teacher), distill=1.0,
                         teacher_batches=2, epochs=1)
    first = run(preset, "--fold", "0", "--name", "a")
    second = run(preset, "--fold", "0", "--name", "b")
    assert np.isfinite(first[0]["val_auc"]) and first[0]["val_auc"] == second[0]["val_auc"]
    a = load_checkpoint(tmp_path / "runs" / "a" / "fold0" / "best.pt")[0].state_dict()
    b = load_checkpoint(tmp_path / "runs" / "b" / "fold0" / "best.pt")[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # seeded calibration and data
    run(tiny_preset(tmp_path / "plain", bank_path, epochs=1), "--fold", "0")
    c = load_checkpoint(tmp_path / "plain" / "runs" / "tiny" / "fold0" / "best.pt")[0]
    assert any(not torch.equal(a[k], v) for k, v in c.state_dict().items())  # the teacher acted


def test_init_from_starts_at_the_checkpoint_and_refuses_another_model(tmp_path, bank_path):
    run(tiny_preset(tmp_path, bank_path, epochs=1), "--fold", "0")
    start = tmp_path / "runs" / "tiny" / "fold0" / "best.pt"
    cfg = load_config(tiny_preset(tmp_path / "ft", bank_path, init_from=str(start)))
    model = gt.build_model(cfg)
    expected = load_checkpoint(start)[0].state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in model.state_dict().items())
    other = load_config(tiny_preset(tmp_path / "other", bank_path, init_from=str(start),
                                    model_kwargs=dict(TINY_MODEL, channels=[8, 8])))
    with pytest.raises(RunError, match="init_from=.*other arguments"):
        gt.build_model(other)
    # {fold} picks each fold's own start (fold 1 of another run never saw fold 1's rows)
    per_fold = load_config(tiny_preset(tmp_path / "pf", bank_path,
                                       init_from=str(start).replace("fold0", "fold{fold}")))
    model = gt.build_model(per_fold, 0)
    assert all(torch.equal(v, expected[k]) for k, v in model.state_dict().items())
    with pytest.raises(RunError, match=r"init_from=.*fold1[/\\]best\.pt"):
        gt.build_model(per_fold, 1)


def test_distill_without_a_teacher_is_a_config_error(tmp_path, bank_path):
    with pytest.raises(SystemExit, match="distill=0.5: needs a teacher"):
        run(tiny_preset(tmp_path, bank_path, distill=0.5), "--fold", "0")
