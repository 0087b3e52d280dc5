"""Training: the run's configuration, what each fold trains and validates on, the loop, distillation.

Modules: ``config`` (:class:`TrainConfig`, presets), ``fold_data`` (bank, folds,
fixed data, training batches, validation sets), ``loop`` (model, optimizer,
steps, epochs, checkpoints: one fold top to bottom), ``teacher`` (soft labels
for distillation), ``tracking`` (TensorBoard and W&B loggers). ``python -m
gwkit.train`` is the command.
"""
