"""gwkit.core.hdf5: a file is opened only when every dataset is stored in it."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from gwkit.core.errors import DataError
from gwkit.core.hdf5 import check_format, open_hdf5


@pytest.fixture
def raw(tmp_path) -> Path:
    """Bytes outside any HDF5 file (what external storage would read as data)."""
    path = tmp_path / "outside.bin"
    path.write_bytes(np.arange(8, dtype="<f8").tobytes())
    return path


def _open_files() -> int:
    return h5py.h5f.get_obj_count(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_FILE)


def test_a_self_contained_file_opens_with_every_layout_and_soft_links(tmp_path):
    path = tmp_path / "ok.h5"
    with h5py.File(path, "w") as f:
        f["contiguous"] = np.arange(4.0)
        f.create_dataset("group/chunked", data=np.ones(100), chunks=(10,), compression="gzip")
        space = h5py.h5s.create_simple((3,))
        plist = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        plist.set_layout(h5py.h5d.COMPACT)
        h5py.h5d.create(f.id, b"compact", h5py.h5t.IEEE_F64LE, space, dcpl=plist)
        f["alias"] = h5py.SoftLink("/group/chunked")
        f["dangling"] = h5py.SoftLink("/nowhere")
        f.attrs["kind"] = "test"
    for mode in ("r", "r+"):
        with open_hdf5(path, mode) as f:
            assert f["alias"][:10].tolist() == [1.0] * 10
            assert f["compact"].id.get_create_plist().get_layout() == h5py.h5d.COMPACT
    with open_hdf5(tmp_path / "new.h5", "w") as f:  # a new file: nothing to check
        f["x"] = np.zeros(2)
    assert _open_files() == 0


@pytest.mark.parametrize("mode", ["r", "r+", "a"])
def test_external_storage_is_refused_naming_file_and_dataset(tmp_path, raw, mode):
    path = tmp_path / "set.h5"
    with h5py.File(path, "w") as f:
        f["y"] = np.zeros(8)
        f.create_dataset("group/x", shape=(8,), dtype="<f8", external=[(str(raw), 0, 64)])
    with h5py.File(path, "r") as f:
        assert f["group/x"][3] == 3.0  # what h5py alone reads as data
    with pytest.raises(DataError, match=rf"^{path}: dataset /group/x is stored in another file "
                                        rf"\(external storage in {raw}\)"):
        open_hdf5(path, mode)
    assert _open_files() == 0  # the refused file was closed
    assert raw.read_bytes() == np.arange(8, dtype="<f8").tobytes()


def test_virtual_datasets_are_refused_even_when_their_source_is_missing(tmp_path):
    path = tmp_path / "set.h5"
    layout = h5py.VirtualLayout(shape=(2, 4), dtype="f8")
    layout[0] = h5py.VirtualSource(str(tmp_path / "gone.h5"), "x", shape=(4,))
    with h5py.File(path, "w") as f:
        f.create_virtual_dataset("x", layout, fillvalue=0.0)
    with h5py.File(path, "r") as f:
        assert not f["x"][()].any()  # silently zeros without the check
    with pytest.raises(DataError, match=r"dataset /x is a virtual dataset mapping other files "
                                        r"\(.*gone\.h5\)"):
        open_hdf5(path)
    assert _open_files() == 0


def test_external_links_are_refused_at_any_depth(tmp_path):
    source = tmp_path / "source.h5"
    with h5py.File(source, "w") as f:
        f["x"] = np.ones(3)
    path = tmp_path / "bank.h5"
    with h5py.File(path, "w") as f:
        f["m1"] = np.ones(3)
        f["a/b/c"] = h5py.ExternalLink(str(source), "/x")
        f["via_soft"] = h5py.SoftLink("/a/b/c")
    with pytest.raises(DataError, match=rf"{path}: /a/b/c is an external link to {source}:/x"):
        open_hdf5(path)
    assert _open_files() == 0


@pytest.mark.parametrize("found", [None, 1, "x", 3.0])
def test_a_file_of_another_kind_or_version_is_refused_naming_it(tmp_path, found):
    path = tmp_path / "bank.h5"
    with h5py.File(path, "w") as f:
        if found is not None:
            f.attrs["gwkit_filter_bank"] = found
    with open_hdf5(path) as f:
        with pytest.raises(DataError, match=rf"bank.h5: not a filter bank \(format 2\), found "
                                            rf"format {found}"):
            check_format(f, "gwkit_filter_bank", 2, path, "a filter bank")
    with h5py.File(path, "w") as f:
        f.attrs["gwkit_filter_bank"] = 2
    with open_hdf5(path) as f:
        check_format(f, "gwkit_filter_bank", 2, path, "a filter bank")
