"""python -m gwkit.scan: synthetic GWOSC files with an injection, time slides, GW150914."""

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from gwkit.scan import main
from gwkit.sim.generator import coloured_noise
from gwkit.sim.psd import design_psd
from gwkit.sim.recipe import PSD_FLOW
from gwkit.sim.waveforms import imrphenomd
from gwkit.strain.gwosc import StrainSeries, write_gwosc
from gwkit.strain.search import MERGER_OFFSET, MIN_HONEST_SLIDE_S, Whitened, scan

REPO = Path(__file__).resolve().parents[1]
GW150914 = ("H-H1_LOSC_4_V2-1126259446-32.hdf5", "L-L1_LOSC_4_V2-1126259446-32.hdf5")
GW150914_GPS = 1126259462.44
RESNET = REPO / "weights" / "gwkit_resnet"
RESNET_PHYS = REPO / "weights" / "gwkit_resnet_phys"
FS = 4096.0
T0, INJECTION = 1000000000.0, 1000000013.3  # GPS s: file start, merger of the injection


def _gw150914() -> list[str]:
    for folder in (REPO / "tests" / "data" / "gw150914", REPO / ".." / "shared" / "data" / "gw150914"):
        if all((folder / name).is_file() for name in GW150914):
            return [str(folder / name) for name in GW150914]
    pytest.skip("GW150914 files not found in tests/data/gw150914 or ../shared/data/gw150914")


@pytest.fixture(scope="module")
def injected(tmp_path_factory) -> list[str]:
    """H1 and L1 files: 24 s of design-PSD noise, a 36+29 Msun merger at SNR 20 in each."""
    folder = tmp_path_factory.mktemp("gwosc")
    nsamples = int(24 * FS)
    psd = design_psd(nsamples, FS, PSD_FLOW)
    hp, _, _ = imrphenomd(36.0, 29.0, sample_rate=FS, f_lower=20.0, min_length=4096)
    peak = int(np.argmax(np.abs(hp)))
    signal = np.zeros(nsamples)
    at = int(round((INJECTION - T0) * FS))
    signal[at - peak:at - peak + hp.size] = hp
    spectrum = np.fft.rfft(signal) / FS
    snr = np.sqrt(4 * np.sum(np.abs(spectrum[psd > 0]) ** 2 / psd[psd > 0]) * FS / nsamples)
    rng = np.random.default_rng(150914)
    paths = []
    for ifo in ("H1", "L1"):
        strain = coloured_noise(rng, psd, nsamples, FS, nchannels=1)[0] + signal * 20 / snr
        paths.append(str(write_gwosc(folder / f"{ifo[0]}-{ifo}_SIM-{T0:.0f}-24.hdf5",
                                     StrainSeries(ifo, strain, T0, FS))))
    return paths


def test_scan_finds_an_injection_and_writes_its_outputs(injected, tmp_path, capsys):
    out = tmp_path / "scan"
    assert main([*injected, "--runs", str(RESNET / "fold0.pt"), "--out", str(out),
                 "--reference-gps", str(INJECTION)]) == 0
    printed = capsys.readouterr().out
    assert "channels: 0 = L1, 1 = H1 (competition-mode order" in printed  # L1 in channel 0
    assert "background: off-source zero-lag windows (competition mode: its models" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["channels_from"].startswith("competition-mode order")
    assert summary["background"]["kind_from"] == "competition mode"
    assert summary["background"]["slides"] == 0 and summary["background"]["slide_step_s"] is None
    assert abs(summary["offset_s"]) < 0.1
    assert summary["loudest"]["score"] > summary["background"]["loudest_score"] + 5
    assert summary["background"]["kind"] == "offsource" and summary["far_is_upper_bound"]
    # 24 s - 4 s of whitening filter = 20 s: 181 windows, minus those within 1 s of the event
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 181 and list(scores.columns) == ["time", "window_start", "score"]
    np.testing.assert_allclose(scores["time"] - scores["window_start"], MERGER_OFFSET, atol=1e-6)
    background = pd.read_csv(out / "background.csv")
    assert summary["background"]["duration_s"] == pytest.approx(len(background) * 819 / 8192)
    assert (np.abs(background["time"] - INJECTION) > 1.0).all()
    for level in summary["whitening"]["noise_level"].values():
        assert level == pytest.approx(1.0, abs=0.05)
    triggers = pd.read_csv(out / "triggers.csv")
    assert triggers["score"].max() == summary["loudest"]["score"]
    assert (out / "scan.png").stat().st_size > 10_000


