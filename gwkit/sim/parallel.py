"""Worker processes: one pool that Ctrl-C stops at once, and a map over it with a progress bar."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

__all__ = ["ignore_sigint", "process_map", "worker_pool"]


def ignore_sigint() -> None:
    """A worker's initializer: leave Ctrl-C to the command's own process (no worker traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor | None]:
    """A process pool of ``workers`` (None for 1: work in this process), stopped with its block.

    The workers ignore SIGINT: a Ctrl-C, which the terminal sends to every process of
    the command, reaches the command's own process only, and no worker prints a
    traceback. When the block raises (Ctrl-C included) the queued work is cancelled
    and the workers are terminated instead of finishing it.
    """
    if workers <= 1:
        yield None
        return
    pool = ProcessPoolExecutor(max_workers=workers, initializer=ignore_sigint)
    try:
        yield pool
    except BaseException:
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        raise
    pool.shutdown()


def process_map(fn: Callable[[Any], Any], items: Sequence, *, workers: int = 1,
                progress: bool = False, desc: str | None = None) -> list:
    """``[fn(item) for item in items]`` in order, in ``workers`` processes (in this one for 1).

    ``fn`` must be picklable (a module-level function). ``progress`` shows a tqdm bar.
    """
    from tqdm.auto import tqdm

    items = list(items)
    with worker_pool(workers if len(items) >= 2 else 1) as pool:
        if pool is None:
            results = map(fn, items)
        else:
            results = pool.map(fn, items, chunksize=max(1, len(items) // (8 * workers)))
        return list(tqdm(results, desc=desc, total=len(items), disable=not progress))
