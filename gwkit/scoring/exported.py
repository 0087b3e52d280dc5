"""Exported fold ensembles: one ONNX, TorchScript or torch.export file and its input contract.

:func:`export_runs` puts every fold checkpoint of the runs (front-ends
included) into one module, :class:`FoldMean`, whose output is one logit per
row: the mean over each run's folds, then over the runs, of the fold models'
detection logits (``gwkit.predict``'s default ``--ensemble logit``, without
TTA). It writes the module in one of :data:`FORMATS`, with its input contract
beside it as JSON (``<file>.json``: input shape, dtype, sample rate, channel
order, data mode, the output's meaning, the source checkpoints and their
SHA-256), then loads the written file back and checks its logits against the
checkpoints'. A run's stacker (the hybrid detector) is not part of the file:
the matched filter stays with ``gwkit.predict``.

:func:`load_exported` reads a file and its contract (SHA-256 and input length
checked) into an :class:`ExportedModel`, which :mod:`gwkit.scoring.inference`
scores like a checkpoint: ``--runs model.onnx`` in ``gwkit.predict``,
``gwkit.evaluate`` and ``gwkit.scan``.

An exported file is a program, not plain data like a checkpoint: TorchScript
and ``torch.export`` files carry their own graphs. Load files you made or trust.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

import gwkit
from gwkit.core.fileio import atomic_path, atomic_write, file_sha256
from gwkit.scoring.inference import (
    InferenceError,
    contract_path,
    ensemble,
    find_checkpoints,
    is_exported,
    load_detector,
    one_line,
    predict_logits,
)
from gwkit.scoring.stack import find_stacker
from gwkit.sim.recipe import NSAMPLES, SAMPLE_RATE, Recipe

__all__ = [
    "CONTRACT_FORMAT",
    "FORMATS",
    "SUFFIXES",
    "Contract",
    "ExportError",
    "ExportResult",
    "ExportedModel",
    "FoldMean",
    "export_runs",
    "load_exported",
]

ExportFormat = Literal["onnx", "torchscript", "pt2"]
FORMATS: tuple[str, ...] = ("onnx", "torchscript", "pt2")
#: File suffix of each format (TorchScript keeps torch.jit.save's usual ``.pt``).
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt", "pt2": ".pt2"}
CONTRACT_FORMAT = "gwkit.exported"
CONTRACT_VERSION = 1
#: Largest |logit| difference between the written file and the checkpoints that export accepts.
TOLERANCE = 1e-4
#: Random rows the written file is checked on (an odd count: not the export's example batch).
CHECK_ROWS = 3
_EXTRA = "pip install -e '.[export]'"
#: Model families whose computation a format cannot express: what computes with complex tensors.
_COMPLEX_TO_ONNX = {"spec2d": "its constant-Q transform", "spec2d_tiny": "its constant-Q transform",
                    "mfnet": "its matched filter"}


class ExportError(InferenceError):
    """A run that cannot be exported, or an exported file that cannot score the data (one line)."""


# --------------------------------------------------------------------------- the module


class FoldMean(nn.Module):
    """Weighted mean of fold models' detection logits: ``(B, 2, L) -> (B,)``.

    A one-output model gives its logit; a two-output model (noise, signal) the
    log-odds of class 1 over class 0, as :func:`gwkit.scoring.inference.predict_logits`.
    """

    def __init__(self, models: Sequence[nn.Module], weights: Sequence[float],
                 outputs: Sequence[int]) -> None:
        super().__init__()
        if not len(models) == len(weights) == len(outputs):
            raise ValueError("one weight and one output count per model")
        self.members = nn.ModuleList(models)
        self.register_buffer("weights", torch.tensor(list(weights), dtype=torch.float32))
        self.outputs = tuple(int(n) for n in outputs)

    def forward(self, strain: torch.Tensor) -> torch.Tensor:
        logits = []
        for model, n in zip(self.members, self.outputs):
            out = model(strain).flatten(1)
            logits.append(out[:, 0] if n == 1 else out[:, 1] - out[:, 0])
        return (torch.stack(logits, dim=-1) * self.weights).sum(dim=-1)


# --------------------------------------------------------------------------- the contract


@dataclass(frozen=True)
class Contract:
    """What an exported file takes and gives (the fields its loader checks), and its record."""

    file_format: str
    nsamples: int
    sample_rate: float
    mode: str
    channels: tuple[str, ...]
    folds: int
    sha256: str
    record: dict

    @classmethod
    def read(cls, path: str | os.PathLike) -> Contract:
        """The contract of exported file ``path``; ExportError when missing or malformed."""
        where = contract_path(path)
        if not where.is_file():
            raise ExportError(f"{path}: no contract {where.name} beside it (export models with "
                              "python -m gwkit.export, which writes both)")
        try:
            record = json.loads(where.read_text())
            if record.get("format") != CONTRACT_FORMAT:
                raise ValueError(f"no format={CONTRACT_FORMAT!r} entry")
            if record.get("version", 0) > CONTRACT_VERSION:
                raise ValueError(f"version {record['version']}; this gwkit reads up to "
                                 f"{CONTRACT_VERSION}")
            given = record["input"]
            return cls(record["file_format"], int(given["shape"][2]),
                       float(given["sample_rate_hz"]), given["mode"], tuple(given["channels"]),
                       sum(len(run["folds"]) for run in record["runs"]), record["sha256"], record)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ExportError(f"{where}: not a gwkit export contract ({one_line(exc)})") from None


def _contract_record(fmt: str, out: Path, nsamples: int, mode: str, runs: list[dict],
                     check: dict) -> dict:
    return {
        "format": CONTRACT_FORMAT,
        "version": CONTRACT_VERSION,
        "file": out.name,
        "file_format": fmt,
        "sha256": file_sha256(out),
        "input": {
            "name": "strain", "shape": ["batch", 2, nsamples], "dtype": "float32",
            "sample_rate_hz": SAMPLE_RATE, "mode": mode, "channels": list(Recipe(mode=mode).channels),
            "meaning": "whitened strain rows as in the competition's test.npy (batch, 2, "
                       "nsamples); channels: the detector per channel (competition mode: "
                       "channel 0 holds the L1 projection, the course's layout)",
        },
        "output": {
            "name": "logit", "shape": ["batch"], "dtype": "float32",
            "meaning": "one detection logit (log-odds of a signal) per row: the mean over each "
                       "run's folds, then over the runs, of the fold models' logits (gwkit."
                       "predict --ensemble logit --tta none --no-stack)",
        },
        "network_only": True,  # a run's stacker (hybrid detector) is never part of the file
        "stackers_left_out": [run["stacker"] for run in runs if run["stacker"]],
        "runs": runs,
        "check": check,
        "gwkit_version": gwkit.__version__,
        "torch_version": torch.__version__,
    }


# --------------------------------------------------------------------------- writing


def _write_onnx(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    try:
        import onnxscript  # noqa: F401 - torch's dynamo ONNX exporter needs it
    except ImportError:
        raise ExportError(f"ONNX export needs onnx and onnxscript ({_EXTRA})") from None
    batch = torch.export.Dim("batch")
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), str(path), input_names=["strain"],
                          output_names=["logit"], dynamic_shapes=({0: batch},), dynamo=True,
                          external_data=False, verbose=False)


def _write_torchscript(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():  # torch 2.14 marks torch.jit deprecated; it still works
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(module, (example,), check_trace=False)
        torch.jit.save(traced, str(path))


def _write_pt2(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    program = torch.export.export(module, (example,),
                                  dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, str(path))


_WRITERS: dict[str, Callable[[nn.Module, torch.Tensor, Path], None]] = {
    "onnx": _write_onnx, "torchscript": _write_torchscript, "pt2": _write_pt2}


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_runs` wrote and how well the file reproduces the checkpoints."""

    path: Path
    contract: Path
    folds: int
    models: tuple[str, ...]  # model names, one per distinct family
    mode: str
    nsamples: int
    stackers: tuple[str, ...]  # runs whose hybrid detector was left out (network only)
    max_difference: float  # max |logit| difference on the check rows


