"""Atomic file output: write to a temporary file beside the target, then rename.

A crash or Ctrl-C mid-write leaves the previous file (if any) untouched. A
``kill -9`` can still leave the hidden temporary file behind; its name records
the host and process that wrote it (``.<name>.tmp-<host>-<pid>-<random><suffix>``),
so the next atomic write into the same folder removes the leftovers of
processes that no longer run. :func:`check_writable` tells, before any work,
whether an output path can be written at all; :func:`file_sha256` fingerprints a
file written before.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write", "check_writable", "file_sha256", "remove_stale_temps"]

_TMP_MARK = ".tmp-"  # between the target's name and "<host>-<pid>-"
_TMP_NAME = re.compile(r"^\..+\.tmp-(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    """True unless no process ``pid`` runs on this machine (always True on Windows)."""
    if os.name == "nt":  # os.kill there terminates the process instead of probing it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process (or a pid out of range: leave it alone)
    return True


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of atomic writes in ``folder`` whose writer is gone.

    Only files named by :func:`atomic_path` on this host, by a process that no
    longer runs, are removed (a live writer's file is never touched). Returns them.
    """
    folder, host, removed = Path(folder), _host(), []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _TMP_NAME.match(entry.name)
        if match is None or match["host"] != host or _alive(int(match["pid"])):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file() and not entry.is_symlink():
                entry.unlink()
                removed.append(entry)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    Use it with writers that take a file name (``np.save``, ``h5py.File``,
    ``torch.save``). ``suffix`` defaults to the target's own suffix, so writers
    that append one (``np.save`` adds ``.npy``) keep the name they were given.
    On an exception the temporary file is removed and ``path`` is left as it was.
    Leftovers of killed writers in the folder are removed first.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target.parent)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}{_TMP_MARK}{_host()}-{os.getpid()}-",
        suffix=target.suffix if suffix is None else suffix,
        dir=target.parent,
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kwargs) -> Iterator:
    """Open a temporary file for writing; it replaces ``path`` only if the block succeeds."""
    if not any(m in mode for m in "wx"):
        raise ValueError(f"atomic_write needs a write mode, got {mode!r}")
    with atomic_path(path) as tmp, open(tmp, mode.replace("x", "w"), **open_kwargs) as fh:
        yield fh


def check_writable(path: str | os.PathLike, *, folder: bool = False) -> Path:
    """Raise ``OSError`` (one line naming ``path``) unless ``path`` can be written.

    ``path`` is a file to be written (``folder=False``: it must not be a folder)
    or a folder to write into (``folder=True``). Missing parent folders are fine
    when the nearest existing one is writable; nothing is created. Call it
    before long work whose result would otherwise be lost. Returns ``path``.
    """
    target = Path(path)
    what = "folder" if folder else "file"
    if folder and target.exists() and not target.is_dir():
        raise OSError(f"{target}: cannot write there (it is a file, not a folder)")
    if not folder and target.is_dir():
        raise OSError(f"{target}: cannot write the output {what} there (it is a folder)")
    probe_dir = target if folder else target.parent
    probe_dir = Path(os.path.abspath(probe_dir))
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise OSError(f"{target}: cannot write there ({probe_dir} is a file, not a folder)")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".gwkit-write-test{_TMP_MARK}{_host()}-{os.getpid()}-",
                                     dir=probe_dir)
    except OSError as exc:
        raise OSError(f"{target}: cannot write there ({exc.strerror or exc} in {probe_dir})") \
            from None
    os.close(fd)
    os.unlink(probe)
    return target


def file_sha256(path: str | os.PathLike, chunk: int = 2**22) -> str:
    """Hex SHA-256 of a file's bytes (read ``chunk`` bytes at a time)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
