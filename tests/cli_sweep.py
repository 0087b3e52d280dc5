"""The harness of the bad-input sweeps (``tests/test_bad_inputs*.py``).

A :class:`Case` is one command line run in a fresh folder that its ``setup`` fills;
:func:`check_outcome` asserts what every bad input must end in: a non-zero exit (130
for Ctrl-C), exactly one stderr line holding the case's text, no traceback, and every
file that existed before unchanged. The environment is sealed: no Kaggle credentials,
``HOME`` and the Kaggle input root inside the case's folder, proxies pointing at a
closed local port, so no request can leave the machine.

Cases run in a warm interpreter forked per case (``tests/cli_forkserver.py``: the
same ``-m``/script start, without 3 s of imports each); ``Case(fresh=True)`` runs a
real ``python`` process instead (signals, or anything decided at interpreter start).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import queue
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gwkit.core.devices import usable_cpus

REPO = Path(__file__).resolve().parents[1]
NSAMPLES = 16384


@dataclass(frozen=True)
class Case:
    """One bad input: ``argv`` after ``python`` (``-m module ...`` or a script), run in a folder
    that ``setup`` fills; the error line must contain ``expect``. ``returncode`` pins the exit
    status (any non-zero when None); ``fresh`` runs a new interpreter instead of a fork."""

    id: str
    argv: tuple[str, ...]
    expect: str
    setup: Callable[[Path], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    returncode: int | None = None
    fresh: bool = False


# --------------------------------------------------------------------------- file makers


def noise(*shape: int) -> np.ndarray:
    """Seeded white noise of RMS 1: rows that pass the strain plausibility checks."""
    return np.random.default_rng(0).normal(size=shape)


def npy(path: Path, rows: int = 2, nsamples: int = NSAMPLES) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, noise(rows, 1, 2, nsamples))


def lying_npy(path: Path) -> None:
    """A .npy whose header claims 2.6 TB of float64 data; the file holds 64 bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**7, 1, 2, NSAMPLES)})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header.getvalue() + bytes(64))


def npz_as_npy(path: Path) -> None:
    np.savez(path.with_suffix(".npz"), x=np.zeros(3))
    path.with_suffix(".npz").rename(path)


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)


def scores(d: Path, column: str = "", value: str = "") -> None:
    """``oof.csv`` with id,target,snr,score (8 rows); one cell of ``column`` replaced."""
    rows = [[str(i), str(i % 2), "10", str(0.1 + 0.1 * i)] for i in range(8)]
    if column:
        rows[3][["id", "target", "snr", "score"].index(column)] = value
    write(d / "oof.csv", "id,target,snr,score\n" + "".join(",".join(r) + "\n" for r in rows))


def labelled_h5(d: Path, nsamples: int = 64) -> None:
    from gwkit.data import write_hdf5

    write_hdf5(d / "set.h5", noise(4, 2, nsamples).astype(np.float32), y=[0, 1, 0, 1])


def checkpoint(path: Path, extra: dict | None = None, **model_kwargs) -> None:
    from gwkit.models import create_model, save_checkpoint

    save_checkpoint(path, create_model("resnet1d_tiny", **model_kwargs), **(extra or {}))


def checkpoint_with_unknown_argument(path: Path, length: int) -> None:
    """A checkpoint for inputs of ``length`` samples whose spec has a stray argument."""
    import torch

    checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    ckpt["model"]["kwargs"].update(input_length=length, wings=2)
    torch.save(ckpt, path)


def pickled_checkpoint(path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"x": np.zeros(3)}, path)  # unpickling it would need numpy's reconstructor


def submission(d: Path, text: str = "id,target\n0,0.5\n1,0.25\n") -> None:
    write(d / "submission.csv", text)


