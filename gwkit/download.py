"""Download (and unzip) the competition files with the official ``kaggle`` client.

Usage::

    python -m gwkit.download                       # into ./data
    python -m gwkit.download --path /scratch/gw --force

Credentials as for :mod:`gwkit.submit` (see :mod:`gwkit.core.kaggle_client`). You must
have joined the competition (accepted its rules) on kaggle.com first.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gwkit.core.fileio import check_writable
from gwkit.core.kaggle_client import KaggleError, describe_error, kaggle_api
from gwkit.data.competition import COMPETITION

__all__ = ["download", "main"]


def download(competition: str, path: Path, *, force: bool = False) -> list[Path]:
    """Fetch and unzip every file of ``competition`` into ``path``; return the files there."""
    try:
        check_writable(path, folder=True)
    except OSError as exc:
        raise KaggleError(f"--path {exc}") from None
    api = kaggle_api()
    path.mkdir(parents=True, exist_ok=True)
    try:
        api.competition_download_files(competition, path=str(path), force=force, quiet=True,
                                       unzip=True)
    except Exception as exc:
        raise KaggleError(f"download of {competition} failed: {describe_error(exc)}") from None
    return sorted(p for p in path.rglob("*") if p.is_file())


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gwkit.download",
                                description="Download and unzip the competition data.")
    p.add_argument("--competition", default=COMPETITION,
                   help=f"competition slug (default: {COMPETITION})")
    p.add_argument("--path", default="data", help="destination folder (default: ./data)")
    p.add_argument("--force", action="store_true", help="download even if up to date")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: 0 on success, 1 when Kaggle fails."""
    args = _parser().parse_args(argv)
    try:
        files = download(args.competition, Path(args.path), force=args.force)
    except KaggleError as exc:
        print(f"gwkit.download: {exc}", file=sys.stderr)
        return 1
    print(f"{args.competition}: {len(files)} file(s) in {args.path}")
    for f in files:
        print(f"  {f} ({f.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