def _model_name(model: nn.Module) -> str:
    from gwkit.models import model_spec

    return model_spec(model)["name"]


def _members(runs: Sequence[str | os.PathLike], fmt: str) -> tuple[dict[str, list], str, int]:
    """The runs' fold checkpoints loaded, by run; their data mode and input length (checked)."""
    checkpoints = find_checkpoints(runs)
    if any(is_exported(ck.path) for ck in checkpoints):
        raise ExportError("export takes training runs or checkpoints, not exported files")
    per_run: dict[str, list] = {}
    for ck in checkpoints:
        det = load_detector(ck, "cpu")
        name = _model_name(det.model)
        if fmt == "onnx" and name in _COMPLEX_TO_ONNX:
            raise ExportError(f"cannot export {name} ({det.name}) to onnx: "
                              f"{_COMPLEX_TO_ONNX[name]} computes with complex tensors, which "
                              "torch's ONNX exporter does not convert; use --format torchscript "
                              "or pt2")
        per_run.setdefault(ck.run, []).append(det)
    dets = [det for members in per_run.values() for det in members]
    modes = sorted({det.mode for det in dets})
    lengths = sorted({det.input_length or NSAMPLES for det in dets})
    if len(modes) > 1 or len(lengths) > 1:
        raise ExportError(f"the runs mix data modes {modes} or input lengths {lengths}; "
                          "export one kind at a time")
    return per_run, modes[0], lengths[0]


