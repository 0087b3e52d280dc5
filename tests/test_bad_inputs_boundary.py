"""The file-system boundary through the real command lines (issue 25, item 1: security).

Each case points a CLI at something that would read or write outside the folders the
user named: an output or a folder inside a run that is a symbolic link to elsewhere,
an archive member that escapes ``--path``, a ``stacker.json`` whose filter bank lies
outside its run, HDF5 data stored in another file, a credential or a link in a folder
packed for upload. Each must end like every bad input (``tests/cli_sweep.py``: non-zero
exit, one stderr line with the case's text, no traceback, no existing file changed:
the links' targets live in the case folder, so their digests are checked too), and
must not have created anything outside its outputs (``ABSENT``).

``gwkit.download`` runs the real kaggle client against :class:`ArchiveKaggle`, a fake
API on 127.0.0.1 that serves each case its own archive (chosen by the case's
``KAGGLE_USERNAME``, which the client sends as Basic auth).
"""

from __future__ import annotations

import base64
import dataclasses
import io
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest
from cli_sweep import (
    REPO,
    Case,
    check_outcome,
    checkpoint,
    npy,
    sealed_env,
    selected_cases,
    sweep,
    symlink,
    train_preset,
    write,
)
from fake_kaggle import FakeKaggle

GWOSC = REPO / "tests" / "data" / "gw150914"
H1, L1 = "H-H1_LOSC_4_V2-1126259446-32.hdf5", "L-L1_LOSC_4_V2-1126259446-32.hdf5"
ESCAPED = Path("/tmp/gwkit-boundary-escaped.txt")  # an absolute archive member aims here


# --------------------------------------------------------------------------- archives


def _npy_bytes(rows: int = 2) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.zeros((rows, 1, 2, 8)))
    return buf.getvalue()


def _zip(*members: tuple[str, bytes], links: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A zip of ``(name, bytes)`` members and ``(name, target)`` symbolic-link members."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members:
            z.writestr(name, data)
        for name, target in links:
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, target)
    return buf.getvalue()


GOOD = (("test.npy", _npy_bytes()), ("sample_submission.csv", b"id,target\n0,0.5\n1,0.5\n"))

#: the archive each download case is served (keyed by case id)
ARCHIVES = {
    "download-through-symlinked-test-npy": _zip(*GOOD),
    "download-through-symlinked-folder": _zip(*GOOD, ("extra/notes.txt", b"notes")),
    "download-member-dotdot": _zip(*GOOD, ("../escaped.txt", b"escaped")),
    "download-member-absolute": _zip(*GOOD, (str(ESCAPED), b"escaped")),
    "download-member-backslash": _zip(*GOOD, ("..\\escaped.txt", b"escaped")),
    "download-member-symlink": _zip(*GOOD, links=(("notes.txt", "../outside/precious"),)),
    "download-unreadable-test-npy": _zip(("test.npy", b"not an array"), GOOD[1]),
    "download-truncated-test-npy": _zip(("test.npy", _npy_bytes()[:-40]), GOOD[1]),
    "download-no-test-npy": _zip(GOOD[1]),
}


@dataclasses.dataclass
class ArchiveKaggle(FakeKaggle):
    """The fake Kaggle API serving ``archives[<user name of the request>]`` as the data."""

    archives: dict[str, bytes] = dataclasses.field(default_factory=lambda: dict(ARCHIVES))

    def route(self, req):
        if req.path.endswith("/DownloadDataFiles"):
            user = base64.b64decode(req.headers["Authorization"].split()[1]).decode()
            return 302, {"Location": f"http://localhost/files/{user.split(':')[0]}.zip"}, b""
        if req.method == "GET" and req.path.startswith("/files/"):
            name = req.path.removeprefix("/files/").removesuffix(".zip")
            return 200, {"Content-Type": "application/zip",
                         "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"}, self.archives[name]
        return super().route(req)


def _downloaded(d: Path) -> None:
    """An earlier download in ./data, which a refused archive must leave as it is."""
    write(d / "data" / "test.npy", _npy_bytes(3))


DOWNLOAD = ("-m", "gwkit.download", "--path", "data")


def _download_case(id: str, expect: str, setup=_downloaded) -> Case:
    return Case(id, DOWNLOAD, expect, setup, env={"KAGGLE_USERNAME": id, "KAGGLE_KEY": "k"})


