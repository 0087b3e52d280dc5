"""Competition file I/O: test.npy, safe .sav unpickling, gwkit HDF5, validation."""

from __future__ import annotations

import builtins
import os
import pickle
import pickletools
import struct

import h5py
import numpy as np
import pandas as pd
import pytest

from gwkit.data import (
    NSAMPLES,
    CompetitionData,
    DataError,
    competition,
    load_competition_file,
    load_hdf5,
    load_sav_block,
    load_sav_params,
    load_test_npy,
    validate_strain,
    write_hdf5,
)


def strain(n: int = 3, *, dtype=np.float64, seed: int = 0) -> np.ndarray:
    """Whitened-noise stand-in of shape (n, 2, NSAMPLES)."""
    return np.random.default_rng(seed).standard_normal((n, 2, NSAMPLES)).astype(dtype)


def dump(obj, path, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=protocol)


def truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


# --------------------------------------------------------------------------- test.npy


@pytest.mark.parametrize("stored", ["competition", "flat"])
@pytest.mark.parametrize("layout", ["competition", "flat"])
@pytest.mark.parametrize("mmap", [False, True])
def test_npy_round_trip_layouts(tmp_path, stored, layout, mmap):
    x = strain()
    path = tmp_path / "test.npy"
    np.save(path, x[:, None] if stored == "competition" else x)
    out = load_test_npy(path, layout=layout, mmap=mmap)
    expected_shape = (3, 1, 2, NSAMPLES) if layout == "competition" else (3, 2, NSAMPLES)
    assert out.shape == expected_shape
    np.testing.assert_array_equal(out.reshape(3, 2, NSAMPLES), x)
    assert isinstance(out, np.memmap) == mmap


def test_npy_memory_mapped_above_threshold(tmp_path, monkeypatch):
    path = tmp_path / "test.npy"
    np.save(path, strain()[:, None])
    assert not isinstance(load_test_npy(path), np.memmap)
    monkeypatch.setattr(competition, "MMAP_THRESHOLD_BYTES", 1024)
    out = load_test_npy(path)
    assert isinstance(out, np.memmap)
    assert not out.flags.writeable
    assert not isinstance(load_test_npy(path, mmap=False), np.memmap)


def test_npy_finiteness_checked_in_chunks(tmp_path, monkeypatch):
    x = strain(5)
    x[3, 1, 100] = np.nan
    path = tmp_path / "test.npy"
    np.save(path, x)
    monkeypatch.setattr(competition, "_FINITE_CHUNK_BYTES", 1)  # one sample per chunk
    with pytest.raises(DataError, match=r"test\.npy: expected finite.*rows 3"):
        load_test_npy(path, mmap=True)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (strain()[..., :16000], "expected 16384 samples per detector, found 16000"),
        (np.zeros((3, 3, NSAMPLES)), "expected 2 detectors"),
        (np.zeros((3, 2, 1, NSAMPLES)), "with 1 on axis 1"),
        (np.zeros((2, NSAMPLES)), "expected shape"),
        (
            np.zeros((3, 2, NSAMPLES), dtype=np.int64),
            "expected floating-point strain, found dtype int64",
        ),
        (np.zeros((0, 2, NSAMPLES)), "expected at least one sample"),
        (np.full((2, 2, NSAMPLES), np.inf), "expected finite"),
    ],
    ids=["length", "detectors", "axis1", "ndim", "int", "empty", "inf"],
)
def test_npy_rejects_bad_content(tmp_path, array, message):
    path = tmp_path / "test.npy"
    np.save(path, array)
    with pytest.raises(DataError, match=message) as info:
        load_test_npy(path)
    assert str(path) in str(info.value)


def test_npy_rejects_nan(tmp_path):
    x = strain()
    x[1, 0, 5] = np.nan
    path = tmp_path / "test.npy"
    np.save(path, x)
    with pytest.raises(
        DataError, match=r"test\.npy: expected finite strain, found NaN or inf in 1 sample"
    ):
        load_test_npy(path)