def _write_checked(module: nn.Module, fmt: str, out: Path, rows: np.ndarray,
                   reference: np.ndarray) -> float:
    """Write ``module`` to ``out`` if the written file scores ``rows`` as ``reference`` does;
    the largest |logit| difference."""
    with atomic_path(out, suffix=SUFFIXES[fmt]) as tmp:  # torch.export.save wants .pt2
        try:
            with torch.no_grad():
                _WRITERS[fmt](module, torch.from_numpy(rows[:2].copy()), tmp)
        except ExportError:
            raise
        except Exception as exc:  # noqa: BLE001 - any exporter failure is one line
            raise ExportError(f"cannot export to {fmt}: {one_line(exc)[:300]}") from None
        with torch.inference_mode():
            got = _runner(fmt, tmp, "cpu")(torch.from_numpy(rows)).double().numpy()
        diff = float(np.max(np.abs(got - reference)))
        if not diff <= TOLERANCE:
            raise ExportError(f"the {fmt} file's logits differ from the checkpoints' by up to "
                              f"{diff:.3g} (tolerance {TOLERANCE:g}); nothing written")
    return diff


def _sources(per_run: dict[str, list]) -> list[dict]:
    """The contract's ``runs``: each run's folder, stacker (left out) and fold checkpoints."""
    out = []
    for run, dets in per_run.items():
        stacker = find_stacker(dets[0].checkpoint.run_dir)
        out.append({"run": run, "path": str(dets[0].checkpoint.run_dir.resolve()),
                    "stacker": str(stacker.resolve()) if stacker else None,
                    "folds": [{"fold": det.checkpoint.fold,
                               "path": str(det.checkpoint.path.resolve()),
                               "sha256": file_sha256(det.checkpoint.path),
                               "model": _model_name(det.model)} for det in dets]})
    return out


