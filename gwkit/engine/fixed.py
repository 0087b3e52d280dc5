"""Fixed, seeded sets (validation/test): drawn once from the engine, identical across runs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gwkit.engine.sampler import Sampler
from gwkit.sim.recipe import COMPETITION_SNRS

__all__ = ["FixedSet", "make_fixed_set"]

_CHUNK = 64  # rows per generator stream (part of a fixed set's identity)


@dataclass
class FixedSet:
    """Pre-generated samples: x (n, 2, N) float32, labels and per-row SNR group.

    ``snr_group`` is the row's SNR group for every row (noise rows included), so
    per-SNR metrics can compare that group's signals with all noise.
    """

    x: np.ndarray
    y: np.ndarray
    snr_group: np.ndarray
    waveform_id: np.ndarray
    snr_channel: np.ndarray

    def __len__(self) -> int:
        return int(self.y.size)

    @property
    def row_group(self) -> np.ndarray:
        """The rows' groups for out-of-fold tables: the waveform id (-1 for noise rows, each
        a group of its own), as :class:`gwkit.training.fold_data.ValSet` asks."""
        return self.waveform_id

    def batches(self, batch_size: int, device="cpu"):
        """Yield (x, y) tensors in file order."""
        for lo in range(0, len(self), batch_size):
            yield (torch.as_tensor(self.x[lo : lo + batch_size], device=device),
                   torch.as_tensor(self.y[lo : lo + batch_size], device=device))

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({
            "id": np.arange(len(self)), "label": self.y.astype(int), "snr_group": self.snr_group,
            "waveform_id": self.waveform_id, "snr_ch0": self.snr_channel[:, 0],
            "snr_ch1": self.snr_channel[:, 1],
        })

    def save(self, path: str | os.PathLike) -> Path:
        """Write as a gwkit HDF5 file (atomic)."""
        from gwkit.data.competition import write_hdf5

        return write_hdf5(path, self.x, y=self.y.astype(np.int64), snr_group=self.snr_group,
                          params=self.table(), attrs={"kind": "fixed_set"})

    @classmethod
    def load(cls, path: str | os.PathLike) -> FixedSet:
        from gwkit.data.competition import load_hdf5

        data = load_hdf5(path)
        params = data.params
        return cls(x=np.asarray(data.x, dtype=np.float32), y=np.asarray(data.y, dtype=np.float32),
                   snr_group=np.asarray(data.snr_group),
                   waveform_id=params["waveform_id"].to_numpy(),
                   snr_channel=params[["snr_ch0", "snr_ch1"]].to_numpy())


def make_fixed_set(
    sampler: Sampler,
    per_snr: int,
    *,
    snrs: Sequence[float] = COMPETITION_SNRS,
    seed: int = 0,
    signal_fraction: float = 0.5,
) -> FixedSet:
    """``per_snr`` rows per SNR group (equal shares, like the competition's test set).

    Within each group a ``signal_fraction`` share of rows (rounded) carries a
    signal at that SNR; the rest are noise. Rows are shuffled; everything is
    fixed by ``seed`` (and the sampler's bank, ids and mode).
    """
    if per_snr < 1:
        raise ValueError(f"per_snr must be >= 1, got {per_snr}")
    dev = sampler.device
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    nsig = int(round(per_snr * signal_fraction))
    group_snr = np.repeat(np.asarray(snrs, dtype=np.float64), per_snr)
    y = np.tile(np.r_[np.ones(nsig), np.zeros(per_snr - nsig)], len(snrs))
    order = torch.randperm(y.size, generator=gen, device=dev).cpu().numpy()
    group_snr, y = group_snr[order], y[order]
    xs, wids, chans = [], [], []
    for lo in range(0, y.size, _CHUNK):
        sl = slice(lo, lo + _CHUNK)
        chunk_seed = int(np.random.SeedSequence(int(seed), spawn_key=(lo // _CHUNK,)).generate_state(1)[0])
        chunk_gen = torch.Generator(device=dev).manual_seed(chunk_seed)
        b = sampler.sample(len(y[sl]), chunk_gen, y=torch.as_tensor(y[sl], device=dev),
                           snr=torch.as_tensor(group_snr[sl], device=dev))
        xs.append(b.x.float().cpu().numpy())
        wids.append(b.waveform_id.cpu().numpy())
        chans.append(b.snr_channel.float().cpu().numpy())
    return FixedSet(x=np.concatenate(xs), y=y.astype(np.float32), snr_group=group_snr,
                    waveform_id=np.concatenate(wids), snr_channel=np.concatenate(chans))
