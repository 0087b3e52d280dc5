"""Competition files in, validated arrays out; folds over bank waveforms.

- :mod:`gwkit.data.competition`: ``test.npy``, the course generator's ``.sav``
  blocks (through a safe unpickler) and gwkit's HDF5 files.
- :mod:`gwkit.data.folds`: grouped, chirp-mass-stratified K-fold assignment.
- :mod:`gwkit.data.training`: fixed training files (``.sav``, ``.npy`` + labels, HDF5),
  read a batch at a time and grouped by waveform and shared noise.
- :mod:`gwkit.data.duplicates`: rows that repeat (exact, or sharing channel-1 noise).
- :mod:`gwkit.data.columns`: one name per meaning in every table (``label``,
  ``snr_group``, ``snr``, ``logit``), and the read of tables written before.
"""

from gwkit.data.competition import (
    COMPETITION,
    IFOS,
    NSAMPLES,
    SAMPLE_RATE,
    CompetitionData,
    DataError,
    SafeUnpickler,
    load_competition_file,
    load_hdf5,
    load_sav_block,
    load_sav_params,
    load_test_npy,
    validate_strain,
    write_hdf5,
)
from gwkit.data.folds import assign_folds, fold_split, load_folds, save_folds

__all__ = [
    "COMPETITION",
    "IFOS",
    "NSAMPLES",
    "SAMPLE_RATE",
    "CompetitionData",
    "DataError",
    "SafeUnpickler",
    "assign_folds",
    "fold_split",
    "load_competition_file",
    "load_folds",
    "load_hdf5",
    "load_sav_block",
    "load_sav_params",
    "load_test_npy",
    "save_folds",
    "validate_strain",
    "write_hdf5",
]
