"""Kaggle kernels (kernels/): metadata the kaggle client accepts, the offline dataset
builder, and both notebooks executed headless in a simulated Kaggle layout.

The end-to-end test builds the wheel dataset with ``kernels/build_dataset.py``,
simulates a tiny ``test.npy`` under ``<tmp>/input/2023-gwdata-bootcamp/``, runs the
training notebook (gwkit installed offline from the wheel into a fresh ``--target``
folder, a 2-step demo training, the hybrid fitted with the wheel dataset's filter bank,
predict, validate), packs its run into a weights dataset and runs the inference notebook
on it; both submissions must validate.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import zipfile
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import pytest

from gwkit.data.competition import COMPETITION
from gwkit.scoring.submission import validate_submission

REPO = Path(__file__).resolve().parent.parent
KERNELS = REPO / "kernels"
KERNEL_DIRS = {"train": KERNELS / "gwkit-train", "inference": KERNELS / "gwkit-inference"}

# What `kaggle kernels push` (kaggle 2.x, KaggleApi.kernels_push) requires and checks.
REQUIRED = ("id", "title", "code_file", "language", "kernel_type")
LANGUAGES = ("python", "r", "rmarkdown")
KERNEL_TYPES = ("script", "notebook")
BOOLEANS = ("is_private", "enable_gpu", "enable_tpu", "enable_internet")
SOURCE_LISTS = ("dataset_sources", "competition_sources", "kernel_sources", "model_sources")


def _spec(name: str):
    spec = importlib.util.spec_from_file_location(name, KERNELS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_dataset = _spec("build_dataset")


def _meta(which: str) -> dict:
    return json.loads((KERNEL_DIRS[which] / "kernel-metadata.json").read_text(encoding="utf-8"))


def _slugify(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


# --------------------------------------------------------------------------- metadata


@pytest.mark.parametrize("which", sorted(KERNEL_DIRS))
def test_kernel_metadata_fields(which):
    meta = _meta(which)
    for key in REQUIRED:
        assert meta.get(key), f"{which}: {key} missing or empty"
    owner, slug = meta["id"].split("/")
    assert owner == build_dataset.PLACEHOLDER_USER and slug == f"gwkit-{which}"
    assert len(meta["title"]) >= 5 and _slugify(meta["title"]) == slug  # title resolves to id
    assert meta["language"] == "python" and meta["language"] in LANGUAGES
    assert meta["kernel_type"] == "notebook" and meta["kernel_type"] in KERNEL_TYPES
    code = KERNEL_DIRS[which] / meta["code_file"]
    assert code.is_file() and code.suffix == ".ipynb"
    for key in BOOLEANS:
        assert isinstance(meta.get(key), bool), f"{which}: {key} must be true/false"
    for key in SOURCE_LISTS:
        assert isinstance(meta.get(key), list), f"{which}: {key} must be a list"
    assert meta["competition_sources"] == [COMPETITION]
    assert meta["kernel_sources"] == []
    for source in meta["dataset_sources"]:
        parts = source.split("/")
        assert len(parts) == 2 and all(parts), source
        assert 6 <= len(parts[1]) <= 50
    assert f"{build_dataset.PLACEHOLDER_USER}/gwkit-wheels" in meta["dataset_sources"]
    assert meta["enable_internet"] is False  # installs offline from the wheel dataset
    if which == "train":
        assert meta["enable_gpu"] is True
    else:
        assert len(meta["dataset_sources"]) == 2  # wheels + weights


def test_kernel_metadata_accepted_by_kaggle_client(monkeypatch):
    """The installed client's own ``kernels_push`` validates both folders (no request sent)."""
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "0" * 32)
    from kaggle.api.kaggle_api_extended import KaggleApi

    sent = []

    class Client:
        def __init__(self):
            self.kernels = SimpleNamespace(kernels_api_client=SimpleNamespace(
                save_kernel=lambda request: sent.append(request) or "saved"))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    api = KaggleApi()
    monkeypatch.setattr(api, "build_kaggle_client", Client, raising=False)
    for which, folder in KERNEL_DIRS.items():
        assert api.kernels_push(str(folder)) == "saved"
        request = sent[-1]
        meta = _meta(which)
        assert request.slug == meta["id"] and request.kernel_type == "notebook"
        assert request.competition_data_sources == [COMPETITION]
        assert request.dataset_data_sources == meta["dataset_sources"]
        assert request.enable_internet is False and request.enable_gpu is (which == "train")
        body = json.loads(request.text)
        assert body["cells"] and all(isinstance(c["source"], str) for c in body["cells"])


