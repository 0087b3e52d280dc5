"""Shared fixtures."""

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def small_bank(tmp_path_factory):
    """A 48-entry float64 waveform bank shared by the engine tests (built once, ~3 s)."""
    from gwkit.sim.bank import BankConfig, build_bank, load_bank

    path = build_bank(48, tmp_path_factory.mktemp("bank") / "bank.h5", seed=3,
                      config=BankConfig(dtype="float64"), workers=2, chunk=16)
    return load_bank(path)


def _whitened_noise(n: int, seed: int | np.random.Generator) -> np.ndarray:
    """(n, 2, N) float64 competition noise rows: the recipe's coloured noise, drawn row by row
    from ``seed`` (a seed, or a generator it advances), whitened as the competition did.

    Unit variance in the middle of each row, Tukey-tapered ends.
    """
    from gwkit.sim.competition_whitening import competition_whiten
    from gwkit.sim.generator import coloured_noise
    from gwkit.sim.recipe import Recipe

    r, rng = Recipe(), np.random.default_rng(seed)  # a Generator is used as it is
    return np.stack([competition_whiten(coloured_noise(rng, r.psd, r.nsamples, r.sample_rate),
                                        r.psd, r.sample_rate) for _ in range(n)])


@pytest.fixture(scope="session")
def whitened_noise():
    """:func:`_whitened_noise`: ``whitened_noise(n, seed)``, whitened competition noise rows."""
    return _whitened_noise


@pytest.fixture(scope="session")
def heavy_template_bank():
    """At most 12 IMRPhenomD templates over heavy binaries (components 20-60, total < 80 Msun),
    placed at min match 0.9: few templates, built in seconds."""
    from gwkit.sim.matched_filter import TemplateBank
    from gwkit.sim.recipe import MassPrior, Recipe

    return TemplateBank.build(12, min_match=0.9, seed=5, patience=30,
                              recipe=Recipe(masses=MassPrior(20.0, 80.0)))


def _channel0_share(source) -> float:
    """The share of the nominal network SNR in channel 0 of a competition-mode row, from LAL.

    Independent of the simulator's projection: the (2, 2) mode's polarisations have
    norms ``(1 + c^2) / 2`` and ``c`` (c: cosine of the angle handed to the waveform,
    cos(iota) in competition mode) and are in quadrature, so detector d's SNR is
    proportional to ``hypot(F+_d (1 + c^2) / 2, Fx_d c)``; channel 0 holds L1's share.
    """
    from gwkit.sim.detectors import antenna_patterns

    c = np.cos(source.waveform_inclination("competition"))
    amp = [np.hypot(fp * (1 + c * c) / 2, fc * c)
           for fp, fc in (antenna_patterns(source.ra, source.dec, source.psi, ifo)
                          for ifo in ("H1", "L1"))]
    return float(amp[1] / np.hypot(*amp))


@pytest.fixture(scope="session")
def channel0_share():
    """:func:`_channel0_share`: a source's expected share of the nominal SNR in channel 0."""
    return _channel0_share


@pytest.fixture(scope="session")
def channel0_share_of_prior() -> tuple[float, float]:
    """(mean, std) of :func:`_channel0_share` over 8,000 sources drawn from the recipe (~0.70, 0.125)."""
    from gwkit.sim.generator import draw_source
    from gwkit.sim.recipe import Recipe

    rng = np.random.default_rng(0)
    shares = [_channel0_share(draw_source(rng, Recipe())) for _ in range(8000)]
    return float(np.mean(shares)), float(np.std(shares))


#: SNR groups of :func:`synthetic_scores`' rows
SYNTHETIC_SNRS = (5.0, 10.0, 20.0)


def _synthetic_scores(n_per: int = 60, seed: int = 0) -> pd.DataFrame:
    """Noise rows spread over the SNR groups (as in the competition), signals louder with SNR."""
    rng = np.random.default_rng(seed)
    rows = []
    for snr in SYNTHETIC_SNRS:
        for i in range(n_per):
            target = i % 2
            rows.append({"target": target, "snr": snr, "waveform_id": (i // 4 if target else -1),
                         "logit": rng.normal(loc=0.15 * snr * target - 1.0)})
    df = pd.DataFrame(rows)
    df.insert(0, "id", np.arange(len(df)))
    df["score"] = 1 / (1 + np.exp(-df["logit"]))
    return df


@pytest.fixture
def synthetic_scores():
    """A labelled score table factory: noise over the SNR groups, signals louder with SNR."""
    return _synthetic_scores
