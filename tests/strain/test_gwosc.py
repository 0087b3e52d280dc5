"""gwkit.strain.gwosc: reading GWOSC files, their checks, resampling."""

from dataclasses import replace

import h5py
import numpy as np
import pytest

from gwkit.strain.gwosc import StrainSeries, check_coincident, read_gwosc, resample, write_gwosc

FS = 4096.0


def _series(ifo="H1", t0=1000.0, seconds=4, seed=0) -> StrainSeries:
    data = np.random.default_rng(seed).standard_normal(int(seconds * FS)) * 1e-21
    return StrainSeries(ifo, data, t0, FS, f"{ifo}.hdf5")


def test_round_trip(tmp_path):
    series = _series("L1", t0=1126259446.0)
    path = write_gwosc(tmp_path / "L1.hdf5", series)
    got = read_gwosc(path)
    assert (got.ifo, got.t0, got.sample_rate, got.source) == ("L1", 1126259446.0, FS, "L1.hdf5")
    np.testing.assert_array_equal(got.data, series.data)
    assert got.duration == 4.0 and got.times()[FS.__int__()] == 1126259447.0
    assert got.hardware_injections == ()


def test_gaps_and_flags_are_one_line_errors_naming_the_file(tmp_path):
    series = _series()
    gap = series.data.copy()
    gap[int(2.5 * FS):int(3 * FS)] = np.nan
    path = write_gwosc(tmp_path / "gap.hdf5", replace(series, data=gap))
    with pytest.raises(ValueError, match=r"gap\.hdf5: 2048 NaN/inf samples, first at GPS 1002\.500"):
        read_gwosc(path)
    dq = np.full(4, 127)
    dq[1] = 127 & ~0b10  # CBC_CAT1 off in the second second
    path = write_gwosc(tmp_path / "cat1.hdf5", series, dqmask=dq)
    with pytest.raises(ValueError, match=r"cat1\.hdf5: DQ flag CBC_CAT1 is off for 1 s, first at GPS 1001"):
        read_gwosc(path)
    assert read_gwosc(path, dq_flags=("DATA",)).nsamples == series.nsamples
    with pytest.raises(ValueError, match="DQ flag 'NOPE' not among"):
        read_gwosc(path, dq_flags=("NOPE",))
    inj = np.full(4, 31)
    inj[2] = 31 & ~0b1  # a CBC hardware injection
    assert read_gwosc(write_gwosc(tmp_path / "inj.hdf5", series, injmask=inj)).hardware_injections == ("CBC",)


def test_not_a_gwosc_file(tmp_path):
    (tmp_path / "text.hdf5").write_text("not hdf5")
    with pytest.raises(ValueError, match=r"text\.hdf5: not an HDF5 file"):
        read_gwosc(tmp_path / "text.hdf5")
    with h5py.File(tmp_path / "empty.hdf5", "w") as f:
        f["other"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"empty\.hdf5: no strain/Strain dataset"):
        read_gwosc(tmp_path / "empty.hdf5")
    with pytest.raises(ValueError, match=r"missing\.hdf5: no such file"):
        read_gwosc(tmp_path / "missing.hdf5")


@pytest.mark.parametrize(
    ("other", "message"),
    [
        (_series("H1", seed=1), r"H1\.hdf5 and H1\.hdf5 are both H1"),
        (_series("L1", t0=1001.0), r"different GPS start times \(s\): 1000\.0 and 1001\.0"),
        (_series("L1", seconds=3), r"different durations \(s\): 4\.0 and 3\.0"),
        (replace(_series("L1"), sample_rate=2 * FS), r"different sample rates \(Hz\): 4096\.0 and 8192\.0"),
    ],
)
def test_check_coincident(other, message):
    check_coincident([_series("H1"), _series("L1")])
    with pytest.raises(ValueError, match=message):
        check_coincident([_series("H1"), other])


