"""gwkit: a starter kit for finding binary-black-hole signals in the Kaggle
competition ``2023-gwdata-bootcamp``.

Subpackages: :mod:`gwkit.data` (competition files), :mod:`gwkit.sim` (the
physics, faithful to the competition's generator), :mod:`gwkit.engine`
(on-the-fly training batches) and :mod:`gwkit.models` (networks by name).

Importing gwkit sets ``OMP_WAIT_POLICY=PASSIVE`` unless the environment
already names a policy: OpenMP threads that spin while they wait (the
default) fight every other process on a shared CPU, and made training 4-6x
slower on a 2-core machine with anything else running
(``benchmarks/thread_policy.py``). OpenMP reads the variable once, when torch
loads it, so gwkit must be imported before torch; :func:`gwkit.core.devices.cpu_threads`
tells whether that happened.
"""

import os
import sys

__version__ = "0.1.0"

#: Whether importing gwkit set ``OMP_WAIT_POLICY`` (False: the user's own
#: setting, or torch was loaded first and the setting could not take effect).
WAIT_POLICY_SET = "OMP_WAIT_POLICY" not in os.environ and "torch" not in sys.modules
if WAIT_POLICY_SET:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
