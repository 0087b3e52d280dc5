"""Triggers from a score series, and their false-alarm rate against a background.

A scan scores one window every ``stride`` seconds, so each window stands for
``stride`` seconds of analysed time, and ``n`` background windows stand for
``n * stride`` seconds of background. Triggers are clusters of windows above a
threshold. A model trained on mergers anywhere in a range of times within its
window (0.2 s for the competition's rows) answers a signal with a plateau of
high scores about that wide, and where the peak falls on the plateau is
chance; so a trigger's time is the middle of the plateau (the run of windows
around the peak scoring at least halfway from the threshold to the peak), and
the peak window is kept beside it. A trigger's false-alarm rate is
the number of background clusters at least as loud, per second of background.
When none is, only a bound is known: FAR < 1 / background duration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Trigger", "cluster", "far", "overlaps"]


@dataclass(frozen=True)
class Trigger:
    """A cluster of windows above threshold (times: GPS s of the windows' expected merger)."""

    time: float  # middle of the plateau around the peak
    score: float  # the peak score (a logit)
    peak_time: float  # time of the peak window
    start: float  # first and last window times of the cluster
    end: float
    nwindows: int


def cluster(
    times: np.ndarray, scores: np.ndarray, threshold: float, window: float
) -> list[Trigger]:
    """Clusters of windows scoring ``>= threshold``, split where times gap by over ``window`` s.

    ``times`` must be increasing. Returns triggers in time order (see the module
    docstring for a trigger's time).
    """
    times = np.asarray(times, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if times.shape != scores.shape or times.ndim != 1:
        raise ValueError(f"times {times.shape} and scores {scores.shape} must be equal 1-D shapes")
    if np.any(np.diff(times) <= 0):
        raise ValueError("times must be strictly increasing")
    if not window >= 0:
        raise ValueError(f"cluster window must be >= 0 s, got {window}")
    above = np.flatnonzero(scores >= threshold)
    if above.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(times[above]) > window) + 1
    triggers = []
    for group in np.split(above, breaks):
        k = int(np.argmax(scores[group]))
        best = group[k]
        half = threshold + 0.5 * (scores[best] - threshold)
        lo = hi = k
        while lo > 0 and group[lo - 1] == group[lo] - 1 and scores[group[lo - 1]] >= half:
            lo -= 1
        while (hi < group.size - 1 and group[hi + 1] == group[hi] + 1
               and scores[group[hi + 1]] >= half):
            hi += 1
        middle = 0.5 * (times[group[lo]] + times[group[hi]])
        triggers.append(Trigger(float(middle), float(scores[best]), float(times[best]),
                                float(times[group[0]]), float(times[group[-1]]), int(group.size)))
    return triggers


def far(score: float, background: np.ndarray, duration: float) -> tuple[float, bool]:
    """(false-alarm rate in Hz, is_upper_bound) of ``score`` among background cluster ``scores``.

    ``background``: the loudest score of every background cluster; ``duration``:
    the background's length in s. With no background cluster at least as loud,
    the rate is the bound ``1 / duration`` and the flag is True.
    """
    if not duration > 0:
        raise ValueError(f"background duration must be > 0 s, got {duration}")
    louder = int(np.count_nonzero(np.asarray(background) >= score))
    if louder == 0:
        return 1.0 / duration, True
    return louder / duration, False


def overlaps(
    start: np.ndarray, length: float, lo: float, hi: float, period: float | None = None
) -> np.ndarray:
    """Whether each ``[start, start + length)`` meets ``[lo, hi]``, on a circle of ``period``.

    All in the same unit (s or samples). With ``period``, intervals wrap (time
    slides shift data circularly).
    """
    start = np.asarray(start, dtype=np.float64)
    shifts = (0.0,) if period is None else (-period, 0.0, period)
    hit = np.zeros(start.shape, dtype=bool)
    for k in shifts:
        hit |= (start < hi + k) & (lo + k < start + length)
    return hit
