"""What is in a competition-style array: noise level and excess power per channel, duplicates.

:func:`inspect_array` builds the :class:`Report` that ``python -m gwkit.inspect``
prints: each channel's noise level, a per-channel excess-power statistic
(:func:`excess_power`) compared with pure noise simulated by the competition's
recipe (which channels carry signal, so which simulation mode matches), and
duplicate rows (exact, and rows sharing channel-1 noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gwkit.data.duplicates import duplicate_groups
from gwkit.sim.competition_whitening import competition_whiten
from gwkit.sim.generator import coloured_noise
from gwkit.sim.recipe import PEAK_RANGE, SAMPLE_RATE, Recipe

__all__ = ["FINDINGS", "ChannelReport", "Report", "excess_power", "inspect_array"]

BAND = (20.0, 500.0)  # Hz: where the competition's BBH signals have their power
# samples: every merger time (PEAK_RANGE) +- detector delays, with the ~2000 samples of
# chirp before the earliest merger (1.0 s to 1.5 s into the row)
SEARCH = (PEAK_RANGE[0] - 2048, PEAK_RANGE[1] + 410)
SMOOTH_S = 0.0625  # s: power averaged over ~ the last cycles before merger


def excess_power(x: np.ndarray, sample_rate: float = SAMPLE_RATE, batch: int = 256) -> np.ndarray:
    """Per row and channel: max over the merger window of band-passed power, smoothed.

    ``x`` is (N, 2, L) whitened strain; returns (N, 2). Noise gives a narrow
    distribution around ~1.3; a chirp in a channel pushes it up.
    """
    n, _, length = x.shape
    freqs = np.fft.rfftfreq(length, 1.0 / sample_rate)
    mask = (freqs >= BAND[0]) & (freqs <= BAND[1])
    width = int(SMOOTH_S * sample_rate)
    kernel = np.ones(width) / width
    out = np.empty((n, x.shape[1]))
    # the band keeps a fraction of unit white noise's power; normalise so noise sits near 1
    norm = mask.sum() / freqs.size
    for lo in range(0, n, batch):
        xb = np.asarray(x[lo : lo + batch], dtype=np.float64)
        band = np.fft.irfft(np.fft.rfft(xb, axis=-1) * mask, n=length, axis=-1)
        power = band[..., SEARCH[0] : SEARCH[1]] ** 2 / norm
        smooth = np.apply_along_axis(lambda p: np.convolve(p, kernel, mode="valid"), -1, power)
        out[lo : lo + batch] = smooth.max(axis=-1)
    return out


def _noise_reference(nrows: int, seed: int, recipe: Recipe) -> np.ndarray:
    rng = np.random.default_rng(seed)
    psd = recipe.psd
    noise = np.stack([coloured_noise(rng, psd, recipe.nsamples, recipe.sample_rate) for _ in range(nrows)])
    return excess_power(competition_whiten(noise, psd, recipe.sample_rate), recipe.sample_rate)


@dataclass
class ChannelReport:
    channel: int
    std_middle: float  # median over rows of the std of samples 2048..L-2048
    std_whole: float
    excess_median: float
    noise_excess_median: float
    fraction_above_noise_p99: float  # pure noise: 0.01
    carries_signal: bool


@dataclass
class Report:
    file: str
    shape: tuple[int, ...]
    dtype: str
    channels: list[ChannelReport]
    exact_duplicate_groups: list[list[int]]
    shared_channel1_groups: list[list[int]]
    suggested_mode: str  # the finding and what to run for it (FINDINGS)
    mode: str | None = None  # "competition", "physical", or None when undetermined

    def text(self) -> str:
        lines = [f"{self.file}: {self.shape[0]} rows x {self.shape[1]} channels x {self.shape[2]} "
                 f"samples, {self.dtype}"]
        lines.append("channel  std(mid)  std(all)  excess(median)  noise(median)  >noise p99  signal?")
        for c in self.channels:
            lines.append(f"{c.channel:>7}  {c.std_middle:8.3f}  {c.std_whole:8.3f}  {c.excess_median:14.3f}  "
                         f"{c.noise_excess_median:13.3f}  {c.fraction_above_noise_p99:10.3f}  "
                         f"{'yes' if c.carries_signal else 'no'}")
        dup = self.exact_duplicate_groups
        shared = self.shared_channel1_groups
        lines.append(f"exact duplicate rows: {sum(len(g) for g in dup)} in {len(dup)} groups"
                     + (f" (first: {dup[0][:6]})" if dup else ""))
        lines.append(f"rows sharing identical channel-1 noise: {sum(len(g) for g in shared)} in "
                     f"{len(shared)} groups" + (f" (first: {shared[0][:6]})" if shared else ""))
        lines.append(f"suggested simulation mode: {self.suggested_mode}")
        lines += [
            "columns: std(mid) / std(all): median per-row standard deviation in the middle "
            "(tapered ends excluded) / over the whole row (whitened noise: ~1.00 / ~0.96);",
            "  excess(median): median over rows of the peak band-passed power in the merger "
            "window (excess_power; noise ~1.3); noise(median): "
            "the same for simulated whitened noise;",
            "  >noise p99: share of rows above that noise's 99th percentile (noise alone: ~0.01); "
            "signal?: clearly more than 0.01, so the channel carries signals.",
        ]
        return "\n".join(lines)


#: which channels carry signal (channel 0, channel 1) -> (simulation mode or None, the finding
#: with what to run for it: the exact flags and preset, so the advice can be pasted)
FINDINGS: dict[tuple[bool, ...], tuple[str | None, str]] = {
    (True, False): ("competition", "competition (signal only in channel 0, as the course "
                    "generator's quirk): python -m gwkit.simulate --mode competition (the "
                    "default); train a competition-mode preset (e.g. --preset gwkit_resnet); "
                    "gwkit.scan puts L1 in channel 0"),
    (True, True): ("physical", "physical (both detectors carry signal): python -m gwkit.simulate "
                   "--mode physical; python -m gwkit.train --preset gwkit_resnet_phys (another "
                   "preset: --set mode=physical --set val_mode=physical); shipped weights "
                   "weights/gwkit_resnet_phys; gwkit.scan puts H1 in channel 0"),
    (False, False): (None, "undetermined: no channel shows excess power (noise only, or very "
                     "weak signals)"),
    (False, True): (None, "unusual: signal only in channel 1 (neither mode makes such data)"),
}


def inspect_array(x: np.ndarray, *, name: str = "<array>", noise_rows: int = 300, seed: int = 0,
                  recipe: Recipe = Recipe()) -> Report:
    """Build a :class:`Report` for whitened strain ``x`` (N, 2, L)."""
    n = x.shape[0]
    mid = slice(2048, x.shape[-1] - 2048)
    stat = excess_power(x, recipe.sample_rate)
    ref = _noise_reference(noise_rows, seed, recipe)
    channels = []
    for c in range(x.shape[1]):
        xc = np.asarray(x[:, c])
        p99 = np.quantile(ref[:, c], 0.99)
        frac = float(np.mean(stat[:, c] > p99))
        # signal if clearly more rows exceed noise's 99th percentile than the 1% noise gives
        threshold = 0.01 + 3 * np.sqrt(0.01 * 0.99 / n) + 0.01
        channels.append(ChannelReport(
            channel=c, std_middle=float(np.median(xc[:, mid].std(axis=-1))),
            std_whole=float(np.median(xc.std(axis=-1))), excess_median=float(np.median(stat[:, c])),
            noise_excess_median=float(np.median(ref[:, c])), fraction_above_noise_p99=frac,
            carries_signal=bool(frac > threshold),
        ))
    exact, shared = duplicate_groups(x)
    finding = FINDINGS.get(tuple(c.carries_signal for c in channels),
                           (None, f"undetermined: {len(channels)} channel(s), not 2"))
    return Report(str(name), tuple(int(s) for s in x.shape), str(x.dtype), channels, exact, shared,
                  finding[1], finding[0])
