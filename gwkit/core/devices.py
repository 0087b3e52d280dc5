"""Choosing the torch device and the CPU threads: one rule for every command."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import gwkit
from gwkit.core.errors import GwkitError

if TYPE_CHECKING:  # torch loads only when a device or threads are chosen
    import torch

__all__ = ["DeviceError", "cpu_threads", "pick_device", "set_cpu_threads", "usable_cpus"]


class DeviceError(GwkitError, ValueError):
    """The requested device is not available on this machine."""


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto``: cuda > mps > cpu; a bare ``cuda`` under DDP means GPU ``local_rank``."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device={name}: CUDA is not available here (try --device cpu)")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device={name}: MPS is not available here (try --device cpu)")
    return device


def _cgroup_cpus(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by the container's CPU quota (cgroup v2 ``cpu.max`` or v1), None if unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a container's CPU quota.

    ``os.cpu_count()`` counts the host's CPUs; a Kaggle or Docker container
    given 4 of a 64-core host would otherwise start 64 threads.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpus()
    if quota is not None:
        cpus = min(cpus, max(1, int(quota)))
    return max(1, cpus)


def cpu_threads(requested: int = 0, processes: int = 1) -> int:
    """Intra-op threads for one of ``processes`` processes sharing this machine.

    ``requested`` > 0 wins; else ``OMP_NUM_THREADS`` when the user set it;
    else the usable CPUs (:func:`usable_cpus`) shared out among the processes.
    """
    if requested > 0:
        return requested
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, usable_cpus() // max(1, processes))


def set_cpu_threads(requested: int = 0, processes: int = 1) -> str:
    """Set torch's intra-op threads by :func:`cpu_threads`; returns the line that says so.

    The line names the thread count and the OpenMP wait policy in force, and
    warns when torch was loaded before gwkit could set the passive policy.
    """
    import torch

    threads = cpu_threads(requested, processes)
    torch.set_num_threads(threads)
    policy = os.environ.get("OMP_WAIT_POLICY", "")
    if gwkit.WAIT_POLICY_SET:
        wait = "OMP_WAIT_POLICY=PASSIVE"
    elif policy:
        wait = f"OMP_WAIT_POLICY={policy} (yours)"
    else:
        wait = ("OMP_WAIT_POLICY unset: torch was imported before gwkit, so its threads spin "
                "while waiting (import gwkit first, or export OMP_WAIT_POLICY=PASSIVE)")
    return f"{threads} CPU thread{'s' * (threads != 1)} of {usable_cpus()} usable, {wait}"
