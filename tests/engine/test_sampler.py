import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from gwkit.data.inspection import excess_power
from gwkit.engine import Extrinsics, Sampler
from gwkit.sim.generator import Source, draw_source, plan_block, project, render_rows
from gwkit.sim.recipe import Recipe


def _extrinsics(sources) -> Extrinsics:
    """The extrinsic parameters of reference :class:`Source` objects, as engine tensors."""
    def col(name, dtype=torch.float64):
        return torch.tensor([getattr(s, name) for s in sources], dtype=dtype)
    return Extrinsics(col("inclination"), col("phase"), col("psi"), col("ra"), col("dec"),
                      col("peak_index", torch.long))


def _sources_on_bank(bank, recipe, n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        d = draw_source(rng, recipe)
        out.append(Source(bank.m1[k], bank.m2[k], d.inclination, d.phase, d.psi, d.ra, d.dec, d.peak_index))
    return out


@pytest.mark.parametrize("mode", ["competition", "physical"])
def test_projection_identities_match_the_reference(small_bank, mode):
    recipe = Recipe(mode=mode)
    sampler = Sampler(small_bank, mode=mode, dtype=torch.float64)
    sources = _sources_on_bank(small_bank, recipe, 8, seed=11)
    sb = sampler.project(torch.arange(8), _extrinsics(sources), with_strain=True)
    for k, src in enumerate(sources):
        ref = project(src, recipe)
        # per-detector SNR (projection + delay + window + SNR formula), channel SNR, fmin
        np.testing.assert_allclose(sb.snr_ifo[k].numpy(), [ref.snr_ifo["H1"], ref.snr_ifo["L1"]], rtol=1e-6)
        np.testing.assert_allclose(sb.snr_channel[k].numpy(), ref.snr_channel, rtol=1e-6, atol=1e-12)
        assert sb.fmin[k].item() == pytest.approx(ref.fmin, rel=1e-6)
        err = np.abs(sb.strain[k].numpy() - ref.strain).max() / np.abs(ref.strain).max()
        assert err < 1e-6  # the whole strain, end of the waveform included


@pytest.mark.parametrize("mode", ["competition", "physical"])
def test_whitened_batch_matches_reference_whitening(small_bank, mode):
    """The engine's whitened signal at unit network SNR is the reference's, amplitude included."""
    from gwkit.sim.competition_whitening import competition_whiten

    recipe = Recipe(mode=mode)
    sampler = Sampler(small_bank, mode=mode, dtype=torch.float64)
    src = _sources_on_bank(small_bank, recipe, 3, seed=5)
    sb = sampler.project(torch.arange(3), _extrinsics(src))
    for k, s in enumerate(src):
        ref_white = competition_whiten(project(s, recipe).strain, recipe.psd)  # (2, N), unit network SNR
        engine_white = torch.fft.irfft(sb.white_spectrum[k], n=recipe.nsamples).numpy()
        np.testing.assert_allclose(engine_white, ref_white, rtol=0,
                                   atol=1e-6 * np.abs(ref_white).max())


def _engine_signals(bank, mode, n, snr, seed):
    sampler = Sampler(bank, mode=mode)
    gen = torch.Generator().manual_seed(seed)
    b = sampler.sample(n, gen, y=torch.ones(n), snr=torch.full((n,), float(snr)))
    return b.x.numpy(), b.snr_channel.numpy()


def _reference_signals(mode, n, snr, seed):
    plan = plan_block(2 * n, nnoise=1, seed=seed, recipe=Recipe(mode=mode))
    rows = np.flatnonzero(plan.label)[:n]
    x, params = render_rows(plan, rows, snr)
    return x, params[["snr_ch0", "snr_ch1"]].to_numpy()


def _ks_pvalues(engine, reference) -> dict[str, float]:
    """KS p-value per statistic and channel of engine rows against reference rows.

    Statistics of the whitened data (std, max |x|, excess band power) and the
    realised SNR of each channel; channel 1 of a competition-mode row carries none.
    """
    (xe, snr_e), (xr, snr_r) = engine, reference
    stats = {
        "std": (xe.std(-1), xr.std(-1)),
        "max": (np.abs(xe).max(-1), np.abs(xr).max(-1)),
        "excess": (excess_power(xe), excess_power(xr)),
        "snr": (snr_e, snr_r),
    }
    return {f"{name} channel {ch}": ks_2samp(e[:, ch], r[:, ch]).pvalue
            for name, (e, r) in stats.items() for ch in range(2)
            if e[:, ch].any() or r[:, ch].any()}


@pytest.mark.parametrize("mode", ["competition", "physical"])
def test_engine_samples_are_distributed_like_the_reference(small_bank, mode,
                                                           channel0_share_of_prior):
    """Two-sample KS tests, 200 reference rows against 800 engine rows, at network SNR 12.

    The same comparison rejects an engine whose SNR is 10% off (p < 1e-5): the rows are
    enough to see an error of that size.
    """
    snr = 12.0
    reference = _reference_signals(mode, 200, snr, seed=2)
    engine = _engine_signals(small_bank, mode, 800, snr, seed=1)
    for name, p in _ks_pvalues(engine, reference).items():
        assert p > 1e-3, f"{mode} {name}: KS p = {p:.2g}"
    off = _ks_pvalues(_engine_signals(small_bank, mode, 800, 1.1 * snr, seed=1), reference)
    assert off["snr channel 0"] < 1e-5, f"{mode}: a 10% SNR error went unseen (p = {off})"
    snr_e = engine[1]
    if mode == "competition":  # the quirk: channel 0 carries rho_L1 / rho_network of nominal
        assert np.all(snr_e[:, 1] == 0) and np.all(reference[1][:, 1] == 0)
        mean, std = channel0_share_of_prior
        assert abs(snr_e[:, 0].mean() / snr - mean) < 4 * std / np.sqrt(len(snr_e))


def test_noise_batches_are_white_with_the_recipe_taper(small_bank):
    sampler = Sampler(small_bank)
    gen = torch.Generator().manual_seed(0)
    b = sampler.sample(64, gen, y=torch.zeros(64))
    x = b.x.numpy()
    assert b.x.dtype == torch.float32 and x.shape == (64, 2, 16384)
    tukey_rms = np.sqrt(1 - 5 / 64)  # sqrt(mean w^2) of the recipe's Tukey(1/8) window
    assert abs(x[..., 2048:-2048].std() - 1) < 0.01 and abs(x.std() - tukey_rms) < 0.002
    assert 0.1 < np.sqrt(np.mean(x[..., :8] ** 2)) < 0.3
    assert torch.all(b.snr == 0) and torch.all(b.waveform_id == -1) and torch.all(b.peak_index == -1)


def test_sampler_draws_only_allowed_ids_and_is_reproducible(small_bank):
    sampler = Sampler(small_bank, waveform_ids=[2, 5, 7], snr="uniform:5:6")
    a = sampler.sample(40, torch.Generator().manual_seed(9))
    b = sampler.sample(40, torch.Generator().manual_seed(9))
    assert torch.equal(a.x, b.x)
    ids = set(a.waveform_id[a.y == 1].tolist())
    assert ids and ids <= {2, 5, 7}
    sig = a.snr[a.y == 1]
    assert torch.all((sig >= 5) & (sig < 6))
    assert torch.all((a.peak_index[a.y == 1] >= 10240) & (a.peak_index[a.y == 1] < 11878))
    assert 0.2 < a.y.mean().item() < 0.8


def test_sampler_errors(small_bank):
    with pytest.raises(ValueError, match="waveform_ids"):
        Sampler(small_bank, waveform_ids=[100])
    with pytest.raises(ValueError, match="signal_fraction"):
        Sampler(small_bank, signal_fraction=2)
    with pytest.raises(ValueError, match="mode"):
        Sampler(small_bank, mode="nonsense")
