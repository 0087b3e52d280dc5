"""Writing simulated sets: the competition layout (``test.npy`` + CSVs), one HDF5 file, or course blocks.

:func:`write_dataset` is what ``python -m gwkit.simulate`` writes;
:func:`sav_records` turns a parameter table into the course's ``.sav`` records.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gwkit.core.fileio import atomic_path, atomic_write

__all__ = ["sav_records", "write_dataset"]


#: Columns of a row's parameter table that describe the row, not its waveform (left out of
#: the course-style ``.sav`` records, whose copies of one waveform must be equal).
_ROW_COLUMNS = ("id", "block_row", "label", "snr_group")


def sav_records(params) -> list:
    """The course's parameter records: ``None`` for noise rows, else a dict of the source's numbers."""
    keep = [c for c in params.columns if c not in _ROW_COLUMNS]
    return [None if int(row["label"]) == 0 else
            {k: (int(row[k]) if k in ("waveform_id", "peak_index") else float(row[k]))
             for k in keep}
            for _, row in params.iterrows()]


def write_dataset(out: Path, x: np.ndarray, params, *, fmt: str = "npy", attrs: dict | None = None) -> list[Path]:
    """Write a simulated set in the competition layout (``test.npy`` + CSVs), as one HDF5
    file, or (``sav``) as the course's blocks: one ``train_ts_<k>.sav`` + ``train_params_<k>.sav``
    per SNR group, in order of appearance."""
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "sav":
        from gwkit.data.competition import write_sav_block

        paths = []
        groups = params["snr_group"].to_numpy()
        for k, snr in enumerate(dict.fromkeys(groups.tolist())):
            rows = np.flatnonzero(groups == snr)
            block = params.iloc[rows]
            paths += write_sav_block(out / f"train_ts_{k}.sav", x[rows], block["label"].to_numpy(),
                                     sav_records(block))
        return paths
    labels = params[["id", "label", "snr_group"]]
    if fmt == "hdf5":
        from gwkit.data.competition import write_hdf5

        path = write_hdf5(out / "test.h5", x, y=labels["label"].to_numpy(),
                          snr_group=labels["snr_group"].to_numpy(dtype=float), params=params,
                          attrs=attrs)
        return [path]
    with atomic_path(out / "test.npy") as tmp:
        np.save(tmp, x[:, None])  # (N, 1, 2, L), the competition's layout
    for name, table in (("labels.csv", labels), ("params.csv", params)):
        with atomic_write(out / name, newline="") as fh:
            table.to_csv(fh, index=False)
    return [out / "test.npy", out / "labels.csv", out / "params.csv"]
