"""HDF5 files opened through one door: every dataset must be stored in the file itself.

HDF5 can keep a dataset's bytes elsewhere: *external storage* (raw bytes in any
other file, ``dset.external``), *virtual datasets* (``dset.is_virtual``: slices
of datasets in other files, read as fill values when those are missing) and
*external links* (a name that opens an object of another file). Read as data,
any of them lets a file bring in bytes from outside the folders the user named
(``/etc/passwd`` scored as strain); opened for writing, they write outside.
:func:`open_hdf5` checks every dataset of the file when it opens it, before
anything is read, and refuses the file with one line naming the dataset.
Soft links stay inside the file (what they name is checked where it is stored).
"""

from __future__ import annotations

import os
from typing import Any

from gwkit.core.errors import DataError

__all__ = ["attribute", "check_format", "check_self_contained", "open_hdf5"]


def open_hdf5(path: str | os.PathLike, mode: str = "r") -> Any:
    """``h5py.File(path, mode)`` after :func:`check_self_contained` (files opened to be read).

    ``OSError`` as from h5py for a file that is not HDF5; :class:`DataError` for a
    file with data stored outside it. A new file (``mode="w"``/``"x"``) is not checked.
    """
    import h5py

    f = h5py.File(path, mode)
    if mode in ("r", "r+", "a"):
        try:
            check_self_contained(f, path)
        except BaseException:
            f.close()
            raise
    return f


def check_self_contained(f: Any, path: str | os.PathLike) -> None:
    """DataError naming the first dataset of the open file ``f`` not stored in it.

    Refused: external links, datasets with external storage, virtual datasets
    (any layout other than compact, contiguous or chunked in the file).
    """
    import h5py

    stored_here = (h5py.h5d.COMPACT, h5py.h5d.CONTIGUOUS, h5py.h5d.CHUNKED)
    problem: list[str] = []

    def visit(name: str, link: Any) -> bool | None:
        if isinstance(link, h5py.ExternalLink):
            problem.append(f"/{name} is an external link to {link.filename}:{link.path}")
        elif isinstance(link, h5py.HardLink):
            obj = f[name]
            if isinstance(obj, h5py.Dataset):
                why = _stored_elsewhere(obj, stored_here)
                if why:
                    problem.append(f"dataset /{name} is {why}")
        return True if problem else None

    f.visititems_links(visit)
    if problem:
        raise DataError(f"{path}: {problem[0]}; gwkit reads only data stored in the file itself")


def _stored_elsewhere(dset: Any, stored_here: tuple[int, ...]) -> str | None:
    """Why ``dset``'s bytes are not in its file (None when they are)."""
    import h5py

    plist = dset.id.get_create_plist()
    layout = plist.get_layout()
    if layout == h5py.h5d.VIRTUAL:
        sources = {plist.get_virtual_filename(i) for i in range(plist.get_virtual_count())}
        return f"a virtual dataset mapping other files ({', '.join(sorted(sources))})"
    if plist.get_external_count():
        name = plist.get_external(0)[0]
        name = name.decode(errors="replace") if isinstance(name, bytes) else name
        return f"stored in another file (external storage in {name})"
    if layout not in stored_here:
        return f"stored with an unknown layout ({layout})"
    return None


def attribute(obj: Any, key: str, kind: type, path: str | os.PathLike) -> Any:
    """Attribute ``key`` of an HDF5 file, group or dataset ``obj`` as ``kind``: ``int`` (a
    whole number), ``float`` (a finite number) or ``str``. DataError naming the file, the
    attribute and its value otherwise (missing, text for a number, NaN, inf, 2.5 for int)."""
    import numpy as np

    where = "" if obj.name == "/" else f" of {obj.name.lstrip('/')}"
    if key not in obj.attrs:
        raise DataError(f"{path}: attribute {key}{where} is missing")
    value = obj.attrs[key]
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(())[()]
    value = value.item() if isinstance(value, np.generic) else value
    value = value.decode(errors="replace") if isinstance(value, bytes) else value
    if kind is str and isinstance(value, str):
        return value
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is not str and number and np.isfinite(value) \
            and (kind is float or float(value).is_integer()):
        return kind(value)
    what = {int: "a whole number", float: "a finite number", str: "text"}[kind]
    raise DataError(f"{path}: attribute {key}{where} is {value!r}, expected {what}")


def check_format(f: Any, key: str, version: int, path: str | os.PathLike, what: str,
                 error: type[Exception] = DataError) -> None:
    """``error`` naming the file unless its root attribute ``key`` is format ``version`` of
    ``what`` (a gwkit file of another kind, or of another version, is not read)."""
    found = f.attrs.get(key)
    try:
        same = found is not None and int(found) == version
    except (TypeError, ValueError):
        same = False
    if not same:
        raise error(f"{path}: not {what} (format {version}), found format {found}")
