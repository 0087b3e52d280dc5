"""On-the-fly training data on the device.

- :mod:`gwkit.engine.sampler`: bank + extrinsics + projection + SNR scaling + noise;
- :mod:`gwkit.engine.snr`: target-SNR distributions (fixed list, range, curriculum);
- :mod:`gwkit.engine.augment`: batched augmentations (time shift, detector swap/shift, sign flip);
- :mod:`gwkit.engine.fixed`: seeded, pre-generated validation/test sets.
"""

from gwkit.engine.augment import Augment, AugmentConfig
from gwkit.engine.fixed import FixedSet, make_fixed_set
from gwkit.engine.sampler import Batch, Extrinsics, Sampler, SignalBatch
from gwkit.engine.snr import Curriculum, FixedSNRs, SNRDistribution, UniformSNR, parse_snr

__all__ = [
    "Augment",
    "AugmentConfig",
    "Batch",
    "Curriculum",
    "Extrinsics",
    "FixedSNRs",
    "FixedSet",
    "Sampler",
    "SignalBatch",
    "SNRDistribution",
    "UniformSNR",
    "make_fixed_set",
    "parse_snr",
]