def test_hdf5_output_and_the_other_layout(injected, tmp_path):
    out = tmp_path / "scan"
    main([*injected, "--runs", str(RESNET / "fold0.pt"), "--out", str(out), "--format", "hdf5",
          "--channels", "H1,L1", "--no-plot", "--stride", "0.25"])
    with h5py.File(out / "scan.h5", "r") as f:
        summary = json.loads(f.attrs["summary"])
        assert set(f) == {"scores", "triggers", "background"}
        assert abs(f["triggers/time"][np.argmax(f["triggers/score"][()])] - INJECTION) < 0.15
        assert f["scores/score"].shape == f["scores/time"].shape == (73,)
    assert summary["channels"] == ["H1", "L1"] and not (out / "scores.csv").exists()
    assert summary["channels_from"] == "--channels"


def test_physical_models_get_h1_first_and_time_slides_without_flags(injected, tmp_path, capsys):
    out = tmp_path / "scan"
    assert main([*injected, "--runs", str(RESNET_PHYS / "fold0.pt"), "--out", str(out),
                 "--no-plot", "--slide-step", "0.1", "--slides", "2"]) == 0
    captured = capsys.readouterr()
    assert "physical mode; channels: 0 = H1, 1 = L1 (physical-mode order" in captured.out
    assert ("background: 2 time slides (physical mode): channel 1 (L1) shifted circularly by "
            "k x 0.09998 s, k = 1..2;") in captured.out
    assert f"shorter than {MIN_HONEST_SLIDE_S:.2f} s" in captured.err  # slides this close repeat
    summary = json.loads((out / "summary.json").read_text())
    assert summary["channels"] == ["H1", "L1"] and summary["mode"] == "physical"
    bg = summary["background"]
    assert bg["kind"] == "slides" and bg["kind_from"] == "physical mode" and bg["slides"] == 2
    assert bg["slide_step_s"] == pytest.approx(819 / 8192) and bg["shifted_channel"] == "L1"
    assert set(pd.read_csv(out / "background.csv")["slide"]) == {1, 2}
    with pytest.raises(SystemExit, match="slide_step=0.01 s is not a time slide"):
        main([*injected, "--runs", str(RESNET_PHYS / "fold0.pt"), "--out", str(out),
              "--no-plot", "--slide-step", "0.01"])


def test_cli_errors_are_one_line_and_name_the_file(injected, tmp_path):
    h1, l1 = injected
    late = StrainSeries("L1", np.random.default_rng(0).normal(size=int(24 * FS)) * 1e-21, T0 + 1,
                        FS)  # noise: constant strain is refused (no data)
    late_path = write_gwosc(tmp_path / "late.hdf5", late)
    with pytest.raises(SystemExit, match=r"gwkit.scan: .*H1_SIM.* and late\.hdf5 have different GPS start"):
        main([h1, str(late_path), "--runs", str(RESNET)])
    with pytest.raises(SystemExit, match=r"--channels V1,H1 does not match the files' detectors"):
        main([h1, l1, "--runs", str(RESNET), "--channels", "V1,H1"])
    with pytest.raises(SystemExit, match=r"gwkit.scan: .*nowhere does not exist"):
        main([h1, l1, "--runs", str(tmp_path / "nowhere")])