def test_resample_to_the_models_rate():
    t = np.arange(int(8 * FS)) / FS
    series = StrainSeries("H1", np.sin(2 * np.pi * 100.25 * t), 0.0, FS)
    up = resample(series, 8192.0)
    assert up.sample_rate == 8192.0 and up.nsamples == 2 * series.nsamples and up.t0 == 0.0
    mid = slice(4096, -4096)  # away from the filter's edge effects
    np.testing.assert_allclose(up.data[mid], np.sin(2 * np.pi * 100.25 * up.times()[mid]), atol=1e-3)
    spectrum = np.abs(np.fft.rfft(up.data[mid] * np.hanning(up.data[mid].size)))
    freqs = np.fft.rfftfreq(up.data[mid].size, 1 / 8192.0)
    assert spectrum[freqs > 2100].max() < 1e-4 * spectrum.max()  # nothing above the old Nyquist
    assert resample(series, FS) is series
    with pytest.raises(ValueError, match="cannot resample 4096.0 Hz to 4096.5 Hz"):
        resample(series, 4096.5)


def test_reads_gw150914(gw150914):
    h1, l1 = (read_gwosc(p) for p in gw150914)
    assert (h1.ifo, l1.ifo) == ("H1", "L1")
    assert h1.t0 == l1.t0 == 1126259446.0 and h1.sample_rate == 4096.0 and h1.nsamples == 131072
    assert 1e-22 < h1.data.std() < 1e-17  # raw strain
    assert "CBC" not in h1.hardware_injections + l1.hardware_injections
    check_coincident([h1, l1])


# --------------------------------------------------------------------------- plausibility (issue 25)


def _edited(tmp_path, name: str, edit) -> str:
    """A GWOSC-style file ``name`` of 4 s of H1 noise at GPS 1000, changed by ``edit(f)``."""
    path = write_gwosc(tmp_path / name, _series("H1", t0=1000.0))
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def _replace(key, value):
    def edit(f):
        del f[key]
        f[key] = value
    return edit


@pytest.mark.parametrize("name, edit, message", [
    ("a.hdf5", lambda f: f["strain/Strain"].attrs.__setitem__("Xstart", np.nan),
     r"a\.hdf5: attribute Xstart of strain/Strain is nan, expected a finite number"),
    ("a.hdf5", lambda f: f["strain/Strain"].attrs.__setitem__("Xspacing", "fast"),
     r"attribute Xspacing of strain/Strain is 'fast', expected a finite number"),
    ("a.hdf5", _replace("meta/GPSstart", np.nan), r"a\.hdf5: meta/GPSstart is nan, the strain says 1000"),
    ("a.hdf5", _replace("meta/Duration", 32.0), r"meta/Duration is 32\.0, the strain says 4"),
    ("H-H1_X-1000-4.hdf5", _replace("meta/Detector", "L1"),
     r"H-H1_X-1000-4\.hdf5: the file name says detector H1, its meta/Detector says L1"),
    ("L-L1_X-1000-4.hdf5", lambda f: None, r"the file name says detector L1, its meta/Detector says H1"),
    ("H-H1_X-1010-4.hdf5", lambda f: None, r"the file name says GPS start 1010, the strain says 1000"),
    ("H-H1_X-1000-32.hdf5", lambda f: None, r"the file name says duration \(s\) 32, the strain says 4"),
    ("l1_strain.h5", lambda f: None, r"l1_strain\.h5: the file name says detector L1, its "
                                     r"meta/Detector says H1"),
])
def test_metadata_that_contradicts_the_strain_or_the_name_is_refused(tmp_path, name, edit, message):
    with pytest.raises(ValueError, match=message):
        read_gwosc(_edited(tmp_path, name, edit), dq_flags=())


def test_a_file_without_data_is_refused(tmp_path):
    path = write_gwosc(tmp_path / "H-H1_X-1000-4.hdf5", replace(_series(), data=np.zeros(4 * 4096)))
    with pytest.raises(ValueError, match=r"H-H1_X-1000-4\.hdf5: the strain is constant \(0\)"):
        read_gwosc(path)
    assert read_gwosc(write_gwosc(tmp_path / "H-H1_X-1000-4.hdf5", _series())).ifo == "H1"
