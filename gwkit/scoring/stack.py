"""The hybrid detector: network logits and matched-filter features stacked into one logit.

A network trained on the source population approximates the likelihood
ratio averaged over that population (strong at low SNR); the matched filter
maximises over exact templates (sharp at mid SNR). They err on different
rows, so a small combiner fitted on held-out rows can beat both; where it does
not (measured: the Bayes factor alone matched the stack of the shipped ResNet),
:func:`fit_best_stacker` keeps the best single feature instead.

The combiner is a logistic regression on compressed, standardised features
(by default the network's logit and the matched filter's log Bayes factor
``mf_lse_time``, marginalised over templates with their prior weights and
over the merger time; see :func:`feature_table`), fitted on a run's
**out-of-fold validation rows** (what ``gwkit.train`` already holds out: no
row any fold model trained on), with its own cross-validation grouped by
waveform so that its CV estimate is honest too. It is stored as plain JSON
next to the run (``stacker.json``: feature names, standardisation,
coefficients, the CV table and the filter bank's file name and SHA-256),
never as a pickle, and applied with numpy: no scikit-learn or LALSuite at
inference. The filter bank (:class:`gwkit.sim.mf_features.FilterBank`, a few
MB) is shipped beside it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gwkit.core.errors import GwkitError, UnsafePathError
from gwkit.core.fileio import atomic_write, file_sha256, resolve_inside

__all__ = [
    "FILTER_BANK_FILE",
    "DEFAULT_FEATURES",
    "STACKER_FILE",
    "Stacker",
    "StackError",
    "compress",
    "feature_table",
    "find_stacker",
    "fit_stacker",
    "matched_filter_features",
    "needs_coherent",
    "stacked_logits",
    "stacker_bank",
]

STACKER_FILE = "stacker.json"
STACKER_FORMAT = 1
DEFAULT_FEATURES = ("logit", "mf_lse_time")
#: The two-detector statistics of physical mode (:data:`gwkit.sim.mf_features.PHYSICAL_FEATURES`,
#: named here too so that stackers load without torch): in :func:`feature_table` only when the
#: matched filter ran in physical mode.
PHYSICAL_FEATURES = ("mf_lse_delay", "mf_lse_coherent", "mf_lse_h1", "mf_lse_l1")
#: Columns :func:`feature_table` can make from a network logit and matched-filter features.
KNOWN_FEATURES = ("logit", "mf_snr", "mf_snr2", "mf_lse", "mf_lse_time", "mf_log_mchirp",
                  "mf_time", *PHYSICAL_FEATURES)


def needs_coherent(features: Sequence[str]) -> bool:
    """Whether stacking ``features`` needs the costly coherent statistic computed."""
    return "mf_lse_coherent" in features

#: the filter bank beside a run's stacker.json (copied into the run by ``gwkit.hybrid``)
FILTER_BANK_FILE = "mf_bank.h5"


class StackError(GwkitError, ValueError):
    """A stacker file or feature set that cannot be used; one line naming the file."""


#: Data layouts the matched filter runs in (:data:`gwkit.sim.recipe.Mode`).
MODES = ("competition", "physical")
#: Largest magnitude a stacker's numbers may have: fitted ones are O(1) to O(100); beyond
#: this the stacked logit overflows or a file was edited.
STACKER_LIMIT = 1e6
#: Smallest standardisation scale (a feature's spread); below it a feature is constant.
MIN_SCALE = 1e-9


def _numbers(values: Any, name: str, n: int) -> np.ndarray:
    """``values`` as ``n`` float64 numbers within +-:data:`STACKER_LIMIT`; StackError naming
    ``name`` and the first value that is text, missing, NaN, inf or huge."""
    items = values if isinstance(values, (list, tuple, np.ndarray)) else [values]
    if len(items) != n:
        raise StackError(f"{name} must be {n} number(s) (one per feature), found {values!r}")
    for item in items:
        number = isinstance(item, (int, float, np.integer, np.floating)) and not isinstance(
            item, (bool, np.bool_))
        if not number or not abs(float(item)) <= STACKER_LIMIT:
            raise StackError(f"{name} holds {item!r}; expected finite numbers within "
                             f"+-{STACKER_LIMIT:g}")
    return np.asarray(items, dtype=np.float64)


def feature_table(logit: np.ndarray | None, mf: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Every known stacking feature from a network ``logit`` (N,) and matched-filter features.

    ``mf`` is :meth:`gwkit.sim.mf_features.MatchedFilter.features`' output.
    ``mf_snr2`` is the squared peak SNR (the log-likelihood ratio of the best
    template is ``mf_snr2 / 2``), ``mf_log_mchirp`` the log chirp mass of the
    best template; physical mode adds :data:`PHYSICAL_FEATURES` (the
    delay-marginalised and the coherent two-detector statistics, each
    detector alone).
    """
    table = pd.DataFrame({
        "mf_snr": mf["mf_snr"], "mf_snr2": np.asarray(mf["mf_snr"]) ** 2,
        "mf_lse": mf["mf_lse"], "mf_lse_time": mf["mf_lse_time"],
        "mf_log_mchirp": np.log(mf["mf_mchirp"]), "mf_time": mf["mf_time"],
        **{name: mf[name] for name in PHYSICAL_FEATURES if name in mf},
    })
    if logit is not None:
        table.insert(0, "logit", np.asarray(logit, dtype=np.float64))
    return table


