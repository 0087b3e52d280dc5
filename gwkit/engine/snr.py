"""Target-SNR distributions for training and validation batches.

Each distribution draws network SNRs for a batch from a ``torch.Generator``;
``progress`` (0 at the start of training, 1 at the end) lets a curriculum
change the distribution as training goes. :func:`parse_snr` builds one from
the compact forms used in configs and on the command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from gwkit.sim.recipe import COMPETITION_SNRS

__all__ = ["SNRDistribution", "FixedSNRs", "UniformSNR", "Curriculum", "parse_snr"]


@runtime_checkable
class SNRDistribution(Protocol):
    def sample(self, n: int, generator: torch.Generator, progress: float = 0.0) -> torch.Tensor:
        """``n`` network SNRs (float64, on the generator's device)."""
        ...


@dataclass(frozen=True)
class FixedSNRs:
    """Uniform choice among a fixed list (e.g. the competition's 12 SNRs)."""

    values: tuple[float, ...] = COMPETITION_SNRS

    def __post_init__(self) -> None:
        if not self.values or min(self.values) <= 0:
            raise ValueError(f"SNR values must be a non-empty list of positive numbers, got {self.values}")

    def sample(self, n: int, generator: torch.Generator, progress: float = 0.0) -> torch.Tensor:
        values = torch.tensor(self.values, dtype=torch.float64, device=generator.device)
        idx = torch.randint(len(self.values), (n,), generator=generator, device=generator.device)
        return values[idx]


@dataclass(frozen=True)
class UniformSNR:
    """Uniform in [low, high)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not 0 < self.low <= self.high:
            raise ValueError(f"need 0 < low <= high, got low={self.low}, high={self.high}")

    def sample(self, n: int, generator: torch.Generator, progress: float = 0.0) -> torch.Tensor:
        u = torch.rand(n, generator=generator, device=generator.device, dtype=torch.float64)
        return self.low + (self.high - self.low) * u


@dataclass(frozen=True)
class Curriculum:
    """Stages ``(until, distribution)``: the first stage whose ``until`` exceeds progress is used."""

    stages: tuple[tuple[float, SNRDistribution], ...]

    def __post_init__(self) -> None:
        ends = [u for u, _ in self.stages]
        if not ends or ends != sorted(ends) or ends[-1] < 1.0:
            raise ValueError(f"curriculum stage ends must increase and reach 1.0, got {ends}")

    def sample(self, n: int, generator: torch.Generator, progress: float = 0.0) -> torch.Tensor:
        for until, dist in self.stages:
            if progress < until:
                return dist.sample(n, generator, progress)
        return self.stages[-1][1].sample(n, generator, progress)


def parse_snr(spec) -> SNRDistribution:
    """Build a distribution from a compact spec.

    - ``"competition"``: the competition's 12 SNRs, equal shares;
    - a number or ``"20"``: that SNR only;
    - a list of numbers or ``"4,5,6"``: uniform choice among them;
    - ``"uniform:4:30"`` or ``{"uniform": [4, 30]}``: uniform range;
    - ``[{"until": 0.3, "snr": <spec>}, ...]``: a curriculum over training progress;
    - an existing distribution is returned unchanged.
    """
    if isinstance(spec, SNRDistribution):
        return spec
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return FixedSNRs((float(spec),))
    if isinstance(spec, str):
        text = spec.strip().lower()
        if text == "competition":
            return FixedSNRs()
        if text.startswith("uniform:"):
            parts = text.split(":")[1:]
            if len(parts) != 2:
                raise ValueError(f"bad SNR spec {spec!r}: use uniform:LOW:HIGH")
            return UniformSNR(float(parts[0]), float(parts[1]))
        try:
            return FixedSNRs(tuple(float(v) for v in text.split(",")))
        except ValueError:
            raise ValueError(
                f"bad SNR spec {spec!r}: use 'competition', a number, 'a,b,c' or 'uniform:LOW:HIGH'"
            ) from None
    if isinstance(spec, dict) and set(spec) == {"uniform"}:
        low, high = spec["uniform"]
        return UniformSNR(float(low), float(high))
    if isinstance(spec, Sequence) and spec and all(isinstance(s, dict) for s in spec):
        try:
            stages = tuple((float(s["until"]), parse_snr(s["snr"])) for s in spec)
        except KeyError as exc:
            raise ValueError(f"curriculum stages need 'until' and 'snr' keys, got {spec!r}") from exc
        return Curriculum(stages)
    if isinstance(spec, Sequence) and spec and all(isinstance(v, (int, float)) for v in spec):
        return FixedSNRs(tuple(float(v) for v in spec))
    raise ValueError(f"cannot read an SNR distribution from {spec!r}")
