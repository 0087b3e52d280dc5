"""The official ``kaggle`` client, authenticated, with one-line errors.

Shared by :mod:`gwkit.submit` and :mod:`gwkit.download`. Credentials come from
``KAGGLE_USERNAME`` + ``KAGGLE_KEY``, ``~/.kaggle/kaggle.json`` (or
``$KAGGLE_CONFIG_DIR/kaggle.json``), or ``KAGGLE_API_TOKEN`` /
``~/.kaggle/access_token``.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gwkit.core.errors import GwkitError

__all__ = ["CREDENTIALS_HELP", "KaggleError", "describe_error", "kaggle_api", "submit", "wait_for_score"]

CREDENTIALS_HELP = (
    "Kaggle credentials not found. Set KAGGLE_USERNAME and KAGGLE_KEY, or save "
    '{"username": ..., "key": ...} to ~/.kaggle/kaggle.json (chmod 600), or set '
    "KAGGLE_API_TOKEN (token from https://www.kaggle.com/settings/api)."
)


class KaggleError(GwkitError, RuntimeError):
    """A Kaggle API call failed; the message says why (one line)."""


def describe_error(exc: BaseException) -> str:
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


def _config_problem() -> str | None:
    """What is wrong with the client's ``kaggle.json``, if it exists and is malformed."""
    module = sys.modules.get("kaggle.api.kaggle_api_extended")
    config = getattr(getattr(module, "KaggleApi", None), "config", None)
    if not config or not Path(config).is_file():
        return None
    path = Path(config)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        why = " ".join(str(exc).split())
        return (f"Kaggle credentials file {path} is malformed ({why}); it must hold "
                '{"username": "...", "key": "..."}')
    if not isinstance(data, dict):
        kind = {list: "a list", str: "a string"}.get(type(data), type(data).__name__)
        return (f"Kaggle credentials file {path} is malformed (it holds {kind}, not an object); "
                'it must hold {"username": "...", "key": "..."}')
    missing = [k for k in ("username", "key") if not isinstance(data.get(k), str) or not data[k]]
    if missing:
        return (f"Kaggle credentials file {path} is malformed (no {' or '.join(missing)}); "
                'it must hold {"username": "...", "key": "..."}')
    return None


def _warnings(chatter: str) -> list[str]:
    """The client's warning lines (``Warning: ...``), once each, without the prefix."""
    found: dict[str, None] = {}  # the client reads kaggle.json, and warns, more than once
    for line in chatter.splitlines():
        text = " ".join(line.split())
        head, sep, rest = text.lstrip("⚠ ").partition(":")
        if sep and head.lower() == "warning" and rest.strip():
            found[rest.strip()] = None
    return list(found)


def kaggle_api(log: Callable[[str], None] | None = None) -> Any:
    """An authenticated ``kaggle.api.kaggle_api_extended.KaggleApi``.

    Imported lazily: the package authenticates (and prints help) at import. Its
    chatter is captured; missing credentials raise :class:`KaggleError` with
    :data:`CREDENTIALS_HELP`, a malformed ``kaggle.json`` says so. Its warnings
    (a ``kaggle.json`` readable by other users) go to ``log``, a ``print``-like
    callable (default: stderr), one ``warning: ...`` line each, once authenticated.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
            from kaggle.api.kaggle_api_extended import KaggleApi

            api = KaggleApi()
            api.authenticate()
    except SystemExit:
        raise KaggleError(_config_problem() or CREDENTIALS_HELP) from None
    except ImportError as exc:
        raise KaggleError(f"the kaggle package is not installed ({exc}); pip install kaggle") \
            from None
    except Exception as exc:  # network errors while checking an access token, bad config, ...
        why = _config_problem() or f"Kaggle authentication failed: {describe_error(exc)}"
        raise KaggleError(why) from None
    for warning in _warnings(chatter.getvalue()):  # after a failure the error line says it all
        log(f"warning: {warning}")
    return api


def submit(api: Any, file: Path, message: str, competition: str) -> Any:
    """Upload ``file``; return the API's response or raise :class:`KaggleError`."""
    try:
        response = api.competition_submit(str(file), message, competition, quiet=True)
    except Exception as exc:
        raise KaggleError(f"submission to {competition} failed: {describe_error(exc)}") from None
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
            raise KaggleError(f"listing submissions of {competition} failed: "
                              f"{describe_error(exc)}") from None
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
