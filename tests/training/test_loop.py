"""gwkit.training.loop: model selection by ``select_metric``, early stopping, ``--resume``'s
checks of ``last.pt`` before loading it, and the GPU recipe's compiled and bf16 training
steps run on the CPU.

(The loop end to end is ``tests/test_train.py``; corrupt files through the command line
are ``tests/test_bad_inputs_plausibility.py``.)
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from gwkit.core.distributed import Dist
from gwkit.models import save_checkpoint
from gwkit.training.config import ConfigError, resolve_config
from gwkit.training.fold_data import RunError
from gwkit.training.loop import (
    Progress,
    after_epoch,
    autocast_for,
    check_resumable,
    make_learner,
    restore,
    select_key,
    train_step,
)

LENGTH = 2048
CPU = torch.device("cpu")
#: The recipe's FFT band-pass and 4x decimation in front of the model (2048 -> 512 samples).
FRONTEND = "frontend: {highpass: 15.0, decimate: 4}"


def _config(*settings: str):
    return resolve_config("demo", [*settings, "batch_size=4"])


def _epochs(rows: list[dict[str, float]], metric: str, patience: int = 0):
    """``(progress, improved flags)`` after scoring ``rows`` as the loop does, epoch by epoch."""
    progress, improved = Progress(), []
    for row in rows:
        progress, better = after_epoch(replace(progress, epoch=progress.epoch + 1), row,
                                       patience, metric)
        improved.append(better)
    return progress, improved


# ---------------------------------------------------------------- selection and early stopping

#: Epoch rows on which AUC and partial AUC disagree about the best epoch (AUC: 4, pAUC: 3).
ROWS = [{"val_auc": 0.80, "val_pauc": 0.30}, {"val_auc": 0.85, "val_pauc": 0.20},
        {"val_auc": 0.82, "val_pauc": 0.35}, {"val_auc": 0.90, "val_pauc": 0.25}]


@pytest.mark.parametrize("select, best_epoch, improved", [
    ("auc", 4, [True, True, False, True]),
    ("pauc", 3, [True, False, True, False]),
])
def test_the_best_epoch_is_the_best_of_the_selected_metric(select, best_epoch, improved):
    metric = select_key(_config(f"select_metric={select}"))
    assert metric == f"val_{select}"
    progress, flags = _epochs(ROWS, metric)
    assert flags == improved
    assert (progress.best_epoch, progress.best_score) == (best_epoch, ROWS[best_epoch - 1][metric])
    assert progress.history == ROWS and not progress.stopped


def test_early_stopping_counts_epochs_that_did_not_beat_the_selected_metric():
    # AUC rises every epoch; pAUC falls, recovers (epoch 3), then twice fails to beat 0.35
    # (a tie does not beat it)
    rows = [{"val_auc": 0.80 + 0.01 * k, "val_pauc": p}
            for k, p in enumerate([0.30, 0.20, 0.35, 0.35, 0.28, 0.40])]
    bad, stopped = [], []
    progress = Progress()
    for row in rows[:5]:
        progress, _ = after_epoch(replace(progress, epoch=progress.epoch + 1), row, 2, "val_pauc")
        bad.append(progress.bad_epochs)
        stopped.append(progress.stopped)
    assert bad == [0, 1, 0, 1, 2]
    assert stopped == [False, False, False, False, True]
    assert (progress.best_epoch, progress.best_score) == (3, 0.35)

    by_auc, _ = _epochs(rows, "val_auc", patience=2)
    assert (by_auc.bad_epochs, by_auc.stopped, by_auc.best_epoch) == (0, False, 6)
    never, _ = _epochs(rows[:5], "val_pauc", patience=0)  # 0: no early stopping
    assert (never.bad_epochs, never.stopped) == (2, False)


def test_an_unknown_select_metric_is_one_config_error_line():
    with pytest.raises(ConfigError) as err:
        resolve_config("demo", ["select_metric=roc"])
    assert str(err.value) == "select_metric='roc': expected one of auc, pauc"
    with pytest.raises(ConfigError, match=r"^select_metric='roc': expected auc or pauc$"):
        _config().replace(select_metric="roc")  # the dataclass's own check


# ---------------------------------------------------------------- resuming


def _last_pt(tmp_path, **settings):
    """(config, ``last.pt`` after one optimizer step with ``settings``) as ``gwkit.train`` saves it."""
    cfg = resolve_config("demo", [f"{k}={v}" for k, v in settings.items()]
                         + [f"out_dir={tmp_path}", f"model_kwargs={{input_length: {LENGTH}}}"])
    learner = make_learner(cfg, Dist(), CPU)
    train_step(learner, torch.randn(2, 2, LENGTH), torch.tensor([0.0, 1.0]), cfg)
    rng = {"engine": [torch.Generator().get_state()], "torch": [torch.get_rng_state()],
           "cuda": None}
    path = save_checkpoint(
        tmp_path / "last.pt", learner.model, config=cfg.to_dict(), fold=0, epoch=1, step=1,
        optimizer=learner.optimizer.state_dict(),
        ema=learner.ema.state_dict() if learner.ema is not None else None,
        select_metric=cfg.select_metric, best_score=0.5, best_epoch=1, bad_epochs=0,
        stopped=False, history=[{"epoch": 1}], rng=rng, world_size=1)
    return cfg, path


@pytest.mark.parametrize("ema", [0.0, 0.99])
def test_a_real_training_state_passes_and_restores(tmp_path, ema):
    cfg, path = _last_pt(tmp_path, ema=ema)
    check_resumable(cfg, path)
    learner = make_learner(cfg, Dist(), CPU)
    progress = restore(path, learner, torch.Generator(), Dist(), CPU)
    assert (progress.step, progress.epoch, progress.history) == (1, 1, [{"epoch": 1}])
    saved = torch.load(path, weights_only=True)["state_dict"]
    for key, value in learner.model.state_dict().items():
        torch.testing.assert_close(value, saved[key])


def _corrupt(path, change) -> None:
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)


@pytest.mark.parametrize("change, message", [
    (lambda s: s["rng"].update(engine=[]), r"its engine RNG states are not a list of 1"),
    (lambda s: s["rng"].update(torch=["state"]), r"the torch RNG state of process 0 is not a "),
    (lambda s: s["ema"].clear(), r"its EMA weights do not fit this resnet1d_tiny"),
    (lambda s: s.update(best_score=float("nan")), r"best_score is nan, expected a number"),
    (lambda s: s.update(stopped="no"), r"stopped is 'no', expected true or false"),
    (lambda s: s.update(epoch=1.5), r"epoch is 1\.5, expected a whole number >= 0"),
])
def test_a_corrupt_training_state_is_refused_before_loading(tmp_path, change, message):
    cfg, path = _last_pt(tmp_path, ema=0.99)
    _corrupt(path, change)
    before = path.read_bytes()
    with pytest.raises(RunError, match=rf"^{path}: cannot resume from it: {message}.*; delete it "
                                       r"and pass --resume to restart the fold from scratch"):
        check_resumable(cfg, path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("was, now", [("pauc", "auc"), ("auc", "pauc")])
def test_resume_is_refused_when_select_metric_changed(tmp_path, was, now):
    cfg, path = _last_pt(tmp_path, select_metric=was)
    check_resumable(cfg, path)
    with pytest.raises(RunError, match=rf"^{path} was trained with other settings \(select_metric: "
                                       rf"'{was}' -> '{now}'\); resume with the same settings"):
        check_resumable(cfg.replace(select_metric=now), path)


def test_an_old_last_pt_selected_by_auc_still_resumes(tmp_path):
    cfg, path = _last_pt(tmp_path)
    state = torch.load(path, weights_only=True)  # as written before select_metric existed
    del state["select_metric"], state["best_score"], state["config"]["select_metric"]
    state["best_auc"] = 0.75
    torch.save(state, path)

    check_resumable(cfg, path)
    progress = restore(path, make_learner(cfg, Dist(), CPU), torch.Generator(), Dist(), CPU)
    assert (progress.best_score, progress.best_epoch, progress.step) == (0.75, 1, 1)
    # its config lacks the setting: it was selected by AUC, the default
    with pytest.raises(RunError, match=r"\(select_metric: 'auc' -> 'pauc'\)"):
        check_resumable(cfg.replace(select_metric="pauc"), path)


# ---------------------------------------------------------------- the GPU recipe's steps on the CPU


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(4, 2, LENGTH, generator=gen), torch.tensor([0.0, 1.0, 0.0, 1.0])


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _moved(before: dict[str, torch.Tensor], model: nn.Module) -> list[str]:
    return [k for k, v in model.state_dict().items()
            if v.is_floating_point() and not torch.equal(v, before[k])]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Torchinductor does not support code generation for complex")
def test_a_compiled_training_step_matches_the_eager_one():
    # resnet1d_tiny cut to one 16-channel stage behind the FFT front-end: inductor's cold
    # compile of the full model (forward and backward) takes over a minute on 2 cores
    kwargs = f"model_kwargs={{input_length: {LENGTH}, layers: [1], channels: [16], {FRONTEND}}}"
    cfg = _config("compile=true", "amp=false", kwargs)
    torch.manual_seed(0)
    compiled = make_learner(cfg, Dist(), CPU)
    eager = make_learner(cfg.replace(compile=False), Dist(), CPU)
    assert isinstance(compiled.train_model, torch._dynamo.eval_frame.OptimizedModule)
    assert eager.train_model is eager.model
    eager.model.load_state_dict(compiled.model.state_dict())
    before = _weights(compiled.model)

    x, y = _batch()
    loss = train_step(compiled, x, y, cfg, autocast_for(cfg, CPU))
    reference = train_step(eager, x, y, cfg)
    assert math.isfinite(loss.item())
    moved = _moved(before, compiled.model)
    assert {"model.stem.conv.weight", "model.stem.bn.running_mean", "model.fc.weight"} <= set(moved)
    assert moved == _moved(before, eager.model)  # (bn1 stays: the block's last BN starts at 0)
    torch.testing.assert_close(loss, reference, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(compiled.model.state_dict(), eager.model.state_dict(),
                               rtol=1e-4, atol=1e-5)
    torch._dynamo.reset()


@pytest.mark.parametrize("amp_cpu, dtype", [(True, torch.bfloat16), (False, torch.float32)])
def test_the_amp_step_runs_the_forward_in_bf16_on_the_cpu_only_with_amp_cpu(amp_cpu, dtype):
    cfg = _config("amp=true", f"amp_cpu={str(amp_cpu).lower()}",
                  f"model_kwargs={{input_length: {LENGTH}, {FRONTEND}}}")
    torch.manual_seed(0)
    learner = make_learner(cfg, Dist(), CPU)
    seen: list[torch.dtype] = []
    convs = [m for m in learner.model.modules() if isinstance(m, nn.Conv1d)]
    hooks = [m.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype)) for m in convs]
    before = _weights(learner.model)

    loss = train_step(learner, *_batch(), cfg, autocast_for(cfg, CPU))
    for hook in hooks:
        hook.remove()
    assert len(seen) == len(convs) >= 5 and set(seen) == {dtype}
    assert loss.dtype == torch.float32 and math.isfinite(loss.item())
    assert all(p.dtype == torch.float32 for p in learner.model.parameters())  # fp32 master weights
    assert _moved(before, learner.model)
