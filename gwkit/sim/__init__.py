"""The physics, faithful to the competition's generator.

- :mod:`gwkit.sim.psd`: the Advanced LIGO design PSD (LALSuite) (Welch estimates of real
  strain: :mod:`gwkit.strain.whiten`);
- :mod:`gwkit.sim.whiten`: Tukey windows and the competition's whitening (numpy, torch);
- :mod:`gwkit.sim.waveforms`: IMRPhenomD, the mass prior, the polarisation identity;
- :mod:`gwkit.sim.detectors`: antenna patterns and delays (LALSuite, batched torch);
- :mod:`gwkit.sim.generator`: the reference per-sample generator and course-style blocks;
- :mod:`gwkit.sim.bank`: the waveform bank used by the training engine.
"""
