"""What each fold of ``python -m gwkit.train`` trains and validates on.

- the engine: the waveform bank (built once and cached), its waveforms dealt to
  folds (``folds.csv``), a fresh-sample :class:`~gwkit.engine.Sampler` over the
  fold's training waveforms and a fixed validation set of the held-out ones
  (``val.h5``, the competition's SNR mix);
- fixed files (``train_data``, :mod:`gwkit.data.training`): their row groups
  dealt to folds (``data_folds.csv``), the fold's training rows read in seeded
  passes (:func:`fixed_rows`) and its validation rows, or the engine's set;
- :class:`FoldData` puts them together: ``train_batch(step, gen)`` gives a
  step's inputs and labels (engine, files or both, augmented), ``val`` the
  validation set.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import torch

from gwkit.core.distributed import Dist
from gwkit.core.errors import GwkitError
from gwkit.data.folds import assign_folds, fold_split, load_folds, save_folds
from gwkit.data.training import TrainingData, open_training_data
from gwkit.engine import Augment, AugmentConfig, FixedSet, Sampler, make_fixed_set
from gwkit.sim.bank import BANK_FORMAT, WaveformBank, build_bank, load_bank
from gwkit.sim.recipe import COMPETITION_SNRS
from gwkit.training.config import TrainConfig, save_config

__all__ = [
    "FoldData",
    "RunData",
    "RunError",
    "ValSet",
    "check_data_settings",
    "derive_seed",
    "fixed_rows",
    "fold_dir",
    "make_augment",
    "make_train_sampler",
    "open_train_data",
    "prepare_bank",
    "prepare_data_folds",
    "prepare_fold_data",
    "prepare_folds",
    "prepare_val_set",
    "split_fixed",
    "uses_engine",
]

TRAIN_STREAM, VAL_STREAM, TORCH_STREAM, ORDER_STREAM, TEACHER_STREAM = 0, 1, 2, 3, 4  # seed keys


class RunError(GwkitError, RuntimeError):
    """A run cannot start or continue; the message is one line for the command line."""


def derive_seed(seed: int, stream: int, fold: int, rank: int = 0) -> int:
    """An independent 63-bit seed for one (stream, fold, rank) of the master ``seed``."""
    words = np.random.SeedSequence(seed, spawn_key=(stream, fold, rank)).generate_state(2)
    return int((int(words[0]) << 32 | int(words[1])) & (2**63 - 1))


def fold_dir(cfg: TrainConfig, fold: int) -> Path:
    """``<out_dir>/<name>/fold<k>``."""
    return Path(cfg.out_dir) / cfg.name / f"fold{fold}"


def prepare_bank(cfg: TrainConfig, d: Dist = Dist()) -> WaveformBank:
    """The configured bank; with ``bank`` unset, build (once, resumable) and cache one."""
    if cfg.bank is not None:
        path = Path(cfg.bank)
        if not path.is_file():
            raise RunError(f"bank={path}: no such file (leave bank unset to build and cache "
                           f"{cfg.bank_size} waveforms in {cfg.cache_dir}/)")
    else:
        name = f"bank_n{cfg.bank_size}_seed{cfg.bank_seed}_v{BANK_FORMAT}.h5"
        path = Path(cfg.cache_dir) / name
        if d.is_main and not path.is_file():
            print(f"building a waveform bank of {cfg.bank_size} entries in {path} "
                  "(once; resumable)", flush=True)
            build_bank(cfg.bank_size, path, seed=cfg.bank_seed, progress=True)
        d.barrier()
    try:
        return load_bank(path)
    except (OSError, ValueError) as exc:
        raise RunError(str(exc).splitlines()[0]) from None


def prepare_folds(cfg: TrainConfig, bank: WaveformBank, d: Dist = Dist()) -> pd.DataFrame:
    """Waveform folds of the run: ``folds.csv`` if present, else assigned and saved."""
    path = Path(cfg.out_dir) / cfg.name / "folds.csv"
    if path.is_file():
        df = load_folds(path)
        same_ids = np.array_equal(np.sort(df["waveform_id"].to_numpy()), np.arange(len(bank)))
        if not same_ids or df["fold"].max() + 1 != cfg.n_folds:
            raise RunError(f"{path} does not match a bank of {len(bank)} waveforms in "
                           f"{cfg.n_folds} folds; use another --name")
        return df
    try:
        df = assign_folds(np.arange(len(bank)), bank.mchirp, cfg.n_folds, cfg.seed,
                          cfg.n_mass_bins)
    except ValueError as exc:  # a bank too small for the folds
        raise RunError(f"bank {bank.path or cfg.bank}: {exc}") from None
    if d.is_main:
        save_folds(df, path)
    return df


def make_train_sampler(cfg: TrainConfig, bank: WaveformBank, train_ids: np.ndarray,
                       device: torch.device) -> Sampler:
    """The on-the-fly training sampler over the fold's training waveforms."""
    return Sampler(bank, train_ids, snr=cfg.snr, mode=cfg.mode,
                   signal_fraction=cfg.signal_fraction, device=device)


