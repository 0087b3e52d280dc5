"""Download (and unzip) the competition files with the official ``kaggle`` client.

Usage::

    python -m gwkit.download                       # into ./data
    python -m gwkit.download --path /scratch/gw --force

Credentials as for :mod:`gwkit.submit` (see :mod:`gwkit.core.kaggle_client`). You must
have joined the competition (accepted its rules) on kaggle.com first.

The archive is fetched into a hidden folder inside ``--path`` and unpacked there
first; only regular files whose names stay inside ``--path`` are extracted (no
absolute names, ``..`` or links in the archive), every ``.npy`` must be a readable
array (the competition's must hold ``test.npy``), and no file is written through a
symbolic link already in ``--path`` (``data/test.npy -> /elsewhere`` is refused,
not followed). Any of these refuses the whole archive and leaves ``--path`` as it
was. ``--path`` itself may be a link to a folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from gwkit.core.cli import CommandParser, run_main
from gwkit.core.errors import DataError, GwkitError
from gwkit.core.fileio import check_writable, extract_zip
from gwkit.core.kaggle_client import KaggleError, describe_error, kaggle_api
from gwkit.data.competition import COMPETITION, npy_header

__all__ = ["download", "main"]


def download(competition: str, path: Path, *, force: bool = False) -> list[Path]:
    """Fetch and unzip every file of ``competition`` into ``path``; return the files written."""
    try:
        check_writable(path, folder=True)
    except OSError as exc:
        raise KaggleError(f"--path {exc}") from None
    api = kaggle_api()
    path.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".gwkit-download-", dir=path) as fetched:
        try:
            api.competition_download_files(competition, path=fetched, force=force, quiet=True,
                                           unzip=False)
        except Exception as exc:
            raise KaggleError(f"download of {competition} failed: {describe_error(exc)}") \
                from None
        archives = sorted(Path(fetched).glob("*.zip"))
        if len(archives) != 1:
            raise KaggleError(f"download of {competition} failed: expected one zip archive, "
                              f"got {[p.name for p in Path(fetched).iterdir()]}")
        return extract_zip(archives[0], path, label=f"the archive {archives[0].name}",
                           check=lambda staged: _check_arrays(staged, competition))


def _check_arrays(staged: Path, competition: str) -> None:
    """DataError unless every ``.npy`` unpacked in ``staged`` is a readable array."""
    arrays = sorted(staged.rglob("*.npy"))
    if competition == COMPETITION and not any(a.name == "test.npy" for a in arrays):
        raise DataError(f"the archive of {competition} holds no test.npy")
    for array in arrays:
        try:
            npy_header(array)
        except (DataError, OSError) as exc:
            why = str(exc).removeprefix(f"{array}: ")
            raise DataError(f"{array.relative_to(staged)} in the archive of {competition}: "
                            f"{why}") from None


def _parser() -> argparse.ArgumentParser:
    p = CommandParser(prog="python -m gwkit.download",
                                description="Download and unzip the competition data.")
    p.add_argument("--competition", default=COMPETITION,
                   help=f"competition slug (default: {COMPETITION})")
    p.add_argument("--path", default="data", help="destination folder (default: ./data)")
    p.add_argument("--force", action="store_true", help="download even if up to date")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: 0 on success, 1 when Kaggle fails or the archive is refused."""
    args = _parser().parse_args(argv)
    try:
        files = download(args.competition, Path(args.path), force=args.force)
    except (GwkitError, OSError) as exc:
        why = " ".join(str(exc).split())
        kept = "" if isinstance(exc, KaggleError) else f"; nothing was written to {args.path}"
        print(f"gwkit.download: {why}{kept}", file=sys.stderr)
        return 1
    print(f"{args.competition}: {len(files)} file(s) in {args.path}")
    for f in files:
        print(f"  {f} ({f.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, "gwkit.download"))