@pytest.mark.parametrize("mmap", [False, True])
def test_npy_truncated(tmp_path, mmap):
    path = tmp_path / "test.npy"
    np.save(path, strain())
    truncate(path)
    with pytest.raises(DataError, match=r"test\.npy: cannot read"):
        load_test_npy(path, mmap=mmap)


@pytest.mark.parametrize("mmap", [None, False, True])
def test_npy_header_claiming_more_data_than_the_file_holds(tmp_path, mmap):
    """Issue 14: such a header made np.load try to allocate terabytes (a MemoryError traceback)."""
    import io

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**7, 1, 2, NSAMPLES)})
    path = tmp_path / "test.npy"
    path.write_bytes(header.getvalue() + bytes(64))
    with pytest.raises(DataError, match=r"test\.npy: cannot read .*header claims shape "
                                         r"\(10000000, 1, 2, 16384\).* file holds 64 bytes"):
        load_test_npy(path, mmap=mmap)


@pytest.mark.parametrize("content, message", [
    (b"", "EOF"),
    (None, r"\.npz \(zip\) archive"),
])
def test_npy_empty_file_and_npz(tmp_path, content, message):
    path = tmp_path / "test.npy"
    if content is None:
        np.savez(tmp_path / "x.npz", a=strain(1))
        os.replace(tmp_path / "x.npz", path)
    else:
        path.write_bytes(content)
    with pytest.raises(DataError, match=r"test\.npy: cannot read as a \.npy array.*" + message):
        competition.npy_header(path)


def test_npy_never_unpickles(tmp_path):
    path = tmp_path / "test.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"test\.npy: cannot read"):
        load_test_npy(path)


def test_npy_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npy"):
        load_test_npy(tmp_path / "nope.npy")


def test_npy_bad_layout(tmp_path):
    with pytest.raises(ValueError, match="layout"):
        load_test_npy(tmp_path / "test.npy", layout="nchw")


def test_validate_strain_message_names_source():
    with pytest.raises(
        DataError, match=r"^test\.npy: expected 16384 samples per detector, found 16000$"
    ):
        validate_strain(np.zeros((1, 2, 16000)), "test.npy")
    assert validate_strain(np.zeros((1, 2, 10)), "x", nsamples=None).shape == (1, 2, 10)
    with pytest.raises(DataError, match="x: expected a numpy array"):
        validate_strain([[0.0]], "x")


# --------------------------------------------------------------------------- .sav


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_sav_round_trip(tmp_path, protocol):
    x, y = strain(4), np.array([0, 1, 1, 0])
    path = tmp_path / "train_ts_0.sav"
    dump([x, y], path, protocol)
    x_out, y_out = load_sav_block(path)
    np.testing.assert_array_equal(x_out, x)
    np.testing.assert_array_equal(y_out, y)
    assert x_out.dtype == np.float64 and y_out.dtype == np.int64


class _Py2Pickler(pickle._Pickler):
    """Writes bytes as Python-2 ``str`` (BINSTRING), as Python 2 numpy pickles do."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def test_sav_python2_pickle(tmp_path):
    x, y = strain(2), np.array([1, 0])
    path = tmp_path / "old_ts_0.sav"
    with open(path, "wb") as fh:
        _Py2Pickler(fh, protocol=2).dump([x, y])
    data = path.read_bytes().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    ops = {
        (op.name, arg if op.name == "GLOBAL" else None) for op, arg, _ in pickletools.genops(data)
    }
    assert ("BINSTRING", None) in ops  # array data as a Python-2 str
    assert ("GLOBAL", "numpy.core.multiarray _reconstruct") in ops
    path.write_bytes(data)
    x_out, y_out = load_sav_block(path)
    np.testing.assert_array_equal(x_out, x)
    np.testing.assert_array_equal(y_out, y)


def test_sav_params_plain_records(tmp_path):
    records = [{"m1": 30.0, "m2": 20.5, "snr": np.float64(8.0)}, None, [1.0, 2.0], (3.0, 1 + 2j)]
    path = tmp_path / "train_params_0.sav"
    dump(records, path, 2)
    assert load_sav_params(path) == records


class _Record:
    """Stand-in for the generator's parameter class."""

    def __init__(self):
        self.m1 = 30.0


