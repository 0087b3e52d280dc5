"""gwkit: a starter kit for finding binary-black-hole signals in the Kaggle
competition ``2023-gwdata-bootcamp``.

Subpackages: :mod:`gwkit.data` (competition files), :mod:`gwkit.sim` (the
physics, faithful to the competition's generator), :mod:`gwkit.engine`
(on-the-fly training batches) and :mod:`gwkit.models` (networks by name).
"""

__version__ = "0.1.0"