def vouched_submission(d: Path, *, data: str = "data/test.npy", csv: str = "submission.csv") -> None:
    """A 2-row submission (with its logits) whose provenance sidecar vouches for ``data``
    (2 rows of zeros): ``gwkit.submit`` takes it."""
    from gwkit.scoring.submission import input_record, write_submission

    npy(d / data)
    write_submission(d / csv, np.array([0.5, 0.25]), provenance={"input": input_record(d / data)},
                     logits={"score": np.array([0.0, -1.1])})


def simulated_submission(d: Path) -> None:
    from gwkit.scoring.submission import input_record, write_submission

    npy(d / "data" / "demo" / "test.npy")
    write(d / "data" / "demo" / "labels.csv", "id,target\n0,0\n1,1\n")
    write_submission(d / "submission.csv", np.array([0.5, 0.25]),
                     provenance={"input": input_record(d / "data" / "demo" / "test.npy")})


def train_preset(d: Path) -> None:
    """A tiny preset whose bank file exists (it is never read: the cases fail before)."""
    import yaml

    write(d / "bank.h5", b"never read")
    write(d / "tiny.yaml", yaml.safe_dump({
        "name": "tiny", "model": "resnet1d_tiny", "bank": str(d / "bank.h5"), "n_folds": 4,
        "device": "cpu", "out_dir": str(d / "runs")}))


def train_state(d: Path, files: tuple[str, ...]) -> None:
    """A fold folder holding ``files`` (gwkit checkpoints without training state)."""
    from gwkit.training.config import resolve_config

    train_preset(d)
    cfg = resolve_config(str(d / "tiny.yaml"), [])
    fold = d / "runs" / "tiny" / "fold0"
    for name in files:
        checkpoint(fold / name, extra={"config": cfg.to_dict()})


def sav(d: Path, *, params: bool = True, cut: bool = False) -> None:
    """A course-format block ``train_ts_0.sav`` (2 rows: noise, signal) and its params file."""
    from gwkit.data.competition import write_sav_block
    from gwkit.data.training import sav_params_path

    x = np.random.default_rng(0).normal(size=(2, 2, NSAMPLES))
    path = write_sav_block(d / "train_ts_0.sav", x, np.array([0, 1]),
                           [None, {"m1": 30.0, "m2": 20.0, "peak_index": 10500}])[0]
    if not params:
        sav_params_path(path).unlink()
    if cut:
        path.write_bytes(path.read_bytes()[:5000])


def evil_sav(d: Path) -> None:
    """A block whose pickle would call os.system when unpickled by plain pickle."""
    import pickle

    class Evil:
        def __reduce__(self):
            return os.system, ("echo pwned",)

    write(d / "train_ts_0.sav", pickle.dumps([Evil(), [0]]))


def labelled_npy(d: Path, *, labels: bool = True, nan_row: int | None = None) -> None:
    x = np.random.default_rng(0).normal(size=(4, 1, 2, NSAMPLES))
    if nan_row is not None:
        x[nan_row, 0, 1, 7] = np.nan
    np.save(d / "test.npy", x)
    if labels:
        write(d / "labels.csv", "id,target\n0,0\n1,1\n2,0\n3,1\n")
        write(d / "params.csv", "id,waveform_id,peak_index\n0,-1,\n1,0,10400\n2,-1,\n3,1,10500\n")


def weights(d: Path) -> None:
    write(d / "weights" / "gwkit_resnet" / "fold0.pt", b"shipped weights")


def symlink(link: Path, target: Path, content: bytes | None = b"precious") -> None:
    """``link`` -> ``target``; ``target`` is made first holding ``content`` (a folder when
    ``content`` is None). Keep the target in the case folder: its digest is then checked."""
    if content is None:
        target.mkdir(parents=True, exist_ok=True)
    elif not target.exists():
        write(target, content)
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target.resolve())



# --------------------------------------------------------------------------- running cases