class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


def test_sav_params_custom_class_refused(tmp_path):
    path = tmp_path / "train_params_0.sav"
    dump([_Record(), None], path)
    with pytest.raises(
        DataError, match=r"train_params_0\.sav: refused to unpickle global .*_Record"
    ):
        load_sav_params(path)


@pytest.mark.parametrize("protocol", [0, 2, 5])
@pytest.mark.parametrize("where", ["top", "in_y"])
def test_sav_malicious_pickle_not_executed(tmp_path, monkeypatch, protocol, where):
    monkeypatch.chdir(tmp_path)
    sentinel = tmp_path / "SENTINEL"
    evil = _Evil(os.system, f"touch {sentinel}")
    path = tmp_path / "evil_ts_0.sav"
    dump(evil if where == "top" else [strain(1), evil], path, protocol)
    with pytest.raises(DataError) as info:
        load_sav_block(path)
    message = str(info.value)
    assert str(path) in message
    assert f"refused to unpickle global {os.system.__module__}.system" in message
    assert not sentinel.exists()


def test_sav_eval_refused(tmp_path):
    path = tmp_path / "evil_params_0.sav"
    dump([_Evil(builtins.eval, "__import__('os').getcwd()")], path)
    with pytest.raises(
        DataError, match=r"evil_params_0\.sav: refused to unpickle global builtins\.eval"
    ):
        load_sav_params(path)


def test_sav_truncated(tmp_path):
    path = tmp_path / "train_ts_0.sav"
    dump([strain(2), np.array([0, 1])], path)
    truncate(path)
    with pytest.raises(DataError, match=r"train_ts_0\.sav: cannot unpickle"):
        load_sav_block(path)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"X": 1}, r"expected a two-item list \[X, y\], found dict"),
        ([1, 2, 3], "found list of 3 items"),
        ([np.zeros((2, 2, NSAMPLES), dtype=np.int32), np.array([0, 1])], "expected floating-point"),
        (
            [np.zeros((2, 2, NSAMPLES)), np.array([0, 1, 1])],
            r"expected labels of shape \(2,\), found \(3,\)",
        ),
        ([np.zeros((2, 2, NSAMPLES)), np.array([0.0, 1.0])], "expected integer labels"),
        ([np.zeros((2, 2, NSAMPLES)), np.array([0, 2])], "labels must be 0 or 1; row 1 has 2"),
        ([np.zeros((2, 2, NSAMPLES)), np.array([0.0, np.nan])],
         "labels must be 0 or 1; row 1 has nan"),
        ([np.zeros((1, 1, 2, NSAMPLES)), np.array([0])], r"expected X of shape \(n, 2, L\)"),
    ],
    ids=["dict", "three", "int_x", "y_len", "y_float", "y_values", "y_nan", "x_4d"],
)
def test_sav_bad_structure(tmp_path, obj, message):
    path = tmp_path / "train_ts_0.sav"
    dump(obj, path)
    with pytest.raises(DataError, match=message) as info:
        load_sav_block(path)
    assert str(path) in str(info.value)


def test_sav_params_file_given_to_block_loader(tmp_path):
    path = tmp_path / "train_params_0.sav"
    dump([None] * 5, path)
    with pytest.raises(DataError, match="use load_sav_params"):
        load_sav_block(path)


