"""One way to map a function over items in worker processes, with an optional progress bar."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

__all__ = ["process_map"]


def process_map(fn: Callable[[Any], Any], items: Sequence, *, workers: int = 1,
                progress: bool = False, desc: str | None = None) -> list:
    """``[fn(item) for item in items]`` in order, in ``workers`` processes (in this one for 1).

    ``fn`` must be picklable (a module-level function). ``progress`` shows a tqdm bar.
    """
    from tqdm.auto import tqdm

    items = list(items)
    if workers <= 1 or len(items) < 2:
        results = map(fn, items)
        return list(tqdm(results, desc=desc, total=len(items), disable=not progress))
    chunksize = max(1, len(items) // (8 * workers))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = pool.map(fn, items, chunksize=chunksize)
        return list(tqdm(results, desc=desc, total=len(items), disable=not progress))
