"""Real detector data: GWOSC files, Welch PSDs, whitening, windows and triggers.

- :mod:`gwkit.strain.gwosc`: GWOSC HDF5 files in (data-quality flags, gaps,
  coincident detectors), resampling to the models' rate;
- :mod:`gwkit.strain.whiten`: Welch median PSD and whitening by inverse-spectrum
  truncation, pure torch functions and ``nn.Module`` wrappers;
- :mod:`gwkit.strain.windows`: sliding 2 s windows shaped like the competition's rows;
- :mod:`gwkit.strain.triggers`: clustering of scores into triggers, false-alarm rates.

``python -m gwkit.scan`` puts them together.
"""

from gwkit.strain.gwosc import StrainSeries, check_coincident, read_gwosc, resample
from gwkit.strain.triggers import Trigger, cluster, far
from gwkit.strain.whiten import SpectralDensity, Whiten, spectral_density, whiten, whitening_fir
from gwkit.strain.windows import competition_rows, fill_band, sliding_windows

__all__ = [
    "SpectralDensity",
    "StrainSeries",
    "Trigger",
    "Whiten",
    "check_coincident",
    "cluster",
    "competition_rows",
    "far",
    "fill_band",
    "read_gwosc",
    "resample",
    "sliding_windows",
    "spectral_density",
    "whiten",
    "whitening_fir",
]
