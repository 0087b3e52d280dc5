"""Submission CSVs: validate before writing or uploading, write atomically, record provenance.

A valid submission has the header exactly ``id,target``, one row per test
sample with exactly those two fields, integer ids ``0..N-1`` in file order
(written as integers: ``0``, not ``0.0``) and finite targets in ``[0, 1]``.

Provenance. :func:`write_submission` can record where a submission came from
(input file path, size and sha256, runs, folds, TTA, ensemble, ...) in a JSON
sidecar beside the CSV, ``<stem>.provenance.json`` (``submission.csv`` ->
``submission.provenance.json``), holding the CSV's own name and sha256 (and the
logits archive's), so a sidecar left by an earlier CSV is recognised as stale.
:func:`read_provenance` reads it back; :func:`input_problem` tells why the
recorded input is not shown to be the competition's ``test.npy``.

One submission, one set of files: the CSV, the logits archive
``<stem>.logits.npz`` and the sidecar (:func:`submission_outputs`) are replaced
together after all of them are written and the CSV reads back valid
(:func:`gwkit.core.outputs.replace_together`), the sidecar last: a write cut
short between the renames leaves a sidecar that does not match the CSV, which
``python -m gwkit.submit`` refuses.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gwkit.core.errors import GwkitError
from gwkit.core.fileio import file_sha256
from gwkit.core.outputs import replace_together

__all__ = [
    "logits_path",
    "COLUMNS",
    "PROVENANCE_FORMAT",
    "ProvenanceError",
    "SubmissionError",
    "file_sha256",
    "input_problem",
    "input_record",
    "provenance_path",
    "read_provenance",
    "submission_outputs",
    "validate_submission",
    "write_submission",
]

COLUMNS = ("id", "target")
PROVENANCE_FORMAT = "gwkit.scoring.submission-provenance"
PROVENANCE_VERSION = 1
_RESERVED = frozenset({"format", "version", "csv", "created", "logits_file"})
_INTEGER = re.compile(r"[0-9]+")
#: Files a simulated set has beside its test.npy (what ``python -m gwkit.simulate`` writes).
SIMULATION_MARKERS = ("labels.csv", "params.csv")


class SubmissionError(GwkitError, ValueError):
    """A submission CSV (or DataFrame) that Kaggle would reject or mis-score."""


class ProvenanceError(GwkitError, ValueError):
    """A provenance sidecar that cannot be read or describes another CSV."""


def _read_csv(path: Path) -> pd.DataFrame:
    """The CSV's rows as strings; SubmissionError unless every row has exactly id,target."""
    if not path.is_file():
        raise SubmissionError(f"{path}: no such submission file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SubmissionError(f"{path}: cannot read as a text CSV ({exc})") from exc
    if not text.strip():
        raise SubmissionError(f"{path}: file is empty (expected header 'id,target')")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise SubmissionError(f"{path}: cannot parse as CSV ({exc})") from exc
    header = text.splitlines()[0].strip()
    if header != ",".join(COLUMNS):
        raise SubmissionError(f"{path}: header must be exactly 'id,target', found {header!r}")
    while rows and not rows[-1]:  # blank lines at the end
        rows.pop()
    body = rows[1:]
    for i, row in enumerate(body):
        if len(row) != len(COLUMNS):
            raise SubmissionError(
                f"{path}: row {i} (line {i + 2}) has {len(row)} field(s), expected 2 (id,target): "
                f"{','.join(row)[:60]!r}"
            )
    return pd.DataFrame(body, columns=list(COLUMNS), dtype=str)


def _check_ids(name: str, ids: pd.Series) -> None:
    """SubmissionError unless ``ids`` (strings or integers) are the integers 0..n-1 in order."""
    text = ids.astype(str)
    for i, value in enumerate(text):
        if _INTEGER.fullmatch(value):
            continue
        try:
            float(value)
        except ValueError:
            raise SubmissionError(f"{name}: non-numeric id in row {i} ({ids.iloc[i]!r})") from None
        raise SubmissionError(
            f"{name}: ids must be integers written as integers ('0', not '0.0'); "
            f"row {i} has {ids.iloc[i]!r}"
        )
    values = text.astype(np.int64).to_numpy()
    wrong = np.flatnonzero(values != np.arange(len(values)))
    if wrong.size:
        i = wrong[0]
        raise SubmissionError(
            f"{name}: ids must be 0..{len(values) - 1} in file order; row {i} has id "
            f"{ids.iloc[i]!r}"
        )


def validate_submission(
    df_or_path: pd.DataFrame | str | os.PathLike, n_expected: int | None = None
) -> pd.DataFrame:
    """Check a submission; return it as a DataFrame (``id`` int64, ``target`` float64).

    ``n_expected`` is the number of test samples (rows required). Raises
    :class:`SubmissionError` naming the file (or "submission") and the problem.
    """
    if isinstance(df_or_path, pd.DataFrame):
        name = "submission"
        raw = df_or_path
        if tuple(str(c) for c in raw.columns) != COLUMNS:
            raise SubmissionError(
                f"{name}: columns must be exactly ['id', 'target'], found {list(raw.columns)}"
            )
    else:
        name = str(df_or_path)
        raw = _read_csv(Path(df_or_path))
    n = len(raw)
    if n == 0:
        raise SubmissionError(f"{name}: no rows (expected one row per test sample)")
    if n_expected is not None and n != n_expected:
        raise SubmissionError(f"{name}: {n} rows, expected {n_expected} (one per test sample)")

    _check_ids(name, raw["id"])

    target = pd.to_numeric(raw["target"], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(target))
    if bad.size:
        raise SubmissionError(
            f"{name}: target must be a finite number; row {bad[0]} has "
            f"{raw['target'].iloc[bad[0]]!r} ({bad.size} bad row(s))"
        )
    out = np.flatnonzero((target < 0) | (target > 1))
    if out.size:
        raise SubmissionError(
            f"{name}: target must lie in [0, 1]; row {out[0]} has {target[out[0]]!r} "
            f"({out.size} row(s) out of range)"
        )
    return pd.DataFrame({"id": np.arange(n, dtype=np.int64), "target": target})


def submission_outputs(path: str | os.PathLike, *, provenance: bool = True,
                       logits: bool = False) -> list[Path]:
    """The files :func:`write_submission` replaces, in the order it renames them.

    The CSV ``path``, the logits archive (with ``logits``), its provenance sidecar
    (with ``provenance``, which vouches for both) last. Check them before the work
    with :func:`gwkit.core.outputs.check_outputs`.
    """
    path = Path(path)
    return [path, *([logits_path(path)] if logits else []),
            *([provenance_path(path)] if provenance else [])]


def write_submission(
    path: str | os.PathLike,
    target: np.ndarray,
    n_expected: int | None = None,
    *,
    provenance: dict[str, Any] | None = None,
    logits: dict[str, np.ndarray] | None = None,
) -> Path:
    """Validate ``target`` (one per test sample) and write ``id,target``, all or nothing.

    Nothing is written when validation fails, so a good file already at
    ``path`` is never replaced by a bad one. With ``provenance`` (a JSON-able
    dict, e.g. ``{"input": input_record(test_npy), "runs": [...], "tta": "none"}``)
    the sidecar :func:`provenance_path` holds it plus the CSV's name, sha256 and
    row count; with ``logits`` (named arrays) the archive :func:`logits_path`
    is written too and its sha256 recorded. The files replace their targets
    together, once every one is written (:func:`submission_outputs`' order).
    """
    target = np.asarray(target, dtype=np.float64).reshape(-1)
    df = validate_submission(
        pd.DataFrame({"id": np.arange(target.size, dtype=np.int64), "target": target}),
        n_expected=n_expected,
    )
    path = Path(path)
    record = None if provenance is None else _provenance_json(provenance)
    outputs = submission_outputs(path, provenance=record is not None, logits=logits is not None)
    with replace_together(outputs) as staged:
        if logits is not None:
            np.savez(staged[logits_path(path)], **logits)
        tmp = staged[path]
        df.to_csv(tmp, index=False, float_format="%.17g")  # every digit: no ties made here
        validate_submission(tmp, n_expected=n_expected)  # the bytes on disk read back valid
        if record is not None:
            record["csv"] = {"name": path.name, "sha256": file_sha256(tmp), "rows": len(df)}
            if logits is not None:
                record["logits_file"] = {"name": logits_path(path).name,
                                         "sha256": file_sha256(staged[logits_path(path)])}
            staged[provenance_path(path)].write_text(json.dumps(record, indent=2) + "\n",
                                                     encoding="utf-8")
    return path


# --------------------------------------------------------------------------- provenance


def provenance_path(csv_path: str | os.PathLike) -> Path:
    """The provenance sidecar of a submission CSV: ``<stem>.provenance.json`` beside it."""
    csv_path = Path(csv_path)
    return csv_path.with_name(f"{csv_path.stem}.provenance.json")


def input_record(path: str | os.PathLike) -> dict[str, Any]:
    """What a provenance sidecar records about the input data file.

    ``{"path": absolute path, "size": bytes, "sha256": hex, "simulated": bool}``;
    ``simulated`` is True when a simulated set's ``labels.csv``/``params.csv``
    lies beside the file.
    """
    path = Path(path).resolve()
    return {"path": str(path), "size": path.stat().st_size, "sha256": file_sha256(path),
            "simulated": _simulation_marker(path) is not None}


def _simulation_marker(path: Path) -> Path | None:
    return next((path.parent / m for m in SIMULATION_MARKERS if (path.parent / m).is_file()),
                None)


def _provenance_json(provenance: dict[str, Any]) -> dict[str, Any]:
    """The sidecar's content (without ``csv``); ValueError for reserved keys or non-JSON values."""
    if not isinstance(provenance, dict):
        raise ValueError(f"provenance must be a dict, got {type(provenance).__name__}")
    clash = _RESERVED & provenance.keys()
    if clash:
        raise ValueError(f"provenance keys {sorted(clash)} are reserved")
    record = {"format": PROVENANCE_FORMAT, "version": PROVENANCE_VERSION,
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **provenance}
    try:
        return json.loads(json.dumps(record, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"provenance is not plain JSON data ({exc})") from None


def read_provenance(csv_path: str | os.PathLike) -> dict[str, Any] | None:
    """The provenance recorded for a submission CSV, or None when it has no sidecar.

    Raises :class:`ProvenanceError` (one line naming the sidecar and the check)
    when the sidecar is unreadable or malformed, or was written for another CSV
    (another name, or other bytes: stale).
    """
    csv_path = Path(csv_path)
    side = provenance_path(csv_path)
    if not side.exists() and not side.is_symlink():
        return None
    try:
        record = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ProvenanceError(f"provenance sidecar {side} is unreadable "
                              f"({' '.join(str(exc).split())})") from None
    if not isinstance(record, dict) or record.get("format") != PROVENANCE_FORMAT \
            or not isinstance(record.get("csv"), dict):
        raise ProvenanceError(f"provenance sidecar {side} is not a gwkit provenance file")
    if record.get("version") != PROVENANCE_VERSION:
        raise ProvenanceError(f"provenance sidecar {side} has version {record.get('version')!r}, "
                              f"this gwkit reads {PROVENANCE_VERSION}")
    name = record["csv"].get("name")
    if name != csv_path.name:
        raise ProvenanceError(f"provenance sidecar {side} is for another file ({name!r}), "
                              f"not {csv_path.name}")
    if record["csv"].get("sha256") != file_sha256(csv_path):
        raise ProvenanceError(f"provenance sidecar {side} is stale: it was written for other "
                              f"contents of {csv_path.name} (sha256 differs)")
    return record


def input_problem(record: dict[str, Any], reference: str | os.PathLike | None = None) -> str | None:
    """Why the input recorded in ``record`` is not shown to be the competition's test.npy, else None.

    Fails closed. Checks: the record names an input file with its sha256; no
    simulated set's ``labels.csv``/``params.csv`` lies beside it (when predicted,
    or now); a ``reference`` (the downloaded ``test.npy``) is given, is not itself
    a simulated set, and has the recorded sha256. None means every check passed.
    """
    source = record.get("input")
    if not isinstance(source, dict) or not isinstance(source.get("path"), str):
        return "the provenance records no input file"
    path = Path(source["path"])
    marker = _simulation_marker(path)
    if source.get("simulated") or marker is not None:
        beside = f"{marker.name} beside it" if marker is not None else \
            f"{' or '.join(SIMULATION_MARKERS)} beside it when predicted"
        return f"it was made from {path}, a simulated set ({beside}), not the competition's test.npy"
    recorded = source.get("sha256")
    if not (isinstance(recorded, str) and re.fullmatch(r"[0-9a-f]{64}", recorded)):
        return f"the provenance records no sha256 of its input {path}"
    if reference is None:
        return (f"no competition test.npy found to compare its input {path} with "
                "(pass --data PATH to the downloaded test.npy)")
    reference = Path(reference)
    if (ref_marker := _simulation_marker(reference)) is not None:
        return (f"the test.npy to compare with, {reference}, is a simulated set "
                f"({ref_marker.name} beside it), not the competition's")
    expected = file_sha256(reference)
    if recorded != expected:
        return (f"it was made from {path}, whose content differs from {reference} "
                f"(sha256 {recorded[:12]}... vs {expected[:12]}...), not the competition's "
                "test.npy")
    return None


def logits_path(csv_path: str | os.PathLike) -> Path:
    """The logits archive written beside a submission: ``<stem>.logits.npz``."""
    csv_path = Path(csv_path)
    return csv_path.with_name(f"{csv_path.stem}.logits.npz")
