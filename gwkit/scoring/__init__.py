"""Scoring: checkpoints to logits, the hybrid's stacker, score sets, reports and submissions.

Modules: ``inference`` (checkpoint discovery, TTA, fold ensembles), ``stack``
(the stacker: fit, JSON, apply), ``held_out`` (a run's held-out rows), ``report``
(ROC/AUC reports with bootstrap CIs and plots), ``submission`` (the CSV, its
provenance sidecar, validation). The commands are ``predict``, ``hybrid``,
``evaluate`` and ``submit``.
"""
