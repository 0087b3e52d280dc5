"""Grouped, chirp-mass-stratified folds over waveforms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gwkit.data import DataError, assign_folds, fold_split, load_folds, save_folds


def bank(n: int = 103, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled, non-contiguous waveform ids and chirp masses (solar masses)."""
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.arange(1000, 1000 + 3 * n, 3))
    return ids, rng.uniform(4.0, 40.0, n)


def test_every_id_in_exactly_one_fold():
    ids, mass = bank()
    df = assign_folds(ids, mass, n_folds=5)
    assert list(df.columns) == ["waveform_id", "chirp_mass", "mass_bin", "fold"]
    np.testing.assert_array_equal(df["waveform_id"], ids)  # input order kept
    np.testing.assert_array_equal(df["chirp_mass"], mass)
    assert df["waveform_id"].is_unique
    assert set(df["fold"]) == set(range(5))


def test_seeded_reproducible_and_order_independent():
    ids, mass = bank()
    a = assign_folds(ids, mass, seed=3)
    pd.testing.assert_frame_equal(a, assign_folds(ids, mass, seed=3))
    perm = np.random.default_rng(9).permutation(ids.size)
    b = assign_folds(ids[perm], mass[perm], seed=3).set_index("waveform_id").loc[ids]
    np.testing.assert_array_equal(b["fold"], a["fold"])
    assert not np.array_equal(assign_folds(ids, mass, seed=4)["fold"], a["fold"])


@pytest.mark.parametrize(
    ("n", "n_folds", "n_bins"), [(103, 5, 10), (50, 3, 7), (12, 4, 10), (7, 2, 1)]
)
def test_stratified_and_balanced(n, n_folds, n_bins):
    ids, mass = bank(n)
    df = assign_folds(ids, mass, n_folds=n_folds, n_bins=n_bins)
    counts = pd.crosstab(df["mass_bin"], df["fold"]).reindex(columns=range(n_folds), fill_value=0)
    assert (counts.max(axis=1) - counts.min(axis=1)).max() <= 1  # within every bin
    sizes = df["fold"].value_counts().reindex(range(n_folds), fill_value=0)
    assert sizes.max() - sizes.min() <= 1  # overall
    bin_sizes = df["mass_bin"].value_counts()
    assert bin_sizes.max() - bin_sizes.min() <= 1  # quantile bins
    # bins are ordered by chirp mass: every mass in bin b is <= every mass in bin b+1
    by_bin = df.groupby("mass_bin")["chirp_mass"].agg(["min", "max"]).sort_index()
    assert (by_bin["max"].to_numpy()[:-1] <= by_bin["min"].to_numpy()[1:]).all()


def test_ties_in_chirp_mass():
    ids = np.arange(40)
    df = assign_folds(ids, np.full(40, 10.0), n_folds=4, n_bins=5)
    assert df["mass_bin"].value_counts().tolist() == [8] * 5
    assert df["fold"].value_counts().tolist() == [10] * 4


def test_fold_split_disjoint_and_covering():
    ids, mass = bank()
    df = assign_folds(ids, mass, n_folds=5)
    seen = []
    for fold in range(5):
        train, val = fold_split(df, fold)
        assert train.dtype == np.int64 and val.dtype == np.int64
        assert not set(train) & set(val)
        np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.sort(ids))
        seen.append(val)
    np.testing.assert_array_equal(np.sort(np.concatenate(seen)), np.sort(ids))


@pytest.mark.parametrize("fold", [-1, 5])
def test_fold_split_out_of_range(fold):
    df = assign_folds(*bank(), n_folds=5)
    with pytest.raises(ValueError, match="fold: expected 0..4"):
        fold_split(df, fold)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_folds": 1}, "at least 2"),
        ({"n_folds": 104}, "at most the number of waveforms"),
        ({"n_bins": 0}, "n_bins"),
    ],
)
def test_assign_folds_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        assign_folds(*bank(), **kwargs)


def test_assign_folds_bad_inputs():
    with pytest.raises(ValueError, match="unique"):
        assign_folds([1, 1, 2], [1.0, 2.0, 3.0], n_folds=2)
    with pytest.raises(ValueError, match="one value per waveform"):
        assign_folds([1, 2, 3], [1.0, 2.0], n_folds=2)
    with pytest.raises(ValueError, match="integers"):
        assign_folds([1.5, 2.5], [1.0, 2.0], n_folds=2)
    with pytest.raises(ValueError, match="finite"):
        assign_folds([1, 2], [1.0, np.nan], n_folds=2)


def test_save_load_round_trip(tmp_path):
    df = assign_folds(*bank(), n_folds=5)
    path = save_folds(df, tmp_path / "folds" / "folds.csv")
    pd.testing.assert_frame_equal(load_folds(path), df)
    assert [p.name for p in path.parent.iterdir()] == ["folds.csv"]


def test_load_folds_missing_columns(tmp_path):
    path = tmp_path / "folds.csv"
    pd.DataFrame({"waveform_id": [1, 2], "fold": [0, 1]}).to_csv(path, index=False)
    with pytest.raises(
        DataError, match=r"folds\.csv: expected columns .* missing \['chirp_mass', 'mass_bin'\]"
    ):
        load_folds(path)


def test_load_folds_bad_content(tmp_path):
    path = tmp_path / "folds.csv"
    df = assign_folds(*bank(), n_folds=5)
    pd.concat([df, df.head(1)]).to_csv(path, index=False)
    with pytest.raises(DataError, match="repeats"):
        load_folds(path)
    df.assign(fold=df["fold"] + 0.5).to_csv(path, index=False)
    with pytest.raises(DataError, match="integer column 'fold'"):
        load_folds(path)
    path.write_text("")
    with pytest.raises(DataError, match="cannot read"):
        load_folds(path)
    with pytest.raises(FileNotFoundError):
        load_folds(tmp_path / "nope.csv")


def test_save_folds_validates(tmp_path):
    with pytest.raises(DataError, match="missing"):
        save_folds(pd.DataFrame({"fold": [0]}), tmp_path / "f.csv")
    assert not (tmp_path / "f.csv").exists()
