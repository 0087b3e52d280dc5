"""Submit a validated submission CSV to Kaggle with the official ``kaggle`` client.

Usage::

    python -m gwkit.submit --message "resnet1d 5-fold, flip TTA" --wait
    python -m gwkit.submit --file submissions/submission.csv --dry-run

Before any request: the CSV is validated (header ``id,target``, two fields per
row, integer ids ``0..N-1``, finite targets in [0, 1]); N is checked against
``test.npy`` (``--data``, else located as ``gwkit.predict`` does; an unreadable
file is an error, none found is said). The provenance sidecar that
``gwkit.predict`` writes beside the CSV (``<stem>.provenance.json``) is printed.
The upload fails closed: unless ``--force``, it is refused when any check does
not pass, and the line says which: no sidecar; a sidecar that cannot be read or
was written for another CSV (another name, or other bytes); an input that is a
simulated set (``labels.csv`` beside it), whose sha256 differs from the located
``test.npy``, or that cannot be compared because no ``test.npy`` is found.
Credentials come from
``KAGGLE_USERNAME`` + ``KAGGLE_KEY``, ``~/.kaggle/kaggle.json``, or
``KAGGLE_API_TOKEN`` / ``~/.kaggle/access_token``. ``--wait`` polls the
submission list until the submission is scored and prints the public score.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from gwkit.core.cli import CommandParser, run_main
from gwkit.core.errors import GwkitError
from gwkit.core.kaggle_client import KaggleError, kaggle_api, submit, wait_for_score
from gwkit.data.competition import COMPETITION, DataError, npy_header
from gwkit.scoring.submission import (
    ProvenanceError,
    SubmissionError,
    input_problem,
    provenance_path,
    read_provenance,
    validate_submission,
)

__all__ = ["SubmitRefused", "main", "reference_data"]


class SubmitRefused(GwkitError):
    """The CSV, its data or its provenance rule the upload out; one line for the user."""


def reference_data(data: str | None) -> tuple[Path | None, str]:
    """(the competition ``test.npy`` to check against, or None; what was checked, one line).

    ``data`` (``--data``) must be a readable ``.npy``; without it the usual
    search (``gwkit.core.paths.locate_data``) may find none, which is said, not an error.
    """
    from gwkit.core.paths import locate_data

    try:
        path = locate_data(data)
    except FileNotFoundError as exc:
        if data is not None:
            raise SubmitRefused(" ".join(str(exc).split())) from None
        return None, "no test.npy found (pass --data PATH to check the row count and the input)"
    return path, f"test.npy: {path}"


def _expected_rows(path: Path) -> int:
    """Rows of a test.npy from its header; SubmitRefused when it is unreadable."""
    try:
        shape, _ = npy_header(path)
    except DataError as exc:
        raise SubmitRefused(str(exc)) from None
    if not shape:
        raise SubmitRefused(f"{path}: expected an array of test samples, found a scalar")
    return shape[0]


def _provenance_problem(file: Path, reference: Path | None) -> str | None:
    """Print the CSV's recorded provenance; the first check it fails, else None."""
    try:
        record = read_provenance(file)
    except ProvenanceError as exc:
        return str(exc)
    if record is None:
        return (f"no provenance sidecar ({provenance_path(file).name} absent; python -m "
                "gwkit.predict writes it), so its input cannot be checked")
    print(f"provenance ({provenance_path(file).name}, written {record.get('created', '?')}):")
    for key, value in record.items():
        if key not in ("format", "version", "created", "csv", "logits_file"):
            print(f"  {key}: {json.dumps(value)}")
    problem = input_problem(record, reference)
    if problem is None:
        print(f"input check: passed (simulated-set markers, sha256 against {reference})")
    return problem


def _check_provenance(file: Path, reference: Path | None, force: bool) -> None:
    """SubmitRefused, naming the check, unless the sidecar matches and vouches for the input."""
    problem = _provenance_problem(file, reference)
    if problem is None:
        return
    if not force:
        raise SubmitRefused(f"{file}: {problem}; pass --force to submit it anyway")
    print(f"provenance check failed: {problem}; submitting anyway (--force)")


def _parser() -> argparse.ArgumentParser:
    p = CommandParser(prog="python -m gwkit.submit",
                                description="Validate and submit a CSV to Kaggle.")
    p.add_argument("--file", default=None,
                   help="submission CSV (default: submissions/submission.csv, on Kaggle "
                        "/kaggle/working/submission.csv)")
    p.add_argument("--message", "-m", default=None, help="submission description")
    p.add_argument("--competition", default=COMPETITION,
                   help=f"competition slug (default: {COMPETITION})")
    p.add_argument("--data", default=None,
                   help="the competition's test.npy (or its folder): row count and input check "
                        "(default: located like gwkit.predict does)")
    p.add_argument("--force", action="store_true",
                   help="submit even when the provenance sidecar is missing, does not match "
                        "the CSV, or does not show the input to be the competition's test.npy")
    p.add_argument("--dry-run", action="store_true", help="validate only, do not upload")
    p.add_argument("--wait", action="store_true", help="poll until scored; print the public score")
    p.add_argument("--poll-interval", type=float, default=10.0, metavar="S",
                   help="with --wait: seconds between polls (default 10)")
    p.add_argument("--timeout", type=float, default=1800.0, metavar="S",
                   help="with --wait: give up after this many seconds (default 1800)")
    return p


def _checked_file(args: argparse.Namespace) -> tuple[Path, int]:
    """Validate the CSV, its row count and provenance; (file, rows) or SubmitRefused."""
    from gwkit.core.paths import output_dir

    try:
        file = Path(args.file) if args.file else output_dir() / "submission.csv"
    except ValueError as exc:  # GWKIT_KAGGLE with an unknown value
        raise SubmitRefused(str(exc)) from None
    reference, where = reference_data(args.data)
    n_expected = None if reference is None else _expected_rows(reference)
    try:
        df = validate_submission(file, n_expected=n_expected)
    except SubmissionError as exc:
        raise SubmitRefused(" ".join(str(exc).split())) from None
    rows = ("row count: not checked, " + where) if reference is None else \
        f"row count: {len(df)} rows match {reference}"
    print(f"{file}: valid ({len(df)} rows); {rows}")
    _check_provenance(file, reference, args.force)
    return file, len(df)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: 0 on success, 2 when refused, 1 when Kaggle fails."""
    args = _parser().parse_args(argv)
    try:
        if not (0 < args.poll_interval < math.inf and 0 < args.timeout < math.inf):
            raise SubmitRefused(f"--poll-interval and --timeout must be positive and finite, got "
                                f"{args.poll_interval:g} and {args.timeout:g}")
        file, nrows = _checked_file(args)
    except SubmitRefused as exc:
        print(f"gwkit.submit: refused: {exc}", file=sys.stderr)
        return 2
    message = args.message or f"gwkit {file.name} ({nrows} rows)"
    print(f"competition {args.competition}")
    if args.dry_run:
        print(f"dry run: would submit with message {message!r}")
        return 0
    try:
        api = kaggle_api()
        response = submit(api, file, message, args.competition)
        ref = getattr(response, "ref", 0) or None
        print(f"submitted{f' (ref {ref})' if ref else ''}: {response.message or 'ok'}")
        if args.wait:
            sub = wait_for_score(api, args.competition, ref,
                                 poll_interval=args.poll_interval, timeout=args.timeout)
            print(f"public score: {getattr(sub, 'public_score', None)}")
    except KaggleError as exc:
        print(f"gwkit.submit: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, "gwkit.submit"))