class _Loudest:
    """Stand-in model: the largest |sample| where the competition puts mergers, either channel."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def logits(self, x: np.ndarray) -> np.ndarray:
        return np.abs(x[:, :, 10240:11878]).max(axis=(1, 2))


def _white_with_bursts(bursts: dict[int, list[tuple[float, float]]]) -> Whitened:
    """20 s of white noise (2 channels, 8192 Hz) from GPS 1000, plus 10 ms bursts of given heights."""
    fs = 8192.0
    data = torch.randn(2, int(20 * fs), generator=torch.Generator().manual_seed(9),
                       dtype=torch.float64)
    for channel, items in bursts.items():
        for gps, height in items:
            i = int((gps - 1000.0) * fs)
            data[channel, i:i + 82] += height * torch.hann_window(82, dtype=torch.float64)
    return Whitened(("H1", "L1"), data, 1000.0, fs, (15.0, 4096.0), (1.0, 1.0))


def test_time_slides_keep_the_event_out_of_the_background():
    # a loud coincident event at 1008, and a quieter burst at 1004 in channel 0 only
    white = _white_with_bursts({0: [(1008.0, 40.0), (1004.0, 25.0)], 1: [(1008.0, 40.0)]})
    result = scan(_Loudest("physical"), white, slides=5, slide_step=1.0, threshold=8.0)
    assert result.background_kind == "slides"
    assert abs(result.loudest.time - 1008.0) < 0.1
    np.testing.assert_array_equal(np.unique(result.background["slide"]), [1, 2, 3, 4, 5])
    np.testing.assert_allclose(np.unique(result.background["shift"]), [1, 2, 3, 4, 5])
    # channel 1's copy of the event moves with every slide and is excluded all the same
    assert result.background_max < 30
    assert result.far_is_bound and result.far == pytest.approx(1 / result.background_duration)
    assert result.background_duration == pytest.approx(result.background["score"].size * 819 / 8192)
    # the channel-0 burst at 1004 is in every slide: five background clusters as loud as it
    quiet = [t for t in result.triggers if abs(t.time - 1004.0) < 0.2]
    (rate, bound), = [f for t, f in zip(result.triggers, result.trigger_far) if t in quiet]
    assert not bound and rate == pytest.approx(5 / result.background_duration)


def test_offsource_background_for_competition_mode_models():
    white = _white_with_bursts({0: [(1008.0, 40.0)]})
    result = scan(_Loudest("competition"), white, exclude=1.0)
    assert result.background_kind == "offsource"
    assert set(np.unique(result.background["shift"])) == {0.0}
    assert result.background_max < 10 and np.all(np.abs(result.background["time"] - 1008.0) > 1.0)
    with pytest.raises(ValueError, match="slides=99"):
        scan(_Loudest("physical"), white, slides=99)


def test_no_slide_comes_back_round_to_zero_lag():
    """Circular shifts: k * step is also nsamples - k * step the other way. 16 s + 1 ms of
    data hold 32.002 slides of 0.5 s: slide 32 would be a 1 ms shift, inside the light
    travel time. And a step within the light travel time is refused."""
    white = _white_with_bursts({})
    white = Whitened(white.ifos, white.data[:, :16 * 8192 + 8], white.t0, white.sample_rate,
                     white.band, white.level)
    result = scan(_Loudest("physical"), white, slide_step=0.5, exclude=0.5)
    shifts = np.unique(result.background["shift"])
    assert result.nslides == shifts.size == 31 and result.slide_step == 0.5
    assert np.minimum(shifts, white.data.shape[-1] / 8192 - shifts).min() >= 0.5
    with pytest.raises(ValueError, match="not a time slide"):
        scan(_Loudest("physical"), white, slide_step=0.01)


def test_gw150914_with_the_physical_model_beats_every_time_slide(tmp_path, capsys):
    """The shipped physical-mode weights, no flags: H1 in channel 0, time slides of L1 (here
    every 4 s, 6 slides, to keep the test short; the README's scan takes all 27 of 1 s)."""
    files = _gw150914()
    out = tmp_path / "gw150914"
    assert main([*files, "--runs", str(RESNET_PHYS), "--out", str(out), "--no-plot",
                 "--reference-gps", str(GW150914_GPS), "--slide-step", "4"]) == 0
    assert "warning" not in capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["channels"] == ["H1", "L1"] and summary["background"]["kind"] == "slides"
    assert summary["background"]["slides"] == 6
    assert abs(summary["offset_s"]) < 0.1
    background = pd.read_csv(out / "background.csv")
    assert set(background["slide"]) == set(range(1, 7))
    assert summary["loudest"]["score"] > background["score"].max() + 50
    assert summary["far_is_upper_bound"]


def test_gw150914_is_the_loudest_trigger(tmp_path):
    files = _gw150914()
    out = tmp_path / "gw150914"
    main([*files, "--runs", str(RESNET), "--out", str(out), "--no-plot",
          "--reference-gps", str(GW150914_GPS)])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["channels"] == ["L1", "H1"]
    assert abs(summary["offset_s"]) < 0.1
    assert summary["loudest"]["score"] > summary["background"]["loudest_score"]
    assert summary["background"]["duration_s"] > 20
    for level in summary["whitening"]["noise_level"].values():
        assert level == pytest.approx(1.0, abs=0.05)
