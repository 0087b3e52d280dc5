"""The file-system boundary: outputs written atomically, never through a link; safe inputs.

Atomic output: :func:`atomic_path` / :func:`atomic_write` write to a temporary file
beside the target, then rename it onto the target, so a crash or Ctrl-C mid-write
leaves the previous file (if any) untouched. A ``kill -9`` can still leave the
hidden temporary file behind; its name records the host and process that wrote it
(``.<name>.tmp-<host>-<pid>-<random><suffix>``), so the next atomic write into the
same folder removes the leftovers of processes that no longer run.
:func:`check_writable` tells, before any work, whether an output path can be
written at all; :func:`file_sha256` fingerprints a file written before.

Links: gwkit never writes *through* a symbolic link. An output whose own name is a
link is refused (:class:`~gwkit.core.errors.UnsafePathError`, one line naming the
link and where it points), never replaced or followed. The folder the user names
(``--out``, ``--path``, a run folder) may itself be a link, e.g. to a bigger disk:
that is the user's choice. Below it, in the folders gwkit makes or fills, links are
refused too when the caller names that folder as ``root`` (``runs/<name>/fold0 ->
/elsewhere`` is not written into). Paths read from a data file
(:func:`resolve_inside`) must stay inside its folder, and archives
(:func:`extract_zip`) are unpacked to regular files inside their destination only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from gwkit.core.errors import DataError, UnsafePathError

__all__ = ["atomic_path", "atomic_write", "check_writable", "copy_file", "extract_zip",
           "file_sha256", "link_on_path", "pid_alive", "remove_stale_temps", "resolve_inside"]

_TMP_MARK = ".tmp-"  # between the target's name and "<host>-<pid>-"
_TMP_NAME = re.compile(r"^\..+\.tmp-(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname()) or "host"


def pid_alive(pid: int) -> bool:
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


# --------------------------------------------------------------------------- links


def link_on_path(path: str | os.PathLike, root: str | os.PathLike | None = None) -> Path | None:
    """The first symbolic link among ``path``'s folders below ``root`` and ``path`` itself.

    ``root`` (a folder above ``path``) is not checked itself: it is the folder the
    user named, which may be a link. Without ``root`` only ``path`` is checked.
    None when there is no link (missing components are no links).
    """
    path = Path(path)
    if root is None:
        return path if path.is_symlink() else None
    root = Path(root)
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        raise ValueError(f"{path} is not inside {root}") from None
    here = root
    for part in parts:
        here = here / part
        if here.is_symlink():
            return here
    return None


def _refuse_links(path: Path, root: str | os.PathLike | None, doing: str) -> None:
    """UnsafePathError (one line) when :func:`link_on_path` finds a link."""
    link = link_on_path(path, root)
    if link is not None:
        which = "it" if link == path else str(link)
        raise UnsafePathError(f"{path}: refusing to {doing} through a symbolic link ({which} "
                              f"points to {os.readlink(link)}); gwkit does not follow links "
                              "below the folder you name: remove the link or choose another path")


def resolve_inside(root: str | os.PathLike, name: str, *, source: str | os.PathLike) -> Path:
    """``root / name`` for a relative ``name`` read from the file ``source``.

    UnsafePathError, naming ``source``, unless ``name`` is a non-empty relative
    path without ``..`` that stays inside ``root`` once links are resolved (a link
    inside ``root`` pointing out of it is refused too). Returns the unresolved path.
    """
    if not isinstance(name, str) or not name.strip():
        raise UnsafePathError(f"{source}: expected the relative path of a file in {root}, "
                              f"found {name!r}")
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or re.match(r"^[A-Za-z]:", name) or ".." in pure.parts:
        raise UnsafePathError(f"{source}: the path {name!r} it names must be relative to "
                              f"{root} without '..' (it would lead outside that folder)")
    path = Path(root) / name
    real_root = Path(root).resolve()
    if not path.resolve().is_relative_to(real_root):
        raise UnsafePathError(f"{source}: the path {name!r} it names leads outside {root} "
                              f"(through a symbolic link, to {path.resolve()})")
    return path


# --------------------------------------------------------------------------- atomic output


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
        if match is None or match["host"] != host or pid_alive(int(match["pid"])):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file() and not entry.is_symlink():
                entry.unlink()
                removed.append(entry)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None, *,
                root: str | os.PathLike | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    Use it with writers that take a file name (``np.save``, ``h5py.File``,
    ``torch.save``). ``suffix`` defaults to the target's own suffix, so writers
    that append one (``np.save`` adds ``.npy``) keep the name they were given.
    On an exception the temporary file is removed and ``path`` is left as it was.
    Leftovers of killed writers in the folder are removed first.
    :class:`~gwkit.core.errors.UnsafePathError` when ``path`` is a symbolic link,
    or a folder between ``root`` (the folder the user named) and it is one.
    """
    target = Path(path)
    _refuse_links(target, root, "write")
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
        _refuse_links(target, root, "write")  # a link made while the writer ran
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", *,
                 root: str | os.PathLike | None = None, **open_kwargs) -> Iterator:
    """Open a temporary file for writing; it replaces ``path`` only if the block succeeds."""
    if not any(m in mode for m in "wx"):
        raise ValueError(f"atomic_write needs a write mode, got {mode!r}")
    with atomic_path(path, root=root) as tmp, \
            open(tmp, mode.replace("x", "w"), **open_kwargs) as fh:
        yield fh