@pytest.mark.parametrize("which", sorted(KERNEL_DIRS))
def test_notebooks_are_thin_clean_and_parameterised(which):
    nb = nbformat.read(KERNEL_DIRS[which] / _meta(which)["code_file"], as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "clear the outputs"
    assert "parameters" in code[0].metadata.get("tags", []), "settings cell first"
    assert "GWKIT_NB_" in code[0].source
    text = "\n".join(c.source for c in code)
    assert "--no-index" in text and "--find-links" in text  # offline install
    assert "-m gwkit.predict" in text and "validate_submission" in text
    assert ("-m gwkit.train" in text) is (which == "train")
    assert ("-m gwkit.hybrid" in text) is (which == "train")  # ends with the best detector
    assert not re.search(r"^\s*(def|class) ", text, re.M), "no logic in the notebooks"


@pytest.mark.parametrize("which", sorted(KERNEL_DIRS))
def test_notebook_defaults_are_predicts(which, monkeypatch):
    """Left alone, the notebooks predict as ``gwkit.predict`` does (mean logit, no TTA), the
    training notebook fits the hybrid, and it says its default preset was never timed on a GPU."""
    for var in [v for v in os.environ if v.startswith("GWKIT_NB_")]:
        monkeypatch.delenv(var)
    nb = nbformat.read(KERNEL_DIRS[which] / _meta(which)["code_file"], as_version=4)
    settings: dict = {}
    exec(next(c.source for c in nb.cells if c.cell_type == "code"), settings)
    assert settings["TTA"] in ("", "none") and settings["ENSEMBLE"] in ("", "logit")
    if which == "train":
        assert settings["HYBRID"] is True and settings["FILTER_BANK"] == ""
        assert settings["MODE"] == "competition" and settings["PREDICT"] is True
        intro = nb.cells[0].source
        assert f"default preset `{settings['PRESET']}`" in intro
        assert "has not been timed on a GPU" in intro


def test_mode_physical_trains_the_physical_preset_from_weights_in_the_inputs(tmp_path,
                                                                             monkeypatch):
    """One parameter: MODE physical trains gwkit_resnet_phys, whose init_from (the shipped
    weights/gwkit_resnet folds) the notebook finds where ``build_dataset.py --preset`` put it."""
    for var in [v for v in os.environ if v.startswith("GWKIT_NB_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("GWKIT_NB_MODE", "physical")
    monkeypatch.chdir(tmp_path)  # as on Kaggle: no weights/ in the working folder
    nb = nbformat.read(KERNEL_DIRS["train"] / _meta("train")["code_file"], as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    settings: dict = {}
    exec(code[0], settings)
    assert settings["PRESET"] == "gwkit_resnet_phys" and settings["RUN_NAME"] == "gwkit_resnet_phys"
    assert settings["PREDICT"] is False and settings["HYBRID"] is True  # test.npy: competition data
    inp = tmp_path / "input"
    assert build_dataset.main(["--out", str(inp / "gwkit-wheels"), "--no-wheel", "--username",
                               "ci", "--preset", "gwkit_resnet_phys"]) == 0
    packed = inp / "gwkit-wheels" / "weights"
    assert {p.name for p in packed.iterdir()} == {"gwkit_resnet", "gwkit_resnet_phys"}
    assert {"fold0.pt", "fold1.pt", "config.yaml"} <= {p.name for p in (packed / "gwkit_resnet_phys").iterdir()}
    train_cell = next(c for c in code if "train_args = [" in c)
    assert "!" not in train_cell  # plain Python: the next cell runs gwkit.train
    settings.update(Path=Path, INPUT=inp, RUNS_DIR=tmp_path / "runs",
                    RUN_DIR=tmp_path / "runs" / settings["RUN_NAME"])
    exec(train_cell, settings)
    args = " ".join(settings["train_args"])
    assert "--preset gwkit_resnet_phys" in args
    assert "--set mode=physical --set val_mode=physical" in args
    assert f"--set init_from={packed / 'gwkit_resnet'}/fold{{fold}}.pt" in args

    # any preset in MODE physical; a preset whose init_from is in no input: one clear error
    monkeypatch.setenv("GWKIT_NB_PRESET", "demo")
    exec(code[0], settings)
    exec(train_cell, settings)
    assert "--preset demo" in " ".join(settings["train_args"]) and "init_from" not in \
        " ".join(settings["train_args"])
    assert "--set mode=physical" in " ".join(settings["train_args"])
    monkeypatch.setenv("GWKIT_NB_PRESET", "gwkit_resnet_phys")
    exec(code[0], settings)
    (packed / "gwkit_resnet" / "fold0.pt").unlink()
    with pytest.raises(FileNotFoundError, match="build_dataset.py --preset gwkit_resnet_phys"):
        exec(train_cell, settings)
    monkeypatch.setenv("GWKIT_NB_MODE", "phys")
    with pytest.raises(ValueError, match="expected competition or physical"):
        exec(code[0], {})


# --------------------------------------------------------------------------- dataset builder


def test_build_dataset_wheel_weights_metadata(tmp_path):
    repo_before = sorted(REPO.iterdir())  # (an editable install may have left *.egg-info)
    run = tmp_path / "runs" / "myrun"
    for k in (0, 2):
        (run / f"fold{k}").mkdir(parents=True)
        (run / f"fold{k}" / "best.pt").write_bytes(b"best%d" % k)
        (run / f"fold{k}" / "last.pt").write_bytes(b"last")
    (run / "config.yaml").write_text("name: myrun\n")
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "a.pt").write_bytes(b"a")
    out = tmp_path / "ds"
    assert build_dataset.main(["--out", str(out), "--username", "alice",
                               "--weights", str(run), str(flat)]) == 0

    meta = json.loads((out / "dataset-metadata.json").read_text())
    assert meta == {"title": "gwkit wheels", "id": "alice/gwkit-wheels",
                    "licenses": [{"name": "CC0-1.0"}]}
    wheels = sorted(out.glob("gwkit-*-py3-none-any.whl"))
    assert len(wheels) == 1
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "gwkit/train.py" in names and "gwkit/configs/demo.yaml" in names
    assert "gwkit/sim/generator.py" in names
    shipped = REPO / "weights" / "gwkit_resnet" / "mf_bank.h5"  # for the notebook's hybrid
    assert (out / "mf_bank.h5").read_bytes() == shipped.read_bytes()
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)
    assert (out / "weights" / "myrun" / "fold0.pt").read_bytes() == b"best0"
    assert (out / "weights" / "myrun" / "fold2.pt").read_bytes() == b"best2"
    assert (out / "weights" / "myrun" / "config.yaml").is_file()
    assert sorted(p.name for p in (out / "weights" / "myrun").glob("*.pt")) == ["fold0.pt",
                                                                              "fold2.pt"]
    assert (out / "weights" / "flat" / "a.pt").read_bytes() == b"a"
    assert sorted(REPO.iterdir()) == repo_before, "the wheel is built from a clean copy"

    with pytest.raises(SystemExit, match="no fold"):
        build_dataset.main(["--out", str(out), "--no-wheel", "--weights", str(tmp_path)])
    with pytest.raises(SystemExit, match="6 to 50"):
        build_dataset.main(["--out", str(out), "--no-wheel", "--slug", "gw"])
    with pytest.raises(SystemExit, match="nothere.h5 is not a regular file"):
        build_dataset.main(["--out", str(tmp_path / "ds2"), "--filter-bank",
                            str(tmp_path / "nothere.h5")])
    assert not (tmp_path / "ds2").exists()  # refused before any write


def test_build_dataset_preset_packs_what_the_preset_needs(tmp_path):
    """--preset: the init_from folder and the shipped folds; a preset with neither, refused."""
    assert [p.relative_to(REPO).as_posix() for p in build_dataset.preset_weights(
        "gwkit_resnet_phys")] == ["weights/gwkit_resnet", "weights/gwkit_resnet_phys"]
    assert [p.name for p in build_dataset.preset_weights("gwkit_resnet")] == ["gwkit_resnet"]
    with pytest.raises(SystemExit, match="--preset demo: no init_from and no shipped"):
        build_dataset.main(["--out", str(tmp_path / "ds"), "--no-wheel", "--preset", "demo"])
    with pytest.raises(SystemExit, match="--preset nope: unknown preset"):
        build_dataset.main(["--out", str(tmp_path / "ds"), "--no-wheel", "--preset", "nope"])
    assert not (tmp_path / "ds").exists()  # refused before any write
    # the same folder given twice (--weights and --preset) is packed once
    assert build_dataset.main(["--out", str(tmp_path / "ds"), "--no-wheel", "--preset",
                               "gwkit_resnet", "--weights", str(REPO / "weights" / "gwkit_resnet")]) == 0
    assert [p.name for p in (tmp_path / "ds" / "weights").iterdir()] == ["gwkit_resnet"]


@pytest.mark.parametrize("out", [".", "weights/gwkit_resnet", "weights/gwkit_resnet/ds"])
def test_build_dataset_refuses_to_overwrite_its_source(tmp_path, monkeypatch, out):
    """Issue 14 item 1: --out . --weights weights/X used to delete weights/X."""
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "weights" / "gwkit_resnet"
    src.mkdir(parents=True)
    (src / "fold0.pt").write_bytes(b"shipped weights")
    (src / "oof.csv").write_text("id,target\n")
    before = {p: p.read_bytes() for p in src.iterdir()}
    with pytest.raises(SystemExit, match="overlaps the output") as err:
        build_dataset.main(["--out", out, "--no-wheel", "--username", "alice",
                            "--weights", "weights/gwkit_resnet"])
    assert "\n" not in str(err.value)
    assert {p: p.read_bytes() for p in src.iterdir()} == before
    assert not (tmp_path / out / "dataset-metadata.json").exists()  # refused before any write


def test_build_dataset_replaces_an_earlier_copy(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "fold0.pt").write_bytes(b"new")
    old = tmp_path / "ds" / "weights" / "run"
    old.mkdir(parents=True)
    (old / "fold9.pt").write_bytes(b"stale")
    build_dataset.main(["--out", str(tmp_path / "ds"), "--no-wheel", "--weights", str(run)])
    assert sorted(p.name for p in old.iterdir()) == ["fold0.pt"]
    assert not (tmp_path / "ds" / "mf_bank.h5").exists()  # the filter bank goes with the wheel
    assert not [p for p in old.parent.iterdir() if p.name.startswith(".")]


# --------------------------------------------------------------------------- notebooks, end to end


def _execute(which: str, workdir: Path) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.read(KERNEL_DIRS[which] / _meta(which)["code_file"], as_version=4)
    workdir.mkdir(parents=True, exist_ok=True)
    client = NotebookClient(nb, kernel_name="python3", timeout=240, allow_errors=False,
                            resources={"metadata": {"path": str(workdir)}})
    try:
        client.execute()
    except Exception as exc:  # show what the cells printed (the CLIs' own messages)
        raise AssertionError(f"{which} notebook failed:\n{_outputs(nb)[-6000:]}") from exc
    return nb


def _outputs(nb: nbformat.NotebookNode) -> str:
    text = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text.append(out.get("text", "") or json.dumps(out.get("data", {})))
    return "\n".join(text)


@pytest.mark.slow
def test_notebooks_run_in_simulated_kaggle(tmp_path, monkeypatch):
    from gwkit.simulate import main as simulate

    inp = tmp_path / "input"
    # the gwkit wheel dataset, as uploaded
    assert build_dataset.main(["--out", str(inp / "gwkit-wheels"), "--username", "ci"]) == 0
    # the competition's data: a tiny simulated test.npy (4 rows)
    sim = tmp_path / "sim"
    assert simulate(["--snr", "10", "--per-snr", "4", "--block-rows", "8", "--nnoise", "2",
                     "--out", str(sim)]) == 0
    comp = inp / COMPETITION
    comp.mkdir(parents=True)
    (sim / "test.npy").rename(comp / "test.npy")
    n_test = np.load(comp / "test.npy", mmap_mode="r").shape[0]

    for var in ("GWKIT_DATA", "KAGGLE_KERNEL_RUN_TYPE", "GWKIT_NB_RUNS"):
        monkeypatch.delenv(var, raising=False)
    # gwkit is importable here (pip install -e .): make the notebooks install the wheel anyway
    monkeypatch.setenv("GWKIT_NB_FORCE_INSTALL", "1")
    monkeypatch.setenv("GWKIT_KAGGLE", "1")
    monkeypatch.setenv("GWKIT_KAGGLE_INPUT", str(inp))
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.setenv("GWKIT_NB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GWKIT_NB_PRESET", "demo")
    monkeypatch.setenv("GWKIT_NB_NAME", "tiny")
    monkeypatch.setenv("GWKIT_NB_FOLDS", "0")
    monkeypatch.setenv("GWKIT_NB_EPOCHS", "1")
    monkeypatch.setenv("GWKIT_NB_SET", "bank_size=8 n_folds=2 val_per_snr=2 steps_per_epoch=2 "
                                       "batch_size=4 warmup_steps=0 num_threads=1")

    def fresh_site(name: str) -> None:
        """gwkit not importable in the kernel until the notebook installs the wheel here."""
        site = tmp_path / name
        site.mkdir()
        monkeypatch.setenv("PYTHONPATH", str(site))
        # gwkit's dependencies are installed here already; --target keeps the env untouched
        monkeypatch.setenv("GWKIT_NB_PIP_ARGS", f"--no-deps --target {shlex.quote(str(site))}")

    # 1) training notebook: install, train 2 steps, fit the hybrid, predict with it, validate
    work = tmp_path / "working"
    monkeypatch.setenv("GWKIT_KAGGLE_WORKING", str(work))
    fresh_site("site-train")
    nb = _execute("train", work)
    log = _outputs(nb)
    assert "pip" in log and "--no-index" in log and str(tmp_path / "site-train") in log
    run = work / "runs" / "tiny"
    assert (run / "fold0" / "best.pt").is_file() and (run / "fold0" / "oof.csv").is_file()
    assert len(validate_submission(work / "submission.csv", n_expected=n_test)) == n_test
    assert "rows OK" in log
    # the hybrid, fitted with the wheel dataset's filter bank (no LALSuite build), predicted
    assert "hybrid CV AUC" in log and "building the filter bank" not in log
    assert (run / "stacker.json").is_file()
    assert (run / "mf_bank.h5").read_bytes() == (inp / "gwkit-wheels" / "mf_bank.h5").read_bytes()
    assert "tta=none; ensemble=logit; hybrid: tiny" in log  # predict's defaults
    with np.load(work / "submission.logits.npz") as z:
        assert {"network/tiny", "hybrid/tiny"} <= set(z.files)

    # 2) the run, hybrid included, as a weights dataset (what `kaggle datasets create` uploads)
    assert build_dataset.main(["--out", str(inp / "gwkit-weights"), "--slug", "gwkit-weights",
                               "--no-wheel", "--username", "ci", "--weights", str(run)]) == 0
    packed = inp / "gwkit-weights" / "weights" / "tiny"
    assert {p.name for p in packed.iterdir()} >= {"fold0.pt", "stacker.json", "mf_bank.h5"}

    # 3) inference notebook: install, find weights/ in the inputs, predict, validate
    work2 = tmp_path / "working-inference"
    monkeypatch.setenv("GWKIT_KAGGLE_WORKING", str(work2))
    fresh_site("site-inference")
    nb = _execute("inference", work2)
    log = _outputs(nb)
    assert str(inp / "gwkit-weights" / "weights") in log
    sub = validate_submission(work2 / "submission.csv", n_expected=n_test)
    assert len(sub) == n_test
    assert "hybrid: tiny" in log  # the stacker shipped with the weights was applied
    with np.load(work2 / "submission.logits.npz") as z:
        assert {"fold/tiny/fold0", "network/tiny", "hybrid/tiny"} <= set(z.files)
