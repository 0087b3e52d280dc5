"""Where the competition data lives and where outputs go, locally and on Kaggle.

Search order for an input file (default ``test.npy``):

1. the ``data`` argument (``--data`` on the command line): a file, or a folder
   holding the file. When given, it is the only place looked at.
2. env ``GWKIT_DATA``: a file, or a folder holding the file;
3. Kaggle inputs under ``/kaggle/input`` (env ``GWKIT_KAGGLE_INPUT`` overrides):
   ``<slug>/`` or ``competitions/<slug>/`` (and their subfolders), slug =
   ``2023-gwdata-bootcamp``;
4. ``./data`` in the current working directory.

Environment overrides: ``GWKIT_KAGGLE_INPUT`` (input root), ``GWKIT_KAGGLE_WORKING``
(output folder on Kaggle), ``GWKIT_KAGGLE`` (``1``/``0``: force Kaggle detection).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["COMPETITION", "is_kaggle", "kaggle_input_root", "locate_data", "output_dir"]

KAGGLE_INPUT = Path("/kaggle/input")
KAGGLE_WORKING = Path("/kaggle/working")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

#: the Kaggle competition's slug
COMPETITION = "2023-gwdata-bootcamp"


def kaggle_input_root() -> Path:
    """Kaggle's read-only input folder (``GWKIT_KAGGLE_INPUT`` or ``/kaggle/input``)."""
    return Path(os.environ.get("GWKIT_KAGGLE_INPUT") or KAGGLE_INPUT)


def is_kaggle() -> bool:
    """True inside a Kaggle kernel: ``KAGGLE_KERNEL_RUN_TYPE`` set or the input root exists.

    ``GWKIT_KAGGLE=1`` / ``0`` forces the answer.
    """
    forced = os.environ.get("GWKIT_KAGGLE")
    if forced is not None:
        value = forced.strip().lower()
        if value in _TRUE | _FALSE:
            return value in _TRUE
        raise ValueError(f"GWKIT_KAGGLE must be 1/0 (or true/false), got {forced!r}")
    return bool(os.environ.get("KAGGLE_KERNEL_RUN_TYPE")) or kaggle_input_root().is_dir()


def output_dir(default: str | os.PathLike = "submissions") -> Path:
    """Output folder: ``/kaggle/working`` on Kaggle (``GWKIT_KAGGLE_WORKING``), else ``default``.

    The folder is not created; the atomic writers create it.
    """
    if is_kaggle():
        return Path(os.environ.get("GWKIT_KAGGLE_WORKING") or KAGGLE_WORKING)
    return Path(default)


def locate_data(data: str | os.PathLike | None = None, *, filename: str = "test.npy") -> Path:
    """Find ``filename`` (see the module docstring for the order); FileNotFoundError if absent.

    The error, one line, lists every place tried and how to point gwkit at the data.
    """
    if data is not None:
        found = _file_in(Path(data), filename)
        if found is None:
            raise FileNotFoundError(
                f"--data {data}: expected {filename} or a folder holding it, found nothing there"
            )
        return found
    tried: list[str] = []
    for label, candidates in _search_places(filename):
        for candidate in candidates:
            tried.append(f"{label}: {candidate}")
            found = _file_in(candidate, filename)
            if found is not None:
                return found
    raise FileNotFoundError(
        f"cannot find {filename} (looked in {'; '.join(tried)}); pass --data PATH or set "
        f"GWKIT_DATA to the file or its folder (on Kaggle, add the competition {COMPETITION} "
        "as an input)"
    )


def _search_places(filename: str) -> list[tuple[str, list[Path]]]:
    """(label, candidate paths) in search order, after the explicit ``data`` argument."""
    places: list[tuple[str, list[Path]]] = []
    env = os.environ.get("GWKIT_DATA")
    if env:
        places.append(("GWKIT_DATA", [Path(env)]))
    root = kaggle_input_root()
    places.append(("Kaggle input", _kaggle_candidates(root, filename)))
    places.append(("./data", [Path.cwd() / "data"]))
    return places


def _kaggle_candidates(root: Path, filename: str) -> list[Path]:
    """Competition folders under the Kaggle input root, then files nested below them."""
    bases = [root / COMPETITION, root / "competitions" / COMPETITION]
    nested = [
        p
        for base in bases
        if base.is_dir()
        for p in sorted(base.rglob(filename), key=lambda q: (len(q.parts), str(q)))
    ]
    return bases + [p for p in nested if p.parent not in bases]


def _file_in(place: Path, filename: str) -> Path | None:
    """``place`` itself if it is a file, ``place/filename`` if that is a file, else None."""
    if place.is_file():
        return place
    candidate = place / filename
    return candidate if candidate.is_file() else None
