import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from gwkit.engine import Extrinsics, Sampler
from gwkit.inspect import excess_power
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


def test_whitened_batch_matches_reference_whitening(small_bank):
    sampler = Sampler(small_bank, dtype=torch.float64)
    src = _sources_on_bank(small_bank, Recipe(), 1, seed=5)
    sb = sampler.project(torch.arange(1), _extrinsics(src), with_strain=True)
    from gwkit.sim.whiten import whiten

    ref_white = whiten(sb.strain[0].numpy(), Recipe().psd)
    engine_white = torch.fft.irfft(sb.white_spectrum[0], n=16384).numpy() * sampler._filter_scale
    # the engine's spectra are in normalised units: same shape up to the filter scale
    np.testing.assert_allclose(engine_white / sampler._filter_scale, ref_white / sampler._filter_scale
                               * (engine_white.std() / ref_white.std()), atol=1e-9)


def _engine_signals(bank, mode, n, snr, seed):
    sampler = Sampler(bank, mode=mode, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    b = sampler.sample(n, gen, y=torch.ones(n), snr=torch.full((n,), float(snr)))
    return b.x.numpy(), b.snr_channel.numpy()


def _reference_signals(mode, n, snr, seed):
    plan = plan_block(2 * n, nnoise=1, seed=seed, recipe=Recipe(mode=mode))
    rows = np.flatnonzero(plan.target)[:n]
    x, params = render_rows(plan, rows, snr)
    return x, params[["snr_ch0", "snr_ch1"]].to_numpy()


@pytest.mark.parametrize("mode", ["competition", "physical"])
def test_engine_samples_are_distributed_like_the_reference(small_bank, mode):
    n, snr = 48, 12.0
    xe, snr_e = _engine_signals(small_bank, mode, 160, snr, seed=1)
    xr, snr_r = _reference_signals(mode, n, snr, seed=2)
    stats = {
        "std": (xe.std(-1), xr.std(-1)),
        "max": (np.abs(xe).max(-1), np.abs(xr).max(-1)),
        "excess": (excess_power(xe), excess_power(xr)),
        "snr": (snr_e, snr_r),
    }
    for name, (e, r) in stats.items():
        for ch in range(2):
            if name == "snr" and mode == "competition" and ch == 1:
                assert np.all(e[:, 1] == 0) and np.all(r[:, 1] == 0)
                continue
            p = ks_2samp(e[:, ch], r[:, ch]).pvalue
            assert p > 1e-3, f"{mode} {name} channel {ch}: KS p = {p:.2g}"
    if mode == "competition":  # the quirk: channel 0 carries 0.69 of nominal on average
        assert 0.55 < snr_e[:, 0].mean() / snr < 0.8


def test_noise_batches_are_white_with_the_recipe_taper(small_bank):
    sampler = Sampler(small_bank)
    gen = torch.Generator().manual_seed(0)
    b = sampler.sample(64, gen, y=torch.zeros(64))
    x = b.x.numpy()
    assert b.x.dtype == torch.float32 and x.shape == (64, 2, 16384)
    assert abs(x[..., 2048:-2048].std() - 1) < 0.01 and abs(x.std() - 0.96) < 0.01
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
