"""The physics, faithful to the competition's generator.

- :mod:`gwkit.sim.recipe`: the competition's constants and :class:`~gwkit.sim.recipe.Recipe`,
  written once (every default in gwkit derives from them);
- :mod:`gwkit.sim.psd`: the Advanced LIGO design PSD (LALSuite) (Welch estimates of real
  strain: :mod:`gwkit.strain.whiten`);
- :mod:`gwkit.sim.competition_whitening`: Tukey windows and the competition's whitening of
  simulated rows by the design PSD (numpy, torch);
- :mod:`gwkit.sim.waveforms`: IMRPhenomD, the mass prior, the polarisation identity;
- :mod:`gwkit.sim.detectors`: antenna patterns and delays (LALSuite, batched torch without it);
- :mod:`gwkit.sim.generator`: the reference per-sample generator and course-style blocks;
- :mod:`gwkit.sim.bank`: the waveform bank used by the training engine;
- :mod:`gwkit.sim.matched_filter`: the template bank and the reference matched filter;
- :mod:`gwkit.sim.mf_features`: fast matched-filter features of a compressed filter bank;
- :mod:`gwkit.sim.signal_prior`: the sky, response and amplitude priors its Bayes factors
  marginalise over;
- :mod:`gwkit.sim.parallel`: mapping a function over worker processes.
"""