# --------------------------------------------------------------------------- HDF5 files stored elsewhere


def _outside_raw(d: Path, nbytes: int) -> Path:
    path = d / "outside" / "raw.bin"
    write(path, bytes(range(256)) * (nbytes // 256 + 1))
    return path


def _stored_elsewhere(path: Path, name: str, how: str, shape: tuple[int, ...],
                      attrs: dict | None = None, **datasets: np.ndarray) -> None:
    """An HDF5 file whose dataset ``name`` lives outside it (``how``: ``external`` storage in
    ``outside/raw.bin``, ``virtual`` over the missing ``outside/gone.h5``, an external
    ``link`` to ``outside/source.h5``), with ``datasets`` stored normally."""
    import h5py

    d = path.parent
    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            f[key] = value
        if how == "external":
            raw = _outside_raw(d, int(np.prod(shape)) * 8)
            dset = f.create_dataset(name, shape=shape, dtype="f8",
                                    external=[(str(raw), 0, int(np.prod(shape)) * 8)])
        elif how == "virtual":
            layout = h5py.VirtualLayout(shape=shape, dtype="f8")
            layout[...] = h5py.VirtualSource(str(d / "outside" / "gone.h5"), "x", shape=shape)
            dset = f.create_virtual_dataset(name, layout, fillvalue=0.0)
        else:
            source = d / "outside" / "source.h5"
            source.parent.mkdir(parents=True, exist_ok=True)
            with h5py.File(source, "w") as g:
                g["x"] = np.zeros(shape)
            f[name] = h5py.ExternalLink(str(source), "/x")
            dset = None
        for key, value in (attrs or {}).items():
            if dset is not None:
                dset.attrs[key] = value


def _labelled_set(d: Path, how: str, name: str = "x") -> None:
    """``set.h5`` (a gwkit labelled set) whose ``x`` or ``y`` is stored elsewhere."""
    stored = {"x": np.zeros((4, 2, 64)), "y": np.array([0, 1, 0, 1])}
    shape = stored.pop(name).shape
    _stored_elsewhere(d / "set.h5", name, how, shape, **stored)
    import h5py

    with h5py.File(d / "set.h5", "a") as f:
        f.attrs["gwkit_format"] = 1


def _strain(d: Path, how: str) -> None:
    """The GW150914 pair, H1's ``strain/Strain`` stored elsewhere; a model to scan with."""
    shutil.copy(GWOSC / L1, d / L1)
    _stored_elsewhere(d / H1, "strain/Strain", how, (4096 * 32,),
                      attrs={"Xstart": 1126259446.0, "Xspacing": 1 / 4096})
    checkpoint(d / "run" / "fold0.pt")


def _bank_stored_elsewhere(d: Path) -> None:
    train_preset(d)
    (d / "bank.h5").unlink()
    _stored_elsewhere(d / "bank.h5", "m1", "external", (8,), m2=np.ones(8))


# --------------------------------------------------------------------------- runs


def _stacker(run: Path, bank: str, sha: str | None = None) -> None:
    """``run/stacker.json`` naming ``bank`` (its SHA-256 ``sha``; the file's when None)."""
    from gwkit.core.fileio import file_sha256
    from gwkit.scoring.stack import Stacker

    stacker = Stacker(("mf_lse_time",), [0.0], [1.0], [1.0], 0.0, filter_bank=bank)
    target = run / bank
    stacker.filter_bank_sha256 = sha if sha is not None else file_sha256(target)
    stacker.save(run / "stacker.json")


def _predict_run(d: Path) -> None:
    checkpoint(d / "run" / "fold0.pt")
    npy(d / "test.npy")


def _stacked(d: Path, bank: str, sha: str | None = None) -> None:
    _predict_run(d)
    write(d / "outside" / "bank.h5", b"a filter bank outside the run")
    if bank == "mf_bank.h5" and sha is not None:
        write(d / "run" / "mf_bank.h5", b"the run's own bank")
    _stacker(d / "run", bank, sha)


def _trained(d: Path) -> None:
    """A run folder that ``gwkit.hybrid`` accepts up to its filter bank."""
    write(d / "run" / "fold0" / "oof.csv", "id,label,logit\n0,0,0.1\n")
    write(d / "run" / "fold0" / "val.h5", b"never read")
    write(d / "bank.h5", b"the filter bank to copy")


def _packable_run(d: Path) -> None:
    checkpoint(d / "run" / "fold0" / "best.pt")
    write(d / "run" / "oof.csv", "id,label,logit\n0,0,0.1\n")


KAGGLE_JSON = b'{"username": "me", "key": "0123456789abcdef"}'
PACK = ("kernels/build_dataset.py", "--out", "ds", "--no-wheel", "--weights", "run")
PREDICT = ("-m", "gwkit.predict", "--device", "cpu", "--runs", "run", "--data", "test.npy")
EVALUATE = ("-m", "gwkit.evaluate", "--bootstrap", "10", "--no-plots")
TRAIN = ("-m", "gwkit.train", "--preset", "tiny.yaml", "--fold", "0")
SCAN = ("-m", "gwkit.scan", H1, L1, "--runs", "run", "--device", "cpu")
LINK = "refusing to write through a symbolic link"
EXTERNAL = "stored in another file (external storage in"
VIRTUAL = "is a virtual dataset mapping other files"
EXTERNAL_LINK = "is an external link to"

CASES: list[Case] = [
    # gwkit.download: members only to regular paths inside --path, never through a link
    _download_case("download-through-symlinked-test-npy",
                   "data/test.npy: refusing to extract through a symbolic link",
                   lambda d: symlink(d / "data" / "test.npy", d / "outside" / "precious")),
    _download_case("download-through-symlinked-folder",
                   "data/extra/notes.txt: refusing to extract through a symbolic link",
                   lambda d: (_downloaded(d),
                              symlink(d / "data" / "extra", d / "outside", content=None))),
    _download_case("download-member-dotdot", "member '../escaped.txt' has an unsafe name"),
    _download_case("download-member-absolute", f"member '{ESCAPED}' has an unsafe name"),
    _download_case("download-member-backslash", "has an unsafe name"),
    _download_case("download-member-symlink", "member 'notes.txt' is a symbolic link",
                   lambda d: (_downloaded(d), write(d / "outside" / "precious", b"x"))),
    _download_case("download-unreadable-test-npy",
                   "test.npy in the archive of 2023-gwdata-bootcamp: cannot read as a .npy"),
    _download_case("download-truncated-test-npy", "truncated or corrupt"),
    _download_case("download-no-test-npy", "holds no test.npy"),
    # gwkit.hybrid: the run's filter bank is never read or written through a link
    Case("hybrid-bank-copied-through-symlink",
         ("-m", "gwkit.hybrid", "--runs", "run", "--filter-bank", "bank.h5"),
         "run/mf_bank.h5: refusing to write through a symbolic link",
         lambda d: (_trained(d), symlink(d / "run" / "mf_bank.h5", d / "outside" / "bank.h5"))),
    Case("hybrid-bank-read-through-symlink", ("-m", "gwkit.hybrid", "--runs", "run"),
         "run/mf_bank.h5: refusing to write through a symbolic link",
         lambda d: (_trained(d), symlink(d / "run" / "mf_bank.h5", d / "outside" / "bank.h5"))),
    # stacker.json: the filter bank it names stays inside its run, its hash is required
    Case("predict-stacker-bank-absolute", PREDICT, "must be relative to run without '..'",
         lambda d: _stacked(d, str((d / "outside" / "bank.h5").resolve()))),
    Case("predict-stacker-bank-dotdot", PREDICT, "must be relative to run without '..'",
         lambda d: _stacked(d, "../outside/bank.h5")),
    Case("predict-stacker-bank-empty-sha", PREDICT,
         "filter_bank_sha256 must be the 64 hex digits", lambda d: _stacked(d, "mf_bank.h5", "")),
    Case("predict-stacker-bank-links-out", PREDICT, "leads outside run (through a symbolic link",
         lambda d: (symlink(d / "run" / "mf_bank.h5", d / "outside" / "bank.h5"),
                    _stacked(d, "mf_bank.h5"))),
    Case("predict-stacker-bank-external-storage", PREDICT, EXTERNAL,
         lambda d: (_predict_run(d),
                    _stored_elsewhere(d / "run" / "mf_bank.h5", "m1", "external", (4,)),
                    _stacker(d / "run", "mf_bank.h5"))),
    # HDF5 data stored outside the file: evaluation sets, strain, banks, training sets
    Case("evaluate-labels-external-storage",
         (*EVALUATE, "--scores", "s.csv", "--labels", "set.h5"), EXTERNAL,
         lambda d: (write(d / "s.csv", "id,score\n0,0.1\n1,0.9\n2,0.2\n3,0.8\n"),
                    _labelled_set(d, "external", "y"))),
    Case("evaluate-data-virtual-dataset",
         (*EVALUATE, "--runs", "run", "--data", "set.h5", "--device", "cpu"), VIRTUAL,
         lambda d: (_labelled_set(d, "virtual"), checkpoint(d / "run" / "fold0.pt"))),
    Case("evaluate-data-external-link",
         (*EVALUATE, "--runs", "run", "--data", "set.h5", "--device", "cpu"), EXTERNAL_LINK,
         lambda d: (_labelled_set(d, "link"), checkpoint(d / "run" / "fold0.pt"))),
    Case("scan-strain-external-storage", SCAN, EXTERNAL, lambda d: _strain(d, "external")),
    Case("scan-strain-external-link", SCAN, EXTERNAL_LINK, lambda d: _strain(d, "link")),
    Case("train-bank-external-storage", TRAIN, EXTERNAL, _bank_stored_elsewhere),
    Case("train-data-virtual-dataset", (*TRAIN, "--train-data", "set.h5"), VIRTUAL,
         lambda d: (train_preset(d), _labelled_set(d, "virtual"))),
    # kernels/build_dataset.py: regular files inside a source only, never a credential
    Case("build_dataset-checkpoint-links-to-the-key", PACK, "run/fold0/best.pt is a symbolic link",
         lambda d: (_packable_run(d), (d / "run" / "fold0" / "best.pt").unlink(),
                    symlink(d / "run" / "fold0" / "best.pt",
                            d / "home" / ".kaggle" / "kaggle.json", KAGGLE_JSON))),
    Case("build_dataset-linked-fold-folder", PACK, "run/fold1 is a symbolic link",
         lambda d: (_packable_run(d), checkpoint(d / "outside" / "fold1" / "best.pt"),
                    symlink(d / "run" / "fold1", d / "outside" / "fold1", content=None))),
    Case("build_dataset-linked-stacker", PACK, "run/stacker.json is a symbolic link",
         lambda d: (_packable_run(d), symlink(d / "run" / "stacker.json",
                                              d / "home" / ".kaggle" / "kaggle.json",
                                              KAGGLE_JSON))),
    Case("build_dataset-kaggle-json-in-run", PACK, "run/kaggle.json is named like a credential",
         lambda d: (_packable_run(d), write(d / "run" / "kaggle.json", KAGGLE_JSON))),
    Case("build_dataset-key-in-fold", PACK, "run/fold0/deploy.pem is named like a credential",
         lambda d: (_packable_run(d), write(d / "run" / "fold0" / "deploy.pem", b"-----"))),
    Case("build_dataset-credential-checkpoint", PACK,
         "run/credentials.pt is named like a credential",
         lambda d: (checkpoint(d / "run" / "model.pt"), write(d / "run" / "credentials.pt", b"k"))),
    Case("build_dataset-out-weights-link", PACK, "ds/weights is a symbolic link",
         lambda d: (_packable_run(d), symlink(d / "ds" / "weights", d / "outside", content=None))),
    # outputs named by a link, or in a folder of a run that links out of it: refused
    Case("train-fold-folder-links-out", TRAIN, f"runs/tiny/fold0: {LINK}",
         lambda d: (train_preset(d),
                    symlink(d / "runs" / "tiny" / "fold0", d / "outside", content=None))),
    Case("predict-out-is-a-symlink", (*PREDICT, "--out", "sub.csv"), f"sub.csv: {LINK}",
         lambda d: (_predict_run(d), symlink(d / "sub.csv", d / "outside" / "precious"))),
    Case("predict-logits-is-a-symlink", (*PREDICT, "--out", "sub.csv"),
         f"sub.logits.npz: {LINK}",
         lambda d: (_predict_run(d), symlink(d / "sub.logits.npz", d / "outside" / "precious"))),
    Case("simulate-bank-out-is-a-symlink",
         ("-m", "gwkit.simulate", "bank", "--n", "2", "--out", "bank.h5"), f"bank.h5: {LINK}",
         lambda d: symlink(d / "bank.h5", d / "outside" / "precious")),
    Case("simulate-set-file-is-a-symlink",
         ("-m", "gwkit.simulate", "--out", "set", "--snr", "10", "--per-snr", "2"),
         f"set/labels.csv: {LINK}",
         lambda d: symlink(d / "set" / "labels.csv", d / "outside" / "precious")),
    Case("inspect-json-is-a-symlink", ("-m", "gwkit.inspect", "test.npy", "--json", "r.json"),
         f"r.json: {LINK}",
         lambda d: (npy(d / "test.npy"), symlink(d / "r.json", d / "outside" / "precious"))),
]

#: what each case must not have created (relative to its folder, or absolute)
ABSENT = {
    "download-through-symlinked-test-npy": ["data/sample_submission.csv"],
    "download-through-symlinked-folder": ["data/sample_submission.csv", "outside/notes.txt"],
    "download-member-dotdot": ["escaped.txt", "data/sample_submission.csv"],
    "download-member-absolute": [str(ESCAPED), "data/sample_submission.csv"],
    "download-member-backslash": ["escaped.txt", "data/..\\escaped.txt"],
    "download-member-symlink": ["data/notes.txt", "data/sample_submission.csv"],
    "download-unreadable-test-npy": ["data/sample_submission.csv"],
    "download-no-test-npy": ["data/sample_submission.csv"],
    "hybrid-bank-copied-through-symlink": ["run/stacker.json"],
    "build_dataset-checkpoint-links-to-the-key": ["ds"],
    "build_dataset-linked-stacker": ["ds"],
    "build_dataset-kaggle-json-in-run": ["ds"],
    "build_dataset-out-weights-link": ["outside/run", "ds/dataset-metadata.json"],
    "predict-logits-is-a-symlink": ["sub.csv"],
    "simulate-set-file-is-a-symlink": ["set/test.npy"],
    "train-fold-folder-links-out": ["outside/best.pt", "outside/config.yaml"],
}


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("boundary")
    ESCAPED.unlink(missing_ok=True)
    with ArchiveKaggle() as fake:
        proxy = f"http://127.0.0.1:{fake.port}"
        web = {"HTTP_PROXY": proxy, "http_proxy": proxy, "HTTPS_PROXY": proxy,
               "https_proxy": proxy}
        cases = [dataclasses.replace(c, env={**c.env, **web}) if c.argv == DOWNLOAD else c
                 for c in selected_cases(request)]
        with sweep(cases, root) as futures:
            yield root, {k: f.result() for k, f in futures.items()}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_unsafe_path_ends_in_one_line(case: Case, outcomes: tuple[Path, dict[str, Future]]):
    root, done = outcomes
    check_outcome(case, done[case.id])
    created = [p for p in ABSENT.get(case.id, []) if (root / case.id / p).exists()]
    assert not created, f"created outside the outputs: {created}"


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) and set(ABSENT) <= set(ids)
    assert {c.id for c in CASES if c.argv == DOWNLOAD} == set(ARCHIVES)


def test_download_through_a_linked_path_warns_of_a_readable_key(tmp_path):
    """The good path: ``--path`` may itself link to a folder (the user chose it), and a
    ``kaggle.json`` other users can read is named in one warning line."""
    key = tmp_path / "home" / ".kaggle" / "kaggle.json"
    write(key, b'{"username": "alice", "key": "k"}')
    os.chmod(key, 0o644)
    symlink(tmp_path / "data", tmp_path / "disk" / "gw", content=None)
    with ArchiveKaggle(archives={"alice": _zip(*GOOD)}) as fake:
        env = fake.client_env(sealed_env(tmp_path, {}), home=str(tmp_path / "home"),
                              credentials=False)
        done = subprocess.run([sys.executable, "-m", "gwkit.download", "--path", "data"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("warning: ") and "readable by other users" in line
    assert f"chmod 600 {key}" in line
    assert (tmp_path / "disk" / "gw" / "test.npy").read_bytes() == GOOD[0][1]
    assert sorted(p.name for p in (tmp_path / "disk" / "gw").iterdir()) == \
        ["sample_submission.csv", "test.npy"]  # no staging folder left behind
