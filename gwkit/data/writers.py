"""Writing simulated sets: the competition layout (``test.npy`` + CSVs), one HDF5 file, or course blocks.

:func:`write_dataset` is what ``python -m gwkit.simulate`` writes, every file of a
set replaced together once all are written (:mod:`gwkit.core.outputs`);
:func:`dataset_outputs` names them before the work; :func:`sav_records` turns a
parameter table into the course's ``.sav`` records.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gwkit.core.outputs import replace_together

__all__ = ["dataset_outputs", "sav_records", "write_dataset"]


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


def dataset_outputs(out: Path, *, fmt: str = "npy", nblocks: int = 1) -> list[Path]:
    """The files :func:`write_dataset` writes into ``out`` (``nblocks``: SNR blocks of a
    ``sav`` set), in the order it replaces them."""
    if fmt == "sav":
        return [out / f"train_{kind}_{k}.sav" for k in range(nblocks) for kind in ("ts", "params")]
    if fmt == "hdf5":
        return [out / "test.h5"]
    return [out / "test.npy", out / "labels.csv", out / "params.csv"]


def write_dataset(out: Path, x: np.ndarray, params, *, fmt: str = "npy", attrs: dict | None = None) -> list[Path]:
    """Write a simulated set in the competition layout (``test.npy`` + CSVs), as one HDF5
    file, or (``sav``) as the course's blocks: one ``train_ts_<k>.sav`` + ``train_params_<k>.sav``
    per SNR group, in order of appearance. The files replace those in ``out`` together,
    after every one is written; returns them."""
    groups = params["snr_group"].to_numpy()
    snrs = list(dict.fromkeys(groups.tolist()))
    paths = dataset_outputs(out, fmt=fmt, nblocks=len(snrs))
    labels = params[["id", "label", "snr_group"]]
    with replace_together(paths) as staged:
        if fmt == "sav":
            from gwkit.data.competition import write_sav_block

            for k, snr in enumerate(snrs):
                rows = np.flatnonzero(groups == snr)
                block = params.iloc[rows]
                write_sav_block(staged[paths[2 * k]], x[rows], block["label"].to_numpy(),
                                sav_records(block), params_path=staged[paths[2 * k + 1]])
        elif fmt == "hdf5":
            from gwkit.data.competition import write_hdf5

            write_hdf5(staged[paths[0]], x, y=labels["label"].to_numpy(),
                       snr_group=labels["snr_group"].to_numpy(dtype=float), params=params,
                       attrs=attrs)
        else:
            np.save(staged[paths[0]], x[:, None])  # (N, 1, 2, L), the competition's layout
            for path, table in zip(paths[1:], (labels, params)):
                table.to_csv(staged[path], index=False)
    return paths
