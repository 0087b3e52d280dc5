"""Data location and output folder, locally and on (a stand-in for) Kaggle."""

from __future__ import annotations

from pathlib import Path

import pytest

from gwkit.core.paths import is_kaggle, locate_data, output_dir
from gwkit.data import COMPETITION


@pytest.fixture
def places(tmp_path, monkeypatch) -> dict[str, Path]:
    """Empty stand-ins for every search place; the real /kaggle is never looked at."""
    paths = {
        "arg": tmp_path / "arg",
        "env": tmp_path / "env",
        "kaggle": tmp_path / "kaggle_input",
        "cwd": tmp_path / "cwd",
    }
    for key in ("arg", "env", "cwd"):
        paths[key].mkdir()
    for var in ("GWKIT_DATA", "GWKIT_KAGGLE", "GWKIT_KAGGLE_WORKING", "KAGGLE_KERNEL_RUN_TYPE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GWKIT_KAGGLE_INPUT", str(paths["kaggle"]))
    monkeypatch.chdir(paths["cwd"])
    return paths


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_search_order(places, monkeypatch):
    local = touch(places["cwd"] / "data" / "test.npy")
    assert locate_data() == local
    kaggle = touch(places["kaggle"] / COMPETITION / "test.npy")
    assert locate_data() == kaggle
    env = touch(places["env"] / "test.npy")
    monkeypatch.setenv("GWKIT_DATA", str(places["env"]))
    assert locate_data() == env
    arg = touch(places["arg"] / "test.npy")
    assert locate_data(places["arg"]) == arg
    assert locate_data(str(arg)) == arg


def test_data_argument_file_or_folder(places):
    custom = touch(places["arg"] / "my_test.npy")
    assert locate_data(custom) == custom
    other = touch(places["arg"] / "sample.csv")
    assert locate_data(places["arg"], filename="sample.csv") == other


def test_data_argument_is_not_a_fallback(places):
    touch(places["cwd"] / "data" / "test.npy")
    with pytest.raises(FileNotFoundError, match="--data .*missing"):
        locate_data(places["arg"] / "missing")


def test_env_file(places, monkeypatch):
    env = touch(places["env"] / "strain.npy")
    monkeypatch.setenv("GWKIT_DATA", str(env))
    assert locate_data() == env


@pytest.mark.parametrize(
    "relative",
    [
        f"{COMPETITION}/test.npy",
        f"competitions/{COMPETITION}/test.npy",
        f"{COMPETITION}/inputs/test.npy",
        f"competitions/{COMPETITION}/a/b/test.npy",
    ],
)
def test_kaggle_layouts(places, relative):
    expected = touch(places["kaggle"] / relative)
    touch(places["kaggle"] / "other-dataset" / "test.npy")  # not the competition's
    assert locate_data() == expected


def test_kaggle_prefers_top_level(places):
    touch(places["kaggle"] / COMPETITION / "old" / "test.npy")
    top = touch(places["kaggle"] / "competitions" / COMPETITION / "test.npy")
    assert locate_data() == top


def test_not_found_lists_every_place(places, monkeypatch):
    monkeypatch.setenv("GWKIT_DATA", str(places["env"]))
    with pytest.raises(FileNotFoundError) as info:
        locate_data()
    message = str(info.value)
    assert "\n" not in message and ":;" not in message  # one line, read as one
    assert message.startswith("cannot find test.npy (looked in GWKIT_DATA: ")
    for expected in (
        f"GWKIT_DATA: {places['env']}",
        f"Kaggle input: {places['kaggle'] / COMPETITION}",
        f"Kaggle input: {places['kaggle'] / 'competitions' / COMPETITION}",
        f"./data: {places['cwd'] / 'data'}",
        "--data",
    ):
        assert expected in message


def test_is_kaggle(places, monkeypatch):
    assert not is_kaggle()
    places["kaggle"].mkdir()
    assert is_kaggle()
    places["kaggle"].rmdir()
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    assert is_kaggle()
    monkeypatch.setenv("GWKIT_KAGGLE", "0")
    assert not is_kaggle()
    monkeypatch.setenv("GWKIT_KAGGLE", "maybe")
    with pytest.raises(ValueError, match="GWKIT_KAGGLE"):
        is_kaggle()


def test_output_dir(places, monkeypatch, tmp_path):
    assert output_dir() == Path("submissions")
    assert output_dir("runs") == Path("runs")
    monkeypatch.setenv("GWKIT_KAGGLE", "1")
    assert output_dir() == Path("/kaggle/working")
    monkeypatch.setenv("GWKIT_KAGGLE_WORKING", str(tmp_path / "working"))
    assert output_dir() == tmp_path / "working"
