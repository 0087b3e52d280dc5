"""One run, one writer: a lock file in the run folder names the process that writes it.

``python -m gwkit.train`` and ``python -m gwkit.hybrid`` hold :func:`run_lock` on
``runs/<name>/`` while they work, so a second process on the same run refuses in
one line naming the lock file and its holder, instead of mixing its files with
the first one's. The lock file (:data:`LOCK_FILE`) holds the holder's pid, host,
command line and start time as JSON, and is removed when the holder finishes.

A holder killed with ``kill -9`` leaves its lock file behind. The holder also
``flock``-s the file for as long as it runs (the kernel releases that when the
process dies), so a lock file of this host whose pid no longer runs and that
nobody holds is recognised as stale and taken over, with one line saying so.
A lock from another host cannot be checked: the message names the host and
says to remove the file once that process is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gwkit.core.errors import GwkitError
from gwkit.core.fileio import check_writable, pid_alive

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no stale-lock detection
    fcntl = None

__all__ = ["LOCK_FILE", "RunLocked", "run_lock"]

#: the lock file's name inside the run folder
LOCK_FILE = ".gwkit.lock"


class RunLocked(GwkitError, RuntimeError):
    """Another process holds the run folder's lock."""


def _holder_text(info: dict[str, Any]) -> str:
    what = f"pid {info.get('pid', '?')} on host {info.get('host', '?')}"
    if info.get("command"):
        what += f" ({info['command']}"
        what += f", since {info['started']})" if info.get("started") else ")"
    return what


def _read_info(fd: int) -> dict[str, Any]:
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        info = json.loads(os.read(fd, 65536).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _try_flock(fd: int) -> bool:
    """Take an exclusive flock on ``fd`` without waiting; False when another process holds it."""
    if fcntl is None:  # pragma: no cover
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _running(pid: Any) -> bool:
    """False only when no process ``pid`` runs on this host (the lock's holder is gone)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    return pid_alive(pid)


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _new_lock_file(folder: Path, command: str) -> tuple[int, str]:
    """A complete, flock-ed lock file under a temporary name in ``folder``: (fd, its path)."""
    fd, tmp = tempfile.mkstemp(prefix=f"{LOCK_FILE}.new-", dir=folder)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
                "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        os.write(fd, (json.dumps(info) + "\n").encode("utf-8"))
        os.fchmod(fd, 0o644)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fd, tmp


def _acquire(folder: Path, lock: Path, fd: int, tmp: str, log: Callable[[str], None]) -> None:
    """Put the lock file ``tmp`` (held through ``fd``) in place as ``lock``; RunLocked if taken."""
    for _ in range(5):  # a lock released or replaced under our feet: look again
        try:
            os.link(tmp, lock)  # atomic, fails when the lock exists: O_EXCL with full content
            os.unlink(tmp)
            return
        except FileExistsError:
            pass
        try:
            other = os.open(lock, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            continue
        except OSError as exc:  # a link or something else that is not our lock file
            raise RunLocked(f"{lock}: cannot read the run's lock file ({exc.strerror}); "
                            "remove it if no process uses the run") from None
        try:
            info = _read_info(other)
            here = info.get("host", socket.gethostname()) == socket.gethostname()
            held = not _try_flock(other) or (here and _running(info.get("pid")))
            if held or not here:
                raise RunLocked(
                    f"{folder} is in use by {_holder_text(info)}: lock file {lock}; wait for it "
                    "to finish, or delete the lock file if that process is gone")
            if not _same_file(other, lock):
                continue  # released and replaced since we opened it
            os.replace(tmp, lock)  # we hold the stale file's flock: nobody else takes it over
            log(f"note: took over the stale lock {lock} of {_holder_text(info)}, "
                "no longer running")
            return
        finally:
            os.close(other)
    raise RunLocked(f"{lock}: the run's lock keeps changing hands; try again")


def _remove_stale_new_files(folder: Path) -> None:
    """Lock files that a killed process made but never put in place (nobody holds their flock)."""
    for path in folder.glob(f"{LOCK_FILE}.new-*"):
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            if _try_flock(fd) and _same_file(fd, path):
                path.unlink()
        finally:
            os.close(fd)


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its ancestors that do not exist yet, innermost first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders a lock made (innermost first) as long as they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty: the run's files stay
            return


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike, *, command: str | None = None,
             log: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Hold the lock of run folder ``folder`` for the block; yield the lock file's path.

    Raises :class:`RunLocked` (one line naming the lock file and its holder) when
    another running process holds it, ``OSError`` when ``folder`` cannot be written.
    A stale lock (its holder gone) is taken over and ``log`` (default: a line on
    stderr) says so. A folder this call had to
    create is removed again on release if nothing else was written into it.
    """
    folder = Path(folder)
    created = _missing_folders(folder)
    check_writable(folder, folder=True)  # OSError, one line naming it
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_FILE
    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    fd, tmp = _new_lock_file(folder, command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]))
    try:
        _acquire(folder, lock, fd, tmp, say)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        _remove_empty(created)
        raise
    _remove_stale_new_files(folder)
    try:
        yield lock
    finally:
        if _same_file(fd, lock):
            lock.unlink()
        os.close(fd)
        _remove_empty(created)
