"""gwkit.inspect's command line: bad arguments end in one line (the report is tested in
test_simulate.py, on simulated data)."""

from __future__ import annotations

import numpy as np
import pytest

from gwkit import inspect as gw_inspect


@pytest.fixture
def small_npy(tmp_path):
    path = tmp_path / "test.npy"
    np.save(path, np.random.default_rng(0).standard_normal((2, 1, 2, 16384)))
    return path


@pytest.mark.parametrize("rows", ["0", "-5"])
def test_noise_rows_below_one_is_one_line(small_npy, capsys, rows):
    assert gw_inspect.main([str(small_npy), "--noise-rows", rows]) == 2
    err = capsys.readouterr().err
    assert err == f"error: --noise-rows must be at least 1, got {rows}\n"


def test_unwritable_json_is_refused_before_the_work(small_npy, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert gw_inspect.main([str(small_npy), "--json", str(tmp_path / "file" / "r.json")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'file' / 'r.json'}: cannot "
                                              "write there")
