"""Submit a validated submission CSV to Kaggle with the official ``kaggle`` client.

Usage::

    python -m gwkit.submit --message "resnet1d 5-fold, flip TTA" --wait
    python -m gwkit.submit --file submissions/submission.csv --dry-run

The CSV is validated first (header ``id,target``, ids ``0..N-1``, finite targets
in [0, 1]; N is checked against ``test.npy`` when it can be located); a bad file
is refused before any request is made. Credentials come from ``KAGGLE_USERNAME``
+ ``KAGGLE_KEY``, ``~/.kaggle/kaggle.json``, or ``KAGGLE_API_TOKEN`` /
``~/.kaggle/access_token``. ``--wait`` polls the submission list until the
submission is scored and prints the public score.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gwkit.data.competition import COMPETITION
from gwkit.submission import SubmissionError, validate_submission

__all__ = ["CREDENTIALS_HELP", "KaggleError", "kaggle_api", "main", "submit", "wait_for_score"]

CREDENTIALS_HELP = (
    "Kaggle credentials not found. Set KAGGLE_USERNAME and KAGGLE_KEY, or save "
    '{"username": ..., "key": ...} to ~/.kaggle/kaggle.json (chmod 600), or set '
    "KAGGLE_API_TOKEN (token from https://www.kaggle.com/settings/api)."
)


class KaggleError(RuntimeError):
    """A Kaggle API call failed; the message says why (one line)."""


def _describe(exc: BaseException) -> str:
    """One line for an exception from the kaggle client (HTTP status and body when known)."""
    response = getattr(exc, "response", None)
    if response is not None:
        body = " ".join((getattr(response, "text", "") or "").split())[:200]
        status = getattr(response, "status_code", "?")
        hint = ""
        if status == 401:
            hint = " (check your Kaggle credentials)"
        elif status == 403:
            hint = " (have you joined the competition and accepted its rules?)"
        return f"HTTP {status}{hint}: {body or exc}"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def kaggle_api() -> Any:
    """An authenticated ``kaggle.api.kaggle_api_extended.KaggleApi``.

    Imported lazily: the package authenticates (and prints help) at import. Its
    chatter is captured; missing credentials raise :class:`KaggleError` with
    :data:`CREDENTIALS_HELP`.
    """
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
            from kaggle.api.kaggle_api_extended import KaggleApi

            api = KaggleApi()
            api.authenticate()
    except SystemExit:
        raise KaggleError(CREDENTIALS_HELP) from None
    except ImportError as exc:
        raise KaggleError(f"the kaggle package is not installed ({exc}); pip install kaggle") from None
    except Exception as exc:  # network errors while checking an access token, bad config, ...
        raise KaggleError(f"Kaggle authentication failed: {_describe(exc)}") from None
    return api


def _expected_rows(data: str | None) -> int | None:
    """Number of test samples from a locatable test.npy (header only), else None."""
    import numpy as np

    from gwkit.paths import locate_data

    try:
        path = locate_data(data)
    except FileNotFoundError:
        if data is not None:
            raise
        return None
    try:
        return int(np.load(path, mmap_mode="r", allow_pickle=False).shape[0])
    except (ValueError, OSError, IndexError):
        return None


def submit(api: Any, file: Path, message: str, competition: str) -> Any:
    """Upload ``file``; return the API's response or raise :class:`KaggleError`."""
    try:
        response = api.competition_submit(str(file), message, competition, quiet=True)
    except Exception as exc:
        raise KaggleError(f"submission to {competition} failed: {_describe(exc)}") from None
    text = (getattr(response, "message", "") or "").strip() if response is not None else ""
    ref = getattr(response, "ref", 0) if response is not None else 0
    if response is None or (not ref and "success" not in text.lower()):
        raise KaggleError(
            f"submission to {competition} failed: {text or 'empty response from the Kaggle API'}"
        )
    return response


def _status_name(sub: Any) -> str:
    status = getattr(sub, "status", None)
    return str(getattr(status, "name", status) or "PENDING").upper()


def wait_for_score(
    api: Any,
    competition: str,
    ref: int | None,
    *,
    poll_interval: float = 10.0,
    timeout: float = 1800.0,
    clock=time.monotonic,
    sleep=time.sleep,
) -> Any:
    """Poll the submission list until submission ``ref`` (newest if falsy) is scored."""
    deadline = clock() + timeout
    while True:
        try:
            subs = api.competition_submissions(competition) or []
        except Exception as exc:
            raise KaggleError(f"listing submissions of {competition} failed: {_describe(exc)}") from None
        subs = [s for s in subs if s is not None]
        match = [s for s in subs if ref and getattr(s, "ref", None) == ref] if ref else subs[:1]
        if match:
            sub, status = match[0], _status_name(match[0])
            if status == "COMPLETE":
                return sub
            if status == "ERROR":
                why = getattr(sub, "error_description", None) or "no reason given"
                raise KaggleError(f"submission {getattr(sub, 'ref', '?')} failed scoring: {why}")
        if clock() >= deadline:
            raise KaggleError(f"timed out after {timeout:g} s waiting for the score")
        sleep(poll_interval)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gwkit.submit",
                                description="Validate and submit a CSV to Kaggle.")
    p.add_argument("--file", default=None,
                   help="submission CSV (default: output_dir()/submission.csv)")
    p.add_argument("--message", "-m", default=None, help="submission description")
    p.add_argument("--competition", default=COMPETITION)
    p.add_argument("--data", default=None,
                   help="test.npy (or folder) giving the expected row count (default: located)")
    p.add_argument("--dry-run", action="store_true", help="validate only, do not upload")
    p.add_argument("--wait", action="store_true", help="poll until scored; print the public score")
    p.add_argument("--poll-interval", type=float, default=10.0, metavar="S")
    p.add_argument("--timeout", type=float, default=1800.0, metavar="S")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from gwkit.paths import output_dir

    file = Path(args.file) if args.file else output_dir() / "submission.csv"
    try:
        n_expected = _expected_rows(args.data)
        df = validate_submission(file, n_expected=n_expected)
    except (SubmissionError, FileNotFoundError) as exc:
        print(f"gwkit.submit: refused: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    message = args.message or f"gwkit {file.name} ({len(df)} rows)"
    print(f"{file}: valid ({len(df)} rows{'' if n_expected is None else ', matches test.npy'}); "
          f"competition {args.competition}")
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
    sys.exit(main())