# --------------------------------------------------------------------------- HDF5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hdf5_round_trip(tmp_path, dtype):
    x = strain(4, dtype=dtype)
    y = np.array([1, 0, 1, 0])
    snr = np.array([8.0, 0.0, 20.0, 0.0])
    params = pd.DataFrame(
        {
            "m1": [30.0, np.nan, 12.5, np.nan],
            "waveform_id": [7, -1, 3, -1],
            "signal": [True, False, True, False],
            "approximant": ["IMRPhenomD"] * 4,
        }
    )
    path = tmp_path / "val.h5"
    write_hdf5(path, x, y=y, snr_group=snr, params=params, attrs={"seed": 1, "note": "fold 0"})
    data = load_hdf5(path)
    assert isinstance(data, CompetitionData) and len(data) == 4
    assert data.x.dtype == dtype
    np.testing.assert_array_equal(data.x, x)
    np.testing.assert_array_equal(data.y, y)
    np.testing.assert_array_equal(data.snr_group, snr)
    pd.testing.assert_frame_equal(data.params, params)
    assert data.attrs == {"seed": 1, "note": "fold 0", "gwkit_format": 1}
    assert data.source == path
    with h5py.File(path) as f:
        assert f["x"].chunks == (1, 2, NSAMPLES)
        assert f["x"].compression is None


def test_hdf5_minimal_and_compressed(tmp_path):
    x = strain(2)
    path = tmp_path / "x.hdf5"
    write_hdf5(path, x, compression="gzip")
    data = load_competition_file(path)
    assert data.y is None and data.snr_group is None and data.params is None
    np.testing.assert_array_equal(data.x, x)


def test_hdf5_write_is_atomic(tmp_path):
    path = tmp_path / "val.h5"
    write_hdf5(path, strain(2))
    with pytest.raises(ValueError, match="params"):
        write_hdf5(path, strain(3), params=pd.DataFrame({"a": [1.0]}))
    assert len(load_hdf5(path)) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["val.h5"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": np.zeros((2, 2, NSAMPLES), dtype=np.float16)}, "float32 or float64"),
        ({"x": np.zeros((2, 3, NSAMPLES))}, "expected 2 detectors"),
        ({"x": np.zeros((2, 1, 2, NSAMPLES))}, r"expected shape \(N, 2, L\)"),
        ({"y": np.array([0, 1, 1])}, "labels of shape"),
        ({"snr_group": np.ones(5)}, r"snr_group: expected shape \(2,\)"),
        ({"params": pd.DataFrame({"a": [object(), object()]})}, "column 'a'"),
        ({"attrs": {"gwkit_format": 2}}, "reserved"),
    ],
    ids=["float16", "detectors", "4d", "y", "snr", "params_object", "attrs_reserved"],
)
def test_hdf5_write_rejects(tmp_path, kwargs, message):
    kwargs = {"x": strain(2), **kwargs}
    with pytest.raises(ValueError, match=message):
        write_hdf5(tmp_path / "bad.h5", **kwargs)
    assert not (tmp_path / "bad.h5").exists()


def test_hdf5_truncated(tmp_path):
    path = tmp_path / "val.h5"
    write_hdf5(path, strain(4), y=np.array([0, 1, 0, 1]))
    truncate(path)
    with pytest.raises(DataError, match=r"val\.h5: cannot read as a gwkit HDF5 file"):
        load_hdf5(path)


def test_hdf5_not_an_hdf5_file(tmp_path):
    path = tmp_path / "junk.h5"
    path.write_bytes(b"not hdf5 at all" * 10)
    with pytest.raises(DataError, match=r"junk\.h5"):
        load_hdf5(path)


def test_hdf5_foreign_file_and_nan(tmp_path):
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as f:
        f["x"] = strain(2)
    with pytest.raises(DataError, match=r"foreign\.h5: expected attribute gwkit_format"):
        load_hdf5(path)
    with h5py.File(path, "a") as f:
        f.attrs["gwkit_format"] = 1
        f["x"][0, 0, 0] = np.nan
    with pytest.raises(DataError, match=r"foreign\.h5: expected finite"):
        load_hdf5(path)


# --------------------------------------------------------------------------- dispatch


