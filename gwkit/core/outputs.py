"""A command's outputs as one set: checked before the work, replaced together after it.

A command that writes several files (a submission CSV with its provenance
sidecar and logits archive; a scan's tables and summary; a simulated set; a
run's stacker with its filter bank) must not leave a mix of old and new files
when it fails half-way. :func:`check_outputs` tells, before any work, whether
every output can be written; :func:`replace_together` stages each output as a
hidden temporary file beside its target (:func:`gwkit.core.fileio.atomic_path`)
and, once the whole block has succeeded, renames them onto their targets in the
order given. When the block fails (an exception, Ctrl-C) every temporary file
is removed and no target is touched.

Ordering. The renames take microseconds and a Ctrl-C arriving during them is
held back until they are done, so only a ``kill -9`` (or a power cut) can stop
them half-way. Callers list last the file that vouches for the others (a
submission's sidecar records the sha256 of its CSV and logits): a set cut
short then has a stale voucher, which its reader refuses.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from gwkit.core.fileio import atomic_path, check_writable

__all__ = ["check_outputs", "replace_together"]


def check_outputs(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """``paths`` as Paths; ``OSError`` (one line naming the path) unless every one can be written.

    Nothing is created. Two outputs with the same path are a mistake of the caller
    (``ValueError``).
    """
    targets = [Path(p) for p in paths]
    seen: set[str] = set()
    for target in targets:
        key = os.path.abspath(target)
        if key in seen:
            raise ValueError(f"{target}: named twice among the outputs")
        seen.add(key)
        check_writable(target)
    return targets


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold back SIGINT (Ctrl-C) during the block; deliver it as KeyboardInterrupt afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread receives signals
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


@contextlib.contextmanager
def replace_together(paths: Sequence[str | os.PathLike]) -> Iterator[dict[Path, Path]]:
    """Yield ``{target: temporary path}``; rename every temporary onto its target when the block succeeds.

    Write each output to its temporary path (any writer that takes a file name:
    ``np.save``, ``h5py.File``, ``DataFrame.to_csv``, ``open``). The renames follow
    the order of ``paths``, the last one last. If the block raises, or a rename
    fails, the temporaries not yet renamed are removed and the error propagates.
    """
    targets = check_outputs(paths)
    with contextlib.ExitStack() as stack:
        # atomic_path renames on a clean exit; the stack exits last-entered first, so enter
        # the targets in reverse to rename them in the order given
        temps = {target: stack.enter_context(atomic_path(target)) for target in reversed(targets)}
        yield {target: temps[target] for target in targets}
        with _sigint_held():
            stack.close()