def prepare_val_set(cfg: TrainConfig, bank: WaveformBank, val_ids: np.ndarray, fold: int,
                    path: Path, device: torch.device) -> FixedSet:
    """The fold's fixed validation set (competition SNR mix), cached at ``path``."""
    expected = cfg.val_per_snr * len(COMPETITION_SNRS)
    if path.is_file():
        val = FixedSet.load(path)
        signal_ids = val.waveform_id[val.y > 0]
        if len(val) == expected and np.isin(signal_ids, val_ids).all():
            return val
    sampler = Sampler(bank, val_ids, snr="competition", mode=cfg.val_mode, device=device)
    val = make_fixed_set(sampler, cfg.val_per_snr, seed=derive_seed(cfg.seed, VAL_STREAM, fold))
    val.save(path)
    return val


class ValSet(Protocol):
    """A validation set: labels, SNR groups, row groups and batches in a fixed order.

    ``row_group`` is what ``oof.csv`` keeps in its ``waveform_id`` column: rows that
    share one came from one waveform (or, in train_data, share noise); ``-1`` marks a
    noise row of the engine, a group of its own.
    """

    y: np.ndarray
    snr_group: np.ndarray
    row_group: np.ndarray

    def __len__(self) -> int: ...

    def batches(self, batch_size: int, device: torch.device | str = "cpu",
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...


def make_augment(cfg: TrainConfig, *, fixed: bool = False) -> Augment | None:
    """Augmentations of engine batches, or with ``fixed`` of train_data rows (which adds the
    time shift); None when every probability is 0."""
    time_shift_p = cfg.time_shift_p if fixed else 0.0
    if not (time_shift_p > 0 or cfg.sign_flip_p > 0 or cfg.swap_p > 0 or cfg.detector_shift_p > 0):
        return None
    return Augment(AugmentConfig(time_shift_p=time_shift_p, sign_flip_p=cfg.sign_flip_p,
                                 swap_p=cfg.swap_p, detector_shift_p=cfg.detector_shift_p,
                                 max_detector_shift_s=cfg.max_detector_shift_s))


def uses_engine(cfg: TrainConfig) -> bool:
    """Whether the run needs the waveform bank (engine batches or engine validation)."""
    return not cfg.train_data or cfg.engine_fraction > 0 or cfg.val_source == "engine"


def check_data_settings(cfg: TrainConfig) -> None:
    """RunError for settings that need train_data without it, or that leave it unused."""
    if not cfg.train_data and (cfg.time_shift_p > 0 or cfg.engine_fraction > 0):
        raise RunError("time_shift_p and engine_fraction need train_data (--train-data): the "
                       "engine places the merger itself and makes whole batches already")
    if cfg.train_data and cfg.engine_fraction >= 1:
        raise RunError(f"engine_fraction={cfg.engine_fraction} leaves train_data unused; "
                       "for engine-only training leave train_data empty")


def open_train_data(cfg: TrainConfig) -> TrainingData | None:
    """The run's train_data files, opened, checked and grouped; None for engine-only runs."""
    if not cfg.train_data:
        return None
    data = open_training_data(cfg.train_data, groups=cfg.groups, cache_dir=cfg.cache_dir)
    for f in data.files:
        if f.mode is not None and f.mode != cfg.mode:
            raise RunError(f"{f.path} holds {f.mode}-mode rows, the config says mode={cfg.mode}")
        unknown = (f.y == 1) & (f.peak_index < 0)
        if cfg.time_shift_p > 0 and unknown.any():
            raise RunError(f"{f.path}: time_shift_p needs every signal row's merger index "
                           f"(peak_index in its parameters), row {np.flatnonzero(unknown)[0]} "
                           "has none; set time_shift_p=0")
    return data


def prepare_data_folds(cfg: TrainConfig, data: TrainingData, d: Dist = Dist()) -> pd.DataFrame:
    """Folds of the train_data groups: ``data_folds.csv`` if present, else assigned and saved.

    One row per group (``waveform_id`` = group id). Signal groups and noise-only
    groups are dealt out separately (signals stratified by chirp mass, like the
    bank's folds), so every fold gets its share of both.
    """
    path = Path(cfg.out_dir) / cfg.name / "data_folds.csv"
    ngroups = int(data.row_group.max()) + 1
    if path.is_file():
        df = load_folds(path)
        same = np.array_equal(np.sort(df["waveform_id"].to_numpy()), np.arange(ngroups))
        if not same or df["fold"].max() + 1 != cfg.n_folds:
            raise RunError(f"{path} does not match {ngroups} row groups of train_data in "
                           f"{cfg.n_folds} folds (other files?); use another --name")
        return df
    signal = np.zeros(ngroups, dtype=bool)
    signal[data.row_group[data.y > 0]] = True
    mass = pd.Series(np.nan_to_num(data.chirp_mass, nan=0.0)).groupby(data.row_group).mean()
    mass = mass.reindex(range(ngroups)).to_numpy()
    parts = []
    for kind, ids in (("noise-only", np.flatnonzero(~signal)), ("signal", np.flatnonzero(signal))):
        if ids.size and ids.size < cfg.n_folds:
            raise RunError(f"train_data: {ids.size} {kind} group(s) of rows cannot fill "
                           f"{cfg.n_folds} folds; use fewer folds (n_folds) or more files")
        if ids.size:
            parts.append(assign_folds(ids, mass[ids], cfg.n_folds, cfg.seed, cfg.n_mass_bins))
    df = pd.concat(parts).sort_values("waveform_id", ignore_index=True)
    if d.is_main:
        save_folds(df, path)
    return df


@dataclass(frozen=True)
class RunData:
    """What every fold of a run draws from."""

    bank: WaveformBank | None  # the engine's waveforms (None: train_data only)
    folds: pd.DataFrame | None  # bank waveform -> fold
    fixed: TrainingData | None = None  # the train_data rows (None: engine only)
    fixed_folds: pd.DataFrame | None = None  # train_data group -> fold


def fixed_rows(step: int, nrows: int, size: int, seed: int, rank: int = 0,
               world_size: int = 1) -> np.ndarray:
    """Rows (positions among ``size``) of optimizer step ``step`` on process ``rank``.

    Passes over the rows in a fresh seeded order each (every row once per pass),
    ``nrows`` per step and process, the processes taking consecutive slices. A
    pure function of its arguments: a resumed run reads the same rows.
    """
    first = (step * world_size + rank) * nrows
    position = np.arange(first, first + nrows)
    out = np.empty(nrows, dtype=np.int64)
    for rep in np.unique(position // size):
        order = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(rep),)))
        where = position // size == rep
        out[where] = order.permutation(size)[position[where] % size]
    return out