def compress(f: np.ndarray, scale: float) -> np.ndarray:
    """``scale * asinh(f / scale)``: the identity for ``|f| << scale``, logarithmic beyond.

    Log-likelihood ratios of loud signals reach hundreds; fitted raw, they
    bend a linear combiner away from the faint rows that decide the AUC.
    Strictly increasing and unbounded, so no two values tie.
    """
    if scale <= 0:
        return np.asarray(f, dtype=np.float64)
    return scale * np.arcsinh(np.asarray(f, dtype=np.float64) / scale)


@dataclass
class Stacker:
    """A fitted logistic regression: ``logit = intercept + coef . (g(f) - mean) / scale``.

    ``g`` is :func:`compress` with ``compression`` (0: none).
    """

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    compression: float = 10.0  # scale of the asinh compression of every feature (0: none)
    mode: str = "competition"  # data layout the matched filter runs in
    filter_bank: str = FILTER_BANK_FILE  # relative to the stacker file
    filter_bank_sha256: str = ""
    cv: dict = field(default_factory=dict)  # CV AUCs of the fit (stacked, network, filter)
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.features, str) or not isinstance(self.features, (list, tuple)):
            raise StackError(f"features must be a list of feature names, found {self.features!r}")
        self.features = tuple(self.features)
        unknown = [f for f in self.features if f not in KNOWN_FEATURES]
        if unknown:
            raise StackError(f"unknown stacking features {unknown}; known: {KNOWN_FEATURES}")
        for name in ("mean", "scale", "coef"):
            setattr(self, name, _numbers(getattr(self, name), name, len(self.features)))
        if not np.all(self.scale >= MIN_SCALE):
            raise StackError(f"scale must be >= {MIN_SCALE:g}, found {self.scale.tolist()}")
        self.intercept = float(_numbers([self.intercept], "intercept", 1)[0])
        self.compression = float(_numbers([self.compression], "compression", 1)[0])
        if self.compression < 0:
            raise StackError(f"compression must be >= 0 (0: none), found {self.compression}")
        if self.mode not in MODES:
            raise StackError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        for name in ("filter_bank", "filter_bank_sha256"):
            if not isinstance(getattr(self, name), str):
                raise StackError(f"{name} must be text, found {getattr(self, name)!r}")
        for name in ("cv", "info"):
            if not isinstance(getattr(self, name), dict):
                raise StackError(f"{name} must be a mapping, found {getattr(self, name)!r}")

    @property
    def uses_network(self) -> bool:
        return "logit" in self.features

    def decision(self, table: pd.DataFrame) -> np.ndarray:
        """Stacked logit (N,) of a :func:`feature_table`."""
        missing = [f for f in self.features if f not in table]
        if missing:
            raise StackError(f"features {missing} are missing")
        f = compress(table[list(self.features)].to_numpy(np.float64), self.compression)
        return self.intercept + ((f - self.mean) / self.scale) @ self.coef

    # ------------------------------------------------------------------ files

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(format="gwkit.stacker", version=STACKER_FORMAT, features=list(self.features),
                 mean=self.mean.tolist(), scale=self.scale.tolist(), coef=self.coef.tolist())
        return d

    def save(self, path: str | os.PathLike) -> Path:
        """Write JSON atomically."""
        path = Path(path)
        with atomic_write(path) as fh:
            json.dump(self.to_dict(), fh, indent=2)
            fh.write("\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Stacker:
        """Read a stacker written by :meth:`save`; StackError naming the file otherwise."""
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StackError(f"{path}: not a readable stacker JSON ({exc})") from None
        if not isinstance(d, dict) or d.get("format") != "gwkit.stacker":
            raise StackError(f"{path}: not a gwkit stacker (no format='gwkit.stacker')")
        if d.get("version") != STACKER_FORMAT:
            raise StackError(f"{path}: stacker version {d.get('version')!r}, this gwkit reads "
                             f"{STACKER_FORMAT}")
        fields = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        missing = [k for k in ("features", "mean", "scale", "coef", "intercept") if k not in d]
        if missing:
            raise StackError(f"{path}: a stacker needs {', '.join(missing)}; refit it with "
                             "python -m gwkit.hybrid")
        try:
            return cls(**fields)
        except (TypeError, ValueError) as exc:
            raise StackError(f"{path}: {exc}") from None

    def bank_path(self, stacker_path: str | os.PathLike) -> Path:
        """The filter bank file inside the stacker's folder, checked against the recorded SHA-256.

        StackError unless ``filter_bank`` is a relative name that stays inside the
        folder (no absolute path, ``..`` or link out of it) and ``filter_bank_sha256``
        holds the 64 hex digits that ``gwkit.hybrid`` records.
        """
        try:
            path = resolve_inside(Path(stacker_path).parent, self.filter_bank,
                                  source=f"{stacker_path} (filter_bank)")
        except UnsafePathError as exc:
            raise StackError(str(exc)) from None
        if not (isinstance(self.filter_bank_sha256, str)
                and re.fullmatch(r"[0-9a-f]{64}", self.filter_bank_sha256)):
            raise StackError(f"{stacker_path}: filter_bank_sha256 must be the 64 hex digits of "
                             f"the bank's SHA-256, found {self.filter_bank_sha256!r} (refit with "
                             "python -m gwkit.hybrid)")
        if not path.is_file():
            raise StackError(f"{stacker_path}: its filter bank {path} is missing")
        if file_sha256(path) != self.filter_bank_sha256:
            raise StackError(f"{path}: content differs from the bank {stacker_path} was fitted "
                             "with (SHA-256 mismatch)")
        return path


# ----------------------------------------------------------------------------- fitting


def _fit_logistic(f: np.ndarray, y: np.ndarray, c: float):
    from sklearn.linear_model import LogisticRegression

    mean, scale = f.mean(0), f.std(0)
    scale = np.where(scale >= MIN_SCALE, scale, 1.0)  # a constant feature: any scale
    model = LogisticRegression(C=c, max_iter=2000).fit((f - mean) / scale, y)
    return mean, scale, model.coef_[0].astype(np.float64), float(model.intercept_[0])


def fit_stacker(
    table: pd.DataFrame,
    y: np.ndarray,
    groups: np.ndarray,
    features: Sequence[str] = DEFAULT_FEATURES,
    *,
    n_splits: int = 5,
    seed: int = 0,
    c: float = 1.0,
    compression: float = 10.0,
    snr_group: np.ndarray | None = None,
) -> tuple[Stacker, np.ndarray]:
    """Fit the combiner on all rows; returns it and its out-of-fold stacked logits.

    ``groups``: rows of one group stay in one CV fold (:func:`gwkit.data.folds.row_groups`).
    The stacker's ``cv`` records the pooled CV AUC of the stacked logit and of
    each input feature alone on the same rows (and per SNR group when
    ``snr_group`` is given).
    """
    from sklearn.model_selection import StratifiedGroupKFold

    from gwkit.core.metrics import per_snr_auc, roc_auc

    features = tuple(features)
    missing = [f for f in features if f not in table]
    if missing:
        raise StackError(f"features {missing} not in the table ({list(table.columns)})")
    y = np.asarray(y).astype(int)
    f = compress(table[list(features)].to_numpy(np.float64), compression)
    if not np.all(np.isfinite(f)):
        raise StackError("stacking features hold NaN or inf")
    for label, what in ((1, "signal rows"), (0, "noise rows")):  # as StratifiedGroupKFold asks
        count = int(np.sum(y == label))
        if count < n_splits:
            raise StackError(f"the held-out rows hold {count} {what}, fewer than the stacker's "
                             f"{n_splits} CV folds; validate on more rows (val_per_snr)")
    oof = np.zeros(y.size)
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for train, test in splitter.split(f, y, groups):
        mean, scale, coef, intercept = _fit_logistic(f[train], y[train], c)
        oof[test] = intercept + ((f[test] - mean) / scale) @ coef
    mean, scale, coef, intercept = _fit_logistic(f, y, c)
    cv = {"rows": int(y.size), "n_splits": n_splits, "seed": seed,
          "auc": {"stacked": roc_auc(y, oof), **{k: roc_auc(y, table[k]) for k in features}}}
    if snr_group is not None:
        cv["per_snr_auc"] = {name: {f"{s:g}": a for s, a in per_snr_auc(y, score, snr_group).items()}
                             for name, score in (("stacked", oof), *((k, table[k].to_numpy())
                                                                     for k in features))}
    stacker = Stacker(features, mean, scale, coef, intercept, compression, cv=cv,
                      info={"model": "logistic_regression", "C": c})
    return stacker, oof


def fit_best_stacker(table: pd.DataFrame, y: np.ndarray, groups: np.ndarray,
                     features: Sequence[str] = DEFAULT_FEATURES, **kwargs: Any,
                     ) -> tuple[Stacker, np.ndarray, str]:
    """:func:`fit_stacker` on ``features``, unless one feature alone has the higher CV AUC.

    A stacker never ships worse than its best input: when a single feature's
    AUC on the same rows beats the stacked out-of-fold AUC, the stacker is
    refitted on that feature alone (a monotone map of it: its AUC, calibrated).
    Returns the stacker, its out-of-fold logits and a line saying what was chosen.
    """
    stacker, oof = fit_stacker(table, y, groups, features, **kwargs)
    auc = stacker.cv["auc"]
    best = max(features, key=lambda k: auc[k])
    if len(features) < 2 or auc["stacked"] >= auc[best]:
        return stacker, oof, (f"kept the stack of {', '.join(features)}: CV AUC "
                              f"{auc['stacked']:.4f} >= best single feature {best} {auc[best]:.4f}")
    alone, oof = fit_stacker(table, y, groups, (best,), **kwargs)
    alone.cv["rejected_stack"] = {"features": list(features), "auc": dict(auc)}
    return alone, oof, (f"stacked CV AUC {auc['stacked']:.4f} < {best} alone {auc[best]:.4f}: "
                        f"the stacker uses {best} alone")


# ----------------------------------------------------------------------------- applying


def find_stacker(run_dir: str | os.PathLike) -> Path | None:
    """``<run_dir>/stacker.json`` when it exists."""
    path = Path(run_dir) / STACKER_FILE
    return path if path.is_file() else None


def stacker_bank(stackers: Mapping[str, Path]) -> Path | None:
    """The (checked) filter bank of the first of ``stackers`` (``{run: stacker.json}``), or None."""
    for path in stackers.values():
        return Stacker.load(path).bank_path(path)
    return None


def matched_filter_features(bank_path: str | os.PathLike, x: np.ndarray, *, mode: str,
                            device: Any = "cpu", batch: int = 32, progress: bool = False,
                            coherent: bool = False, amplitudes: np.ndarray | None = None
                            ) -> dict[str, np.ndarray]:
    """:class:`gwkit.sim.mf_features.MatchedFilter` features of ``x`` (N, C, L) with a bank file.

    ``coherent``: also ``mf_lse_coherent`` (physical mode; 1.8-3x the filter's cost);
    ``amplitudes``: also ``mf_lse_amplitude`` (competition mode).
    """
    from gwkit.sim.mf_features import FilterBank, FilterBankError, MatchedFilter

    try:
        bank = FilterBank.load(bank_path)
    except FilterBankError as exc:
        raise StackError(str(exc)) from None
    if x.shape[-1] != bank.nsamples:
        raise StackError(f"{bank_path}: the filters are for rows of {bank.nsamples} samples, "
                         f"the data has {x.shape[-1]}")
    matched = MatchedFilter(bank, mode=mode, coherent=coherent, amplitudes=amplitudes)
    return matched.to(device).features(x, batch=batch, progress=progress)


def stacked_logits(
    stackers: Mapping[str, Path],
    network: Mapping[str, np.ndarray],
    x: np.ndarray,
    *,
    device: Any = "cpu",
    batch: int = 32,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """The hybrid logit of each run in ``stackers`` (``{run: stacker.json path}``).

    ``network``: each run's network logit (N,) (the fold ensemble). The
    matched filter runs once per distinct (filter bank, mode, coherent statistic needed).
    """
    features: dict[tuple[str, str, bool], dict[str, np.ndarray]] = {}
    out = {}
    for run, path in stackers.items():
        stacker = Stacker.load(path)
        bank = stacker.bank_path(path)
        coherent = needs_coherent(stacker.features)
        key = (str(bank.resolve()), stacker.mode, coherent)
        if key not in features:
            features[key] = matched_filter_features(bank, x, mode=stacker.mode, device=device,
                                                    batch=batch, progress=progress,
                                                    coherent=coherent)
        logit = network.get(run)
        if stacker.uses_network and logit is None:
            raise StackError(f"{path}: needs the network logits of run {run}")
        out[run] = stacker.decision(feature_table(logit, features[key]))
    return out
