"""Rows of a competition file that repeat: exact duplicates, and rows sharing channel-1 noise.

The course generator made every SNR block with one seed, so the test set repeats
noise across SNR groups (``COMPETITION.md``). ``python -m gwkit.inspect`` reports
these groups and ``python -m gwkit.predict --dedupe`` exploits them.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["duplicate_groups"]


def _groups(keys: list[bytes]) -> list[list[int]]:
    seen: dict[bytes, list[int]] = {}
    for i, k in enumerate(keys):
        seen.setdefault(k, []).append(i)
    return [g for g in seen.values() if len(g) > 1]


def _digest(a: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(a).tobytes(), digest_size=16).digest()


def duplicate_groups(x: np.ndarray) -> tuple[list[list[int]], list[list[int]]]:
    """Row groups of (N, 2, L) ``x``: exact duplicates, and rows sharing identical channel 1.

    Each group lists row indices in increasing order; rows that repeat nothing are in no group.
    """
    n = x.shape[0]
    return _groups([_digest(x[i]) for i in range(n)]), _groups([_digest(x[i, 1]) for i in range(n)])
