"""Build the folder of a Kaggle dataset that installs gwkit offline (and carries weights).

Usage (from the repository root)::

    python kernels/build_dataset.py --out build/kaggle-dataset --username YOU
    python kernels/build_dataset.py --out build/kaggle-dataset --username YOU \\
        --with-deps lalsuite --python-version 3.11 --platform manylinux2014_x86_64
    python kernels/build_dataset.py --out build/gwkit-weights --username YOU \\
        --slug gwkit-weights --no-wheel --weights weights/gwkit_resnet runs/baseline
    python kernels/build_dataset.py --out build/kaggle-dataset --username YOU \
        --with-deps lalsuite --preset gwkit_resnet_phys   # physical mode: GWKIT_NB_MODE=physical

then ``kaggle datasets create -p build/kaggle-dataset --dir-mode zip`` (first time) or
``kaggle datasets version -p build/kaggle-dataset --dir-mode zip -m "..."``. The kaggle
client skips sub-folders (``weights/``) unless ``--dir-mode zip`` or ``tar`` is given.

What ends up in ``--out``:

* ``gwkit-<version>-py3-none-any.whl``: ``pip wheel --no-deps`` of a clean copy of the
  package (``gwkit/``, ``setup.cfg``, ``pyproject.toml``, ``README.md``), so the
  checkout gets no ``build/`` or ``*.egg-info``; ``--no-wheel`` leaves it out;
* beside the wheel, ``mf_bank.h5``: the shipped filter bank (``--filter-bank``), which
  the training notebook's hybrid reuses, so Kaggle never builds one with LALSuite;
* with ``--with-deps PKG ...``: ``pip download PKG ...`` wheels (and their dependencies)
  for the packages the Kaggle image lacks, usually ``lalsuite`` (needed to simulate,
  i.e. to train; prediction does not need it). ``--python-version`` / ``--platform``
  pick wheels for the Kaggle image when this machine differs from it;
* with ``--weights RUN ...``: ``weights/<run>/<fold>.pt`` for each ``fold*/best.pt``
  of a ``gwkit.train`` run (or each ``*.pt`` directly in the folder), plus the run's
  ``config.yaml``, ``oof.csv`` and its hybrid detector (``stacker.json`` and the filter
  bank ``mf_bank.h5``, which need no LALSuite) when present, a layout ``gwkit.predict
  --runs`` reads;
* with ``--preset NAME``: the shipped weights that preset needs, as ``--weights`` packs
  them: the folder of its ``init_from`` checkpoints (``gwkit_resnet_phys`` fine-tunes
  ``weights/gwkit_resnet/fold{fold}.pt``, which the training notebook finds in its inputs)
  and its own trained folds ``weights/<name>`` when they ship;
* ``dataset-metadata.json``: ``{"title", "id": "<username>/<slug>", "licenses": [CC0-1.0]}``.

Notebooks install with ``pip install --no-index --find-links /kaggle/input/<slug> gwkit``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from gwkit.core.cli import CommandParser, run_main
from gwkit.core.fileio import atomic_write, check_writable, copy_file, link_on_path

REPO = Path(__file__).resolve().parent.parent
PLACEHOLDER_USER = "YOUR_KAGGLE_USERNAME"
#: What a wheel build needs from the checkout (copied to a clean folder first).
SOURCES = ("gwkit", "setup.cfg", "pyproject.toml", "README.md", "setup.py", "LICENSE")
#: Names never packed into a folder meant for upload (case-insensitive shell patterns).
CREDENTIALS = ("kaggle.json", "access_token", ".netrc", "_netrc", ".pypirc", ".git-credentials",
               ".env", ".env.*", "credentials*", "*secret*", "*.key", "*.pem", "*.p12", "*.pfx",
               "*.jks", "*.keystore", "*.token", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*")
#: Copied from a run folder when present, beside its checkpoints.
RUN_EXTRAS = ("config.yaml", "oof.csv", "stacker.json", "mf_bank.h5")
#: Packed beside the wheel: the filter bank the training notebook's hybrid reuses.
FILTER_BANK = REPO / "weights" / "gwkit_resnet" / "mf_bank.h5"

__all__ = ["build_wheel", "check_sources", "copy_weights", "download_deps", "main",
           "preset_weights", "write_metadata"]


def _run(cmd: list[str]) -> None:
    print("+ " + " ".join(cmd), flush=True)
    done = subprocess.run(cmd)
    if done.returncode != 0:
        raise SystemExit(f"build_dataset: command failed with exit code {done.returncode}: "
                         + " ".join(cmd))


def _credential(name: str) -> bool:
    return any(fnmatch.fnmatch(name.lower(), pattern) for pattern in CREDENTIALS)


def _packable(path: Path, root: Path) -> Path:
    """``path`` when it may be packed: a regular file reached from ``root`` through no link,
    not named like a credential; SystemExit (one line naming it) otherwise."""
    link = link_on_path(path, root)
    if link is not None:
        raise SystemExit(f"build_dataset: {link} is a symbolic link (to {os.readlink(link)}); "
                         "only regular files inside a source are packed: copy the file in")
    if _credential(path.name):
        raise SystemExit(f"build_dataset: {path} is named like a credential; it is never "
                         "packed for upload: move it out of the folder")
    if not path.is_file():
        raise SystemExit(f"build_dataset: {path} is not a regular file; only regular files "
                         "are packed")
    return path


def _no_credentials(folder: Path) -> None:
    """SystemExit naming the first file or folder under ``folder`` named like a credential."""
    for here, dirs, files in os.walk(folder):  # links are listed, never followed
        found = next((n for n in sorted(dirs + files) if _credential(n)), None)
        if found is not None:
            raise SystemExit(f"build_dataset: {Path(here) / found} is named like a credential; "
                             "nothing is packed from a folder holding one: move it out")


def _tree_files(folder: Path, ignore: Sequence[str]) -> list[Path]:
    """The files under ``folder`` to pack (each :func:`_packable`), without ``ignore`` names."""
    found = []
    for here, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not any(fnmatch.fnmatch(d, i) for i in ignore)]
        for name in sorted(dirs + files):
            path = Path(here) / name
            if path.is_symlink() or name in files:
                if not any(fnmatch.fnmatch(name, i) for i in ignore):
                    found.append(_packable(path, folder))
    return found


def build_wheel(out: Path, repo: Path = REPO, *, isolation: bool = False) -> Path:
    """``pip wheel --no-deps`` of a clean copy of ``repo``'s package into ``out``; the wheel.

    Only regular files are copied: a link anywhere in the sources, or a file named
    like a credential, stops the build before the wheel is touched.
    """
    ignore = ("__pycache__", "*.pyc", "*.egg-info", "*.tmp")
    sources = []
    for name in SOURCES:
        path = repo / name
        if path.is_dir() and not path.is_symlink():
            sources += _tree_files(path, ignore)
        elif path.is_file() or path.is_symlink():
            sources.append(_packable(path, repo))
    for old in out.glob("gwkit-*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="gwkit-wheel-") as tmp:
        src = Path(tmp) / "src"
        for path in sources:
            copy = src / path.relative_to(repo)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)
        if not (src / "gwkit").is_dir():
            raise SystemExit(f"build_dataset: no gwkit/ package in {repo}")
        cmd = [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-w", str(out),
               "--disable-pip-version-check", "-q"]
        if not isolation:
            cmd.append("--no-build-isolation")  # setuptools from this environment: offline
        _run(cmd)
    wheels = sorted(out.glob("gwkit-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"build_dataset: expected one gwkit wheel in {out}, found {wheels}")
    return wheels[0]


def download_deps(out: Path, packages: Sequence[str], *, python_version: str | None = None,
                  platform: str | None = None) -> None:
    """``pip download`` wheels of ``packages`` (and their dependencies) into ``out``."""
    cmd = [sys.executable, "-m", "pip", "download", *packages, "-d", str(out),
           "--only-binary=:all:", "--disable-pip-version-check"]
    if python_version:
        cmd += ["--python-version", python_version]
    if platform:
        cmd += ["--platform", platform]
    _run(cmd)


def _overlap(a: Path, b: Path) -> bool:
    """True when folders ``a`` and ``b`` are the same or one holds the other."""
    a, b = a.resolve(), b.resolve()
    return a == b or a in b.parents or b in a.parents


def _fold_files(run: Path) -> list[tuple[Path, str]]:
    """(checkpoint, fold name) pairs of a run folder: ``fold*/best.pt``, else ``*.pt``."""
    pairs = [(p, p.parent.name) for p in sorted(run.glob("fold*/best.pt"))]
    if not pairs:
        pairs = [(p, p.stem) for p in sorted(run.glob("*.pt")) if not p.name.startswith(".")]
    return pairs


def _run_files(run: Path) -> list[tuple[Path, str]]:
    """(file, name in the copy) of everything copied from a run: checkpoints and extras."""
    extras = [(run / name, name) for name in RUN_EXTRAS
              if (run / name).is_file() or (run / name).is_symlink()]
    return [(p, f"{fold}.pt") for p, fold in _fold_files(run)] + extras


def check_sources(out: Path, runs: Sequence[str | os.PathLike]) -> None:
    """SystemExit (one line) for a ``--weights`` folder that cannot be copied safely.

    Each must exist, hold checkpoints and have its own name; every file copied from
    it must be a regular file reached through no link inside it, and nothing in it
    (or already in ``--out``) may be named like a credential. ``--out`` must not be
    or lie inside a run folder, and no ``<out>/weights/<run>`` (which the builder
    replaces) may be, hold or lie inside any run folder, or be reached through a link.
    """
    sources = [Path(r) for r in runs]
    for run in sources:
        if not run.is_dir():
            raise SystemExit(f"build_dataset: --weights {run}: no such folder")
        if not _fold_files(run):
            raise SystemExit(f"build_dataset: --weights {run}: no fold*/best.pt or *.pt inside")
        _no_credentials(run)
        for path, _ in _run_files(run):
            _packable(path, run)
    if out.is_dir():
        _no_credentials(out)
        for run in sources:
            link = link_on_path(out / "weights" / run.resolve().name, out)
            if link is not None:
                raise SystemExit(f"build_dataset: {link} is a symbolic link (to "
                                 f"{os.readlink(link)}); the builder never writes through one")
    names = [r.resolve().name for r in sources]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice is not None:
        raise SystemExit(f"build_dataset: two runs named {twice!r}; rename one folder")
    dests = [out / "weights" / name for name in names]
    for run in sources:
        clash = next((d for d in dests if _overlap(d, run)), None)
        if clash is None and run.resolve() in (out.resolve(), *out.resolve().parents):
            clash = out
        if clash is not None:
            raise SystemExit(
                f"build_dataset: --weights {run} overlaps the output {clash} (--out {out}); "
                "the source would be overwritten: choose an --out outside the weights folders"
            )


def preset_weights(name: str, repo: Path = REPO) -> list[Path]:
    """The shipped weight folders preset ``name`` needs on Kaggle: the folder of its
    ``init_from`` checkpoints (to train it there) and ``weights/<name>`` (its trained folds,
    to predict or scan), those it has; SystemExit (one line) when it has neither."""
    from gwkit.training.config import ConfigError, load_preset

    try:
        cfg = load_preset(name)
    except ConfigError as exc:
        raise SystemExit(f"build_dataset: --preset {name}: {exc}") from None
    folders = []
    if cfg.init_from:
        start = Path(cfg.init_path(0))
        start = start if start.is_absolute() else repo / start
        if not start.is_file():
            raise SystemExit(f"build_dataset: --preset {name}: its init_from {cfg.init_from} "
                             f"is not in {repo} ({start} missing)")
        folders.append(start.parent)
    own = repo / "weights" / cfg.name
    if own.is_dir():
        folders.append(own)
    if not folders:
        raise SystemExit(f"build_dataset: --preset {name}: no init_from and no shipped "
                         f"weights/{cfg.name}: nothing to pack (train it on Kaggle as it is)")
    return folders


def _swap_in(new: Path, dest: Path) -> None:
    """Replace folder ``dest`` by folder ``new`` (both on one file system)."""
    if not dest.exists():
        os.replace(new, dest)
        return
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    os.replace(dest, old)
    os.replace(new, dest)
    shutil.rmtree(old)


def copy_weights(out: Path, runs: Sequence[str | os.PathLike]) -> list[Path]:
    """``weights/<run>/<fold>.pt`` (+ config.yaml, oof.csv, stacker.json, mf_bank.h5) per run;
    returns the copied .pt files.

    Each run's folder is assembled beside its destination, then swapped in, so a
    failed copy leaves the previous one; a source folder is never written to.
    """
    check_sources(out, runs)
    copied: list[Path] = []
    for given in runs:
        run = Path(given)
        pairs = _fold_files(run)
        dest = out / "weights" / run.resolve().name
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.staging-", dir=dest.parent))
        try:
            for src, name in _run_files(run):  # each checked by check_sources
                shutil.copy2(src, staging / name)
            _swap_in(staging, dest)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        copied.extend(dest / f"{fold}.pt" for _, fold in pairs)
        print(f"weights: {run} -> {dest} ({len(pairs)} checkpoint(s))")
    return copied


def write_metadata(out: Path, username: str, slug: str, title: str) -> Path:
    """``dataset-metadata.json`` as ``kaggle datasets create`` reads it (checked like it)."""
    if not 6 <= len(slug) <= 50:
        raise SystemExit(f"build_dataset: --slug {slug!r}: Kaggle wants 6 to 50 characters")
    if not 6 <= len(title) <= 50:
        raise SystemExit(f"build_dataset: --title {title!r}: Kaggle wants 6 to 50 characters")
    if not username or "/" in username:
        raise SystemExit(f"build_dataset: --username {username!r}: not a Kaggle user name")
    meta = {"title": title, "id": f"{username}/{slug}", "licenses": [{"name": "CC0-1.0"}]}
    path = out / "dataset-metadata.json"
    with atomic_write(path, encoding="utf-8") as fh:
        fh.write(json.dumps(meta, indent=2) + "\n")
    return path


def _parser() -> argparse.ArgumentParser:
    p = CommandParser(
        prog="python kernels/build_dataset.py",
        description="Build a Kaggle dataset folder: gwkit wheel, optional dependency wheels "
                    "and weights, dataset-metadata.json.")
    p.add_argument("--out", required=True, help="dataset folder to create or update")
    p.add_argument("--username", default=os.environ.get("KAGGLE_USERNAME") or PLACEHOLDER_USER,
                   help="Kaggle user name (default: $KAGGLE_USERNAME or a placeholder)")
    p.add_argument("--slug", default="gwkit-wheels", help="dataset slug (default gwkit-wheels)")
    p.add_argument("--title", default=None, help="dataset title (default: the slug, spaced)")
    p.add_argument("--weights", nargs="+", default=[], metavar="RUN_DIR",
                   help="gwkit.train run folders whose fold*/best.pt to include")
    p.add_argument("--preset", default=None, metavar="NAME",
                   help="also pack the shipped weights preset NAME needs: its init_from "
                        "folder and weights/NAME (e.g. gwkit_resnet_phys, the physical mode: "
                        "weights/gwkit_resnet and weights/gwkit_resnet_phys)")
    p.add_argument("--with-deps", nargs="+", default=[], metavar="PKG",
                   help="pip download these packages' wheels too (needs PyPI), e.g. lalsuite")
    p.add_argument("--python-version", default=None,
                   help="for --with-deps: the Kaggle image's Python, e.g. 3.11")
    p.add_argument("--platform", default=None,
                   help="for --with-deps: e.g. manylinux2014_x86_64")
    p.add_argument("--no-wheel", action="store_true", help="leave the gwkit wheel out")
    p.add_argument("--filter-bank", default=str(FILTER_BANK), metavar="H5",
                   help="packed beside the wheel as mf_bank.h5 for the training notebook's "
                        "hybrid (default: the shipped one; 'none' leaves it out)")
    p.add_argument("--build-isolation", action="store_true",
                   help="build the wheel in an isolated environment (downloads setuptools)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = Path(args.out)
    weights = list(args.weights)
    if args.preset is not None:
        given = {Path(w).resolve() for w in weights}
        weights += [w for w in preset_weights(args.preset) if w.resolve() not in given]
    check_sources(out, weights)  # before anything is written
    try:
        check_writable(out, folder=True)
    except OSError as exc:
        raise SystemExit(f"build_dataset: --out {exc}") from None
    bank = None if args.no_wheel or args.filter_bank == "none" else Path(args.filter_bank)
    if bank is not None:
        _packable(bank, bank.parent)
    out.mkdir(parents=True, exist_ok=True)
    title = args.title or args.slug.replace("-", " ")
    meta = write_metadata(out, args.username, args.slug, title)
    if not args.no_wheel:
        wheel = build_wheel(out, isolation=args.build_isolation)
        print(f"wheel: {wheel}")
    if bank is not None:
        copy_file(bank, out / "mf_bank.h5", root=out)
        print(f"filter bank: {bank} -> {out / 'mf_bank.h5'}")
    if args.with_deps:
        download_deps(out, args.with_deps, python_version=args.python_version,
                      platform=args.platform)
    if weights:
        copy_weights(out, weights)
    if args.username == PLACEHOLDER_USER:
        print(f"note: {meta} names {PLACEHOLDER_USER}; pass --username or edit it before upload")
    print(f"dataset folder ready: {out}\n"
          f"  kaggle datasets create -p {out} --dir-mode zip      # first upload\n"
          f"  kaggle datasets version -p {out} --dir-mode zip -m 'update'")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, "build_dataset.py"))