def test_load_competition_file_dispatch(tmp_path):
    x, y = strain(2), np.array([0, 1])
    np.save(tmp_path / "test.npy", x[:, None])
    dump([x, y], tmp_path / "a_ts_0.sav")
    write_hdf5(tmp_path / "a.h5", x, y=y)
    npy = load_competition_file(tmp_path / "test.npy")
    assert npy.x.shape == (2, 2, NSAMPLES) and npy.y is None
    for name in ("a_ts_0.sav", "a.h5"):
        data = load_competition_file(tmp_path / name)
        np.testing.assert_array_equal(data.x, x)
        np.testing.assert_array_equal(data.y, y)
        assert data.source == tmp_path / name
    with pytest.raises(DataError, match=r"found suffix '\.csv'"):
        load_competition_file(tmp_path / "test.csv")


# --------------------------------------------------------------------------- plausibility (issue 25)


@pytest.mark.parametrize("scale, rows, message", [
    (0.0, [1], r"t\.npy: H1 is constant \(0\) in row 1: an unfilled file"),
    (1e-21, [0, 2], r"t\.npy: H1 has RMS 1e-21 in rows 0, 2, below 0\.001: raw strain\?"),
    (1e30, [2], r"t\.npy: H1 has RMS 1e\+30 in row 2, above 1000: not whitened"),
    (1.7e308, [0], r"t\.npy: H1 has RMS inf in row 0, above 1000"),  # the square overflows
])
def test_implausible_rows_are_named(tmp_path, recwarn, scale, rows, message):
    x = np.sign(strain(3))  # RMS exactly 1
    x[rows] *= scale
    np.save(tmp_path / "t.npy", x)
    with pytest.raises(DataError, match=message):
        load_test_npy(tmp_path / "t.npy", layout="flat")
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_a_detector_without_data_is_named():
    """The first bad row's detector, with every row where that detector is bad."""
    x = strain(4)
    x[[1, 3], 1] = 0.0  # L1 of rows 1 and 3
    x[2, 0] = 7.5  # H1 of row 2: constant, but not zero
    with pytest.raises(DataError, match=r"x: L1 is constant \(0\) in rows 1, 3:"):
        competition.check_amplitudes(x, "x")
    x[[1, 3], 1] = strain(2)[:, 1]
    with pytest.raises(DataError, match=r"x: H1 is constant \(7\.5\) in row 2:"):
        competition.check_amplitudes(x, "x")


def test_unusual_but_possible_rows_get_one_warning_line(tmp_path, capsys):
    x = strain(4)
    x[[0, 3]] *= 20.0
    np.save(tmp_path / "t.npy", x)
    assert load_test_npy(tmp_path / "t.npy", layout="flat").shape == x.shape
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"warning: {tmp_path / 't.npy'}: rows 0, 3 have an RMS outside 0.1-10")


def test_every_reader_checks_amplitudes(tmp_path):
    """test.npy (memory-mapped too), .sav blocks and gwkit HDF5 go through the same check."""
    x = strain(2)
    x[1] = 0.0
    np.save(tmp_path / "t.npy", x)
    dump([x, np.array([0, 1])], tmp_path / "b_ts_0.sav")
    write_hdf5(tmp_path / "s.h5", x, y=[0, 1])
    for path in ("t.npy", "b_ts_0.sav", "s.h5"):
        with pytest.raises(DataError, match=r"is constant \(0\) in row 1"):
            load_competition_file(tmp_path / path, mmap=True)
    with h5py.File(tmp_path / "s.h5") as f:  # an HDF5 dataset, read a chunk at a time
        with pytest.raises(DataError, match=r"s\.h5: H1 is constant \(0\) in row 1"):
            competition.check_amplitudes(f["x"], tmp_path / "s.h5")


def test_amplitudes_are_checked_in_chunks(monkeypatch):
    monkeypatch.setattr(competition, "_FINITE_CHUNK_BYTES", strain(1).nbytes)  # one row a chunk
    x = strain(5)
    x[4, 1] = 0.0
    with pytest.raises(DataError, match=r"L1 is constant \(0\) in row 4"):
        competition.check_amplitudes(x, "x")