@dataclass
class FoldData:
    """A fold's data: training batches drawn step by step, and (rank 0) the validation set."""

    cfg: TrainConfig
    device: torch.device  # where batches are drawn: the data generator's device
    sampler: Sampler | None  # fresh engine samples of the fold's training waveforms
    augment: Augment | None  # augmentations of the engine batches (None: none)
    val: ValSet | None  # the fold's validation set, on rank 0 only
    fixed: TrainingData | None = None  # the fold's training rows of train_data
    fixed_augment: Augment | None = None  # their augmentations (time shift included)
    order_seed: int = 0  # seed of the passes over the fixed rows
    rank: int = 0
    world_size: int = 1

    def train_batch(self, step: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs ``(B, 2, N)`` and labels ``(B,)`` of optimizer step ``step``, drawn from ``gen``.

        Mixed runs put ``round(engine_fraction * B)`` engine samples first.
        """
        if self.fixed is None:
            return self.engine_batch(self.cfg.batch_size, step, gen)
        n_engine = round(self.cfg.engine_fraction * self.cfg.batch_size) if self.sampler else 0
        parts = [self.engine_batch(n_engine, step, gen)] if n_engine else []
        parts.append(self.fixed_batch(self.cfg.batch_size - n_engine, step, gen))
        return torch.cat([x for x, _ in parts]), torch.cat([y for _, y in parts])

    def engine_batch(self, n: int, step: int, gen: torch.Generator,
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` fresh engine samples (the SNR curriculum at this step), augmented."""
        batch = self.sampler.sample(n, gen, progress=step / self.cfg.total_steps)
        x = self.augment(batch.x, gen, batch.peak_index)[0] if self.augment else batch.x
        return x, batch.y

    def fixed_batch(self, n: int, step: int, gen: torch.Generator,
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` rows of train_data (:func:`fixed_rows`), read and augmented on ``device``."""
        rows = fixed_rows(step, n, len(self.fixed), self.order_seed, self.rank, self.world_size)
        x = torch.from_numpy(self.fixed.read(rows)).to(self.device)
        y = torch.as_tensor(self.fixed.y[rows], device=self.device)
        if self.fixed_augment is not None:
            peak = torch.as_tensor(self.fixed.peak_index[rows], device=self.device)
            x = self.fixed_augment(x, gen, peak)[0]
        return x, y


def split_fixed(cfg: TrainConfig, data: TrainingData, data_folds: pd.DataFrame,
                fold: int) -> tuple[TrainingData, TrainingData | None]:
    """Training and validation rows of train_data for ``fold``.

    Validation rows are the groups of fold ``fold`` (val_source=files); with
    val_source=engine every row trains and there are none.
    """
    if cfg.val_source == "engine":
        return data, None
    fold_of = data_folds.set_index("waveform_id")["fold"].reindex(data.row_group).to_numpy()
    val = data.take(np.flatnonzero(fold_of == fold))
    if np.unique(val.y).size < 2:
        raise RunError(f"fold {fold}: the validation rows of train_data hold only "
                       f"{'signals' if val.y.size and val.y[0] else 'noise'}; use fewer folds "
                       "or more files, or val_source=engine")
    return data.take(np.flatnonzero(fold_of != fold)), val


def prepare_fold_data(cfg: TrainConfig, fold: int, data: RunData, d: Dist,
                      device: torch.device) -> FoldData:
    """The fold's training data and, on rank 0, its validation set (after saving its config)."""
    engine_device = device if device.type == "cuda" else torch.device("cpu")
    sampler, train_rows, val_rows = None, None, None
    if data.bank is not None:
        train_ids, val_ids = fold_split(data.folds, fold)
        if data.fixed is None or cfg.engine_fraction > 0:
            sampler = make_train_sampler(cfg, data.bank, train_ids, engine_device)
    if data.fixed is not None:
        train_rows, val_rows = split_fixed(cfg, data.fixed, data.fixed_folds, fold)
    val = None
    if d.is_main:
        out = fold_dir(cfg, fold)
        save_config(cfg, out / "config.yaml")
        val = val_rows if val_rows is not None else \
            prepare_val_set(cfg, data.bank, val_ids, fold, out / "val.h5", engine_device)
    return FoldData(cfg, engine_device, sampler, make_augment(cfg), val, train_rows,
                    make_augment(cfg, fixed=True), derive_seed(cfg.seed, ORDER_STREAM, fold),
                    d.rank, d.world_size)
