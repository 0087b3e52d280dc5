"""Rows of a competition file that repeat: exact duplicates, and rows sharing channel-1 noise.

The course generator made every SNR block with one seed, so the test set repeats
noise across SNR groups (``COMPETITION.md``). ``python -m gwkit.inspect`` reports
these groups and ``python -m gwkit.predict --dedupe`` exploits them.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["duplicate_groups", "resolve_duplicates"]


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


def resolve_duplicates(x: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Exploit the course generator's shared seed (competition-mode data only; opt-in).

    Every SNR block of the test set was made with one seed, so rows drawn from
    the same block row share channel 1 (pure noise in competition mode). In such
    a group, a channel 0 that differs means the same signal at different SNRs
    (score 1, certain); identical channel 0 everywhere means noise (score 0),
    unless one signal row was drawn twice within one SNR block (rare in the
    real test set: ~100 draws from 10,000 rows per block). Other rows keep
    their scores. Returns the new scores and the counts set to 0 and 1.
    """
    out = np.array(target, dtype=np.float64, copy=True)
    n0 = n1 = 0
    for group in duplicate_groups(x)[1]:
        first = np.asarray(x[group[0], 0])
        if all(np.array_equal(first, x[r, 0]) for r in group[1:]):
            out[group], n0 = 0.0, n0 + len(group)
        else:
            out[group], n1 = 1.0, n1 + len(group)
    return out, n0, n1