def copy_file(source: str | os.PathLike, target: str | os.PathLike, *,
              root: str | os.PathLike | None = None) -> Path:
    """Copy ``source``'s bytes (and times) onto ``target`` atomically, never through a link."""
    with atomic_path(target, root=root) as tmp:
        shutil.copy2(source, tmp)
    return Path(target)


def check_writable(path: str | os.PathLike, *, folder: bool = False,
                   root: str | os.PathLike | None = None) -> Path:
    """Raise ``OSError`` (one line naming ``path``) unless ``path`` can be written.

    ``path`` is a file to be written (``folder=False``: it must not be a folder
    or a symbolic link) or a folder to write into (``folder=True``: it may be a
    link when the user named it). With ``root``, no folder between ``root`` and
    ``path`` may be a link either (:class:`~gwkit.core.errors.UnsafePathError`,
    an ``OSError``). Missing parent folders are fine when the nearest existing one
    is writable; nothing is created. Call it before long work whose result would
    otherwise be lost. Returns ``path``.
    """
    target = Path(path)
    what = "folder" if folder else "file"
    if root is not None or not folder:
        _refuse_links(target, root, "write")
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


# --------------------------------------------------------------------------- archives


def _member_parts(label: str, info: zipfile.ZipInfo) -> tuple[str, ...]:
    """The path parts of a zip member; UnsafePathError for a name or type that could escape."""
    name = info.filename
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or "\\" in name or "\0" in name \
            or ".." in parts or not parts:
        raise UnsafePathError(f"{label}: member {name!r} has an unsafe name (absolute, '..' "
                              "or a drive); only names inside the destination are extracted")
    kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):  # 0: no type recorded, a plain file
        what = "a symbolic link" if kind == stat.S_IFLNK else "not a regular file"
        raise UnsafePathError(f"{label}: member {name!r} is {what}; only regular files are "
                              "extracted")
    return parts


def extract_zip(archive: str | os.PathLike, dest: str | os.PathLike, *,
                check: Callable[[Path], None] | None = None, label: str | None = None,
                ) -> list[Path]:
    """Extract the zip ``archive`` into the folder ``dest``; the files written.

    Only regular-file members whose names stay inside ``dest`` (no absolute
    names, ``..`` or links), and never through a link inside ``dest`` (e.g.
    ``dest/test.npy -> /elsewhere``): any of them refuses the whole archive
    (:class:`~gwkit.core.errors.UnsafePathError`) before anything is written.
    Members are first unpacked into a hidden folder inside ``dest``;
    ``check(staged)`` may inspect them there and raise to abort. Only then does
    each file replace its target; on any error ``dest`` is left as it was.
    Messages name the archive ``label`` (default: its path).
    """
    archive, dest = Path(archive), Path(dest)
    label = label or str(archive)
    check_writable(dest, folder=True)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{label}: not a readable zip archive ({exc})") from None
    with zf:
        files = [(_member_parts(label, info), info) for info in zf.infolist()]
        files = [(parts, info) for parts, info in files if not info.is_dir()]
        names = [PurePosixPath(*parts) for parts, _ in files]
        twice = next((n for n in names if names.count(n) > 1), None)
        if twice is not None:
            raise UnsafePathError(f"{label}: member {str(twice)!r} appears twice")
        for name in names:
            _check_target(dest, dest.joinpath(*name.parts))
        dest.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=f".unzip{_TMP_MARK}{_host()}-{os.getpid()}-",
                                       dir=dest))
        try:
            for (parts, info), name in zip(files, names):
                out = staged.joinpath(*parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with zf.open(info) as src, open(out, "xb") as dst:
                        shutil.copyfileobj(src, dst, 2**22)
                except (zipfile.BadZipFile, zlib.error, RuntimeError, EOFError,
                        NotImplementedError) as exc:
                    raise DataError(f"{label}: cannot extract {str(name)!r} ({exc})") from None
            if check is not None:
                check(staged)
            written = []
            for name in names:
                target = dest.joinpath(*name.parts)
                _check_target(dest, target)  # again: nothing may have changed meanwhile
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged.joinpath(*name.parts), target)
                written.append(target)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    return written


def _check_target(dest: Path, target: Path) -> None:
    """UnsafePathError/OSError unless an extracted file may replace ``target`` inside ``dest``."""
    _refuse_links(target, dest, "extract")
    if target.is_dir():
        raise OSError(f"{target}: cannot extract a file there (it is a folder)")
    for folder in target.relative_to(dest).parents:
        if folder != PurePosixPath(".") and (dest / folder).exists() \
                and not (dest / folder).is_dir():
            raise OSError(f"{target}: cannot extract there ({dest / folder} is a file)")