def sealed_env(folder: Path, extra: dict[str, str]) -> dict[str, str]:
    """The environment of a case run in ``folder``: nothing can reach Kaggle or the network."""
    dead = "http://127.0.0.1:9"  # the discard port: nothing listens, nothing leaves
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KAGGLE_", "GWKIT_", "WANDB_")) and k.lower() not in
           ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    env.update({
        "HOME": str(folder / "home"), "XDG_CONFIG_HOME": str(folder / "home" / ".config"),
        "GWKIT_KAGGLE": "0", "GWKIT_KAGGLE_INPUT": str(folder / "no-kaggle-input"),
        "KAGGLE_API_ENVIRONMENT": "LOCALHOST",
        "HTTP_PROXY": dead, "http_proxy": dead, "HTTPS_PROXY": dead, "https_proxy": dead,
        "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "MPLBACKEND": "Agg",
        "PYTHONPATH": os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    })
    env.update(extra)
    return env


def digests(folder: Path) -> dict[str, str]:
    """sha256 of every regular file under ``folder`` (links are not followed)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    changed: list[str]


class ForkServer:
    """One warm interpreter (``cli_forkserver.py``) that runs jobs one at a time."""

    def __init__(self) -> None:
        env = sealed_env(REPO, {})
        env["HOME"] = os.environ.get("HOME", "/root")
        self.proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "cli_forkserver.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=env, cwd=REPO)

    def run(self, argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
        out, err = cwd / ".case.stdout", cwd / ".case.stderr"
        job = {"argv": argv, "cwd": str(cwd), "env": env, "stdout": str(out), "stderr": str(err)}
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the fork server died")
        code = json.loads(line)["returncode"]
        texts = out.read_text(errors="replace"), err.read_text(errors="replace")
        out.unlink()
        err.unlink()
        return code, *texts

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def run_case(case: Case, folder: Path, servers: queue.Queue | None = None) -> Outcome:
    """Prepare ``folder``, run the case's command there; what came out and what changed."""
    (folder / "home").mkdir(parents=True)
    if case.setup is not None:
        case.setup(folder)
    before = digests(folder)
    argv = [str(REPO / a) if a.endswith(".py") and not a.startswith("-") else a
            for a in case.argv]
    env = sealed_env(folder, case.env)
    if case.fresh or servers is None:
        done = subprocess.run([sys.executable, *argv], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=300)
        code, out, err = done.returncode, done.stdout, done.stderr
    else:
        server = servers.get()
        try:
            code, out, err = server.run(argv, folder, env)
        finally:
            servers.put(server)
    after = digests(folder)
    changed = [name for name, digest in before.items() if after.get(name) != digest]
    return Outcome(code, out, err, changed)


@contextmanager
def sweep(cases: list[Case], root: Path) -> Iterator[dict[str, Future]]:
    """Run ``cases`` (one warm server per usable CPU, one thread each); their futures by id."""
    workers = usable_cpus()
    servers: queue.Queue = queue.Queue()
    started = [ForkServer() for _ in range(workers)]
    for server in started:
        servers.put(server)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            yield {c.id: pool.submit(run_case, c, root / c.id, servers) for c in cases}
    finally:
        for server in started:
            server.close()


def selected_cases(request) -> list[Case]:
    """The parametrized ``case`` values of the tests selected in the requesting module."""
    return [item.callspec.params["case"] for item in request.session.items
            if item.module is request.module and hasattr(item, "callspec")
            and "case" in item.callspec.params]


def check_outcome(case: Case, out: Outcome) -> None:
    """Non-zero exit (or the pinned one), one stderr line with ``case.expect``, no traceback,
    no file that existed before changed."""
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    if case.returncode is None:
        assert out.returncode != 0, f"exit 0; stdout: {out.stdout[-800:]}"
    else:
        assert out.returncode == case.returncode, (out.returncode, out.stderr[-2000:])
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{out.stderr[-3000:]}"
    assert case.expect in lines[0], lines[0]
    assert not out.changed, f"changed or removed: {out.changed}"
