"""gwkit.training.loop: ``--resume`` checks ``last.pt`` against the run's config before loading it.

(The loop itself, end to end, is ``tests/test_train.py``; corrupt files through the command
line are ``tests/test_bad_inputs_plausibility.py``.)
"""

from __future__ import annotations

import pytest
import torch

from gwkit.core.distributed import Dist
from gwkit.models import save_checkpoint
from gwkit.training.config import resolve_config
from gwkit.training.fold_data import RunError
from gwkit.training.loop import check_resumable, make_learner, restore, train_step

LENGTH = 2048


def _last_pt(tmp_path, **settings):
    """(config, ``last.pt`` after one optimizer step with ``settings``) as ``gwkit.train`` saves it."""
    cfg = resolve_config("demo", [f"{k}={v}" for k, v in settings.items()]
                         + [f"out_dir={tmp_path}", f"model_kwargs={{input_length: {LENGTH}}}"])
    learner = make_learner(cfg, Dist(), torch.device("cpu"))
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
    learner = make_learner(cfg, Dist(), torch.device("cpu"))
    progress = restore(path, learner, torch.Generator(), Dist(), torch.device("cpu"))
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
