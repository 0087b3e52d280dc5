"""Experiment tracking: where a run's scalars and figures go besides the terminal.

``logger`` in :class:`~gwkit.training.config.TrainConfig` names the loggers:
``csv`` (the fold's own ``metrics.csv`` and ``curves.png``, written by
:func:`gwkit.training.loop.save_epoch`), ``tensorboard``
(``torch.utils.tensorboard``) and ``wandb`` (Weights & Biases; ``WANDB_MODE=offline``
logs without an account, ``wandb sync`` uploads later). :func:`open_tracker`
opens the last two for one part of a run (a fold, or the hybrid's stacker),
their files inside that part's folder::

    runs/<name>/fold<k>/tensorboard/events.out.tfevents.*   (tensorboard --logdir runs)
    runs/<name>/fold<k>/wandb/offline-run-*/                 (W&B run <name>-fold<k>)

A resumed fold appends: TensorBoard's ``purge_step`` hides what a killed run
logged after its last checkpoint, and W&B resumes the run whose id is kept
in ``wandb/gwkit_run_id.txt``. TensorBoard's file is flushed at every log, so a
crash loses nothing the checkpoint kept; W&B marks a run whose process ended
before :meth:`Tracker.close` as failed.
"""

from __future__ import annotations

import importlib
import io
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gwkit.core.fileio import atomic_write
from gwkit.training.config import ConfigError
from gwkit.training.fold_data import RunError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["TRACK_EXTRA", "Tracker", "Trackers", "epoch_scalars", "open_tracker",
           "require_loggers"]

#: How to install the packages of the optional loggers.
TRACK_EXTRA = "pip install -e '.[track]'"
_MODULES = {"tensorboard": "torch.utils.tensorboard", "wandb": "wandb"}
_RUN_ID_FILE = "gwkit_run_id.txt"


class Tracker(Protocol):
    """Somewhere scalars and figures are logged, by optimizer step."""

    def log(self, step: int, values: Mapping[str, float]) -> None: ...

    def log_figure(self, tag: str, figure: Figure, step: int) -> None: ...

    def close(self) -> None: ...


def require_loggers(names: Sequence[str]) -> None:
    """ConfigError naming the extra unless every optional logger in ``names`` imports."""
    for name in names:
        if name in _MODULES:
            try:
                importlib.import_module(_MODULES[name])
            except ImportError as exc:
                raise ConfigError(f"logger={name}: cannot import {_MODULES[name]} ({exc}); "
                                  f"install the loggers with {TRACK_EXTRA}") from None


def epoch_scalars(row: Mapping[str, Any]) -> dict[str, float]:
    """An epoch's metrics row as logger tags: ``epoch/<key>``, per-SNR AUCs as ``auc_snr/<key>``.

    Every numeric entry but ``step`` (the x axis) comes along, so a new metric
    column reaches the loggers without touching them.
    """
    return {(f"auc_snr/{key}" if key.startswith("auc_snr") else f"epoch/{key}"): float(value)
            for key, value in row.items()
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool)}


class TensorBoardTracker:
    """``torch.utils.tensorboard.SummaryWriter`` in ``log_dir``, from ``purge_step`` on."""

    def __init__(self, log_dir: Path, purge_step: int):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(log_dir), purge_step=purge_step)

    def log(self, step: int, values: Mapping[str, float]) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def log_figure(self, tag: str, figure: Figure, step: int) -> None:
        self.writer.add_figure(tag, figure, step, close=False)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbTracker:
    """A W&B run (project ``$WANDB_PROJECT`` or ``gwkit``) with its files in ``folder/wandb``."""

    def __init__(self, folder: Path, *, name: str, group: str, job_type: str,
                 config: Mapping[str, Any], resume: bool):
        import wandb

        (folder / "wandb").mkdir(parents=True, exist_ok=True)
        id_file = folder / "wandb" / _RUN_ID_FILE
        run_id = id_file.read_text().strip() if resume and id_file.is_file() else None
        if run_id is None:
            run_id = secrets.token_hex(6)  # lowercase hex: a valid W&B run id
            with atomic_write(id_file) as f:
                f.write(run_id + "\n")
        try:
            self.run = wandb.init(
                project=os.environ.get("WANDB_PROJECT") or "gwkit", name=name, group=group,
                job_type=job_type, id=run_id, resume="allow", dir=str(folder),
                config=dict(config), reinit="finish_previous",
                settings=wandb.Settings(console="off"))  # tqdm's bar stays the terminal's
        except Exception as exc:  # wandb's own errors (login, network) have no common base
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RunError(f"logger=wandb: {first} (WANDB_MODE=offline logs without an "
                           "account; `wandb sync` uploads later)") from None

    def log(self, step: int, values: Mapping[str, float]) -> None:
        self.run.log(dict(values), step=step)

    def log_figure(self, tag: str, figure: Figure, step: int) -> None:
        import wandb
        from PIL import Image

        png = io.BytesIO()  # rendered here: wandb.Image(figure) needs pyplot's state
        figure.savefig(png, format="png", dpi=100)
        png.seek(0)
        self.run.log({tag: wandb.Image(Image.open(png))}, step=step)

    def close(self) -> None:
        self.run.finish()


class Trackers:
    """Several trackers as one (none: every call does nothing)."""

    def __init__(self, trackers: Sequence[Tracker] = ()):
        self.trackers = list(trackers)

    def __bool__(self) -> bool:
        """Whether any tracker listens (so a figure is worth drawing)."""
        return bool(self.trackers)

    def log(self, step: int, values: Mapping[str, float]) -> None:
        for tracker in self.trackers:
            tracker.log(step, values)

    def log_figure(self, tag: str, figure: Figure, step: int) -> None:
        for tracker in self.trackers:
            tracker.log_figure(tag, figure, step)

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.close()
        self.trackers = []


def open_tracker(loggers: Sequence[str], folder: str | os.PathLike, *, name: str, group: str,
                 job_type: str, config: Mapping[str, Any], purge_step: int = 0,
                 resume: bool = False) -> Trackers:
    """The optional loggers of ``loggers`` for one part of a run, its files in ``folder``.

    ``name``: the W&B run name (``<run>-fold<k>``); ``group``: the run, which
    groups its folds; ``config``: the resolved settings, W&B's run config.
    ``purge_step``: TensorBoard hides what earlier attempts logged at this
    step and later (a resumed fold: the step after its checkpoint's);
    ``resume``: W&B continues the run of ``folder`` instead of starting a new one.
    """
    require_loggers(loggers)
    folder = Path(folder)
    trackers: list[Tracker] = []
    if "tensorboard" in loggers:
        trackers.append(TensorBoardTracker(folder / "tensorboard", purge_step))
    if "wandb" in loggers:
        try:
            trackers.append(WandbTracker(folder, name=name, group=group, job_type=job_type,
                                         config=config, resume=resume))
        except RunError:
            Trackers(trackers).close()
            raise
    return Trackers(trackers)