def export_runs(runs: Sequence[str | os.PathLike], fmt: ExportFormat, out: str | os.PathLike,
                *, seed: int = 0) -> ExportResult:
    """Write every fold checkpoint of ``runs`` as one ``fmt`` file at ``out`` with its contract.

    The file is checked before it replaces ``out``: its logits on
    :data:`CHECK_ROWS` rows of seeded white noise must equal the checkpoints'
    (:func:`gwkit.scoring.inference.predict_logits`, fold mean, then run mean)
    within :data:`TOLERANCE`. ExportError (one line) for a format that cannot
    express a model, runs that mix modes or input lengths, or a failed check.
    """
    if fmt not in FORMATS:
        raise ExportError(f"format must be one of {FORMATS}, got {fmt!r}")
    out = Path(out)
    per_run, mode, nsamples = _members(runs, fmt)
    dets = [det for members in per_run.values() for det in members]
    weights = [1.0 / (len(per_run) * len(members)) for members in per_run.values()
               for _ in members]
    module = FoldMean([d.model for d in dets], weights, [d.num_outputs for d in dets]).eval()
    rows = np.random.default_rng(seed).standard_normal((CHECK_ROWS, 2, nsamples))
    rows = rows.astype(np.float32)
    reference = ensemble([[predict_logits(d, rows, [(1.0, False)], CHECK_ROWS, "cpu")
                           for d in members] for members in per_run.values()], "logit")
    diff = _write_checked(module, fmt, out, rows, reference)
    sources = _sources(per_run)
    check = {"rows": CHECK_ROWS, "data": f"white noise, numpy seed {seed}",
             "max_abs_logit_difference": diff, "tolerance": TOLERANCE}
    with atomic_write(contract_path(out)) as fh:
        json.dump(_contract_record(fmt, out, nsamples, mode, sources, check), fh, indent=2)
        fh.write("\n")
    return ExportResult(out, contract_path(out), len(dets),
                        tuple(dict.fromkeys(_model_name(d.model) for d in dets)), mode, nsamples,
                        tuple(src["run"] for src in sources if src["stacker"]), diff)


# --------------------------------------------------------------------------- loading


def _onnx_runner(path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportError(f"{path}: running ONNX models needs onnxruntime ({_EXTRA})") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # the command's CPU thread choice
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(strain: torch.Tensor) -> torch.Tensor:
        data = np.ascontiguousarray(strain.detach().cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(session.run(None, {name: data})[0]).to(strain.device)

    return run


def _runner(fmt: str, path: Path, device: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """A callable ``(B, 2, L) float32 -> (B,)`` running the ``fmt`` file ``path`` on ``device``."""
    if fmt == "onnx":
        return _onnx_runner(path)
    if fmt == "torchscript":
        with warnings.catch_warnings():  # deprecated in torch 2.14, still supported
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(path), map_location=device).eval()
    if fmt == "pt2":
        return torch.export.load(str(path)).module().to(device)
    raise ExportError(f"{path}: unknown exported format {fmt!r}")


class ExportedModel:
    """An exported ensemble, called like a model: ``(B, 2, L)`` float tensor -> ``(B,)`` logits."""

    def __init__(self, path: Path, contract: Contract,
                 run: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.path = path
        self.contract = contract
        self._run = run

    def eval(self) -> ExportedModel:
        """No-op (an exported module is always in inference mode), for ``predict_logits``."""
        return self

    def __call__(self, strain: torch.Tensor) -> torch.Tensor:
        expected = (2, self.contract.nsamples)
        if strain.ndim != 3 or tuple(strain.shape[1:]) != expected:
            raise ExportError(f"{self.path} takes (batch, {expected[0]}, {expected[1]}) strain, "
                              f"got {tuple(strain.shape)}")
        return self._run(strain.float())


def load_exported(path: str | os.PathLike, device: Any = "cpu", *,
                  nsamples: int | None = None) -> ExportedModel:
    """The exported file ``path`` and its contract, ready to score on ``device``.

    ExportError (one line naming the file) when the contract is missing or
    malformed, the file's SHA-256 is not the contract's, ``nsamples`` (the
    data's samples per row) is not the contract's, or its runtime is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"no exported model at {path}")
    contract = Contract.read(path)
    if file_sha256(path) != contract.sha256:
        raise ExportError(f"{path}: its SHA-256 is not the one in {contract_path(path).name} "
                          "(the file was changed or replaced after export)")
    if nsamples is not None and nsamples != contract.nsamples:
        raise ExportError(f"{path} was exported for rows of {contract.nsamples} samples per "
                          f"detector, the data has {nsamples}")
    try:
        run = _runner(contract.file_format, path, device)
    except ExportError:
        raise
    except Exception as exc:  # noqa: BLE001 - a runtime's own error becomes one line
        raise ExportError(f"{path}: cannot load the {contract.file_format} file "
                          f"({one_line(exc)[:200]})") from None
    return ExportedModel(path, contract, run)
